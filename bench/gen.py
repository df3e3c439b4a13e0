#!/usr/bin/env python3
"""Writes the same DAG as a runbook, a build.ninja, a Makefile and an Ansible
playbook.

Shapes: chain (each step needs the one before), wide (N independent steps and
a join), diamond (layers of 8 steps, each layer needing the one before).
Every tool runs each step as one /bin/sh -c CMD, so only the engines differ:
the runbook with `shell: sh`; ninja wraps its `command` in /bin/sh -c itself;
make's recipe `/bin/sh -c 'CMD'` has no shell syntax, so make execs it
directly; Ansible's `shell` module runs /bin/sh -c. The playbook is linear
(one host, tasks in topological order): Ansible has no DAG.

Usage: gen.py SHAPE N CMD OUTDIR"""
import os
import sys


def edges(shape, n):
    """(step, [needs]) in a topological order."""
    if shape == "chain":
        return [(f"s{i}", [f"s{i-1}"] if i else []) for i in range(n)]
    if shape == "wide":
        steps = [(f"s{i}", []) for i in range(n - 1)]
        return steps + [(f"s{n-1}", [f"s{i}" for i in range(n - 1)])]
    if shape == "diamond":
        width, out = 8, []
        for i in range(n):
            layer = i // width
            needs = [f"s{j}" for j in range((layer - 1) * width, layer * width)] if layer else []
            out.append((f"s{i}", needs))
        return out
    raise SystemExit(f"unknown shape {shape}")


def main():
    shape, n, cmd, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.makedirs(out, exist_ok=True)
    graph = edges(shape, n)
    with open(os.path.join(out, "bench.yaml"), "w") as f:
        f.write(f"name: bench\ndefaults: {{ shell: sh }}\nsteps:\n")
        for step, needs in graph:
            f.write(f"  - {{ id: {step}, run: '{cmd}'" + (f", needs: [{', '.join(needs)}]" if needs else "") + " }\n")
    with open(os.path.join(out, "build.ninja"), "w") as f:
        f.write(f"rule r\n  command = {cmd}\n")
        for step, needs in graph:
            f.write(f"build {step}: r" + (f" | {' '.join(needs)}" if needs else "") + "\n")
        f.write(f"default {' '.join(s for s, _ in graph)}\n")
    with open(os.path.join(out, "Makefile"), "w") as f:
        f.write(".PHONY: all " + " ".join(s for s, _ in graph) + "\n")
        f.write("all: " + " ".join(s for s, _ in graph) + "\n")
        for step, needs in graph:
            f.write(f"{step}: {' '.join(needs)}\n\t@/bin/sh -c '{cmd}'\n")
    with open(os.path.join(out, "play.yml"), "w") as f:
        f.write("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n")
        for step, _ in graph:
            f.write(f"    - name: {step}\n      shell: '{cmd}'\n")


if __name__ == "__main__":
    main()
