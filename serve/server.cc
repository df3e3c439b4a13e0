#include "serve/server.h"

#include <httplib.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <memory>
#include <sstream>
#include <thread>

#include "engine/lifecycle.h"
#include "engine/timefmt.h"
#include "engine/loader.h"
#include "engine/session.h"
#include "serve/guard.h"
#include "serve/pages.h"
#include "state/open_store.h"
#include "engine/parser.h"
#include "steps/posix_host.h"
#include "steps/posix_runner.h"
#include "templates/report.h"
#include "templates/run_json.h"

namespace runbook::serve {
namespace {

using nlohmann::json;

constexpr auto kPoll = std::chrono::milliseconds(200);       // how often a stream looks for new events
constexpr auto kHeartbeat = std::chrono::seconds(15);        // a comment line, so proxies keep the stream
constexpr auto kStreamLifetime = std::chrono::minutes(5);    // then the browser reconnects with Last-Event-ID
constexpr int kThreads = 64;
constexpr int kMaxStreams = 40;                 // open event streams at once; more are told to retry
constexpr size_t kMaxBody = 1 << 20;            // a request body: 1 MiB
constexpr size_t kMaxNote = 64 << 10;           // a note or an answer's comment
constexpr size_t kMaxAlerts = 100;              // firing alerts taken from one webhook
std::atomic<int> open_streams{0};

void Text(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

void Json(httplib::Response& res, const json& j) { res.set_content(Dump(j) + "\n", "application/json"); }

std::unique_ptr<StateStore> OpenStore(const std::string& path, httplib::Response& res) {
  auto s = OpenStoreForReading(path);
  if (!s.ok()) {
    Text(res, s.status().IsNotFound() ? 404 : 500,
         s.status().IsNotFound() ? "no state database at " + path + " yet: no run has been recorded"
                                 : s.status().message());
    return nullptr;
  }
  return std::move(s.value());
}

// The store, read-only, and the run a route's first capture names; or
// nothing, having answered 404 or 500.
struct RunRef {
  std::unique_ptr<StateStore> store;
  std::string id;
};
std::optional<RunRef> OpenRun(const std::string& path, const httplib::Request& req, httplib::Response& res) {
  auto store = OpenStore(path, res);
  if (!store) return std::nullopt;
  auto id = store->ResolveRun(req.matches[1]);
  if (!id.ok()) {
    Text(res, 404, id.status().message());
    return std::nullopt;
  }
  return RunRef{std::move(store), *id};
}

// Runs newest first, filtered by the request's ?runbook= and ?status=.
std::vector<RunRecord> ListFiltered(StateStore& store, const httplib::Request& req, Status* error) {
  std::optional<RunStatus> status;
  if (req.has_param("status")) status = Parse<RunStatus>(req.get_param_value("status"));
  auto runs = store.ListRuns({req.get_param_value("runbook"), status, true});
  if (!runs.ok()) {
    *error = runs.status();
    return {};
  }
  return *runs;
}

// A note in run `id`'s timeline (the one write serve makes to the record).
Status AddNote(const std::string& path, const std::string& id, const std::string& step, const std::string& text) {
  auto store = OpenStore(path, Durability::kCrash);
  if (!store.ok()) return store.status();
  Batch b;
  b.Add(EventRecord{0, id, SystemClock().WallMs(), step, "note", text});
  return (*store)->Commit(b);
}

// A stream of a run's events from `after`: `id:` is the event's sequence
// number, so a reconnect with Last-Event-ID misses and repeats nothing. It
// ends when the run has finished and everything is sent.
struct EventStream {
  std::string path, run;
  int64_t after = 0;
  std::unique_ptr<StateStore> store;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now(), beat = started;
  ~EventStream() { --open_streams; }

  bool Next(httplib::DataSink& sink) {
    if (!store) {
      auto s = OpenStoreForReading(path);
      if (!s.ok()) return false;
      store = std::move(s.value());
    }
    auto record = store->GetRun(run);  // first: a run seen finished has all its events read below
    auto events = store->GetEvents(run);
    if (!events.ok() || !record.ok()) return false;
    bool sent = false;
    for (const auto& e : *events) {
      if (e.seq <= after) continue;
      std::string frame = "id: " + std::to_string(e.seq) + "\ndata: " +
                          EventJson(e).dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
      if (!sink.write(frame.data(), frame.size())) return false;  // the page went away
      after = e.seq;
      sent = true;
    }
    auto now = std::chrono::steady_clock::now();
    bool finished = record->status != RunStatus::kRunning && record->status != RunStatus::kWaiting;
    if ((finished && !sent) || now - started > kStreamLifetime) {
      sink.done();
      return true;
    }
    if (now - beat > kHeartbeat) {
      if (!sink.write(": alive\n\n", 10)) return false;
      beat = now;
    }
    if (!sent) (void)store->WaitForChange(kPoll.count() * 5);  // woken by a commit (NOTIFY, data_version)
    return true;
  }
};

// The runs serve started for alerts, by fingerprint.
struct Alerts {
  std::mutex mu;
  std::map<std::string, std::string> runs;
};

// Where the output of an engine serve starts goes: beside the SQLite file,
// or in the local .runbook/ when the record is in PostgreSQL.
std::string EngineLog(const std::string& state, const std::string& run) {
  if (!IsPostgres(state)) return state + "-serve-" + run + ".log";
  std::filesystem::create_directories(LocalStateDir(state));
  return LocalStateDir(state) + "/serve-" + run + ".log";
}

// This binary with `args` (a resume with an answer, a run for an alert),
// in its own session (a stopped serve does not stop it), output to `log` (0600).
Result<int> StartEngine(const std::string& self, std::vector<std::string> args, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own session; and SIGCHLD as default, not serve's SIG_IGN (else the
  // kernel would reap the resumed engine's steps before it reads their exit).
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF);
  args.insert(args.begin(), self);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, self.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::IOError(std::strerror(rc));
  return static_cast<int>(pid);
}

// The last line an engine wrote to its log (why it stopped, when it stopped early).
std::string LastLine(const std::string& log) {
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.size() > 500 ? last.substr(0, 500) + "..." : last;
}

// The engines serve starts, each reaped by a thread of its own: serve must
// know how each one ended (so it no longer ignores SIGCHLD), and an engine
// that stopped early is said where people look, not only in a log.
class Children : public std::enable_shared_from_this<Children> {
 public:
  using OnExit = std::function<void(int code)>;
  void Watch(int pid, OnExit on_exit) {
    std::thread([self = shared_from_this(), pid, on_exit = std::move(on_exit)] {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (on_exit) on_exit(code);  // first: whoever waits in Exited() sees what it did
      {
        std::lock_guard<std::mutex> lock(self->mu_);
        self->exited_[pid] = code;
      }
      self->cv_.notify_all();
    }).detach();
  }
  // Its exit code, once it has exited, waiting at most `d` for it.
  std::optional<int> Exited(int pid, std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [&] { return exited_.count(pid) > 0; });
    auto it = exited_.find(pid);
    return it == exited_.end() ? std::nullopt : std::optional<int>(it->second);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, int> exited_;
};

// An engine started for a new run has started it once the run is recorded.
// If it exits first, it refused (an exclusive runbook already open, an input
// of the wrong type...), and its last line (`last`, filled in when it exits)
// says why. Waits at most 10 s: an engine still alive and not yet recorded
// then is taken as starting.
std::optional<std::string> Refusal(Children& children, const std::string& state, const std::string& id, int pid,
                                   const std::shared_ptr<std::string>& last) {
  auto recorded = [&] {
    auto store = OpenStoreForReading(state);
    return store.ok() && (*store)->GetRun(id).ok();
  };
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    if (recorded()) return std::nullopt;
    if (auto code = children.Exited(pid, std::chrono::milliseconds(50))) {
      if (recorded()) return std::nullopt;
      std::string line = *last;  // read by the exit's handler before Exited() said it exited
      if (line.rfind("runbook: ", 0) == 0) line = line.substr(9);
      return "the run did not start (exit " + std::to_string(*code) + "): " + line;
    }
  }
  return std::nullopt;
}

// Delivers the inbox's answers to an engine (one per answer, at most once
// per serve): a live engine driving the run takes an answer itself; a run
// that stopped waiting (exit 3) or whose engine died is resumed on this host
// by `runbook resume`, which takes it; a run of another host waits for a
// resume there. Looked at after each answer and every second, so an answer
// posted while the engine was about to stop waiting is not left behind.
class Courier {
 public:
  Courier(std::string state, std::string self, std::shared_ptr<Children> children)
      : state_(std::move(state)), self_(std::move(self)), children_(std::move(children)) {}

