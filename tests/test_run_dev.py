"""run-dev.sh brings the worker back when it exits, as docker compose's restart policy does, within a limit."""

import os
import signal
import socket
import time

import pytest

from tests.docs.devstack import DevStack, _descendants

AGAIN = "worker exited; starting it again"


def free_port():
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_leader(stack):
    """The pid of the Celery worker's main process that run-dev.sh started (the leader of its process group)."""
    for pid, _ in _descendants(stack.proc.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"worker" in argv and b"celery" in argv and os.getpgid(pid) == pid:
            return pid
    return None


def wait_for(check, timeout, what, stack):
    """Poll check() until it is truthy; fail with run-dev.sh's output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout} s:\n{stack.output()[-3000:]}\n--- worker:\n{stack.service_log('worker')}")


@pytest.fixture
def stack(tmp_path):
    """run-dev.sh on free ports of its own in a fresh var dir, stopped whatever happens."""
    api, sim = free_port(), free_port()
    command = f"NODECONDUCTOR_API_PORT={api} NODECONDUCTOR_CLOUDSIM_PORT={sim} bash scripts/run-dev.sh\n"
    started = DevStack(command, tmp_path / "var", ports=(api, sim))
    try:
        yield started.start()
    finally:
        started.stop()


def test_a_worker_that_exits_is_started_again_and_one_that_keeps_exiting_stops_everything(stack):
    wait_for(lambda: " ready." in stack.service_log("worker"), 60, "the worker was not ready", stack)
    first = wait_for(lambda: worker_leader(stack), 30, "no Celery worker under run-dev.sh", stack)
    os.killpg(first, signal.SIGKILL)  # as kombu's Redis transport makes it exit: no clean shutdown
    wait_for(lambda: AGAIN in stack.output(), 30, "run-dev.sh did not start the worker again", stack)
    second = wait_for(lambda: worker_leader(stack), 30, "no new worker", stack)
    assert second != first
    log = stack.var_dir / "log" / "worker.log"
    wait_for(lambda: " ready." in log.read_text().rsplit(" again ===", 1)[-1], 60, "the new worker not ready", stack)
    assert stack.proc.poll() is None, stack.output()[-2000:]  # the API and the rest still run

    # A worker that keeps exiting is a fault to show, not to hide: the fifth exit within a minute stops it all.
    for restarts in range(2, 6):
        pid = wait_for(lambda: worker_leader(stack), 30, "no worker to stop", stack)
        os.killpg(pid, signal.SIGKILL)
        if restarts < 5:
            wait_for(lambda n=restarts: stack.output().count(AGAIN) >= n, 30, f"no restart number {restarts}", stack)
    wait_for(lambda: stack.proc.poll() is not None, 60, "run-dev.sh kept going", stack)
    assert stack.output().count(AGAIN) == 4
    assert "worker exited unexpectedly" in stack.output()
    assert stack.proc.returncode == 1
