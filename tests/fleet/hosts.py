"""The fleet's processes: PostgreSQL, Redis, gunicorn, Celery workers and beat, each on its host (a namespace).

The product's processes run under a restart policy that mirrors docker-compose.yml's `restart: unless-stopped`:
a process that exits on its own is started again (after docker's back-off, 100 ms doubling), one that the test
stops is not. Every exit is recorded with its code and a marker line in the host's log, so a report can say
exactly what happened.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_until(predicate, timeout, what, logs=()):
    """Poll `predicate` every 20 ms until true; on the deadline fail saying `what` (text, or a function giving it:
    read only then) and the tails of `logs`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- last lines of {p.name} ---\n{p.tail()}" for p in logs)
            raise AssertionError(f"deadline of {timeout} s reached: {what() if callable(what) else what}\n{tails}")
        time.sleep(0.02)


def port_open(address, port):
    """Whether something accepts TCP connections there."""
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.3):
        return True
    return False


class Proc:
    """One process on a host, logged to a file; with `restart`, brought back when it exits on its own."""

    def __init__(self, net, role, name, argv, env, log_dir, restart=False, cwd=ROOT):
        self.net, self.role, self.name, self.argv, self.env, self.cwd = net, role, name, argv, env, cwd
        self.log_path = Path(log_dir) / f"{name}.log"
        self.restart = restart
        self.process = None
        self.exits = []  # (monotonic time, return code) of every exit the test did not ask for
        self.starts = 0
        self._stopped = True
        self._lock = threading.Lock()
        self._thread = None

    def _spawn(self):
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"=== fleet: start #{self.starts} of {self.name} at {time.time():.3f}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.net.exec_argv(self.role, self.argv), cwd=self.cwd, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def start(self):
        """Start the process (and, with `restart`, the loop that brings it back when it exits)."""
        with self._lock:
            self._stopped = False
            self._spawn()
        if self.restart:
            self._thread = threading.Thread(target=self._supervise, name=f"fleet-{self.name}", daemon=True)
            self._thread.start()
        return self

    def _supervise(self):
        """docker's unless-stopped: restart after 100 ms, doubling while it keeps failing within 10 s of a start."""
        backoff = 0.1
        while True:
            process = self.process
            code = process.wait()
            with self._lock:
                if self._stopped or process is not self.process:
                    return
                self.exits.append((time.monotonic(), code))
                with open(self.log_path, "ab") as log:
                    log.write(f"=== fleet: {self.name} exited with code {code}; restarting in {backoff:.1f} s "
                              "(restart: unless-stopped)\n".encode())  # fmt: skip
            started = time.monotonic()
            time.sleep(backoff)
            with self._lock:
                if self._stopped:
                    return
                self._spawn()
            backoff = 0.1 if time.monotonic() - started > 10 else min(backoff * 2, 60)

    @property
    def pid(self):
        """The main process id (what docker would signal)."""
        return self.process.pid

    def alive(self):
        """Whether the current process runs."""
        return self.process is not None and self.process.poll() is None

    def signal(self, signum):
        """Send a signal to the main process only, as `docker stop` does to a container's first process."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signum)

    def stop(self, timeout=10.0):
        """Stop as docker does: SIGTERM, SIGKILL to the whole group after `timeout`; no restart follows."""
        with self._lock:
            self._stopped = True
        if not self.alive():
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.wait(timeout=10)

    def kill(self):
        """SIGKILL the process group (no restart: it is marked stopped)."""
        with self._lock:
            self._stopped = True
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    def log_size(self):
        """Bytes logged so far: a mark to read what is logged after it."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset=0):
        """What the process logged after `offset`."""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def tail(self, lines=25):
        """The last lines of the log, for a failure message."""
        return "\n".join(self.log_since().splitlines()[-lines:]) if self.log_path.exists() else "(no log)"


