#!/usr/bin/env python3
"""The real binary against a real PostgreSQL (issue 16): a throwaway server (initdb/pg_ctl, a unix socket in a
temp folder, no TCP port) started and removed here. Each scenario runs against PostgreSQL and against the SQLite
file, and the records must tell the same story. Then what only a shared store has: orphans seen from the lock,
two engines racing an exclusive runbook, an engine whose session is terminated, a resume from another host,
serve and logs --follow on PostgreSQL, and no password on a command line. Usage: pg_test.py RUNBOOK"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgserver import Server, bindir  # noqa: E402

RUNBOOK = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


def runbook(state, *args, cwd, **kw):
    return subprocess.run([RUNBOOK, *args, "--state", state], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, **kw)


def story(state, cwd, run_id):
    """What the record says of a run, without times and ids: the same on both stores."""
    shown = json.loads(runbook(state, "show", run_id, "--json", cwd=cwd).stdout)
    return (shown["status"], shown["phase"], [(s["id"], s["status"], s.get("attempts")) for s in shown["steps"]],
            [(d["step"], d["value"], d["source"]) for d in shown.get("decisions", [])])


def last_id(state, cwd):
    return json.loads(runbook(state, "runs", "--json", cwd=cwd).stdout)[0]["id"]


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def both_stores(pg, scenario):
    """Runs `scenario(state, folder)` on a new PostgreSQL database and a new SQLite file: same story."""
    got = []
    for kind in ("postgresql", "sqlite"):
        d = tempfile.mkdtemp()
        state = pg.new_db()[1] if kind == "postgresql" else os.path.join(d, "state.db")
        got.append(scenario(state, d))
    check(got[0] == got[1], f"PostgreSQL and SQLite tell the same story: {got[0]} vs {got[1]}")
    return got[0]


def waiting_then_answered(state, d):
    write(d, "w.yaml", "name: w\nsteps:\n  - { id: a, run: echo a }\n  - { id: ok, manual: Check, needs: a }\n"
                       "  - { id: b, run: echo b, needs: ok }\n")
    r = runbook(state, "run", "w.yaml", cwd=d)
    check(r.returncode == 3, f"waits: {r.returncode} {r.stderr[-300:]}")
    rid = last_id(state, d)
    r = runbook(state, "resume", rid, "--answer", "ok=done", cwd=d)
    check(r.returncode == 0, f"resumed with the answer: {r.returncode} {r.stderr[-300:]}")
    report = runbook(state, "report", rid, cwd=d).stdout
    check("**succeeded**" in report, "the report from the record")
    return story(state, d, rid)


def rolled_back(state, d):
    write(d, "rb.yaml", "name: rb\nsteps:\n  - { id: a, run: echo a, rollback: { run: echo undo-a } }\n"
                        "  - { id: bad, run: 'exit 3', needs: a }\n")
    r = runbook(state, "run", "rb.yaml", cwd=d)
    check(r.returncode == 1 and "undo" in r.stdout + r.stderr, f"rolled back: {r.returncode}")
    return story(state, d, last_id(state, d))


def crashed_and_resumed(state, d):
    write(d, "c.yaml", "name: c\nsteps:\n  - { id: a, run: 'echo x >> a.count' }\n"
                       "  - { id: slow, run: 'echo started > slow.up; while [ ! -e go ]; do sleep 0.05; done', needs: a }\n"
                       "  - { id: z, run: 'echo x >> z.count', needs: slow }\n")
    engine = subprocess.Popen([RUNBOOK, "run", "c.yaml", "--state", state], cwd=d, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in engine.stdout:
        if "start  slow" in line:
            break
    while not os.path.exists(os.path.join(d, "slow.up")):  # the step's own process is up
        time.sleep(0.01)
    engine.send_signal(signal.SIGKILL)  # for real
    engine.wait()
    rid = last_id(state, d)
    runs = runbook(state, "runs", cwd=d).stdout
    check("orphaned" in runs, f"the killed engine's run is orphaned: {runs}")
    alive = subprocess.run(["pgrep", "-f", "while \\[ ! -e go \\]"], capture_output=True).returncode == 0
    check(not alive, "no step process outlives the engine")
    open(os.path.join(d, "go"), "w").close()
    r = runbook(state, "resume", rid, cwd=d)
    check(r.returncode == 0, f"resume finishes it: {r.returncode} {r.stderr[-300:]}")
    check(open(os.path.join(d, "a.count")).read() == "x\n", "a finished step never runs again")
    return story(state, d, rid)


def main():
    if not bindir():
        print("FAIL PostgreSQL's server is not installed (scripts/install-deps --test installs postgresql-15)")
        return 1
    pg = Server()
    try:
        both_stores(pg, waiting_then_answered)
        both_stores(pg, rolled_back)
        both_stores(pg, crashed_and_resumed)
        shared_state = shared(pg)
        copies(pg, shared_state)
    finally:
        pg.stop()
    print("pg: " + ("ok" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


def shared(pg):
    db, state = pg.new_db()
    d = tempfile.mkdtemp()
    # No password on a command line; none shown.
    r = runbook("postgresql://ops:s3cret@localhost/db", "runs", cwd=d)
    check(r.returncode == 2 and "s3cret" not in r.stdout + r.stderr and ".pgpass" in r.stderr,
          f"a password in --state is refused, unshown: {r.returncode} {r.stderr}")

    # Two engines race `run` of an exclusive runbook: one runs, the other exits 4 naming the owner.
    write(d, "x.yaml", "name: x\nsteps:\n  - { id: hold, run: 'while [ ! -e release-x ]; do sleep 0.05; done' }\n")
    racers = [subprocess.Popen([RUNBOOK, "run", "x.yaml", "--state", state], cwd=d, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = {}
    for _ in range(200):  # the loser exits at once; the winner holds
        codes = {i: p.poll() for i, p in enumerate(racers)}
        if any(c is not None for c in codes.values()):
            break
        time.sleep(0.02)
    loser = [i for i, c in codes.items() if c is not None]
    check(len(loser) == 1 and codes[loser[0]] == 4, f"one of two racing engines exits 4: {codes}")
    if loser:
        err = racers[loser[0]].stderr.read()
        check(re.search(r"being run right now: run \S+ by \S+@\S+ \(pid \d+\)", err), f"it names the owner: {err}")
    open(os.path.join(d, "release-x"), "w").close()
    for p in racers:
        p.wait(timeout=60)
    check(sorted(p.returncode for p in racers) == [0, 4], "the winner finished")

    # An engine whose session is terminated fails its next commit, stops its steps and says so; another
    # engine then claims the run and finishes it.
    write(d, "t.yaml", "name: t\nsteps:\n"
                       "  - { id: quick, run: 'while [ ! -e release-q ]; do sleep 0.05; done' }\n"
                       "  - { id: long, run: 'echo $$ > long.pid; while [ ! -e release-l ]; do sleep 0.05; done' }\n"
                       "  - { id: after, run: 'echo x >> after.count', needs: [quick, long] }\n")
    engine = subprocess.Popen([RUNBOOK, "run", "t.yaml", "--state", state, "--jobs", "2"], cwd=d,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not os.path.exists(os.path.join(d, "long.pid")):
        time.sleep(0.01)
    terminated = pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         f"WHERE datname = '{db}' AND pid <> pg_backend_pid()", db)
    check(terminated not in ("", "0"), f"the engine's session was terminated ({terminated})")
    open(os.path.join(d, "release-q"), "w").close()  # its next commit: quick's result
    out, err = engine.communicate(timeout=60)
    check(engine.returncode == 1 and "connection to the database was lost" in err,
          f"the engine stops with a clear message: {engine.returncode} {err[-400:]}")
    long_pid = int(open(os.path.join(d, "long.pid")).read())
    check(not os.path.exists(f"/proc/{long_pid}"), "its running step was stopped")
    open(os.path.join(d, "release-l"), "w").close()
    rid = [r["id"] for r in json.loads(runbook(state, "runs", "--json", cwd=d).stdout) if r["runbook"] == "t"][0]
    r = runbook(state, "resume", rid, cwd=d)
    check(r.returncode == 0, f"another engine claims the run and finishes it: {r.returncode} {r.stderr[-300:]}")

    # With nothing to commit (one long step), the engine still notices within seconds that its session is
    # gone (a heartbeat), and stops its step rather than let a second engine run it beside it.
    write(d, "lone.yaml", "name: lone\nsteps:\n"
                          "  - { id: long, run: 'echo $$ > lone.pid; while [ ! -e release-lone ]; do sleep 0.05; done' }\n")
    engine = subprocess.Popen([RUNBOOK, "run", "lone.yaml", "--state", state], cwd=d, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not os.path.exists(os.path.join(d, "lone.pid")):
        time.sleep(0.01)
    pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{db}' AND pid <> pg_backend_pid()", db)
    try:
        out, err = engine.communicate(timeout=60)  # bounded; it takes one heartbeat (5 s)
    except subprocess.TimeoutExpired:
        engine.kill()
        out, err = engine.communicate()
        err += " (still running 60 s after its session was terminated)"
    check(engine.returncode == 1 and "connection to the database was lost" in err,
          f"a heartbeat finds the session gone: {engine.returncode} {err[-300:]}")
    lone = int(open(os.path.join(d, "lone.pid")).read())
    check(not os.path.exists(f"/proc/{lone}"), "and the step was stopped without anything to commit")

    # Resuming from another machine is refused, naming both hosts, unless --from-another-host (recorded).
    write(d, "h.yaml", "name: h\nsteps:\n  - { id: m, manual: Check }\n")
    check(runbook(state, "run", "h.yaml", cwd=d).returncode == 3, "a waiting run on this host")
    hid = [r["id"] for r in json.loads(runbook(state, "runs", "--json", cwd=d).stdout) if r["runbook"] == "h"][0]
    here = os.uname().nodename
    other = ["unshare", "--uts", "sh", "-c", 'hostname elsewhere-2 && exec "$@"', "sh", RUNBOOK, "resume", hid,
             "--answer", "m=done", "--state", state]
    r = subprocess.run(other, cwd=d, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    check(r.returncode == 2 and f"ran its steps on {here}" in r.stderr and "elsewhere-2" in r.stderr,
          f"a resume from another host is refused, naming both: {r.returncode} {r.stderr}")
    r = subprocess.run(other + ["--from-another-host"], cwd=d, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 0, f"--from-another-host resumes it: {r.returncode} {r.stderr[-300:]}")
    moved = pg.psql(f"SELECT message FROM events WHERE run_id = '{hid}' AND kind = 'run.resumed'", db)
    check(f"its steps ran on {here} (--from-another-host)" in moved, f"recorded in the timeline: {moved}")

    # logs --follow and serve read a PostgreSQL run as it goes.
    write(d, "f.yaml", "name: f\nsteps:\n  - { id: talk, run: 'echo first-line; while [ ! -e release-f ]; do "
                       "sleep 0.05; done; echo last-line' }\n")
    engine = subprocess.Popen([RUNBOOK, "run", "f.yaml", "--state", state, "--output", "json"], cwd=d,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    fid = None
    for line in engine.stdout:
        e = json.loads(line)
        fid = fid or e.get("run")
        if e.get("event") == "step.output":
            break
    follow = subprocess.Popen([RUNBOOK, "logs", fid, "--follow", "--state", state], stdout=subprocess.PIPE, text=True)
    seen = ""
    for line in follow.stdout:
        seen += line
        if line == "first-line\n":
            break
    check("first-line\n" in seen, "logs --follow shows a running step's output from PostgreSQL")
    srv = subprocess.Popen([RUNBOOK, "serve", "--listen", "127.0.0.1:0", "--state", state], cwd=d,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        m = None
        for _ in range(5):
            m = re.match(r"http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]{64})$", srv.stdout.readline().strip())
            if m:
                break
        check(m is not None, "serve on PostgreSQL prints its address")
        port, token = int(m.group(1)), m.group(2)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", f"/api/runs/{fid}/events", headers={"Authorization": "Bearer " + token,
                                                             "Host": f"127.0.0.1:{port}"})
        stream = c.getresponse()
        kinds = []
        open(os.path.join(d, "release-f"), "w").close()  # the run ends while the page follows it
        for line in stream:  # ends when the run has finished and everything is sent: no clock
            if line.startswith(b"data: "):
                kinds.append(json.loads(line[6:])["kind"])
        c.close()
        check(kinds[0] == "run.started" and kinds[-1] == "run.succeeded" and "step.succeeded" in kinds,
              f"serve's stream follows the run to its end with no gap: {kinds}")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/api/runs", headers={"Authorization": "Bearer " + token, "Host": f"127.0.0.1:{port}"})
        api = json.loads(c.getresponse().read())
        check(api == json.loads(runbook(state, "runs", "--json", cwd=d).stdout), "/api/runs = runs --json")
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    engine.wait(timeout=60)
    rest = follow.stdout.read()
    check(follow.wait(timeout=60) == 0 and "last-line\n" in rest, "logs --follow goes on to the end")
    return state


def copies(pg, state):
    """History moves: PostgreSQL to SQLite and back, verified equal, and again changes nothing."""
    d = tempfile.mkdtemp()
    lite = os.path.join(d, "copy.db")
    r = subprocess.run([RUNBOOK, "state", "copy", state, lite], capture_output=True, text=True)
    n = len(json.loads(runbook(state, "runs", "--json", cwd=d).stdout))
    check(r.returncode == 0 and re.search(r"copied \d+ runs? .* each read back from both and equal", r.stdout),
          f"state copy PostgreSQL -> SQLite: {r.returncode} {r.stdout} {r.stderr}")
    strip = lambda runs: [{k: v for k, v in x.items() if k != "orphaned"} for x in runs]
    check(strip(json.loads(runbook(lite, "runs", "--json", cwd=d).stdout)) ==
          strip(json.loads(runbook(state, "runs", "--json", cwd=d).stdout)) and n > 0,
          "the copy lists the same runs")
    _, back = pg.new_db()
    r = subprocess.run([RUNBOOK, "state", "copy", lite, back], capture_output=True, text=True)
    check(r.returncode == 0, f"state copy SQLite -> PostgreSQL: {r.stdout} {r.stderr}")
    for run in json.loads(runbook(state, "runs", "--json", cwd=d).stdout):
        a = json.loads(runbook(state, "show", run["id"], "--json", cwd=d).stdout)
        b = json.loads(runbook(back, "show", run["id"], "--json", cwd=d).stdout)
        check(a == b, f"run {run['id']} is the same after the round trip")
    r = subprocess.run([RUNBOOK, "state", "copy", lite, back], capture_output=True, text=True)
    check(r.returncode == 0 and "copied 0 runs" in r.stdout and f"{n} already there" in r.stdout,
          f"copying again changes nothing: {r.stdout}")


if __name__ == "__main__":
    sys.exit(main())
