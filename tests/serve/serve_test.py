#!/usr/bin/env python3
"""`runbook serve` end to end (issue 15, items 1 and 3, in part): the real
binary serves a real state database on loopback; requests go over real
HTTP. Usage: serve_test.py RUNBOOK"""
import http.client
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

RUNBOOK = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


def request(port, method, path, headers=None, body=None, host=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = dict(headers or {})
    h.setdefault("Host", host or f"127.0.0.1:{port}")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    check(not any(k.lower().startswith("access-control-") for k, _ in r.getheaders()),
          f"no CORS header on {method} {path}")
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def events(port, token, run, last=None):
    h = {"Authorization": "Bearer " + token}
    if last is not None:
        h["Last-Event-ID"] = str(last)
    status, headers, data = request(port, "GET", f"/api/runs/{run}/events", h)
    check(status == 200 and headers.get("content-type", "").startswith("text/event-stream"), "the events stream")
    out = []
    for frame in data.split("\n\n"):
        m = re.match(r"id: (\d+)\ndata: (.*)", frame, re.S)
        if m:
            out.append((int(m.group(1)), json.loads(m.group(2))))
    return out


def read_until(fd, needle, deadline_s=60):
    """Reads a pty until `needle` appears (or the child is gone): what it read."""
    seen = b""
    end = time.monotonic() + deadline_s
    while needle.encode() not in seen and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], end - time.monotonic())
        if not r:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode("utf-8", "replace")


