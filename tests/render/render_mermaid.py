#!/usr/bin/python3
"""Renders Mermaid diagrams with Mermaid itself, in headless Chromium.

    render_mermaid.py [--runbook BIN] FILE...

With --runbook, also runs BIN (the runbook binary) on a runbook whose step
ids are Mermaid keywords or hold arrows (`end`, `graph`, `a--b`...) and
renders its `runbook graph` and its report, which must name every step.

Each FILE is Markdown (every ```mermaid block in it is a diagram) or, ending
in .mmd, one diagram. Every diagram must parse and render to an SVG with as
many nodes (flowchart) or bars (gantt) as its text declares; the first that
does not is printed with Mermaid's own error, and the exit code is 1.

Exits 77 (ctest's SKIP_RETURN_CODE) with a message saying what is missing
when Chromium, ChromeDriver, Selenium or the Mermaid package is not here;
./scripts/install-deps installs all four.

Debian's interpreter on purpose: python3-selenium is a Debian package, and a
python3 earlier on PATH may not have it.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MERMAID_JS = os.path.join(HERE, "node_modules", "mermaid", "dist", "mermaid.min.js")
SKIP = 77


def skip(why):
    print(f"SKIPPED: {why} (./scripts/install-deps installs it)")
    sys.exit(SKIP)


def diagrams(path):
    text = open(path, encoding="utf-8").read()
    if path.endswith(".mmd"):
        return [text]
    return re.findall(r"^```mermaid\n(.*?)^```", text, flags=re.S | re.M)


def expected_shapes(diagram):
    """Nodes a flowchart declares, bars a gantt declares."""
    lines = diagram.splitlines()
    if lines and lines[0].startswith("flowchart"):
        return "node", sum(1 for l in lines if re.match(r"^\s+n\d+[\[{]", l))
    if lines and lines[0].startswith("gantt"):
        return "bar", sum(1 for l in lines if re.match(r"^\s+.*:.*,\s*\d+,\s*\d+\s*$", l))
    return None, 0


# Every id here is valid in a runbook and is syntax to Mermaid or DOT.
KEYWORD_IDS = ["end", "graph", "subgraph", "class", "style", "click", "call", "a--b",
               "flowchart", "classdef", "linkstyle", "direction", "section", "title",
               "dateformat", "axisformat", "excludes", "todaymarker", "default", "o--o", "x-1", "0_-"]


def keyword_runbook(work, binary):
    """Writes, runs and reports a runbook with KEYWORD_IDS; returns the files
    to render and the ids each must name."""
    lines = ["name: keywords", 'title: "Ids that are syntax elsewhere"', "steps:"]
    previous = None
    for i, step in enumerate(KEYWORD_IDS):
        needs = f", needs: [{previous}]" if previous else ""
        name = ', name: \'Say "hi" #1 <b>x</b> & `y` -- z --> w\'' if i == 0 else ""
        lines.append(f"  - {{ id: '{step}', run: 'true'{needs}{name} }}")
        previous = f"'{step}'"
    lines += ["  - id: pick", f"    needs: [{previous}]",
              "    decision: { choices: [{ value: 'end', goto: [after] }] }",
              "  - { id: after, run: 'true' }"]
    with open(os.path.join(work, "keywords.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")

    def runbook(*args):
        done = subprocess.run([binary, *args], cwd=work, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"FAILED runbook {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
        return done.stdout

    with open(os.path.join(work, "graph.mmd"), "w") as f:
        f.write(runbook("graph", "keywords.yaml"))
    runbook("run", "keywords.yaml")
    with open(os.path.join(work, "report.md"), "w") as f:
        f.write(runbook("report", "last"))
    return [os.path.join(work, "graph.mmd"), os.path.join(work, "report.md")]


PAGE = """<!doctype html><meta charset="utf-8"><body><script src="mermaid.min.js"></script>
<script>
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  window.renderOne = async (i, text) => {
    try {
      const { svg } = await mermaid.render("d" + i, text);
      const box = document.createElement("div");
      box.innerHTML = svg;
      document.body.appendChild(box);
      return { ok: true,
               nodes: box.querySelectorAll("g.node").length,
               bars: box.querySelectorAll("rect.task").length,
               text: box.textContent };
    } catch (e) {
      return { ok: false, error: String(e && e.message || e) };
    }
  };
</script>"""


def main(args):
    binary = None
    if args[:1] == ["--runbook"]:
        binary, args = os.path.abspath(args[1]), args[2:]
    files = list(args)
    if not files and not binary:
        print(__doc__)
        return 2
    for need in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(need):
            skip(f"{need} is not installed")
    if not os.path.exists(MERMAID_JS):
        skip(f"Mermaid is not installed in {os.path.dirname(MERMAID_JS)}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip("python3-selenium is not installed")

    work = tempfile.mkdtemp(prefix="runbook-render-")
    try:
        shutil.copy(MERMAID_JS, os.path.join(work, "mermaid.min.js"))
        with open(os.path.join(work, "index.html"), "w") as f:
            f.write(PAGE)
        named = {}  # file -> ids its diagrams must show
        if binary:
            for path in keyword_runbook(work, binary):
                files.append(path)
                named[path] = KEYWORD_IDS + ["pick", "after"]
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--user-data-dir={work}/profile", "--allow-file-access-from-files"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        failed = 0
        rendered = 0
        try:
            driver.set_script_timeout(60)
            driver.get("file://" + os.path.join(work, "index.html"))
            n = 0
            for path in files:
                for diagram in diagrams(path):
                    n += 1
                    got = driver.execute_async_script(
                        "const done = arguments[arguments.length - 1];"
                        "window.renderOne(arguments[0], arguments[1]).then(done);", n, diagram)
                    kind, want = expected_shapes(diagram)
                    have = got.get("nodes" if kind == "node" else "bars", 0) if got["ok"] else 0
                    missing = [i for i in named.get(path, []) if got["ok"] and i not in got["text"]]
                    if not got["ok"] or (kind and have != want) or missing:
                        failed += 1
                        why = (got.get("error") or (f"{have} {kind}s drawn, {want} declared" if have != want
                                                    else f"no label for {', '.join(missing)}"))
                        print(f"FAILED {path} diagram {n}: {why}\n{diagram}")
                    else:
                        rendered += 1
        finally:
            driver.quit()
        print(f"{rendered} diagrams rendered, {failed} failed, from {len(files)} files")
        return 1 if failed or not rendered else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
