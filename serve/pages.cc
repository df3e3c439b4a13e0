#include "serve/pages.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "engine/graph.h"
#include "engine/lifecycle.h"
#include "engine/timefmt.h"
#include "templates/run_json.h"

namespace runbook::serve {

// A value inside <script>: JSON whose '<', '>' and '&' are escaped, so no
// text can close the script element, whatever a store holds.
std::string ScriptValue(const nlohmann::json& j) {
  std::string out;
  for (char c : j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) {
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  return out;
}

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
svg .edge{stroke:#999}svg .node rect{fill:#eee;stroke:#888}svg .node text{font-size:12px}
svg .node.succeeded rect{fill:#d7f0dc}svg .node.failed rect{fill:#f6d0d5}svg .node.continued rect{fill:#ffe2c4}svg .node.running rect{fill:#d3e6fb}
svg .node.waiting rect{fill:#fde9b8}svg .node.skipped rect{fill:#fff;stroke-dasharray:3}svg .node.rolled_back rect{fill:#e4e4e4}
pre{background:#f7f7f7;padding:.4em;max-height:20em;overflow:auto}pre.err{color:#8b0000}.attempt{margin:.4em 0}
#gantt{max-width:900px}#gantt .bar{display:flex;align-items:center;height:18px}
#gantt span{flex:none;width:12em;font-size:12px;overflow:hidden}#gantt b{flex:1;position:relative;height:12px}
#gantt i{position:absolute;top:0;height:12px;background:#0b5cad}#gantt i.succeeded{background:#17692f}#gantt i.failed{background:#b00020}
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

namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A step's class on the page: its status, or "continued" for a failure the
// runbook lets the run go on from (drawn apart from the failure that stops it).
std::string StatusOf(const ReportInput& in, const std::string& id) {
  for (const auto& s : in.steps)
    if (s.step_id == id) {
      const Step* def = in.runbook ? in.runbook->FindStep(id) : nullptr;
      if (s.status == StepStatus::kFailed && def && def->continue_on_failure) return "continued";
      return ToString(s.status);
    }
  return "pending";
}

}  // namespace

std::string LiveFragment(const ReportInput& in) {
  std::string h;
  // The DAG: a column per wave, edges from each need to its step.
  if (in.runbook && !in.runbook->steps.empty()) {
    StepGraph g(in.runbook->steps);
    std::vector<std::vector<int>> waves = g.FindCycles().empty() ? g.Waves() : std::vector<std::vector<int>>{};
    std::vector<std::pair<double, double>> at(g.size());
    const double w = 170, hgt = 44, nw = 140, nh = 28;
    size_t rows = 1;
    for (size_t c = 0; c < waves.size(); ++c) {
      rows = std::max(rows, waves[c].size());
      for (size_t r = 0; r < waves[c].size(); ++r) at[waves[c][r]] = {10 + c * w, 10 + r * hgt};
    }
    h += "<svg id=dag xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(20 + waves.size() * w) + "\" height=\"" +
         Num(20 + rows * hgt) + "\">";
    for (const auto& e : g.edges())
      h += "<line class=edge x1=\"" + Num(at[e.need].first + nw) + "\" y1=\"" + Num(at[e.need].second + nh / 2) +
           "\" x2=\"" + Num(at[e.step].first) + "\" y2=\"" + Num(at[e.step].second + nh / 2) + "\"/>";
    for (int v = 0; v < g.size(); ++v) {
      const std::string& id = g.step(v).id;
      std::string st = StatusOf(in, id);
      h += "<g class=\"node " + st + "\" data-step=\"" + Escape(id) + "\"><title>" + Escape(id) + "</title><rect x=\"" +
           Num(at[v].first) + "\" y=\"" + Num(at[v].second) + "\" width=\"" + Num(nw) + "\" height=\"" + Num(nh) +
           "\" rx=\"4\"/><text x=\"" + Num(at[v].first + 6) + "\" y=\"" + Num(at[v].second + 18) + "\">" +
           Escape(id.size() > 20 ? id.substr(0, 19) + "\u2026" : id) + "</text></g>";
    }
    h += "</svg>";
  }
  // The gantt: each attempt a bar from its start to its end (or now).
  int64_t begin = in.run.started_at, end = in.run.finished_at ? in.run.finished_at : in.now_ms;
  for (const auto& a : in.attempts) end = std::max(end, a.finished_at ? a.finished_at : in.now_ms);
  double span = std::max<int64_t>(1, end - begin);
  h += "<div id=gantt>";
  for (const auto& a : in.attempts) {
    int64_t to = a.finished_at ? a.finished_at : in.now_ms;
    double left = 100.0 * (a.started_at - begin) / span;
    double width = std::min(100.0 - left, std::max(0.5, 100.0 * (to - a.started_at) / span));
    h += "<div class=bar title=\"" + Escape(a.step_id) + " #" + std::to_string(a.number) + ": " +
         HumanDuration(to - a.started_at) + "\"><span>" + Escape(a.step_id) + "</span><b><i class=\"" +
         ToString(a.status) + "\" style=\"left:" + Num(left) + "%;width:" + Num(width) + "%\"></i></b></div>";
  }
  h += "</div>";
  // What waits for a person: its text, prompt, choices or checklist, and a form to answer.
  h += "<div id=asks>";
  for (const auto& rec : in.steps) {
    if (rec.status != StepStatus::kWaiting || !in.runbook) continue;
    const Step* step = in.runbook->FindStep(rec.step_id);
    if (!step) continue;
    h += "<form class=answer data-step=\"" + Escape(step->id) + "\"><h3>" + Escape(StepName(*step, in)) +
         " waits for a person</h3>";
    std::vector<std::string> values;
    if (step->kind == StepKind::kDecision) {
      if (step->decision.prompt)
        h += "<p class=prompt>" + Escape(RenderFromRecord(*step->decision.prompt, in)) + "</p>";
      for (const auto& c : step->decision.choices) values.push_back(c.value);
    } else {
      h += "<p class=prompt>" + Escape(RenderFromRecord(step->manual, in)) + "</p>";
      if (!step->checklist.empty()) {
        h += "<ul class=checklist>";
        for (const auto& item : step->checklist) h += "<li><label><input type=checkbox> " + Escape(item) + "</label></li>";
        h += "</ul>";
      }
      values = {"done", "skip", "fail"};
    }
    h += "<select name=value>";
    for (const auto& v : values) h += "<option value=\"" + Escape(v) + "\">" + Escape(v) + "</option>";
    h += "</select> <input name=comment placeholder=\"comment (recorded with the answer)\" size=40> "
         "<button type=submit>answer</button> <span class=said></span></form>";
  }
  h += "</div><table id=steps><tr><th>step</th><th>status</th><th>attempts</th><th>reason</th></tr>";
  for (const auto& s : in.steps) {
    std::string st = ToString(s.status);
    // The step's record: outputs, rollback, and each attempt (runs, verifications, hooks) with its output.
    std::string detail;
    for (const auto& [k, v] : s.outputs) detail += "<div>output <code>" + Escape(k) + "</code> = " + Escape(v) + "</div>";
    if (s.rollback != HookStatus::kNone) detail += "<div>rollback hook: " + std::string(ToString(s.rollback)) + "</div>";
    for (const auto& a : in.attempts) {
      if (a.step_id != s.step_id) continue;
      int64_t to = a.finished_at ? a.finished_at : in.now_ms;
      detail += "<div class=attempt><b>" + std::string(ToString(a.kind)) + " #" + std::to_string(a.number) +
                (a.name.empty() ? "" : " " + Escape(a.name)) + "</b> <span class=\"" + ToString(a.status) + "\">" +
                ToString(a.status) + "</span>" + (a.exit_code ? ", exit " + std::to_string(*a.exit_code) : "") + ", " +
                HumanDuration(to - a.started_at) + (a.command.empty() ? "" : "<br><code>" + Escape(a.command) + "</code>");
      if (!a.out.empty()) detail += "<pre>" + Escape(a.out) + "</pre>";
      if (!a.err.empty()) detail += "<pre class=err>" + Escape(a.err) + "</pre>";
      if (a.truncated) detail += "<div>(the start of the output is not kept: see runbook logs)</div>";
      detail += "</div>";
    }
    h += "<tr data-step=\"" + Escape(s.step_id) + "\"><td><details data-step=\"" + Escape(s.step_id) + "\"><summary>" +
         Escape(s.step_id) + "</summary>" + (detail.empty() ? "nothing recorded yet" : detail) + "</details></td><td class=\"" +
         st + "\">" + st + "</td><td>" + std::to_string(s.attempts) + "</td><td>" +
         (s.reason == Reason::kNone ? "" : ToString(s.reason)) + "</td></tr>";
  }
  return h + "</table>";
}

std::string RunPage(const ReportInput& in) {
  const RunRecord& r = in.run;
  std::string st = ToString(r.status);
  std::string h = Head("runbook: " + r.runbook + " " + r.id);
  auto rto = RtoOf(r);
  h += "<h1>" + Escape(r.runbook) + " <small>" + Escape(r.id) + "</small></h1><p>status <b id=status class=\"" + st +
       "\">" + st + "</b>, " + Escape(r.user + "@" + r.host) + ", started " + Rfc3339(r.started_at) +
       (rto ? ", RTO " + Escape(rto->text) : "") + " &middot; <a href=\"/runs/" + Escape(r.id) +
       "/report\">report</a> &middot; <a href=\"/runs/" + Escape(r.id) + "/postmortem\">post-mortem</a></p>";
  // The timeline so far, then the stream from the last event shown: a page
  // drawn at event N asks for N+1 on; EventSource resumes with Last-Event-ID.
  int64_t last = 0;
  h += "<div id=live>" + LiveFragment(in) + "</div><h2>Timeline</h2><ol id=events>";
  for (const auto& e : in.events) {
    h += "<li>" + Rfc3339(e.at) + " " + (e.step_id.empty() ? "" : Escape(e.step_id) + " ") + Escape(e.kind) +
         (e.message.empty() ? "" : ": " + Escape(e.message)) + "</li>";
    last = std::max(last, e.seq);
  }
  h += "</ol>";
  h += "<script>\nconst run=" + ScriptValue(r.id) + ", after=" + std::to_string(last) + ";\n" + R"JS(
const base='/runs/'+encodeURIComponent(run);
const events=document.getElementById('events');
let seen=after;
// Redraw the DAG, gantt and steps; the answer forms only when what waits changed, so that
// what a person is typing is never wiped.
let drawing=false,again=false;
function redraw(){if(drawing){again=true;return;}drawing=true;fetch(base+'/live').then(r=>r.text()).then(t=>{
  const next=document.createElement('div');next.innerHTML=t;
  const opened=[...document.querySelectorAll('#steps details[open]')].map(d=>d.dataset.step);
  for(const d of next.querySelectorAll('#steps details'))if(opened.includes(d.dataset.step))d.open=true;
  for(const id of ['dag','gantt','steps']){const old=document.getElementById(id),now=next.querySelector('#'+id);
    if(old&&now)old.replaceWith(now);}
  const steps=el=>[...el.querySelectorAll('form.answer')].map(f=>f.dataset.step).join(' ');
  const asks=document.getElementById('asks'),nowAsks=next.querySelector('#asks');
  if(asks&&nowAsks&&steps(asks)!==steps(nowAsks))asks.replaceWith(nowAsks);
  drawing=false;if(again){again=false;redraw();}});}
function onEvent(e){const d=JSON.parse(e.data);if(d.seq<=seen)return;seen=d.seq;
  const li=document.createElement('li');
  li.textContent=d.at+' '+(d.step?d.step+' ':'')+d.kind+(d.message?': '+d.message:'');events.appendChild(li);
  redraw();
  fetch('/api/runs/'+encodeURIComponent(run)).then(r=>r.json()).then(j=>{
    const s=document.getElementById('status');s.textContent=j.status;s.className=j.status;});}
// The stream: a browser retries a stream that ended, but never one refused (a 503 from a proxy,
// a server restarting): then the page opens it again itself, from the last event it drew.
function listen(){const src=new EventSource('/api/runs/'+encodeURIComponent(run)+'/events?after='+seen);
  src.onmessage=onEvent;
  src.onerror=()=>{if(src.readyState===EventSource.CLOSED)setTimeout(listen,3000);};}
listen();
// A running step's output grows with no event (the engine commits it about once a second): redrawn
// every two seconds while something runs.
setInterval(()=>{if(document.querySelector('#dag .running'))redraw();},2000);
// An answer: JSON, same origin, the cookie; what the server says is shown beside the form.
document.addEventListener('submit',ev=>{const f=ev.target;if(!f.classList.contains('answer'))return;ev.preventDefault();
  fetch('/api/runs/'+encodeURIComponent(run)+'/answers',{method:'POST',headers:{'Content-Type':'application/json'},
    body:JSON.stringify({step:f.dataset.step,value:f.elements.value.value,comment:f.elements.comment.value})})
  .then(r=>r.text().then(t=>{f.querySelector('.said').textContent=r.ok?'answered: the run goes on':t;}));});
)JS" + "</script></body></html>";
  return h;
}

std::string MarkdownPage(const std::string& title, const std::string& markdown) {
  cmark_gfm_core_extensions_ensure_registered();
  cmark_parser* parser = cmark_parser_new(CMARK_OPT_DEFAULT);
  for (const char* ext : {"table", "tasklist", "strikethrough"})
    if (cmark_syntax_extension* e = cmark_find_syntax_extension(ext)) cmark_parser_attach_syntax_extension(parser, e);
  cmark_parser_feed(parser, markdown.data(), markdown.size());
  cmark_node* doc = cmark_parser_finish(parser);
  char* html = cmark_render_html(doc, CMARK_OPT_DEFAULT, cmark_parser_get_syntax_extensions(parser));
  std::string out = Head(title) + (html ? html : "") + "</body></html>";
  std::free(html);
  cmark_node_free(doc);
  cmark_parser_free(parser);
  return out;
}

}  // namespace runbook::serve
