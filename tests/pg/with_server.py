#!/usr/bin/env python3
"""Runs a command with a throwaway PostgreSQL server (initdb/pg_ctl, a unix socket in a temp folder, no TCP
port), its socket folder in RUNBOOK_TEST_PG_DIR; removes the server after. Usage: with_server.py CMD ARGS..."""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    d = tempfile.mkdtemp(prefix="runbook-pg-")
    os.chmod(d, 0o755)
    as_ = []
    if os.geteuid() == 0:
        shutil.chown(d, "postgres")
        as_ = ["runuser", "-u", "postgres", "--"]
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    if not os.path.exists(os.path.join(bindir, "initdb")):
        print("with_server: PostgreSQL's server is not installed (scripts/install-deps --test installs postgresql-15)")
        return 1
    pg_ctl = [*as_, os.path.join(bindir, "pg_ctl"), "-D", d + "/data"]
    subprocess.run([*as_, os.path.join(bindir, "initdb"), "-D", d + "/data", "-A", "trust", "-U", "runbook",
                    "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
    subprocess.run([*pg_ctl, "-l", d + "/log", "-w", "-o",
                    f"-k {d} -c listen_addresses='' -c fsync=off -c max_connections=200", "start"],
                   check=True, capture_output=True)
    try:
        return subprocess.run(sys.argv[1:], env=dict(os.environ, RUNBOOK_TEST_PG_DIR=d)).returncode
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
