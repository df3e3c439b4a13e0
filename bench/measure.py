#!/usr/bin/env python3
"""Runs the comparisons for bench/run: interleaved, several rounds, medians;
peak RSS of each run from wait4. Writes bench/RESULTS.md."""
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNBOOK = os.path.join(ROOT, "build-release", "runbook")
ROUNDS = 5


def timed(argv, cwd):
    """Wall seconds and peak RSS (KiB) of one run."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss


def tools(d):
    state = os.path.join(d, "state.db")

    def engine(durability):
        def run():
            for f in (state, state + "-wal", state + "-shm"):
                if os.path.exists(f):
                    os.remove(f)
            return timed([RUNBOOK, "run", "bench.yaml", "--jobs", "2", "--state", state,
                          "--durability", durability], d)
        return run

    def ninja():
        for f in (".ninja_log", ".ninja_deps"):
            if os.path.exists(os.path.join(d, f)):
                os.remove(os.path.join(d, f))
        return timed(["ninja", "-j2"], d)

    return {"runbook (crash)": engine("crash"), "runbook (power)": engine("power"), "ninja -j2": ninja,
            "make -j2": lambda: timed(["make", "-s", "-j2"], d)}


def main():
    quick = "--quick" in sys.argv
    sizes = [100] if quick else [100, 1000]
    rows = []
    for cmd in ["true", "sleep 0.01"]:
        for shape in ["chain", "wide", "diamond"]:
            for n in sizes:
                if cmd != "true" and n > 100 and shape == "chain":
                    continue  # 1000 x 10ms in series measures sleep, not engines
                d = tempfile.mkdtemp(prefix=f"bench-{shape}-{n}-")
                subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), shape, str(n), cmd, d], check=True)
                t = tools(d)
                results = {name: [] for name in t}
                for _ in range(ROUNDS):  # interleaved: a noisy moment hits every tool alike
                    for name, run in t.items():
                        results[name].append(run())
                med = {name: (statistics.median(w for w, _ in r), max(m for _, m in r)) for name, r in results.items()}
                rows.append((cmd, shape, n, med))
                print(f"{cmd:10} {shape:8} {n:5} " + "  ".join(f"{k}: {v[0]*1000:.0f} ms" for k, v in med.items()),
                      flush=True)
                shutil.rmtree(d)
    write(rows)


def write(rows):
    lines = ["# Benchmarks", "",
             f"Measured {datetime.date.today()} on {platform.node()} ({os.cpu_count()} cores, "
             f"{platform.machine()}, Linux {platform.release()}) by `bench/run`: medians of {ROUNDS} interleaved "
             "rounds; each tool runs every step as `/bin/sh -c CMD` with 2 jobs; the engine starts from an empty "
             "state database each time. Peak RSS is the largest of the rounds.", "",
             "| cmd | shape | N | runbook crash | runbook power | ninja -j2 | make -j2 | engine/ninja | "
             "per step (engine) | per step (ninja) | peak RSS engine |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cmd, shape, n, med in rows:
        e, p, nj, mk = (med[k][0] for k in ("runbook (crash)", "runbook (power)", "ninja -j2", "make -j2"))
        lines.append(f"| `{cmd}` | {shape} | {n} | {e*1000:.0f} ms | {p*1000:.0f} ms | {nj*1000:.0f} ms | "
                     f"{mk*1000:.0f} ms | {e/nj:.2f}x | {e/n*1000:.2f} ms | {nj/n*1000:.2f} ms | "
                     f"{med['runbook (crash)'][1]/1024:.1f} MiB |")
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
