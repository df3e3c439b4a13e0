#!/usr/bin/env python3
"""How well `runbook import` keeps a corpus of Markdown runbooks (issue 14's goal).

    measure.py --runbook BUILD/runbook PAGE.md... [--min-words 0.95] [--check]

For each page it imports a draft (a temporary file) and validates it, then
measures, over the whole corpus:

  words       the share of the page's words found in the draft (each word
              counted as often as the page has it; the draft's strings and
              comments are read)
  commands    shell blocks (bash/sh/shell/zsh, and console blocks with a
              prompt) whose commands, prompts removed, are in a run script
              (a step's run, a rollback or a preflight check), placeholders
              aside
  bad runs    run scripts that do not parse (bash -n)
  branches    If / Otherwise / In case paragraphs and items that a decision
              names as a choice

With --check, exits 1 when a page fails to import or validate, has fewer
than --min-words of its words, or a run script fails bash -n.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

import yaml

WORD = re.compile(r"[^\W_]+", re.UNICODE)
PLACEHOLDER = re.compile(r"[`*]|\{\{.*?\}\}|<[A-Za-z][\w .-]*>|\[[A-Za-z][\w-]*\]|\{[A-Za-z][\w.-]*\}|'+")
PROMPT = re.compile(r"^(\$ |[\w.-]+@[\w.-]+:[^ ]*[$#] |\[[^\]]*@[^\]]*\][$#] )")
ROOT_PROMPT = re.compile(r"^# ")
FENCE = re.compile(r"^ *(```+|~~~+)\s*([\w+-]*)")
COND = re.compile(r"^\s*(?:[-*+]|\d+[.)])?\s*(?:\*\*)?(if|otherwise|in case)\b", re.I)


def read_text(path):
    data = open(path, "rb").read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.replace("\r", "")


def words(text):
    return collections.Counter(w.lower() for w in WORD.findall(text))


def page_words(text):
    """The words of a page, without its Markdown: fence info strings, list numbers."""
    text = re.sub(r"(?m)^(\s*(?:```+|~~~+))[^\n]*$", r"\1", text)
    text = re.sub(r"(?m)^(\s*)\d+[.)](\s)", r"\1\2", text)
    return words(text)


def strings(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif node is not None:
        yield str(node)


def blocks(text):
    """(lang, code, line) of each fenced block; the rest of the text."""
    out, prose, lines = [], [], text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence[0] * len(fence)):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        out.append((lang, "\n".join(body), start + 1))
    return out, "\n".join(prose)


def commands_of(lang, code):
    """The commands a shell block asks to run, prompts removed; None: not a command block."""
    if lang not in ("bash", "sh", "shell", "zsh", "console"):
        return None
    lines = code.split("\n")
    prompted = [l for l in lines if PROMPT.match(l) or (lang == "console" and ROOT_PROMPT.match(l))]
    if lang == "console" and not prompted:
        return None
    if not prompted:
        return code
    out, cont = [], False
    for l in lines:
        m = PROMPT.match(l) or (ROOT_PROMPT.match(l) if lang == "console" else None)
        if m or cont:
            c = l[m.end():] if m and not cont else l
            out.append(c)
            cont = c.endswith("\\")
    return "\n".join(out)


def normal(script):
    return re.sub(r"\s+", " ", PLACEHOLDER.sub("", script)).strip()


def parses(script):
    r = subprocess.run(["bash", "-n"], input=script.encode(), capture_output=True)
    return r.returncode == 0


def measure(runbook, page):
    res = {"page": page, "ok": False, "words": 0.0, "commands": 0, "commands_run": 0, "bad_runs": [],
           "alternatives": 0, "alternatives_decided": 0, "error": ""}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "draft.yaml")
        r = subprocess.run([runbook, "import", page, "-o", out], capture_output=True, text=True)
        if r.returncode != 0:
            res["error"] = r.stderr.strip()
            return res
        v = subprocess.run([runbook, "validate", out], capture_output=True, text=True)
        if v.returncode != 0:
            res["error"] = v.stderr.strip()
            return res
        draft_text = open(out, encoding="utf-8").read()
    draft = yaml.safe_load(draft_text)
    res["ok"] = True
    source = read_text(page)
    have = words(" ".join(strings(draft)) + " " + " ".join(l for l in draft_text.split("\n") if l.startswith("#")))
    want = page_words(source)
    res["words"] = sum(min(n, have[w]) for w, n in want.items()) / max(1, sum(want.values()))
    scripts = [c["run"] for c in draft.get("preflight", []) or []]
    for s in (draft.get("steps", []) or []) + (draft.get("finally", []) or []):
        if "run" in s:
            scripts.append(s["run"])
        if isinstance(s.get("rollback"), str):
            scripts.append(s["rollback"])
    runs = [normal(s) for s in scripts]
    res["bad_runs"] = [s.split("\n")[0] for s in scripts if not parses(s)]
    code, prose = blocks(source)
    for lang, body, _ in code:
        cmds = commands_of(lang, body)
        if cmds is None or not cmds.strip():
            continue
        res["commands"] += 1
        if any(normal(cmds) in r for r in runs):
            res["commands_run"] += 1
    prompts = " ".join(normal(s.get("decision", {}).get("prompt", "")) for s in draft.get("steps", []) or []
                       if isinstance(s.get("decision"), dict))
    for line in prose.split("\n"):
        if COND.match(line):
            res["alternatives"] += 1
            text = re.sub(r"^\s*(?:[-*+]|\d+[.)])?\s*", "", line).replace("**", "")
            key = normal(" ".join(text.split()[:6]))
            if key and key[:40] in prompts:
                res["alternatives_decided"] += 1
            else:
                res.setdefault("undecided", []).append(line.strip()[:100])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runbook", required=True)
    ap.add_argument("--min-words", type=float, default=0.95)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("pages", nargs="+")
    a = ap.parse_args()
    failed = False
    totals = collections.Counter()
    for page in a.pages:
        r = measure(a.runbook, page)
        name = os.path.basename(page)
        if not r["ok"]:
            print(f"{name}: FAILED {r['error']}")
            failed = True
            continue
        print(f"{name}: words {r['words']:.1%}, commands run {r['commands_run']}/{r['commands']}, "
              f"alternatives decided {r['alternatives_decided']}/{r['alternatives']}, bad runs {len(r['bad_runs'])}")
        for b in r["bad_runs"]:
            print(f"  does not parse: {b}")
        for u in r.get("undecided", []) if a.verbose else []:
            print(f"  not a decision: {u}")
        if r["words"] < a.min_words or r["bad_runs"]:
            failed = True
        totals.update({k: r[k] for k in ("commands", "commands_run", "alternatives", "alternatives_decided")})
        totals["pages"] += 1
        totals["words"] += r["words"]
    if totals["pages"]:
        print(f"corpus: {totals['pages']} pages, mean words {totals['words'] / totals['pages']:.1%}, commands run "
              f"{totals['commands_run']}/{totals['commands']}, alternatives decided "
              f"{totals['alternatives_decided']}/{totals['alternatives']}")
    return 1 if (failed and a.check) else 0


if __name__ == "__main__":
    sys.exit(main())
