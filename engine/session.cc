#include "engine/session.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>

#include "engine/inputs.h"
#include "engine/parser.h"
#include "engine/suggest.h"
#include "engine/timefmt.h"
#include "engine/validate.h"

namespace runbook {
std::string NewRunId(int64_t wall_ms) {
  std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(buf) + suffix;
}

Status CheckRunId(const std::string& id) {
  constexpr size_t kMax = 128;
  bool ok = !id.empty() && id.size() <= kMax && std::isalnum(static_cast<unsigned char>(id[0])) &&
            id.find("..") == std::string::npos;
  for (char c : id) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (ok) return Status::Ok();
  std::string shown = id.size() > 40 ? id.substr(0, 40) + "..." : id;
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return Status::Invalid("invalid run id '" + shown +
                         "': run ids match ^[A-Za-z0-9][A-Za-z0-9._-]*$, without '..', at most 128 characters");
}

namespace {

namespace fs = std::filesystem;

// The options every run and resume starts from.
ExecOptions Base(const EngineSettings& s, Host& host, const Identity& me) {
  ExecOptions o;
  o.workdir = host.WorkingDir();
  o.user = me.user;
  o.host = me.host;
  o.pid = me.pid;
  o.owner_start = me.start;
  o.base_env = host.Environment();
  o.jobs = std::max(1, s.jobs);
  o.grace_ms = s.grace_ms;
  o.self_exe = host.SelfExe();
  o.state_path = s.state_path;
  o.child_flags = s.child_flags;
  o.runbook_path = s.runbook_path;
  o.interrupt = s.interrupt;
  return o;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

}  // namespace

PreparedRun::PreparedRun(Host* host, std::unique_ptr<Runbook> owned, const Runbook* rb, ExecOptions o)
    : host_(host), owned_(std::move(owned)), rb_(owned_ ? owned_.get() : rb), options_(std::move(o)) {}

PreparedRun::~PreparedRun() { host_->RemovePrivateDir(options_.tmp_dir); }

std::string Sha256(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex += b;
  }
  return hex;
}

std::string OwnerText(const RunRecord& r) {
  return r.owner_user + "@" + r.owner_host + " (pid " + std::to_string(r.pid) + ") since " + Rfc3339(r.owner_since);
}

Status CheckAnswers(const Runbook& rb, const std::map<std::string, std::string>& answers, bool resuming) {
  for (const auto& [id, value] : answers) {
    std::string own = id.substr(0, id.find('.'));
    const Step* s = rb.FindStep(own);
    if (!s) {
      std::vector<std::string> ids;
      for (const auto* list : {&rb.steps, &rb.finally})
        for (const auto& step : *list) ids.push_back(step.id);
      return Status::Invalid("--answer names no step of " + rb.name + ": '" + id + "'" + DidYouMean(own, ids));
    }
    if (own != id) continue;
    std::vector<std::string> allowed;
    if (s->kind == StepKind::kManual) allowed = {"done", "skip", "fail"};
    else if (s->kind == StepKind::kDecision)
      for (const auto& c : s->decision.choices) allowed.push_back(c.value);
    else if (resuming && !s->idempotent) allowed = {"rerun", "done"};
    else if (resuming) allowed = {"done"};
    else return Status::Invalid("step '" + id + "' is a " + ToString(s->kind) + " step and takes no answer");
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return Status::Invalid("'" + value + "' is not an answer for step '" + id + "': expected one of " + list +
                             DidYouMean(value, allowed));
    }
  }
  return Status::Ok();
}

// ---- run ----------------------------------------------------------------------------

namespace {

Result<InputValues> RunInputs(const Runbook& rb, const RunRequest& req, Host& host) {
  Status answers = CheckAnswers(rb, req.answers, false);
  if (!answers.ok()) return answers;
  InputValues inputs = ResolveInputs(rb, req.inputs, [&](const std::string& name) { return host.Env(name); });
  std::vector<std::string> problems = inputs.errors;
  for (const auto& m : inputs.missing) {
    const InputDecl* d = rb.FindInput(m);
    std::string values;
    if (d)
      for (const auto& v : d->enum_values) values += (values.empty() ? ": one of " : ", ") + v;
    problems.push_back("missing required input '" + m + "'" +
                       (d && !d->from_env.empty() ? " (--input " + m + "=... or $" + d->from_env + ")"
                                                  : " (--input " + m + "=...)") +
                       values);
  }
  if (!problems.empty()) return Status::Invalid(Join(problems));
  return inputs;
}

}  // namespace

