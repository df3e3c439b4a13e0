#include "serve/pages.h"

#include "engine/lifecycle.h"
#include "engine/timefmt.h"
#include "templates/run_json.h"

namespace runbook::serve {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

const char* kStyle = R"CSS(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
.succeeded{color:#17692f}.failed,.rollback_failed,.finally_failed,.preflight_failed{color:#b00020}
.running{color:#0b5cad}.waiting{color:#8a5a00;font-weight:bold}.rolled_back,.interrupted,.abandoned{color:#666}
.orphaned{color:#b00020}code{background:#f4f4f4;padding:0 .2em}
)CSS";

std::string Head(const std::string& title) {
  return "<!doctype html><html><head><meta charset=utf-8><title>" + Escape(title) + "</title><style>" + kStyle +
         "</style></head><body>";
}

}  // namespace

std::string HistoryPage(const std::vector<RunRecord>& runs, const std::function<bool(const RunRecord&)>& live,
                        const std::string& runbook, const std::string& status) {
  std::string h = Head("runbook: runs");
  h += "<h1>Runs</h1><form method=get>runbook <input name=runbook value=\"" + Escape(runbook) +
       "\"> status <input name=status value=\"" + Escape(status) + "\"> <button>filter</button></form><table>"
       "<tr><th>run</th><th>runbook</th><th>status</th><th>by</th><th>started</th><th>duration</th><th>RTO</th></tr>";
  for (const auto& r : runs) {
    std::string st = ToString(r.status);
    bool orphaned = r.status == RunStatus::kRunning && !live(r);
    auto rto = RtoOf(r);
    h += "<tr><td><a href=\"/runs/" + Escape(r.id) + "\">" + Escape(r.id) + "</a></td><td>" + Escape(r.runbook) +
         "</td><td class=\"" + st + (orphaned ? " orphaned" : "") + "\">" + st + (orphaned ? " (orphaned)" : "") +
         (r.status == RunStatus::kWaiting ? " (a person is needed)" : "") + "</td><td>" + Escape(r.user + "@" + r.host) +
         "</td><td>" + Rfc3339(r.started_at) + "</td><td>" +
         (r.finished_at ? HumanDuration(r.finished_at - r.started_at) : "-") + "</td><td>" +
         (rto ? Escape(rto->text) : "-") + "</td></tr>";
  }
  if (runs.empty()) h += "<tr><td colspan=7>no runs</td></tr>";
  return h + "</table></body></html>";
}

std::string RunPage(const nlohmann::json& show) {
  std::string id = show.value("id", "");
  std::string h = Head("runbook: " + show.value("runbook", "") + " " + id);
  std::string status = show.value("status", "");
  h += "<h1>" + Escape(show.value("runbook", "")) + " <small>" + Escape(id) + "</small></h1><p>status <b id=status class=\"" +
       Escape(status) + "\">" + Escape(status) + "</b>, started " + Escape(show.value("started_at", "")) + "</p>";
  h += "<table id=steps><tr><th>step</th><th>status</th><th>attempts</th><th>reason</th></tr>";
  for (const auto& s : show["steps"]) {
    std::string st = s.value("status", "");
    std::string sid = s.value("id", "");
    h += "<tr data-step=\"" + Escape(sid) + "\"><td>" + Escape(sid) + "</td><td class=\"" + Escape(st) + "\">" +
         Escape(st) + "</td><td>" + std::to_string(s.value("attempts", 0)) + "</td><td>" +
         (s["reason"].is_string() ? Escape(s["reason"].get<std::string>()) : "") + "</td></tr>";
  }
  h += "</table><h2>Timeline</h2><ol id=events></ol>";
  // The stream's ids are the events' sequence numbers: EventSource resumes
  // with Last-Event-ID by itself. Each event refreshes the step statuses.
  h += "<script>\nconst run=" + nlohmann::json(id).dump() + ";\n" + R"JS(
const events=document.getElementById('events');
const src=new EventSource('/api/runs/'+encodeURIComponent(run)+'/events');
function refresh(){fetch('/api/runs/'+encodeURIComponent(run)).then(r=>r.json()).then(j=>{
  const st=document.getElementById('status');st.textContent=j.status;st.className=j.status;
  for(const s of j.steps){const row=document.querySelector('tr[data-step="'+CSS.escape(s.id)+'"]');
    if(row){row.cells[1].textContent=s.status;row.cells[1].className=s.status;row.cells[2].textContent=s.attempts;}}});}
src.onmessage=e=>{const d=JSON.parse(e.data);const li=document.createElement('li');
  li.textContent=d.at+' '+(d.step?d.step+' ':'')+d.kind+(d.message?': '+d.message:'');events.appendChild(li);refresh();};
)JS" + "</script></body></html>";
  return h;
}

}  // namespace runbook::serve
