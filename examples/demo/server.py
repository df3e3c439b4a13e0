#!/usr/bin/env python3
"""The demo service the runbooks operate on: a small HTTP API on 127.0.0.1
backed by a real SQLite database.

  GET  /health  200 "ok" when the deployed release is sound and the database
                opens, passes integrity_check and its items table answers;
                503 with the reason otherwise
  GET  /version the deployed release (DATA/current/VERSION)
  GET  /items   the number of items
  POST /items   adds an item; 503 while maintenance mode is on (DATA/maintenance)

With DATA/slow present every answer takes half a second (slow queries).

Usage: server.py --port PORT --data DIR"""
import argparse
import http.server
import os
import sqlite3
import time


def check(db_path):
    if not os.path.exists(db_path):
        return "database missing"
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2)
        try:
            if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                return "database corrupt"
            con.execute("SELECT count(*) FROM items").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return f"database unusable: {e}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    db = os.path.join(args.data, "app.db")
    flag = os.path.join(args.data, "maintenance")
    current = os.path.join(args.data, "current")

    def release_problem():
        if os.path.exists(os.path.join(current, "BROKEN")):
            return "release " + version() + " is broken"
        return None

    def version():
        try:
            with open(os.path.join(current, "VERSION")) as f:
                return f.read().strip()
        except OSError:
            return "none"

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, code, text):
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if os.path.exists(os.path.join(args.data, "slow")):
                time.sleep(0.5)
            if self.path == "/version":
                return self.reply(200, version())
            problem = release_problem() or check(db)
            if self.path == "/health":
                return self.reply(503, problem) if problem else self.reply(200, "ok")
            if self.path == "/items" and not problem:
                con = sqlite3.connect(db)
                n = con.execute("SELECT count(*) FROM items").fetchone()[0]
                con.close()
                return self.reply(200, str(n))
            self.reply(404 if not problem else 503, problem or "not found")

        def do_POST(self):
            if self.path != "/items":
                return self.reply(404, "not found")
            if os.path.exists(flag):
                return self.reply(503, "maintenance: writes are stopped")
            con = sqlite3.connect(db)
            con.execute("INSERT INTO items (name) VALUES ('item')")
            con.commit()
            con.close()
            self.reply(201, "created")

        def log_message(self, fmt, *a):
            pass

    # Loopback only: nothing of the demo is reachable from outside the machine.
    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
