#!/usr/bin/env python3
"""Golden tests of `runbook import` (issue 14, item 8).

    golden_test.py RUNBOOK PAGES_DIR... [--update]

Each PAGE.md in the folders is imported; the draft must equal
expected/PAGE.yaml byte for byte, validate, run only scripts that parse
(bash -n), and hold at least 95% of the page's words (measure.py). With
--update (or UPDATE_GOLDEN=1) the expected drafts are rewritten instead:
review the diff before committing it.
"""
import difflib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import measure  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    update = "--update" in sys.argv or os.environ.get("UPDATE_GOLDEN") == "1"
    runbook, dirs = args[0], args[1:]
    pages = sorted(os.path.join(d, f) for d in dirs for f in os.listdir(d) if f.endswith(".md"))
    if len(pages) < 17:
        print(f"expected at least 12 pages and the 5 seeds, found {len(pages)}")
        return 1
    failures = []
    for page in pages:
        name = os.path.splitext(os.path.basename(page))[0]
        expected = os.path.join(HERE, "expected", name + ".yaml")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, name + ".yaml")
            r = subprocess.run([runbook, "import", page, "-o", out], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{name}: import failed: {r.stderr}")
                continue
            got = open(out, encoding="utf-8").read()
            v = subprocess.run([runbook, "validate", out], capture_output=True, text=True)
            if v.returncode != 0:
                failures.append(f"{name}: the draft does not validate:\n{v.stderr}")
        if update:
            with open(expected, "w", encoding="utf-8") as f:
                f.write(got)
        elif not os.path.exists(expected):
            failures.append(f"{name}: no expected draft {expected} (run with --update)")
        else:
            want = open(expected, encoding="utf-8").read()
            if got != want:
                diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), expected, "imported", n=2))
                failures.append(f"{name}: the draft differs from its golden:\n{diff[:4000]}")
        m = measure.measure(runbook, page)
        if m["words"] < 0.95:
            failures.append(f"{name}: only {m['words']:.1%} of the page's words are in the draft")
        if m["bad_runs"]:
            failures.append(f"{name}: run scripts that do not parse: {m['bad_runs']}")
        print(f"{name}: words {m['words']:.1%}, commands run {m['commands_run']}/{m['commands']}, "
              f"alternatives decided {m['alternatives_decided']}/{m['alternatives']}")
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
