"""A throwaway PostgreSQL server for tests and benchmarks: Debian's initdb and pg_ctl (pg_config --bindir), a
unix socket in a temp folder, no TCP port, run as the `postgres` account when we are root (initdb refuses
root). `fast=True` turns fsync off (functional tests); a benchmark keeps the durable defaults."""
import os
import shutil
import subprocess
import tempfile


def bindir():
    try:
        d = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    except FileNotFoundError:
        return None
    return d if d and os.path.exists(os.path.join(d, "initdb")) else None


class Server:
    def __init__(self, fast=True, settings=""):
        b = bindir()
        if not b:
            raise SystemExit("PostgreSQL's server is not installed (scripts/install-deps --test installs postgresql-15)")
        self.dir = tempfile.mkdtemp(prefix="runbook-pg-")
        os.chmod(self.dir, 0o755)
        self.as_ = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_ = ["runuser", "-u", "postgres", "--"]
        self.pg_ctl = [*self.as_, os.path.join(b, "pg_ctl"), "-D", self.dir + "/data"]
        subprocess.run([*self.as_, os.path.join(b, "initdb"), "-D", self.dir + "/data", "-A", "trust", "-U", "runbook",
                        "-E", "UTF8", "--locale=C.UTF-8", *(["--no-sync"] if fast else [])],
                       check=True, capture_output=True)
        opts = f"-k {self.dir} -c listen_addresses='' {'-c fsync=off ' if fast else ''}{settings}"
        subprocess.run([*self.pg_ctl, "-l", self.dir + "/log", "-w", "-o", opts, "start"], check=True,
                       capture_output=True)
        self.n = 0

    def psql(self, sql, db="postgres"):
        return subprocess.run(["psql", "-At", "-h", self.dir, "-U", "runbook", "-d", db, "-c", sql],
                              capture_output=True, text=True).stdout.strip()

    def new_db(self, prefix="t"):
        """A new database: its name and its postgresql:// address."""
        self.n += 1
        name = f"{prefix}{self.n}"
        self.psql(f"CREATE DATABASE {name}")
        return name, f"postgresql:///{name}?host={self.dir}&user=runbook"

    def stop(self):
        subprocess.run([*self.pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