def live_engine_answers(d, state, port, post, run):
    """A live engine waiting on a step takes the page's answer at once: one without a terminal while another
    branch still runs, and one asking on its terminal (a pty), which stops asking."""
    open(os.path.join(d, "live.yaml"), "w").write(
        "name: live\nconcurrency: shared\nsteps:\n"
        "  - id: go\n    decision: { prompt: \"Restore now?\", choices: [{ value: now, goto: restore }, "
        "{ value: later, goto: postpone }] }\n"
        "  - { id: restore, needs: go, run: echo restoring }\n"
        "  - { id: postpone, needs: go, run: echo postponing }\n"
        "  - { id: hold, run: 'while [ ! -e release ]; do sleep 0.05; done' }\n")
    engine = subprocess.Popen([RUNBOOK, "run", "live.yaml", "--state", state, "--output", "json"], cwd=d,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id, said = None, []
    for line in engine.stdout:  # the engine's own events: no clock
        e = json.loads(line)
        said.append(e)
        run_id = run_id or e.get("run_id") or e.get("run")
        if e.get("event") == "step.waiting" and e.get("step") == "go":
            break
    check(run_id is not None, f"the live run's id: {said[:2]} {engine.stderr.read() if not said else ''}")
    if run_id is None:
        return
    status, _, body = request(port, "POST", f"/api/runs/{run_id}/answers", post,
                              body='{"step": "go", "value": "now", "comment": "the DBA approves"}')
    reply = json.loads(body) if status == 202 else {}
    check(status == 202 and reply.get("delivered") == "engine", f"a live engine takes the answer: {status} {body}")
    status, _, body = request(port, "POST", f"/api/runs/{run_id}/answers", post, body='{"step": "go", "value": "later"}')
    check(status == 409 and "already answered by alice (web)" in body, f"the first answer wins: {body.strip()}")
    for line in engine.stdout:
        e = json.loads(line)
        if e.get("event") == "step.finished" and e.get("step") == "restore":
            break
    open(os.path.join(d, "release"), "w").close()  # only now may `hold` end: the answer came while it ran
    engine.stdout.read()
    check(engine.wait(timeout=60) == 0, f"the live run succeeded: {engine.stderr.read()}")
    shown = json.loads(run("show", run_id, "--json").stdout)
    decisions = shown.get("decisions", [])
    check(len(decisions) == 1 and decisions[0]["source"] == "web" and decisions[0]["by"] == "alice (web)" and
          decisions[0]["value"] == "now", f"the live engine recorded the web's answer and who: {decisions}")
    steps = {s["id"]: s for s in shown.get("steps", [])}
    check(steps.get("postpone", {}).get("status") == "skipped", "the branch not chosen is skipped")

    # A running step's output reaches the page and logs --follow before the step ends.
    open(os.path.join(d, "talk.yaml"), "w").write(
        "name: talk\nconcurrency: shared\nsteps:\n"
        "  - { id: talk, run: 'echo first-line; while [ ! -e release-talk ]; do sleep 0.05; done; echo last-line' }\n")
    engine = subprocess.Popen([RUNBOOK, "run", "talk.yaml", "--state", state, "--output", "json"], cwd=d,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    talk_id = None
    for line in engine.stdout:
        e = json.loads(line)
        talk_id = talk_id or e.get("run")
        if e.get("event") == "step.output" and "first-line" in e.get("data", ""):
            break
    follow = subprocess.Popen([RUNBOOK, "logs", talk_id, "--follow", "--state", state], stdout=subprocess.PIPE,
                              text=True)
    followed = ""
    for line in follow.stdout:  # it prints the line while the step still runs
        followed += line
        if line == "first-line\n":  # the output itself, not the step.running line that quotes the command
            break
    check("first-line\n" in followed, f"logs --follow shows a running step's output: {followed}")
    page, end = "", time.monotonic() + 30
    while "first-line" not in page and time.monotonic() < end:  # committed about once a second
        page = request(port, "GET", f"/runs/{talk_id}/live", {"Authorization": post["Authorization"]})[2]
        time.sleep(0.1)
    check("first-line" in page and 'class="node running"' in page, "the page shows a running step's output")
    open(os.path.join(d, "release-talk"), "w").close()
    engine.stdout.read()
    check(engine.wait(timeout=60) == 0, "the talking run succeeded")
    rest = follow.stdout.read()
    check(follow.wait(timeout=60) == 0 and "last-line\n" in rest and "\nfirst-line\n" not in "\n" + rest,
          f"logs --follow goes on to the end, printing nothing twice: {rest}")

    open(os.path.join(d, "tty.yaml"), "w").write(
        "name: tty\nconcurrency: shared\nsteps:\n  - { id: check, manual: Check the replica }\n"
        "  - { id: after, needs: check, run: echo after }\n")
    master, slave = pty.openpty()
    engine = subprocess.Popen([RUNBOOK, "run", "tty.yaml", "--state", state], cwd=d, stdin=slave, stdout=slave,
                              stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        shown_tty = read_until(master, "fail): ")
        check("Answer (done/skip/fail)" in shown_tty, f"the engine asks on its terminal: {shown_tty[-300:]}")
        tty_id = [r["id"] for r in json.loads(run("runs", "--json").stdout) if r["runbook"] == "tty"][0]
        status, _, body = request(port, "POST", f"/api/runs/{tty_id}/answers", post, body='{"step": "check", "value": "done"}')
        reply = json.loads(body) if status == 202 else {}
        check(status == 202 and reply.get("delivered") == "engine", f"the asking engine takes it: {status} {body}")
        rest = read_until(master, "run succeeded")
        check("answered on the web page" in rest, f"the terminal says the question was answered: {rest[-400:]}")
        check(engine.wait(timeout=60) == 0, "the run went on without the terminal's answer")
    finally:
        if engine.poll() is None:
            engine.kill()
        os.close(master)
    decisions = json.loads(run("show", tty_id, "--json").stdout).get("decisions", [])
    check(len(decisions) == 1 and decisions[0]["source"] == "web" and decisions[0]["by"] == "alice (web)",
          f"recorded as alice's, from the web: {decisions}")


def secrets_and_early_exits(d, state, port, post, run):
    """Issue 22, item 2: nothing serve says is false. An answer that needs a resume is taken only when
    the resume serve starts can go on (its secrets in serve's environment); a resume that exits early
    is said in the run's timeline; serve's per-run logs do not pile up."""
    for name, var in (("has", "SERVE_HAS_IT"), ("lacks", "NOBODY_HAS_IT")):
        open(os.path.join(d, f"sec-{name}.yaml"), "w").write(
            f"name: sec-{name}\nconcurrency: shared\ninputs: {{ pw: {{ secret: true, from_env: {var} }} }}\n"
            "steps:\n  - { id: ok, manual: Go on }\n  - { id: use, needs: ok, run: 'test -n \"$PW\"', "
            "env: { PW: \"{{ inputs.pw }}\" } }\n")
        r = subprocess.run([RUNBOOK, "run", f"sec-{name}.yaml", "--state", state, "--input", "pw=s3cr3t-xyz"], cwd=d,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        check(r.returncode == 3, f"sec-{name} waits: {r.returncode} {r.stderr}")
    ids = {r["runbook"]: r["id"] for r in json.loads(run("runs", "--json").stdout)}
    status, _, body = request(port, "POST", f"/api/runs/{ids['sec-lacks']}/answers", post,
                              body='{"step": "ok", "value": "done"}')
    check(status == 409 and "secret input 'pw' must be given again" in body and "runbook resume" in body,
          f"a resume serve cannot start is said, not promised: {status} {body.strip()}")
    shown = json.loads(run("show", ids["sec-lacks"], "--json").stdout)
    check(shown["status"] == "waiting" and shown["decisions"] == [], "and nothing was recorded for it")
    status, _, body = request(port, "POST", f"/api/runs/{ids['sec-has']}/answers", post,
                              body='{"step": "ok", "value": "done"}')
    check(status == 202 and json.loads(body).get("delivered") == "resume", f"serve has that secret: {status} {body}")
    events(port, post["Authorization"].split()[1], ids["sec-has"])  # ends when the run has ended
    check(json.loads(run("show", ids["sec-has"], "--json").stdout)["status"] == "succeeded",
          "the resume serve started took the answer and the secret from serve's environment")

    # A resume that exits before taking the answer (the runbook changed since the run): said in the timeline.
    open(os.path.join(d, "chg.yaml"), "w").write("name: chg\nconcurrency: shared\nsteps:\n  - { id: ok, manual: Go }\n")
    r = run("run", "chg.yaml")
    check(r.returncode == 3, "chg waits")
    chg = [r["id"] for r in json.loads(run("runs", "--json").stdout) if r["runbook"] == "chg"][0]
    open(os.path.join(d, "chg.yaml"), "a").write("  - { id: more, needs: ok, run: 'true' }\n")
    status, _, body = request(port, "POST", f"/api/runs/{chg}/answers", post, body='{"step": "ok", "value": "done"}')
    log = json.loads(body).get("log", "") if status == 202 else ""
    check(status == 202 and log, f"delivered to a resume: {body}")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/api/runs/{chg}/events", headers={"Authorization": post["Authorization"],
                                                         "Host": f"127.0.0.1:{port}"})
    said = ""
    for line in c.getresponse():  # the run stays waiting: read until the note comes
        if line.startswith(b"data: ") and json.loads(line[6:])["kind"] == "note":
            said = json.loads(line[6:])["message"]
            break
    c.close()
    check("exited 2 before taking it" in said and "changed since run" in said,
          f"the early exit and its cause are in the timeline: {said}")
    check(not os.path.exists(log), "serve's log of that resume is gone once it is in the record")


def main():
    d = tempfile.mkdtemp()
    state = os.path.join(d, "state.db")
    open(os.path.join(d, "ok.yaml"), "w").write(
        "name: ok\nsteps:\n  - id: a\n    run: echo a\n  - id: b\n    needs: a\n    run: echo b\n")
    open(os.path.join(d, "wait.yaml"), "w").write(
        "name: wait\nsteps:\n  - id: approve\n    manual: Approve the restore\n")
    run = lambda *a: subprocess.run([RUNBOOK, *a, "--state", state], cwd=d, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL)
    check(run("run", "ok.yaml").returncode == 0, "a run that succeeds")
    check(run("run", "wait.yaml").returncode == 3, "a run that waits for a person")
    by_name = lambda name: [r["id"] for r in json.loads(run("runs", "--json").stdout) if r["runbook"] == name][0]
    ok_id = by_name("ok")

    # An engine whose parent ignores SIGCHLD (as serve does, for the resumes it starts) still reads every
    # step's exit: the kernel must not reap its steps first. Without the engine's reset, most of these fail.
    steps = "".join(f"  - id: s{i}\n    run: 'true'\n" for i in range(30))
    open(os.path.join(d, "many.yaml"), "w").write("name: many\nconcurrency: shared\nsteps:\n" + steps)
    for _ in range(3):
        r = subprocess.run([RUNBOOK, "run", "many.yaml", "--state", state], cwd=d, capture_output=True,
                           stdin=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
        check(r.returncode == 0, f"SIGCHLD ignored by the parent: the run still succeeds ({r.returncode})")

    open(os.path.join(d, "alert.yaml"), "w").write(
        "name: alert\ninputs:\n  instance: { required: true }\n  alert_fingerprint: { default: none }\n"
        "steps:\n  - id: look\n    run: echo looking at {{ inputs.instance }}\n"
        "  - id: fix\n    needs: look\n    manual: Fix {{ inputs.instance }}\n")
    open(os.path.join(d, "typed.yaml"), "w").write(
        "name: typed\nconcurrency: shared\ninputs:\n  percent: { type: number, required: true }\n"
        "steps:\n  - { id: look, run: 'true' }\n")
    srv = subprocess.Popen([RUNBOOK, "serve", "--listen", "127.0.0.1:0", "--state", state], cwd=d,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, RUNBOOK_PATH=d, SERVE_HAS_IT="s3cr3t-xyz"))
    try:
        url = None
        for _ in range(5):  # "runbook serve: STATE" then the address
            line = srv.stdout.readline()
            m = re.match(r"http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]{64})$", line.strip())
            if m:
                url = m
                break
        check(url is not None, "serve prints its address with a token")
        port, token = int(url.group(1)), url.group(2)
        bearer = {"Authorization": "Bearer " + token}

        # reads need the token
        for path in ("/", "/api/runs", f"/api/runs/{ok_id}", f"/runs/{ok_id}", f"/api/runs/{ok_id}/events"):
            status, _, _ = request(port, "GET", path)
            check(status == 401, f"no token: 401 for {path}")
        # the address's token becomes an HttpOnly SameSite cookie
        status, headers, _ = request(port, "GET", "/?token=" + token)
        cookie = headers.get("set-cookie", "")
        check(status in (302, 303) and headers.get("location") == "/", "the token address redirects to /")
        check("HttpOnly" in cookie and "SameSite=Strict" in cookie, f"the cookie is HttpOnly SameSite: {cookie}")
        jar = {"Cookie": cookie.split(";")[0]}
        status, _, page = request(port, "GET", "/", jar)
        check(status == 200 and "ok" in page and "(a person is needed)" in page, "history: both runs, waiting marked")
        # the API has the shapes of runs --json and show --json
        status, _, body = request(port, "GET", "/api/runs", jar)
        check(status == 200 and json.loads(body) == json.loads(run("runs", "--json").stdout), "/api/runs = runs --json")
        status, _, body = request(port, "GET", f"/api/runs/{ok_id}", bearer)
        check(status == 200 and json.loads(body) == json.loads(run("show", ok_id, "--json").stdout),
              "/api/runs/ID = show --json")
        # a rebinding Host, even with the token
        status, _, _ = request(port, "GET", "/api/runs", bearer, host=f"evil.example:{port}")
        check(status == 403, "a foreign Host: 403")
        # a forged cross-site form, and other unsafe posts
        note = f"/api/runs/{ok_id}/notes"
        form = dict(jar, **{"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"})
        status, _, _ = request(port, "POST", note, form, body="text=pwned")
        check(status == 403, "a cross-site form: 403")
        status, _, _ = request(port, "POST", note, dict(jar, **{"Content-Type": "application/json"}),
                               body='{"text": "no origin"}')
        check(status == 403, "a cookie POST without Origin: 403")
        status, _, _ = request(port, "POST", note, dict(bearer, **{"Content-Type": "text/plain"}), body="x")
        check(status == 403, "a POST that is not JSON: 403")
        status, _, _ = request(port, "POST", note, dict(jar, **{"Content-Type": "application/json",
                                                               "Origin": f"http://127.0.0.1:{port}"}),
                               body='{"text": "restore approved by the DBA"}')
        check(status == 201, "a same-origin JSON note: 201")
        # events: ids are sequence numbers; a reconnect misses and repeats nothing
        all_events = events(port, token, ok_id)
        ids = [i for i, _ in all_events]
        check(len(ids) >= 4 and ids == sorted(set(ids)), f"event ids increase: {ids}")
        check(all(e["seq"] == i for i, e in all_events), "id = the event's seq")
        check(any(e["kind"] == "note" and e["message"] == "web visitor (serve's token): restore approved by the DBA"
                  for _, e in all_events),
              "the web note is in the timeline")
        later = events(port, token, ok_id, last=ids[1])
        check([i for i, _ in later] == ids[2:], "Last-Event-ID resumes after it")
        check("pwned" not in json.dumps([e for _, e in all_events]), "the refused posts wrote nothing")
        # the run page: the DAG coloured by status, the gantt, links to the report and post-mortem
        status, _, page = request(port, "GET", f"/runs/{ok_id}", bearer)
        check(status == 200 and "<svg id=dag" in page and "<title>a</title>" in page and "<title>b</title>" in page,
              "the run page draws the DAG, nodes titled by step id")
        check(page.count('class="node succeeded"') == 2 and page.count("class=edge") == 1, "nodes coloured, one edge")
        check(page.count('<div class=bar') == 2, "a gantt bar per attempt")
        check("<code>echo a</code>" in page and "<pre>a\n</pre>" in page, "each step's attempts with command and output")
        # the report and post-mortem, from the same Markdown; a note's HTML is shown, never run
        request(port, "POST", note, dict(bearer, **{"Content-Type": "application/json"}),
                body=json.dumps({"text": "<script>alert(1)</script> <img src=x onerror=alert(2)>"}))
        for which in ("report", "postmortem"):
            status, headers, html = request(port, "GET", f"/runs/{ok_id}/{which}", bearer)
            md = run(which, ok_id).stdout
            check(status == 200 and headers.get("content-type", "").startswith("text/html"), f"/{which} is HTML")
            check(ok_id in html and "<h1>" in html, f"/{which} rendered from the Markdown")
            check("<script>alert(1)" not in html and "<img src=x" not in html, f"/{which} renders no raw HTML")
            check(md.count(ok_id) > 0, f"{which} on the command line names the run")
        # an answer from the page: recorded as the web's, the run resumed on this host, the first answer wins
        wait_id = by_name("wait")
        answer = f"/api/runs/{wait_id}/answers"
        post = dict(bearer, **{"Content-Type": "application/json"})
        status, _, body = request(port, "POST", f"/api/runs/{ok_id}/answers", post,
                                  body='{"step": "a", "value": "done"}')
        check(status == 409 and "not waiting" in body, f"a run that waits for nothing: 409 ({body.strip()})")
        # an answer the step does not take is refused before anything is recorded, and blocks nothing
        status, _, body = request(port, "POST", answer, post, body='{"step": "approve", "value": "maybe; touch x"}')
        check(status == 400 and "one of done, skip, fail" in body, f"an answer the step does not take: 400 ({body})")
        # alice has her own token (runbook token add): her answer carries her name
        alice = subprocess.run([RUNBOOK, "token", "add", "alice", "--state", state], capture_output=True, text=True)
        alice_token = alice.stdout.strip()
        check(alice.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}", alice_token), "token add prints a token")
        check(alice_token not in open(state, "rb").read().decode("latin-1"), "the store never holds the token itself")
        check("alice" in run("token", "list").stdout, "token list names alice")
        status, _, _ = request(port, "GET", "/api/runs", {"Authorization": "Bearer " + "0" * 64})
        check(status == 401, "an unknown token: 401")
        post = {"Authorization": "Bearer " + alice_token, "Content-Type": "application/json"}
        status, _, body = request(port, "POST", answer, post,
                                  body='{"step": "approve", "value": "done", "comment": "backup checked by the DBA"}')
        check(status == 202, f"an answer is accepted ({status} {body.strip()})")
        status, _, body = request(port, "POST", answer, post, body='{"step": "approve", "value": "fail"}')
        check(status == 409 and "already answered by alice (web)" in body, f"a second answer: 409 ({body.strip()})")
        events(port, token, wait_id)  # the stream ends when the run has finished: waits on it, no clock
        shown = json.loads(request(port, "GET", f"/api/runs/{wait_id}", bearer)[2])
        check(shown.get("status") == "succeeded", f"the run went on and succeeded: {shown.get('status')}")
        decisions = shown.get("decisions", [])
        check(len(decisions) == 1 and decisions[0]["source"] == "web" and
              decisions[0]["by"] == "alice (web)" and decisions[0]["value"] == "done",
              f"the record names the web and who: {decisions}")
        notes = [e for _, e in events(port, token, wait_id) if e["kind"] == "note"]
        check(any("backup checked by the DBA" in e["message"] for e in notes), "the answer's comment is in the timeline")
        status, _, body = request(port, "POST", answer, post, body='{"step": "approve", "value": "fail"}')
        check(status == 409 and "already answered by alice (web)" in body, "after the resume: still the first answer")
        report = run("report", wait_id).stdout
        check("alice (web)" in report, "the report names who answered")
        live_engine_answers(d, state, port, post, run)
        hook = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}  # what http_config sends
        # hostile requests found by an adversarial review
        status, headers, _ = request(port, "GET", "//evil.example/x?token=" + token)
        check(status in (302, 303) and headers.get("location") == "/", "the token redirect stays on this server")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.putrequest("GET", "/api/runs", skip_host=True)
        c.putheader("Host", f"127.0.0.1:{port}")
        c.putheader("Host", "evil.example")
        c.putheader("Authorization", "Bearer " + token)
        c.endheaders()
        check(c.getresponse().status == 400, "two Host headers: 400")
        c.close()
        status, _, _ = request(port, "POST", note, post, body=json.dumps({"text": "x" * (2 << 20)}))
        check(status == 413, f"a body over 1 MiB: 413 ({status})")
        status, headers, _ = request(port, "GET", f"/runs/{ok_id}/report", bearer)
        check("default-src 'none'" in headers.get("content-security-policy", ""),
              "pages load nothing from elsewhere (CSP): a note's image or link stays inert")
        for route in ("ok.yaml", "..%2Fok", "%2Ftmp%2Fok.yaml", "secrets.yaml"):
            status, _, body = request(port, "POST", "/api/alerts/" + route, hook,
                                      body='{"alerts": []}')
            check(status == 404, f"an alert route is a runbook name, never a file: {route} -> {status}")

        # an Alertmanager webhook starts the runbook its route names, labels as inputs, once per open alert
        payload = {"version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
                   "receiver": "runbook", "groupLabels": {"alertname": "HighErrorRate"},
                   "commonLabels": {"alertname": "HighErrorRate"}, "commonAnnotations": {},
                   "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
                   "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "instance": "web-1"},
                               "annotations": {"summary": "5xx above 5%"}, "startsAt": "2026-12-01T03:12:09Z",
                               "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
                               "fingerprint": "c0ffee0123456789"},
                              {"status": "resolved", "labels": {"alertname": "HighErrorRate", "instance": "web-2"},
                               "annotations": {}, "startsAt": "2026-12-01T02:00:00Z",
                               "endsAt": "2026-12-01T02:30:00Z", "generatorURL": "", "fingerprint": "0ld"},
                              {"status": "firing", "labels": {"alertname": "HighErrorRate"}, "annotations": {},
                               "startsAt": "2026-12-01T03:12:09Z", "endsAt": "0001-01-01T00:00:00Z",
                               "generatorURL": "", "fingerprint": "n0instance"}]}
        hook = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}  # what http_config sends
        status, _, _ = request(port, "POST", "/api/alerts/alert", {"Content-Type": "application/json"},
                               body=json.dumps(payload))
        check(status == 401, "an alert without the token: 401")
        status, _, body = request(port, "POST", "/api/alerts/alert", hook, body=json.dumps(payload))
        answer_json = json.loads(body) if status == 202 else {}
        check(status == 202 and len(answer_json.get("started", [])) == 1, f"one firing alert starts one run: {body}")
        check(len(answer_json.get("refused", [])) == 1 and "instance" in answer_json["refused"][0]["reason"],
              "an alert without a label a required input needs is refused, saying which")
        alert_run = answer_json["started"][0]["run"] if answer_json.get("started") else ""
        # wait for the run to stop at its manual step: its event stream says so
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("GET", f"/api/runs/{alert_run}/events", headers={"Authorization": "Bearer " + token,
                                                                     "Host": f"127.0.0.1:{port}"})
            r = c.getresponse()
            if r.status == 404:  # not recorded yet: the engine is starting
                r.read()
                c.close()
                time.sleep(0.02)
                continue
            for line in r:
                if line.startswith(b"data: "):
                    seen.append(json.loads(line[6:])["kind"])
                    if seen[-1] == "run.waiting":
                        break
            c.close()
            break
        check("run.waiting" in seen, f"the alert's run ran and waits for a person: {seen}")
        shown = json.loads(run("show", alert_run, "--json").stdout)
        check(shown["inputs"].get("instance") == "web-1" and shown["inputs"].get("alert_fingerprint") == "c0ffee0123456789",
              f"labels and fingerprint are the run's inputs: {shown['inputs']}")
        status, _, body = request(port, "POST", "/api/alerts/alert", hook, body=json.dumps(payload))
        again = json.loads(body) if status == 202 else {}
        check(again.get("started") == [] and again.get("open") == [{"fingerprint": "c0ffee0123456789", "run": alert_run}],
              f"the same alert again while its run is open starts nothing: {body}")
        # Issue 22: serve answered 202 `started` for runs that never started. Another alert for this
        # exclusive runbook while its run is open, and one whose label fails an input's type: refused, why.
        other = dict(payload, alerts=[dict(payload["alerts"][0], fingerprint="beef00000001",
                                           labels={"alertname": "HighErrorRate", "instance": "web-3"})])
        status, _, body = request(port, "POST", "/api/alerts/alert", hook, body=json.dumps(other))
        reply = json.loads(body) if status == 202 else {}
        check(reply.get("started") == [] and len(reply.get("refused", [])) == 1 and
              "did not start" in reply["refused"][0]["reason"] and alert_run in reply["refused"][0]["reason"],
              f"an exclusive runbook already open: refused, naming the open run: {body}")
        status, _, body = request(port, "POST", "/api/alerts/typed", hook, body=json.dumps(
            dict(payload, alerts=[dict(payload["alerts"][0], fingerprint="beef00000002",
                                       labels={"alertname": "DiskFull", "percent": "ninety"})])))
        reply = json.loads(body) if status == 202 else {}
        check(reply.get("started") == [] and len(reply.get("refused", [])) == 1 and
              "percent" in reply["refused"][0]["reason"], f"a label that fails its input's type: refused: {body}")
        runs_now = [r["id"] for r in json.loads(run("runs", "--json").stdout)]
        check(not any(json.dumps(r).find("beef") >= 0 for r in runs_now), "no run recorded for a refused alert")

        secrets_and_early_exits(d, state, port, post, run)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    print("serve: " + ("ok" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