  // What became of `a`, said for a person.
  json Deliver(const InboxAnswer& a) {
    std::lock_guard<std::mutex> lock(mu_);
    auto store = OpenStoreForReading(state_);
    if (!store.ok()) return {{"delivered", "no"}, {"error", store.status().message()}};
    auto run = (*store)->GetRun(a.run_id);
    if (!run.ok()) return {{"delivered", "no"}, {"error", run.status().message()}};
    PosixHost host;
    if (run->status == RunStatus::kRunning && (*store)->OwnerAlive(*run, [&](const RunRecord& r) { return host.IsLive(r); }))
      return {{"delivered", "engine"}, {"message", "the engine driving the run (pid " + std::to_string(run->pid) +
                                                       " on " + run->owner_host + ") takes it"}};
    if (run->status != RunStatus::kWaiting)  // ended, or a person stopped it: they decide when it goes on
      return {{"delivered", "no"},
              {"message", "run " + a.run_id + " is " + ToString(run->status) + ": `runbook resume " + a.run_id +
                              "` on " + run->host + " takes the answer"}};
    if (run->host != host.Self().host)
      return {{"delivered", "elsewhere"},
              {"message", "run " + a.run_id + " belongs to " + run->host + ": there, `runbook resume " + a.run_id +
                              "` takes the answer"}};
    auto started = resumed_.find(a.id);
    if (started != resumed_.end()) return {{"delivered", "resume"}, {"resume_pid", started->second}};
    std::string log = EngineLog(state_, a.run_id);
    auto pid = StartEngine(self_, {"resume", a.run_id, "--state", state_}, log);
    if (!pid.ok()) return {{"delivered", "no"}, {"error", "could not start runbook resume: " + pid.status().message()}};
    resumed_[a.id] = *pid;
    // When it ends: if the answer is still in the inbox, the resume stopped
    // before it could take it, and the run's timeline says so and why. The
    // log goes either way (its last line is in the record if it mattered).
    children_->Watch(*pid, [state = state_, a, pid = *pid, log](int code) {
      bool left = false;
      if (auto store = OpenStoreForReading(state); store.ok())
        if (auto pending = (*store)->PendingAnswers(a.run_id); pending.ok())
          left = std::any_of(pending->begin(), pending->end(), [&](const InboxAnswer& p) { return p.id == a.id; });
      if (left)
        (void)AddNote(state, a.run_id, a.step_id,
                      "serve started `runbook resume " + a.run_id + "` (pid " + std::to_string(pid) + ") for " + a.by +
                          "'s answer, and it exited " + std::to_string(code) + " before taking it: " + LastLine(log));
      std::error_code ec;
      std::filesystem::remove(log, ec);
    });
    return {{"delivered", "resume"}, {"resume_pid", *pid}, {"log", log},
            {"message", "`runbook resume " + a.run_id + "` started on this host takes it"}};
  }