Status CheckRun(const Runbook& rb, const RunRequest& req, Host& host) { return RunInputs(rb, req, host).status(); }

Result<std::unique_ptr<PreparedRun>> PrepareRun(const Runbook& rb, const RunRequest& req, const EngineSettings& s,
                                                StateStore* store, Host& host, Clock& clock) {
  auto inputs = RunInputs(rb, req, host);
  if (!inputs.ok()) return inputs.status();

  Identity me = host.Self();
  ExecOptions o = Base(s, host, me);
  o.run_id = req.run_id.empty() ? NewRunId(clock.WallMs()) : req.run_id;
  if (Status id = CheckRunId(o.run_id); !id.ok()) return id;
  if (!req.parent.empty()) {
    o.parent_run = req.parent.substr(0, req.parent.find(':'));
    o.parent_step = req.parent.find(':') == std::string::npos ? "" : req.parent.substr(req.parent.find(':') + 1);
  }
  o.inputs = inputs->values;
  o.answers = req.answers;
  o.source_sha256 = Sha256(rb.source.text());  // resume refuses a changed file
  o.dry_run = req.dry_run;
  auto tmp = host.MakePrivateDir();  // a dry run writes a child's inputs file there too
  if (!tmp.ok()) return tmp.status();
  o.tmp_dir = *tmp;
  if (!req.dry_run && store) {
    // Two people running disaster recovery at once is how outages get worse.
    bool exclusive = rb.exclusive && !req.new_run && o.parent_run.empty();
    auto created = store->CreateRun(NewRunRecord(rb, o, clock.WallMs()), exclusive,
                                    [&](const RunRecord& r) { return host.IsLive(r); });
    Status refused = created.ok() ? Status::Ok() : created.status();
    if (created.ok() && *created) {
      const RunRecord& b = **created;
      if (b.status == RunStatus::kRunning && store->OwnerAlive(b, [&](const RunRecord& r) { return host.IsLive(r); }))
        refused = Status::Busy(rb.name + " is being run right now: run " + b.id + " by " + OwnerText(b));
      else
        refused = Status::Busy("run " + b.id + " of " + rb.name + " is " +
                               (b.status == RunStatus::kRunning ? std::string("orphaned (its engine died)")
                                                                : std::string(ToString(b.status))) +
                               "; continue it with:\n  runbook resume " + b.id + "\nor end it with `runbook abandon " +
                               b.id + "`, or start another run anyway with --new");
    }
    if (!refused.ok()) {
      host.RemovePrivateDir(o.tmp_dir);
      return refused;
    }
    o.run_exists = true;
  }
  return std::make_unique<PreparedRun>(&host, nullptr, &rb, std::move(o));
}

// ---- resume -------------------------------------------------------------------------