class PostgreSQL:
    """A private cluster made with initdb in a folder of its own, served on the pg host as an unprivileged user."""

    PASSWORD = "fleet-only-password"

    def __init__(self, net, tag, log_dir):
        self.net, self.address = net, net.address("pg")
        # postgres refuses to run as root, and pytest's tmp folders are root's alone: the cluster gets its own
        # folder, named with the run's tag so that a later run removes it if this one is killed.
        self.folder = Path(tempfile.mkdtemp(prefix=f"ncf-{tag}-pg-"))
        self.data = self.folder / "data"
        shutil.chown(self.folder, "postgres", "postgres")
        self.as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        bin_dir = "/usr/lib/postgresql/15/bin"
        # Durability is not under test: fsync off keeps the spread's provisions within the test's budget.
        settings = {"listen_addresses": self.address, "unix_socket_directories": self.folder, "fsync": "off",
                    "synchronous_commit": "off", "full_page_writes": "off", "max_connections": 200}  # fmt: skip
        argv = [*self.as_postgres, f"{bin_dir}/postgres", "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.proc = Proc(net, "pg", "postgres", argv, {"PATH": os.environ["PATH"], "LANG": "C.UTF-8"}, log_dir,
                         cwd=self.folder)  # fmt: skip
        self.initdb = [f"{bin_dir}/initdb"]

    def url(self, database="nodeconductor"):
        """The DATABASE_URL of the product's database (a superuser of the private cluster)."""
        return f"postgres://nodeconductor:{self.PASSWORD}@{self.address}:5432/{database}"

    def create(self):
        """initdb, allow password logins from the bridge only, start, and create the product's database."""
        pwfile = self.folder / "pw"
        pwfile.write_text(self.PASSWORD)
        shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run([*self.as_postgres, *self.initdb, "-D", str(self.data), "-U", "nodeconductor",
                        f"--pwfile={pwfile}", "-A", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"],
                       check=True, capture_output=True, cwd=self.folder, timeout=120)  # fmt: skip
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.net.subnet} scram-sha-256\n")
        self.start()
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE nodeconductor")
        return self

    def start(self):
        """Start the server; wait until it accepts sessions (it listens before it has finished starting up)."""
        self.proc.start()
        wait_until(self.ready, 30, "PostgreSQL did not accept sessions", [self.proc])

    def ready(self):
        """Whether a session can be opened (any database: the cluster may not have the product's yet)."""
        import psycopg

        try:
            psycopg.connect(self.url("postgres"), connect_timeout=1).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self):
        """Fast shutdown (SIGINT): sessions are cut, the data stays."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGINT)
        self.proc._stopped = True
        self.proc.process.wait(timeout=30)

    def remove(self):
        """Kill the server and remove its folder."""
        self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    """redis-server with no persistence on the redis host: a restart loses every message it held."""

    def __init__(self, net, log_dir, data_dir):
        self.address = net.address("rd")
        argv = ["redis-server", "--bind", self.address, "--port", "6379", "--save", "", "--appendonly", "no",
                "--protected-mode", "no", "--dir", str(data_dir)]  # fmt: skip
        self.proc = Proc(net, "rd", "redis", argv, {"PATH": os.environ["PATH"]}, log_dir)

    @property
    def url(self):
        """The broker URL the product is given."""
        return f"redis://{self.address}:6379/0"

    def start(self):
        """Start it and wait until it accepts connections."""
        self.proc.start()
        wait_until(lambda: port_open(self.address, 6379), 20, "Redis did not listen", [self.proc])

    def client(self):
        """A redis-py client of this server (the test reads the queue with it)."""
        import redis

        return redis.Redis(host=self.address, port=6379, socket_timeout=2, socket_connect_timeout=2)

    def restart(self, down_for=1.0):
        """Kill the server (no persistence: its data is gone) and start an empty one after `down_for` seconds."""
        self.proc.kill()
        time.sleep(down_for)  # the outage the workers see; not a wait for a condition
        self.start()