  // Every answer still in the inbox.
  void Sweep() {
    auto store = OpenStoreForReading(state_);
    if (!store.ok()) return;
    auto pending = (*store)->PendingAnswers("");
    if (!pending.ok()) return;
    store->reset();
    for (const auto& a : *pending) Deliver(a);
  }

 private:
  std::string state_, self_;
  std::shared_ptr<Children> children_;
  std::mutex mu_;
  std::map<int64_t, int> resumed_;  // answer id -> the resume started for it
};

}  // namespace

int Serve(const Options& o, std::ostream& out, std::ostream& err) {
  auto children = std::make_shared<Children>();  // the engines serve starts, each reaped and heard
  httplib::Server svr;
  // An open stream holds a thread: streams are capped below the pool, so
  // pages and the API always have threads left (kMaxStreams).
  svr.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  svr.set_payload_max_length(kMaxBody);  // larger bodies get 413 before they are read
  svr.set_read_timeout(std::chrono::seconds(5));
  int port = o.port;
  if (port == 0) {
    port = svr.bind_to_any_port(o.host);
    if (port < 0) {
      err << "runbook: cannot listen on " << o.host << "\n";
      return 1;
    }
  } else if (!svr.bind_to_port(o.host, port)) {
    err << "runbook: cannot listen on " << o.host << ":" << port << "\n";
    return 1;
  }
  const std::string state = o.state;
  // A person's token is known by its sha256 in the store (runbook token add).
  Guard guard(NewToken(), Authorities(o.host, port), [state](const std::string& token) -> std::optional<std::string> {
    auto store = OpenStoreForReading(state);
    if (!store.ok()) return std::nullopt;
    auto name = (*store)->TokenName(Sha256(token));
    return name.ok() ? *name : std::nullopt;
  });
  auto check = [&guard](const httplib::Request& req) {
    return guard.Check(Request{req.method, req.path, req.get_header_value("Host"), req.get_header_value("Origin"),
                               req.get_header_value("Content-Type"), req.get_header_value("Authorization"),
                               req.get_header_value("Cookie"), req.get_param_value("token")});
  };
  // Who an answer or a note is from: the person whose token it came with.
  auto who = [check](const httplib::Request& req) {
    Verdict v = check(req);
    return v.who.empty() ? std::string("web visitor (serve's token)") : v.who + " (web)";
  };

  svr.set_pre_routing_handler([&guard, check](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
    // Pages load nothing from elsewhere: a link or image in a note stays on this server.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
    if (req.get_header_value_count("Host") != 1) {
      Text(res, 400, "one Host header, please");
      return httplib::Server::HandlerResponse::Handled;
    }
    Verdict v = check(req);
    if (v.status) {
      Text(res, v.status, v.message);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (v.set_cookie) {  // the address's token, swapped for a cookie; the address loses it
      res.set_header("Set-Cookie", guard.CookieHeader(v.token));
      // To this server's own path: "//host/x" would send the browser elsewhere.
      res.set_redirect(SameOriginPath(req.path));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  svr.Get("/api/runs", [state](const httplib::Request& req, httplib::Response& res) {
    auto store = OpenStore(state, res);
    if (!store) return;
    Status error = Status::Ok();
    auto runs = ListFiltered(*store, req, &error);
    if (!error.ok()) return Text(res, 500, error.message());
    PosixHost host;
    Json(res, RunsJson(runs, [&](const RunRecord& r) { return store->OwnerAlive(r, [&](const RunRecord& x) { return host.IsLive(x); }); }));
  });
  svr.Get(R"(/api/runs/([^/]+))", [state](const httplib::Request& req, httplib::Response& res) {
    auto run = OpenRun(state, req, res);
    if (!run) return;
    auto j = ShowJson(*run->store, run->id);
    if (!j.ok()) return Text(res, 500, j.status().message());
    Json(res, *j);
  });
  svr.Get(R"(/api/runs/([^/]+)/events)", [state](const httplib::Request& req, httplib::Response& res) {
    auto run = OpenRun(state, req, res);
    if (!run) return;
    if (++open_streams > kMaxStreams) {
      // A stream that ends at once with `retry:` is one a browser opens again
      // by itself (after 3 s); a 503 is one it gives up on for good.
      --open_streams;
      res.set_header("Retry-After", "3");
      return res.set_content("retry: 3000\n: too many open event streams; try again\n\n", "text/event-stream");
    }
    auto stream = std::make_shared<EventStream>();
    stream->path = state;
    stream->run = run->id;
    std::string last = req.get_header_value("Last-Event-ID");
    if (last.empty()) last = req.get_param_value("after");
    bool number = !last.empty() && last.size() <= 18 && last.find_first_not_of("0123456789") == std::string::npos;
    stream->after = number ? std::stoll(last) : 0;  // anything else: from the start
    res.set_chunked_content_provider("text/event-stream",
                                     [stream](size_t, httplib::DataSink& sink) { return stream->Next(sink); });
  });
  svr.Post(R"(/api/runs/([^/]+)/notes)", [state, who](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("text") || !body["text"].is_string() ||
        body["text"].get<std::string>().empty())
      return Text(res, 400, "a note is {\"text\": \"...\"}");
    if (body["text"].get<std::string>().size() > kMaxNote) return Text(res, 413, "a note is at most 64 KiB");
    auto run = OpenRun(state, req, res);
    if (!run) return;
    Status st = AddNote(state, run->id, "", who(req) + ": " + body["text"].get<std::string>());
    if (!st.ok()) return Text(res, 500, st.message());
    res.status = 201;
    Json(res, {{"run", run->id}, {"noted", true}});
  });
  // An answer from the page, for a step that waits: checked as resume
  // checks an --answer, posted to the run's inbox (the first answer wins),
  // and delivered (Courier). The engine records it like any answer: who,
  // when, via web; the comment goes to the timeline.
  PosixHost self;
  auto courier = std::make_shared<Courier>(state, self.SelfExe(), children);
  svr.Post(R"(/api/runs/([^/]+)/answers)", [state, courier, who](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    auto text = [&](const char* k) {
      return body.is_object() && body.contains(k) && body[k].is_string() ? body[k].get<std::string>() : "";
    };
    std::string step = text("step"), value = text("value"), comment = text("comment");
    if (step.empty() || value.empty()) return Text(res, 400, "an answer is {\"step\": ..., \"value\": ..., \"comment\": ...}");
    if (comment.size() > kMaxNote) return Text(res, 413, "a comment is at most 64 KiB");
    auto ref = OpenRun(state, req, res);
    if (!ref) return;
    const std::string id = ref->id;
    auto run = ref->store->GetRun(id);
    auto decisions = ref->store->GetDecisions(id);
    if (!run.ok() || !decisions.ok()) return Text(res, 500, "cannot read the run");
    for (const auto& d : *decisions)
      if (d.step_id == step) return Text(res, 409, "already answered by " + d.by + " at " + Rfc3339(d.at) + ": " + d.value);
    if (run->status != RunStatus::kWaiting && run->status != RunStatus::kRunning)
      return Text(res, 409, "step '" + step + "' of run " + id + " is not waiting for an answer (run " +
                                ToString(run->status) + ")");
    // The value must be one the step takes, before anything is recorded.
    Diagnostics diags;
    Runbook rb = ParseRunbook(SourceFile(run->path, run->source), &diags);
    if (Status ok = CheckAnswers(rb, {{step, value}}, true); !ok.ok()) return Text(res, 400, ok.message());
    // A stopped run goes on through a resume serve starts: one without the
    // run's secrets would exit at once. Said now, before anything is recorded.
    PosixHost host;
    if (run->status == RunStatus::kWaiting && run->host == host.Self().host)
      if (Status can = CanResumeUnattended(rb, *run, host); !can.ok())
        return Text(res, 409, "not taken: run " + id + " needs its secret inputs again to go on, and serve cannot give them (" +
                                  can.message() + "). At a terminal on " + run->host + ": runbook resume " + id +
                                  " --answer " + step + "=" + value + " (and the secret)");
    ref.reset();
    auto store = OpenStore(state, Durability::kCrash);
    if (!store.ok()) return Text(res, 500, store.status().message());
    std::string by = who(req);
    auto posted = (*store)->PostAnswer({0, id, step, value, by, SystemClock().WallMs()});
    if (!posted.ok())
      return Text(res, posted.status().code() == Status::Code::kInvalid ? 409 : 500, posted.status().message());
    const InboxAnswer& a = posted->answer;
    if (!posted->first)
      return Text(res, 409, "already answered by " + a.by + " at " + Rfc3339(a.at) + ": " + a.value);
    if (!comment.empty()) {
      Batch b;
      b.Add(EventRecord{0, id, SystemClock().WallMs(), step, "note", by + " answers " + value + ": " + comment});
      if (Status st = (*store)->Commit(b); !st.ok()) return Text(res, 500, st.message());
    }
    store->reset();
    json j = courier->Deliver(a);
    j.update({{"run", id}, {"step", step}, {"value", value}, {"by", by}, {"at", Rfc3339(a.at)}});
    res.status = 202;
    Json(res, j);
  });
  std::atomic<bool> serving{true};
  std::thread sweeper([courier, &serving] {
    while (serving) {
      courier->Sweep();
      for (int i = 0; i < 10 && serving; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // An Alertmanager webhook (its JSON, version 4) starts the runbook its
  // route names: the receiver's URL is /api/alerts/RUNBOOK, authorized by a
  // token (http_config.authorization). Each firing alert's labels become the
  // inputs the runbook declares (and alert_fingerprint, alert_name if it
  // declares them); an alert whose fingerprint has a run still open starts
  // nothing. serve only starts the run: the engine drives it.
  auto alerts = std::make_shared<Alerts>();
  const std::vector<std::string> runbook_path = o.runbook_path;
  svr.Post(R"(/api/alerts/([^/]+))", [state, alerts, runbook_path, children](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("alerts") || !body["alerts"].is_array())
      return Text(res, 400, "not an Alertmanager webhook: no alerts");
    // A runbook's name, found on RUNBOOK_PATH only: never a path, never a file beside serve.
    std::string name = req.matches[1];
    bool plain = !name.empty() && name.size() <= 128 && name.find("..") == std::string::npos;
    for (char c : name) plain &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    if (!plain) return Text(res, 404, "an alert route names a runbook on RUNBOOK_PATH by its name");
    std::string error;
    auto file = ResolveRunbook(name, runbook_path, &error);
    if (!file) return Text(res, 404, "no runbook named " + name + " on RUNBOOK_PATH");
    LoadedRunbook loaded = LoadRunbook(*file, runbook_path);
    if (!loaded.ok())  // its diagnostics stay on this machine: `runbook validate` shows them
      return Text(res, 422, "runbook " + name + " does not validate: run `runbook validate " + name + "`");
    std::lock_guard<std::mutex> lock(alerts->mu);
    json started = json::array(), open = json::array(), refused = json::array();
    size_t taken = 0;
    for (const auto& a : body["alerts"]) {
      if (!a.is_object() || a.value("status", "") != "firing") continue;
      std::string fp = a.is_object() && a.contains("fingerprint") && a["fingerprint"].is_string()
                           ? a["fingerprint"].get<std::string>() : "";
      if (fp.empty() || fp.size() > 128) {  // without one, nothing could say it is already handled
        refused.push_back({{"fingerprint", fp.substr(0, 128)}, {"reason", "an alert needs a fingerprint"}});
        continue;
      }
      if (++taken > kMaxAlerts) {
        refused.push_back({{"fingerprint", fp}, {"reason", "more than 100 firing alerts at once: the rest wait"}});
        continue;
      }
      std::map<std::string, std::string> labels;
      if (a.contains("labels") && a["labels"].is_object())
        for (const auto& [k, v] : a["labels"].items())
          if (v.is_string()) labels[k] = v.get<std::string>();
      if (!fp.empty()) {  // a run for this alert still open: nothing new
        auto known = alerts->runs.find(fp);
        if (known != alerts->runs.end()) {
          auto store = OpenStoreForReading(state);
          auto run = store.ok() ? (*store)->GetRun(known->second) : Result<RunRecord>(store.status());
          bool finished = run.ok() && run->status != RunStatus::kRunning && run->status != RunStatus::kWaiting &&
                          run->status != RunStatus::kInterrupted && run->status != RunStatus::kFailed;
          if (!finished) {
            open.push_back({{"fingerprint", fp}, {"run", known->second}});
            continue;
          }
        }
      }
      std::vector<std::string> args = {"run", *file, "--state", state};  // exclusive runbooks stay exclusive
      std::vector<std::string> missing;
      for (const auto& in : loaded.runbook.inputs) {
        std::string v;
        if (labels.count(in.name)) v = labels[in.name];
        else if (in.name == "alert_fingerprint") v = fp;
        else if (in.name == "alert_name" && labels.count("alertname")) v = labels["alertname"];
        else if (in.required && !in.default_value && in.from_env.empty()) missing.push_back(in.name);
        if (!v.empty()) args.insert(args.end(), {"--input", in.name + "=" + v});
      }
      if (!missing.empty()) {
        std::string names;
        for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
        refused.push_back({{"fingerprint", fp}, {"reason", "the alert has no label for required input(s) " + names}});
        continue;
      }
      std::string id = NewRunId(SystemClock().WallMs());
      args.insert(args.end(), {"--run-id", id});
      PosixHost host;
      std::string log = EngineLog(state, id);
      auto pid = StartEngine(host.SelfExe(), args, log);
      if (!pid.ok()) return Text(res, 500, "could not start the run: " + pid.status().message());
      auto last = std::make_shared<std::string>();  // the engine's last word, kept when its log goes
      children->Watch(*pid, [log, last](int) {
        *last = LastLine(log);
        std::error_code ec;
        std::filesystem::remove(log, ec);  // what mattered is in the record, or in the reply below
      });
      if (auto why = Refusal(*children, state, id, *pid, last)) {
        refused.push_back({{"fingerprint", fp}, {"reason", *why}});
        continue;
      }
      if (!fp.empty()) alerts->runs[fp] = id;
      started.push_back({{"fingerprint", fp}, {"run", id}});
    }
    res.status = 202;
    Json(res, {{"runbook", loaded.runbook.name}, {"started", started}, {"open", open}, {"refused", refused}});
  });

  svr.Get("/", [state](const httplib::Request& req, httplib::Response& res) {
    auto store = OpenStoreForReading(state);  // none yet: an empty history
    Status error = Status::Ok();
    std::vector<RunRecord> runs = store.ok() ? ListFiltered(**store, req, &error) : std::vector<RunRecord>{};
    PosixHost host;
    res.set_content(HistoryPage(runs, [&](const RunRecord& r) {
                      return store.ok() && (*store)->OwnerAlive(r, [&](const RunRecord& x) { return host.IsLive(x); });
                    },
                                req.get_param_value("runbook"), req.get_param_value("status")),
                    "text/html; charset=utf-8");
  });
  // A run's page, its live part, its report and post-mortem, from one record.
  auto with_report = [state](const httplib::Request& req, httplib::Response& res,
                             const std::function<void(const LoadedReport&)>& render) {
    auto run = OpenRun(state, req, res);
    if (!run) return;
    auto l = LoadReport(*run->store, run->id);
    if (!l.ok()) return Text(res, 500, l.status().message());
    render(*l);
  };
  svr.Get(R"(/runs/([^/]+))", [with_report](const httplib::Request& req, httplib::Response& res) {
    with_report(req, res, [&](const LoadedReport& l) { res.set_content(RunPage(l.input), "text/html; charset=utf-8"); });
  });
  svr.Get(R"(/runs/([^/]+)/live)", [with_report](const httplib::Request& req, httplib::Response& res) {
    with_report(req, res,
                [&](const LoadedReport& l) { res.set_content(LiveFragment(l.input), "text/html; charset=utf-8"); });
  });
  for (auto [path, kind] : {std::pair{R"(/runs/([^/]+)/report)", ReportKind::kReport},
                            std::pair{R"(/runs/([^/]+)/postmortem)", ReportKind::kPostmortem}}) {
    svr.Get(path, [with_report, kind = kind](const httplib::Request& req, httplib::Response& res) {
      with_report(req, res, [&](const LoadedReport& l) {
        auto md = RenderReport(kind, l.input);
        if (!md.ok()) return Text(res, 500, md.status().message());
        res.set_content(MarkdownPage(l.input.run.runbook + " " + l.input.run.id, *md), "text/html; charset=utf-8");
      });
    });
  }

  // The address with its token: the one way in. Open it once; the page keeps a cookie.
  out << "runbook serve: " << state << "\nhttp://" << guard.authorities().front() << "/?token=" << guard.token()
      << "\n";
  out.flush();
  bool listened = svr.listen_after_bind();
  serving = false;
  sweeper.join();
  return listened ? 0 : 1;
}

}  // namespace runbook::serve
