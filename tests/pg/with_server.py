#!/usr/bin/env python3
"""Runs a command with a throwaway PostgreSQL server (tests/pg/pgserver.py), its socket folder in
RUNBOOK_TEST_PG_DIR; removes the server after. Usage: with_server.py CMD ARGS..."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgserver import Server  # noqa: E402


def main():
    pg = Server(settings="-c max_connections=200")
    try:
        return subprocess.run(sys.argv[1:], env=dict(os.environ, RUNBOOK_TEST_PG_DIR=pg.dir)).returncode
    finally:
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
