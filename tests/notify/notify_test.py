#!/usr/bin/env python3
"""notify: and escalation after: end to end (issue 15, item 5): the real binary runs a runbook whose notifier
posts each event with curl to an HTTP receiver on loopback, started and stopped here. Waits on what the
receiver and the engine say, never on a clock. Usage: notify_test.py RUNBOOK"""
import http.server
import json
import os
import queue
import sqlite3
import subprocess
import sys
import tempfile
import threading

RUNBOOK = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


class Receiver(http.server.BaseHTTPRequestHandler):
    got = queue.Queue()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.got.put((self.path, self.headers.get("Content-Type"), body.decode()))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def next_post(what, timeout=60):
    try:
        return Receiver.got.get(timeout=timeout)  # a bound on a hang, not a wait for time
    except queue.Empty:
        check(False, f"the receiver got {what}")
        return ("", "", "{}")


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}"
    d = tempfile.mkdtemp()
    state = os.path.join(d, "state.db")
    open(os.path.join(d, "told.yaml"), "w").write(f"""name: told
concurrency: shared
escalation:
  - {{ contact: "On-call DBA (#dba)", when: waiting, after: 1s }}
  - {{ contact: CTO, when: always, after: 2h }}
notify:
  - on: [waiting, escalation, succeeded, failed]
    run: |
      curl -fsS -H 'Content-Type: application/json' --data-binary @- "$HOOK/$RUNBOOK_EVENT_KIND"
  - on: succeeded
    run: "echo the pager is down >&2; exit 7"
  - on: failed
    run: curl -fsS --max-time 5 --data-binary @- http://127.0.0.1:9/closed
steps:
  - {{ id: hold, run: 'while [ ! -e release ]; do sleep 0.05; done' }}
  - id: approve
    name: "Approve $(touch pwned) `touch pwned2`"
    manual: Approve the restore
  - {{ id: after, needs: approve, run: echo ok }}
""")
    env = dict(os.environ, HOOK=hook)
    engine = subprocess.Popen([RUNBOOK, "run", "told.yaml", "--state", state, "--output", "json"], cwd=d, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = next_post("the waiting event", timeout=30)
    if first[0] == "":
        engine.kill()
        print(engine.communicate()[1])
        return 1
    path, ctype, body = first
    event = json.loads(body)
    check(path == "/waiting" and ctype == "application/json", f"the waiting event, posted by curl: {path}")
    check(event.get("event") == "waiting" and event.get("step") == "approve" and event.get("runbook") == "told",
          f"the event's JSON on stdin: {event}")
    run_id = event.get("run", "")
    check("$(touch pwned)" in event.get("message", ""), "the step's name is in the message as written")
    path, _, body = next_post("the escalation")
    event = json.loads(body)
    check(path == "/escalation" and event.get("contact") == "On-call DBA (#dba)",
          f"the escalation fires while the step waits and another runs: {path} {event}")
    check("waited for a person for 1s" in event.get("message", ""), f"it says why: {event.get('message')}")
    open(os.path.join(d, "release"), "w").close()
    out, err = engine.communicate(timeout=60)
    check(engine.returncode == 3, f"the run waits (exit 3): {engine.returncode} {err}")
    check(Receiver.got.empty(), "nothing else was sent: the escalation fired once")

    resume = subprocess.run([RUNBOOK, "resume", run_id, "--answer", "approve=done", "--state", state], cwd=d,
                            env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    check(resume.returncode == 0, f"a failing notifier never fails the run: {resume.returncode} {resume.stderr}")
    path, _, body = next_post("the success")
    check(path == "/succeeded" and json.loads(body).get("status") == "succeeded", f"success is told: {path} {body}")
    check("notify #2 (succeeded) exited 7" in resume.stdout + resume.stderr, "the terminal says a notifier failed")
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)  # the record itself
    timeline = db.execute("SELECT kind, message FROM events WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
    db.close()
    due = [m for k, m in timeline if k == "escalation.due"]
    check(len(due) == 1 and due[0].startswith("escalate to On-call DBA (#dba): "), f"recorded once: {due}")
    failed = [m for k, m in timeline if k == "notify.failed"]
    check(len(failed) == 1 and "exited 7: the pager is down" in failed[0], f"the failing notifier is recorded: {failed}")
    check(sum(1 for k, _ in timeline if k == "notify.sent") == 3, f"each delivery is recorded: {timeline}")
    check(not os.path.exists(os.path.join(d, "pwned")) and not os.path.exists(os.path.join(d, "pwned2")),
          "no value ran as code")
    report = subprocess.run([RUNBOOK, "report", run_id, "--state", state], capture_output=True, text=True).stdout
    check("escalate to On-call DBA" in report, "the report's timeline shows the escalation")
    server.shutdown()
    print("notify: " + ("ok" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
