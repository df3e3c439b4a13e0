#!/usr/bin/env python3
"""How soon an open page hears of a commit (issue 15: within a second).

    bench/serve_latency.py [RUNBOOK]    (default build-release/runbook, else build/runbook)

Starts `runbook serve` on a fresh state database and a run of 40 steps, each
committed one after another (each waits for a file the benchmark touches),
follows the run's event stream as a page does, and for every step.succeeded
event measures the time from the step's commit (the event's own `at`, written
in the same transaction) to its arrival at the reader. Prints the median, p95
and worst. serve waits with the store's WaitForChange: on SQLite it looks at
PRAGMA data_version every 20 ms, so the worst is about 20 ms plus the read;
on PostgreSQL a NOTIFY wakes it."""
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    binary = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else next(
        p for p in (os.path.join(ROOT, "build-release", "runbook"), os.path.join(ROOT, "build", "runbook"))
        if os.path.exists(p))
    d = tempfile.mkdtemp()
    state = os.path.join(d, "state.db")
    n = 40
    steps = "".join(f"  - id: s{i}\n    needs: {'s' + str(i - 1) if i else '[]'}\n"
                    f"    run: while [ ! -e {d}/go{i} ]; do sleep 0.01; done\n" for i in range(n))
    open(os.path.join(d, "lat.yaml"), "w").write("name: lat\nsteps:\n" + steps)
    srv = subprocess.Popen([binary, "serve", "--state", state], cwd=d, stdout=subprocess.PIPE, text=True)
    eng = None
    try:
        m = None
        for _ in range(5):
            m = re.match(r"http://127\.0\.0\.1:(\d+)/\?token=(\w+)$", srv.stdout.readline().strip())
            if m:
                break
        port, token = int(m.group(1)), m.group(2)
        eng = subprocess.Popen([binary, "run", "lat.yaml", "--state", state], cwd=d, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        run_id = None
        while run_id is None:
            c = http.client.HTTPConnection("127.0.0.1", port)
            c.request("GET", "/api/runs", headers={"Authorization": "Bearer " + token})
            resp = c.getresponse()
            body = resp.read()
            runs = json.loads(body) if resp.status == 200 else []  # 404 until the run creates the database
            run_id = runs[0]["id"] if runs else None
            time.sleep(0.01)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", f"/api/runs/{run_id}/events", headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        lat, released = [], 0
        open(os.path.join(d, "go0"), "w").close()
        for line in r:
            if not line.startswith(b"data: "):
                continue
            now = time.time()
            e = json.loads(line[6:])
            if e["kind"] != "step.succeeded":
                continue
            at = datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
            lat.append((now - at) * 1000)
            released += 1
            if released >= n:
                break
            open(os.path.join(d, f"go{released}"), "w").close()
        lat.sort()
        print(f"serve event latency over {len(lat)} commits: median {statistics.median(lat):.0f} ms, "
              f"p95 {lat[int(len(lat) * 0.95) - 1]:.0f} ms, worst {lat[-1]:.0f} ms (goal: < 1000 ms)")
    finally:
        if eng:
            for i in range(n):  # let the run finish whatever happened
                open(os.path.join(d, f"go{i}"), "w").close()
            eng.wait(timeout=60)
        srv.terminate()
        srv.wait()


if __name__ == "__main__":
    main()
