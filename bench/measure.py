#!/usr/bin/env python3
"""Runs the comparisons for bench/run: the engine (both durabilities), ninja
-j2 and make -j2 interleaved round by round on the same DAG, medians of
several rounds; Ansible on the same steps as a linear playbook. Peak RSS of
each run from wait4. Writes the table part of bench/RESULTS.md.

  measure.py           N = 100, 1,000 and 10,000
  measure.py --quick   N = 100 only, 3 rounds"""
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
QUICK = "--quick" in sys.argv
SIZES = [100] if QUICK else [100, 1000, 10000]
ANSIBLE_ROUNDS = {100: 3, 1000: 1}  # 10,000 tasks would take Ansible ~25 minutes a round


def rounds(n):
    return 3 if QUICK or n >= 10000 else 5


def timed(argv, cwd, env=None):
    """Wall seconds and peak RSS (KiB) of one run."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss


def remove(*paths):
    for p in paths:
        if os.path.exists(p):
            os.remove(p)


def tools(d):
    state = os.path.join(d, "state.db")

    def engine(durability):
        def run():
            remove(state, state + "-wal", state + "-shm")  # every run starts from an empty database
            return timed([RUNBOOK, "run", "bench.yaml", "--jobs", "2", "--state", state,
                          "--durability", durability], d)
        return run

    def ninja():
        remove(os.path.join(d, ".ninja_log"), os.path.join(d, ".ninja_deps"))
        return timed(["ninja", "-j2"], d)

    return {"crash": engine("crash"), "power": engine("power"), "ninja": ninja,
            "make": lambda: timed(["make", "-s", "-j2"], d)}


def ansible(d, n):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    return statistics.median(timed(["ansible-playbook", "-i", "localhost,", "play.yml"], d, env)[0]
                             for _ in range(ANSIBLE_ROUNDS[n]))


def configs():
    for cmd in ["true", "sleep 0.01"]:
        for n in SIZES:
            for shape in ["chain", "wide", "diamond"]:
                if cmd != "true" and n > 100 and shape == "chain":
                    continue  # N x 10 ms in series measures sleep, not engines
                yield cmd, shape, n


def main():
    rows, ansible_times = [], {}
    for cmd, shape, n in configs():
        d = tempfile.mkdtemp(prefix=f"bench-{shape}-{n}-")
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), shape, str(n), cmd, d], check=True)
        t = tools(d)
        results = {name: [] for name in t}
        for _ in range(rounds(n)):  # interleaved: a noisy moment hits every tool alike
            for name, run in t.items():
                results[name].append(run())
        med = {name: (statistics.median(w for w, _ in r), max(m for _, m in r)) for name, r in results.items()}
        if (cmd, n) not in ansible_times and n in ANSIBLE_ROUNDS and shutil.which("ansible-playbook"):
            ansible_times[(cmd, n)] = ansible(d, n)  # linear: the same N tasks whatever the shape
        rows.append((cmd, shape, n, med, ansible_times.get((cmd, n))))
        print(f"{cmd:10} {shape:8} {n:6} " + "  ".join(f"{k}: {v[0]*1000:.0f} ms" for k, v in med.items()) +
              (f"  ansible: {ansible_times[(cmd, n)]:.1f} s" if (cmd, n) in ansible_times else ""), flush=True)
        shutil.rmtree(d)
    write(rows)


def machine():
    model = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (f"{platform.node()} ({os.cpu_count()} cores, {model}, Linux {platform.release()}, "
            f"{shutil.disk_usage(ROOT).total // 2**30} GiB disk)")


def ms(s):
    return f"{s*1000:.0f} ms" if s < 10 else f"{s:.1f} s"


def write(rows):
    lines = ["# Benchmarks", "",
             f"Measured {datetime.date.today()} on {machine()} by `bench/run` (Release build). Each tool runs "
             "every step as one `/bin/sh -c CMD` with 2 jobs (bench/gen.py writes the same DAG for each); the "
             "engine starts from an empty state database each time and ends by writing its report, as "
             "`runbook run` does. Wall times are medians of 5 interleaved rounds (3 at N = 10,000); ratios are "
             "taken within the same run. Ansible (ansible-core, local connection) runs the same N tasks as a "
             "linear playbook, whatever the shape, so one figure serves each (cmd, N): median of 3 rounds at "
             "N = 100, one round at 1,000, not run at 10,000 (about 25 minutes a round). Peak RSS is the "
             "engine's largest over the rounds.", "",
             "| cmd | shape | N | runbook crash | runbook power | ninja -j2 | make -j2 | Ansible | "
             "engine/ninja | power/ninja | engine/make | Ansible/engine | per step engine | per step ninja | "
             "peak RSS engine |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cmd, shape, n, med, ans in rows:
        e, p, nj, mk = (med[k][0] for k in ("crash", "power", "ninja", "make"))
        lines.append(f"| `{cmd}` | {shape} | {n} | {ms(e)} | {ms(p)} | {ms(nj)} | {ms(mk)} | "
                     f"{ms(ans) if ans else '-'} | {e/nj:.2f}x | {p/nj:.2f}x | {e/mk:.2f}x | "
                     f"{f'{ans/e:.0f}x' if ans else '-'} | {e/n*1000:.2f} ms | {nj/n*1000:.2f} ms | "
                     f"{med['crash'][1]/1024:.1f} MiB |")
    path = os.path.join(HERE, "RESULTS.md")
    old = open(path).read() if os.path.exists(path) else ""
    rest = old[old.index("\n## "):] if "\n## " in old else ""  # the sections goals.py and people write
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + rest)
    print("wrote the table into bench/RESULTS.md")


if __name__ == "__main__":
    main()
