#!/usr/bin/python3
"""The live run page in a real browser (issue 15, item 4): Debian's headless
Chromium through python3-selenium. Starts `runbook serve`, a run whose
decision waits, opens the page with the token, watches the DAG as events
arrive (waiting on conditions, never sleeping), answers in the page, and
checks that the run went on and the record names who answered. Saves
screenshots of the history, the live run and the post-mortem in OUT.

    test_live.py RUNBOOK OUT

Exits 77 (ctest's SKIP_RETURN_CODE) saying what is missing when Chromium,
chromedriver or selenium is not installed."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

RUNBOOK = """name: failover
steps:
  - id: prepare
    run: echo checking the primary
  - id: assess
    needs: prepare
    decision:
      prompt: Is the primary reachable?
      choices:
        - value: restart
          goto: [restart]
        - value: failover
          goto: [promote]
  - id: restart
    run: echo restarting
  - id: promote
    run: echo promoting the replica
  - id: verify
    needs: [restart, promote]
    run: echo healthy
"""


def skip(why):
    print(f"skipped: {why}")
    sys.exit(77)


def main():
    binary, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    for need in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(need):
            skip(f"{need} is not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.support.ui import Select, WebDriverWait
    except ImportError:
        skip("python3-selenium is not installed")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="runbook-web-")
    state = os.path.join(work, "state.db")
    with open(os.path.join(work, "failover.yaml"), "w") as f:
        f.write(RUNBOOK)
    rb = lambda *a: subprocess.run([binary, *a, "--state", state], cwd=work, capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL)
    r = rb("run", "failover.yaml")
    assert r.returncode == 3, f"the run waits for a person: exit {r.returncode}\n{r.stderr}"
    run_id = json.loads(rb("runs", "--json").stdout)[0]["id"]

    srv = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--state", state], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver = None
    try:
        address = None
        for _ in range(5):
            m = re.match(r"(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]{64})$", srv.stdout.readline().strip())
            if m:
                address = m
                break
        assert address, "serve prints its address"
        base, token = address.group(1), address.group(2)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--user-data-dir={work}/profile", "--window-size=1200,900"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        # The page redraws its live part on every event: an element found a moment ago may be gone.
        wait = WebDriverWait(driver, 60, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))

        driver.get(f"{base}/?token={token}")  # the token becomes a cookie; the address loses it
        wait.until(lambda d: d.current_url == base + "/")
        assert run_id in driver.page_source and "(a person is needed)" in driver.page_source
        driver.save_screenshot(os.path.join(out, "history.png"))

        driver.get(f"{base}/runs/{run_id}")
        node = lambda step: driver.find_element(By.CSS_SELECTOR, f'#dag g[data-step="{step}"]')
        wait.until(lambda d: "waiting" in node("assess").get_attribute("class"))
        wait.until(lambda d: "succeeded" in node("prepare").get_attribute("class"))
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "form.answer .prompt").text == "Is the primary reachable?")
        driver.save_screenshot(os.path.join(out, "live-waiting.png"))

        def answer(d):  # the form may be redrawn while it is filled in: then again, whole
            form = d.find_element(By.CSS_SELECTOR, 'form.answer[data-step="assess"]')
            Select(form.find_element(By.NAME, "value")).select_by_value("restart")
            form.find_element(By.NAME, "comment").send_keys("the primary answers ping: restart it")
            form.find_element(By.TAG_NAME, "button").click()
            return True
        wait.until(answer)
        # The resume serve starts runs the branch; its events redraw the DAG.
        wait.until(lambda d: "succeeded" in node("verify").get_attribute("class"))
        wait.until(lambda d: d.find_element(By.ID, "status").text == "succeeded")
        wait.until(lambda d: "succeeded" in node("restart").get_attribute("class"))
        wait.until(lambda d: "skipped" in node("promote").get_attribute("class"))
        wait.until(lambda d: "restart it" in d.find_element(By.ID, "events").text)
        driver.save_screenshot(os.path.join(out, "live-done.png"))

        shown = json.loads(rb("show", run_id, "--json").stdout)
        decisions = [d for d in shown["decisions"] if d["step"] == "assess"]
        assert decisions and decisions[0]["value"] == "restart" and decisions[0]["source"] == "web" and \
            decisions[0]["by"] == "web visitor (serve's token)", f"the record names who answered: {decisions}"

        driver.get(f"{base}/runs/{run_id}/postmortem")
        wait.until(lambda d: "web visitor" in d.page_source)
        driver.save_screenshot(os.path.join(out, "postmortem.png"))

        # Issue 22: a stream over serve's limit was a 503, which a browser never retries, and the page
        # stayed `waiting` for a run that had succeeded. With every stream slot held, the page opens;
        # the run is answered and goes on; the slots are freed; the page catches up by itself.
        r = rb("run", "failover.yaml")
        assert r.returncode == 3, f"a second run waits: {r.returncode} {r.stderr}"
        second = json.loads(rb("runs", "--json").stdout)[0]["id"]
        port = int(base.rsplit(":", 1)[1])
        held = []
        for _ in range(40):
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            c.sendall(f"GET /api/runs/{second}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      f"Authorization: Bearer {token}\r\n\r\n".encode())
            assert c.recv(4096).startswith(b"HTTP/1.1 200"), "a held stream"
            held.append(c)
        driver.get(f"{base}/runs/{second}")
        wait.until(lambda d: "waiting" in node("assess").get_attribute("class"))
        post = urllib.request.Request(f"{base}/api/runs/{second}/answers", method="POST",
                                      data=b'{"step": "assess", "value": "failover"}',
                                      headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        assert urllib.request.urlopen(post, timeout=30).status == 202
        # `logs --follow` blocks while the run runs and returns once it is not running; until the resume
        # serve started has claimed the run it is still `waiting`, so follow again (bounded).
        deadline, status = time.monotonic() + 120, "waiting"
        while status in ("waiting", "running") and time.monotonic() < deadline:
            subprocess.run([binary, "logs", second, "--follow", "--state", state], cwd=work,
                           capture_output=True, text=True, timeout=120)
            status = json.loads(rb("show", second, "--json").stdout)["status"]
        assert status == "succeeded", f"the answered run succeeded: {status}"
        assert driver.find_element(By.ID, "status").text == "waiting", "no stream yet: the page has not heard"
        for c in held:
            c.close()
        wait.until(lambda d: d.find_element(By.ID, "status").text == "succeeded")
        wait.until(lambda d: "succeeded" in node("promote").get_attribute("class"))
        print(f"web: ok, screenshots in {out}")
        return 0
    finally:
        if driver:
            driver.quit()
        srv.terminate()
        srv.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