namespace {

// The run a resume means: RUN, or the newest open one (live or not: a live
// one is then refused by the claim, naming its owner).
Result<std::string> FindRun(StateStore& store, const std::string& target) {
  if (!target.empty()) return store.ResolveRun(target);
  auto runs = store.ListRuns({});
  if (!runs.ok()) return runs.status();
  for (const auto& r : *runs)
    if (!IsFinal(r.status)) return r.id;
  return Status::NotFound("no run to resume (none is interrupted, failed, waiting or orphaned)");
}

Status Ended(const RunRecord& r, bool rollback_only) {
  return Status::Invalid("run " + r.id + " ended " + ToString(r.status) +
                         (rollback_only ? "; there is nothing to roll back" : "; there is nothing to resume"));
}

Status Live(const RunRecord& r) { return Status::Busy("run " + r.id + " is live: driven by " + OwnerText(r)); }

// The run's own inputs, with secrets supplied again (never stored): from
// --input, else their from_env variable.
Result<std::map<std::string, std::string>> InputsAgain(const Runbook& rb, const RunRecord& run,
                                                       const std::map<std::string, std::string>& given, Host& host) {
  std::map<std::string, std::string> inputs;
  for (const auto& [k, v] : given)
    if (!rb.FindInput(k)) return Status::Invalid("unknown input '" + k + "'");
  for (const auto& d : rb.inputs) {
    auto recorded = run.inputs.find(d.name);
    if (!d.secret) {
      if (given.count(d.name))
        return Status::Invalid("input '" + d.name + "' is recorded with the run; resume takes only secret inputs");
      if (recorded != run.inputs.end()) inputs[d.name] = recorded->second;
      continue;
    }
    auto env = d.from_env.empty() ? std::nullopt : host.Env(d.from_env);
    if (given.count(d.name))
      inputs[d.name] = given.at(d.name);
    else if (env)
      inputs[d.name] = *env;
    else if (recorded != run.inputs.end())
      return Status::Invalid("secret input '" + d.name + "' must be given again: --input " + d.name + "=..." +
                             (d.from_env.empty() ? "" : " or $" + d.from_env));
  }
  return inputs;
}

}  // namespace

Status CanResumeUnattended(const Runbook& rb, const RunRecord& run, Host& host) {
  return InputsAgain(rb, run, {}, host).status();
}

Status MarkInputsSecret(Runbook* rb, const std::vector<std::string>& names) {
  if (names.empty()) return Status::Ok();
  for (const auto& name : names) {
    auto it = std::find_if(rb->inputs.begin(), rb->inputs.end(), [&](const InputDecl& d) { return d.name == name; });
    if (it == rb->inputs.end()) return Status::Invalid("--secret-input names no input of " + rb->name + ": '" + name + "'");
    it->secret = true;
  }
  Diagnostics diags;
  ValidateRunbook(*rb, &diags);
  if (!diags.HasErrors()) return Status::Ok();
  std::string text;
  for (const auto& d : diags.items()) text += Format(rb->source, d);
  return Status::Invalid(text + rb->source.path() + ": a secret from the parent run would be shown in clear here; " +
                         "nothing was run");
}

