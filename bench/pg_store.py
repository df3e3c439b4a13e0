#!/usr/bin/env python3
"""The PostgreSQL store against the SQLite file (issue 16), on the same machine.

    bench/pg_store.py [RUNBOOK] [ROUNDS]   (default build-release/runbook, else build/runbook; 3 rounds)

Starts a throwaway PostgreSQL 15 with its durable defaults (fsync on, synchronous_commit on, a unix socket),
then for chain-1,000 and wide-1,000 of `true` (bench/gen.py, 2 jobs) runs `runbook run` against a fresh
SQLite file (--durability crash and power) and a fresh PostgreSQL database, interleaved, and prints the
median wall time, the cost per step, and for PostgreSQL the transactions per step the server counted
(pg_stat_database.xact_commit: each commit is one pipeline, one round trip). Then the commit latency of one
step's batch (bench/commit_floor.cc) in each store."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "pg"))
from pgserver import Server  # noqa: E402


def main():
    binary = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else next(
        p for p in (os.path.join(ROOT, "build-release", "runbook"), os.path.join(ROOT, "build", "runbook"))
        if os.path.exists(p))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    pg = Server(fast=False)  # durable defaults: fsync on, synchronous_commit on
    d = pg.dir
    n_db = 0
    try:
        print("| shape | N | SQLite crash | SQLite power | PostgreSQL | per step SQLite crash | per step PostgreSQL "
              "| PostgreSQL transactions per step |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for shape in ("chain", "wide"):
            n = 1000
            work = tempfile.mkdtemp()
            subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), shape, str(n), "true", work], check=True)
            times = {"crash": [], "power": [], "pg": []}
            xacts = []
            for _ in range(rounds):
                for kind in times:
                    if kind == "pg":
                        n_db += 1
                        psql(d, f"CREATE DATABASE b{n_db}")
                        state = f"postgresql:///b{n_db}?host={d}&user=runbook"
                        before = int(psql(d, f"SELECT xact_commit FROM pg_stat_database WHERE datname='b{n_db}'") or 0)
                        args = ["--state", state]
                    else:
                        state = os.path.join(work, f"{kind}-{time.monotonic_ns()}.db")
                        args = ["--state", state, "--durability", kind]
                    t = time.monotonic()
                    r = subprocess.run([binary, "run", "bench.yaml", "--jobs", "2", *args], cwd=work,
                                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
                    times[kind].append(time.monotonic() - t)
                    if r.returncode != 0:
                        sys.exit(f"{kind} {shape}: exit {r.returncode}: {r.stderr[-500:]}")
                    if kind == "pg":
                        time.sleep(0.6)  # the statistics collector reports with a delay (PG 15: on a timer)
                        after = int(psql(d, f"SELECT xact_commit FROM pg_stat_database WHERE datname='b{n_db}'"))
                        xacts.append((after - before) / n)
            med = {k: statistics.median(v) for k, v in times.items()}
            ms = lambda s: f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"
            print(f"| {shape} | {n} | {ms(med['crash'])} | {ms(med['power'])} | {ms(med['pg'])} | "
                  f"{med['crash'] / n * 1000:.2f} ms | {med['pg'] / n * 1000:.2f} ms | {statistics.median(xacts):.2f} |")
        floor = os.path.join(os.path.dirname(binary), "commit_floor")
        if os.path.exists(floor):
            n_db += 1
            psql(d, f"CREATE DATABASE b{n_db}")
            work = tempfile.mkdtemp()
            lite = subprocess.run([floor, work, "2000"], capture_output=True, text=True).stdout.strip()
            pg = subprocess.run([floor, f"postgresql:///b{n_db}?host={d}&user=runbook", "2000"], capture_output=True,
                                text=True).stdout.strip()
            print(f"\ncommit of one step's batch, microseconds (bench/commit_floor.cc, 2,000 commits):\n"
                  f"  SQLite (crash)   {lite}\n  PostgreSQL       {pg}")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
