"""`bash scripts/run-dev.sh` as the docs tell the reader to run it, for the doc tests: start, wait, always stop."""

import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The ports every copyable block of the docs names; run-dev.sh's defaults.
API_PORT, SIM_PORT = 8000, 5100
READY = "Press Ctrl-C to stop everything."
START_TIMEOUT = 300  # a first run installs requirements.txt into .venv
STOP_TIMEOUT = 40  # run-dev.sh gives each service 15 s after SIGTERM
TIME_WAIT_LIMIT = 120  # Linux keeps closed connections in TIME_WAIT for 60 s


def reader_env(var_dir):
    """The environment of a reader's terminal: nothing of pytest's (settings, database URL), the given var dir."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR", "USER") if key in os.environ}
    env["NODECONDUCTOR_VAR_DIR"] = str(var_dir)
    return env


def port_listener(port):
    """Who listens on 127.0.0.1:port (as ss tells, where it is installed), or None."""
    try:
        shown = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
        return shown.strip() or None
    except FileNotFoundError:
        with socket.socket() as s:
            return "a process (install iproute2 for ss to name it)" if s.connect_ex(("127.0.0.1", port)) == 0 else None


def port_bindable(port):
    """run-dev.sh's own test: a bind without SO_REUSEADDR, which fails while closed connections of the port are
    in TIME_WAIT (up to a minute after a previous run)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _stat(pid):
    """(parent pid, start time) of a process, or None when it is gone."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[19]


def _descendants(pid):
    """Every live process below pid with its start time (run-dev.sh puts each service in its own process
    group, so a group kill of run-dev.sh would miss them)."""
    children = {}
    for entry in pathlib.Path("/proc").glob("[0-9]*"):
        stat = _stat(entry.name)
        if stat:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found, todo = [], [pid]
    while todo:
        for child, started in children.get(todo.pop(), ()):
            found.append((child, started))
            todo.append(child)
    return found


class DevStack:
    """One run of run-dev.sh in its own var dir on the default ports; the staff password it printed."""

    def __init__(self, command, var_dir, ports=(API_PORT, SIM_PORT), stop_timeout=STOP_TIMEOUT):
        self.command, self.var_dir = command, pathlib.Path(var_dir)
        self.ports, self.stop_timeout = ports, stop_timeout
        self.log_path = self.var_dir / "run-dev.out"
        self.proc, self.password = None, None

    def output(self):
        """What run-dev.sh printed so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def start(self):
        """Run the command of the docs; return when run-dev.sh says everything runs, fail clearly otherwise."""
        for port, what in zip(self.ports, ("the API", "the simulated OpenStack"), strict=True):
            holder = port_listener(port)
            if holder:
                pytest.fail(
                    f"port {port} ({what}) is taken by {holder}: the docs test runs run-dev.sh on the ports its "
                    f"blocks print (8000, 5100); stop that process (another run-dev.sh?) and run it again"
                )
            deadline = time.monotonic() + TIME_WAIT_LIMIT
            while not port_bindable(port):
                if time.monotonic() > deadline:
                    pytest.fail(f"port {port} ({what}) still cannot be bound after {TIME_WAIT_LIMIT} s")
                time.sleep(1)
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", self.command], cwd=ROOT, env=reader_env(self.var_dir), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in self.output():
            if self.proc.poll() is not None:
                pytest.fail(f"run-dev.sh exited {self.proc.returncode} before it was ready:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"run-dev.sh was not ready after {START_TIMEOUT} s:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        found = re.search(r"Staff user +staff / (\S+)", self.output())
        assert found, f"run-dev.sh printed no staff password on its first run:\n{self.output()}"
        self.password = found.group(1)
        return self

    def service_log(self, name):
        """The end of one service's log (api, worker, beat, cloudsim), for failure messages."""
        path = self.var_dir / "log" / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else f"(no {path})"

    def stop(self):
        """Ctrl-C's way (SIGTERM, run-dev.sh stops its services), then SIGKILL to anything of it still alive."""
        if self.proc is None:
            return
        below = _descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, started in below:
            stat = _stat(pid)
            if stat and stat[1] == started:  # the same process, not a later one that got its pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None