Result<std::unique_ptr<PreparedRun>> PrepareResume(const ResumeRequest& req, const EngineSettings& s,
                                                   StateStore& store, Host& host, Clock& clock) {
  auto id = FindRun(store, req.target);
  if (!id.ok()) return id.status();
  auto run = store.GetRun(*id);
  if (!run.ok()) return run.status();
  if (IsFinal(run->status)) return Ended(*run, req.rollback_only);
  if (run->status == RunStatus::kRunning && store.OwnerAlive(*run, [&](const RunRecord& r) { return host.IsLive(r); }))
    return Live(*run);
  // Its steps run on the engine's machine: their files, folders and
  // processes are there. Another machine takes over only when told to.
  std::string ran_on = run->owner_host.empty() ? run->host : run->owner_host;
  std::string here = host.Self().host;
  if (ran_on != here && !req.from_another_host)
    return Status::Invalid("run " + *id + " ran its steps on " + ran_on + "; this is " + here +
                           ". Resume it on " + ran_on + ", or give --from-another-host to run its remaining steps "
                           "here (recorded in the timeline)");
  // Paths are the run's: its file and its folders, resolved against the
  // folder it started in, never by changing this process's own.
  fs::path workdir(run->workdir);
  auto in_run_dir = [&](const std::string& p) {
    fs::path q(p);
    return q.is_absolute() ? q.string() : (workdir / q).lexically_normal().string();
  };
  std::string file = in_run_dir(run->path);
  std::string source = run->source;
  auto current = host.ReadFile(file);
  if (!current.ok() || Sha256(*current) != run->sha256) {
    if (!req.allow_changed)
      return Status::Invalid(file + (current.ok() ? " changed" : " is gone") + " since run " + *id +
                             " started (sha256 " + run->sha256.substr(0, 12) +
                             "...); resume it with --allow-changed to use the file as it is now");
    if (current.ok()) source = *current;
  }
  Diagnostics diags;
  auto rb = std::make_unique<Runbook>(ParseRunbook(SourceFile(file, source), &diags));
  ValidateRunbook(*rb, &diags);
  if (diags.HasErrors()) {
    std::string text;
    for (const auto& d : diags.items()) text += Format(rb->source, d);
    return Status::Invalid(text + file + ": " + std::to_string(diags.ErrorCount()) + " error(s); nothing was run");
  }
  if (Status marked = MarkInputsSecret(rb.get(), req.secret_inputs); !marked.ok()) return marked;
  Status answers = CheckAnswers(*rb, req.answers, true);
  if (!answers.ok()) return answers;
  for (const auto& r : req.rerun)
    if (!rb->FindStep(r)) return Status::Invalid("--rerun names no step of " + rb->name + ": '" + r + "'");
  auto inputs = InputsAgain(*rb, *run, req.inputs, host);
  if (!inputs.ok()) return inputs.status();

  Identity me = host.Self();
  ExecOptions o = Base(s, host, me);
  o.run_id = *id;
  o.workdir = run->workdir;
  for (auto& dir : o.runbook_path) dir = in_run_dir(dir);
  o.parent_run = run->parent_run;
  o.parent_step = run->parent_step;
  o.inputs = *inputs;
  o.answers = req.answers;
  o.source_sha256 = run->sha256;
  o.run_exists = true;
  o.rollback_only = req.rollback_only;
  if (ran_on != here) o.moved_from = ran_on;
  auto tmp = host.MakePrivateDir();
  if (!tmp.ok()) return tmp.status();
  o.tmp_dir = *tmp;
  RunRecord owner;
  owner.pid = me.pid;
  owner.owner_user = me.user;
  owner.owner_host = me.host;
  owner.owner_start = me.start;
  owner.owner_since = clock.WallMs();
  owner.tmp_dir = o.tmp_dir;
  auto claim = store.ClaimRun(*id, owner, [&](const RunRecord& r) { return host.IsLive(r); });
  if (!claim.ok()) {
    host.RemovePrivateDir(o.tmp_dir);
    return claim.status();
  }
  if (claim->outcome != Claim::Outcome::kClaimed) {
    host.RemovePrivateDir(o.tmp_dir);
    return claim->outcome == Claim::Outcome::kLive ? Live(claim->run) : Ended(claim->run, req.rollback_only);
  }
  host.RemovePrivateDir(claim->run.tmp_dir);  // the dead owner's: nobody else will
  ResumeState st;
  st.run = claim->run;
  auto steps = store.GetSteps(*id);
  auto attempts = store.GetAttempts(*id);
  auto decisions = store.GetDecisions(*id);
  for (const Status* e : {&steps.status(), &attempts.status(), &decisions.status()})
    if (!e->ok()) {
      host.RemovePrivateDir(o.tmp_dir);
      return *e;
    }
  st.steps = *steps;
  st.attempts = *attempts;
  st.decisions = *decisions;
  st.rerun = req.rerun;
  o.resume = std::move(st);
  return std::make_unique<PreparedRun>(&host, std::move(rb), nullptr, std::move(o));
}

Result<RunRecord> AbandonRun(StateStore& store, Host& host, const std::string& ref, int64_t now_ms) {
  auto id = store.ResolveRun(ref);
  if (!id.ok()) return id.status();
  auto run = store.GetRun(*id);
  if (!run.ok()) return run.status();
  if (run->status == RunStatus::kRunning && store.OwnerAlive(*run, [&](const RunRecord& r) { return host.IsLive(r); }))
    return Live(*run);
  if (IsFinal(run->status)) return Status::Invalid("run " + *id + " already ended " + ToString(run->status));
  Identity me = host.Self();
  RunRecord r = *run;
  r.status = RunStatus::kAbandoned;
  r.phase = RunPhase::kDone;
  r.reason = "abandoned by " + me.user + "@" + me.host;
  r.finished_at = now_ms;
  Batch b;
  b.run = r;
  b.Add(EventRecord{0, r.id, now_ms, "", "run.abandoned", r.reason});
  Status s = store.Commit(b);
  if (!s.ok()) return s;
  return r;
}

}  // namespace runbook
