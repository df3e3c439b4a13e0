#!/usr/bin/env python3
"""`runbook serve` under real use (issue 22, item 1): the real binary, real
engines and a real state database; 40 event streams held open on 20 waiting
runs while the runs are answered from the API one after another and 5 other
engines start and exit. Every answer is accepted, every run reaches its end,
and every stream sees every event of its run, in order, once.

Usage: load_test.py RUNBOOK [--postgres]: the record in SQLite in a temp
folder, or in a throwaway PostgreSQL server (tests/pg/pgserver.py). Bounded:
every wait has a deadline."""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

RUNBOOK = sys.argv[1]
POSTGRES = sys.argv[2:] == ["--postgres"]
RUNS, STREAMS, ENGINES = 20, 40, 5
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)


def request(port, method, path, headers, body=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request(method, path, body=body, headers=dict(headers, Host=f"127.0.0.1:{port}"))
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, data


class Stream(threading.Thread):
    """One page's event stream, held open until the run ends (the server closes it then)."""

    def __init__(self, port, token, run):
        super().__init__(daemon=True)
        self.port, self.token, self.run_id = port, token, run
        self.seqs, self.kinds, self.status, self.error = [], [], None, None
        self.opened = threading.Event()

    def run(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            c.request("GET", f"/api/runs/{self.run_id}/events",
                      headers={"Authorization": "Bearer " + self.token, "Host": f"127.0.0.1:{self.port}"})
            r = c.getresponse()
            self.status = r.status
            self.opened.set()
            for line in r:
                if line.startswith(b"data: "):
                    e = json.loads(line[6:])
                    self.seqs.append(e["seq"])
                    self.kinds.append(e["kind"])
            c.close()
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            self.error = repr(e)
        finally:
            self.opened.set()


def flood(port, token, run):
    """200 streams and 150 slow connections at once: pages and the API still answer, and streams over
    the limit are told to retry (a 200 with `retry:`, which a browser follows; a 503 it would not)."""
    import socket
    open_ids = []
    r = run("run", "wait.yaml")  # a run that stays open, so that its streams stay open
    check(r.returncode == 3, "one more waiting run")
    rid = [x["id"] for x in json.loads(run("runs", "--json").stdout) if x["status"] == "waiting"][0]
    slow = []
    for _ in range(150):  # a request line, then nothing: each holds a connection (and a server thread)
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        c.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append(c)
    held, told = [], 0
    for _ in range(200):
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        c.sendall(f"GET /api/runs/{rid}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = c.recv(4096)
            if not chunk:
                break
            head += chunk
        check(head.startswith(b"HTTP/1.1 200"), f"a stream is answered 200: {head[:60]}")
        if b"retry: 3000" in head or b"Retry-After" in head:
            told += 1
            c.close()
        else:
            held.append(c)
    check(len(held) == 40 and told == 160, f"40 streams held, 160 told to retry: {len(held)}, {told}")
    bearer = {"Authorization": "Bearer " + token}
    slowest = 0.0
    for path in ("/", "/api/runs", f"/runs/{rid}", f"/api/runs/{rid}"):
        start = time.monotonic()
        status, _ = request(port, "GET", path, bearer, timeout=10)
        slowest = max(slowest, time.monotonic() - start)
        check(status == 200, f"{path} answers during the flood: {status}")
    print(f"during the flood the slowest page took {slowest * 1000:.0f} ms", flush=True)
    # The one bound on time here, as issue 22 asks: a starved server answers after its 5 s read timeout.
    check(slowest < 1.0, f"pages answer within 1 s during the flood: {slowest:.2f} s")
    for c in slow + held:
        c.close()


def main():
    d = tempfile.mkdtemp()
    if POSTGRES:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg"))
        from pgserver import Server  # noqa: E402
        pg = Server(settings="-c max_connections=200")
        try:
            return load(d, pg.new_db("load")[1])
        finally:
            pg.stop()
    return load(d, os.path.join(d, "state.db"))


def load(d, state):
    env = dict(os.environ, RUNBOOK_PATH=d)
    run = lambda *a: subprocess.run([RUNBOOK, *a, "--state", state], cwd=d, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, env=env, timeout=120)
    open(os.path.join(d, "wait.yaml"), "w").write(
        "name: wait\nconcurrency: shared\nsteps:\n  - id: approve\n    manual: Approve\n"
        "  - { id: after, needs: approve, run: 'sleep 0.3; echo after' }\n")
    open(os.path.join(d, "busy.yaml"), "w").write(
        "name: busy\nconcurrency: shared\nsteps:\n" + "".join(f"  - {{ id: s{i}, run: 'true' }}\n" for i in range(10)))
    for _ in range(RUNS):
        r = run("run", "wait.yaml")
        check(r.returncode == 3, f"a run that waits: {r.returncode} {r.stderr[-300:]}")
    waiting = [r["id"] for r in json.loads(run("runs", "--json").stdout) if r["runbook"] == "wait"]
    check(len(waiting) == RUNS, f"{RUNS} waiting runs: {len(waiting)}")
    alice = run("token", "add", "alice").stdout.strip()

    srv = subprocess.Popen([RUNBOOK, "serve", "--listen", "127.0.0.1:0", "--state", state], cwd=d, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = token = None
        for _ in range(5):
            m = re.match(r"http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]{64})$", srv.stdout.readline().strip())
            if m:
                port, token = int(m.group(1)), m.group(2)
                break
        check(port is not None, "serve prints its address")
        if port is None:
            return 1
        streams = [Stream(port, token, waiting[i % RUNS]) for i in range(STREAMS)]
        for s in streams:
            s.start()
        for s in streams:
            s.opened.wait(60)
        check(all(s.status == 200 for s in streams), f"{STREAMS} streams open: {[s.status for s in streams]}")

        engines_done = []

        def engines():
            for _ in range(ENGINES):
                engines_done.append(run("run", "busy.yaml").returncode)

        other = threading.Thread(target=engines, daemon=True)
        other.start()
        post = {"Authorization": "Bearer " + alice, "Content-Type": "application/json"}
        replies = []
        for rid in waiting:  # one after another: each run ends (its held streams end) before the next answer
            status, body = request(port, "POST", f"/api/runs/{rid}/answers", post,
                                   body='{"step": "approve", "value": "done"}')
            replies.append((status, body.strip()[:200]))
            mine = [s for s in streams if s.run_id == rid]
            for s in mine:
                s.join(30)
            if any(s.is_alive() for s in mine):  # fail here, saying what the record holds, rather than hang
                shown = run("show", rid, "--json").stdout[:300]
                check(False, f"the streams of {rid} did not end within 30 s of its answer ({status}); the record: {shown}")
                break
        other.join(300)
        if failures:  # a stream that never ended: what follows would only wait on the same fault
            return 1
        check(all(s == 202 for s, _ in replies), f"every answer accepted: {[r for r in replies if r[0] != 202]}")
        check(engines_done == [0] * ENGINES, f"the other engines ran: {engines_done}")

        # Every run reaches its end: a fresh stream of each ends when its run has finished (no clock), and
        # it is the run's whole timeline, read afresh.
        truth = {}
        for rid in waiting:
            c = Stream(port, token, rid)
            c.run()
            truth[rid] = c.seqs
        bearer = {"Authorization": "Bearer " + token}
        for rid in waiting:
            status, body = request(port, "GET", f"/api/runs/{rid}", bearer)
            check(status == 200 and json.loads(body).get("status") == "succeeded",
                  f"run {rid} succeeded: {status} {body[:200]}")
        for s in streams:
            s.join(180)
        check(not any(s.is_alive() for s in streams), "every held stream ended with its run")
        check(not [s.error for s in streams if s.error], f"no stream broke: {[s.error for s in streams if s.error]}")
        for s in streams:
            check(s.seqs == truth[s.run_id], f"stream of {s.run_id} saw {s.seqs}, the run has {truth[s.run_id]}")
        flood(port, token, run)
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
        err = srv.stderr.read()
        check("disk I/O error" not in err, f"serve said nothing of disk I/O: {err[-500:]}")
    print(f"serve load ({'PostgreSQL' if POSTGRES else 'SQLite'}): {RUNS} runs answered with {STREAMS} streams open: " +
          ("ok" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
