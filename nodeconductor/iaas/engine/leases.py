"""The engine's clock and its leases: the timings an operation keeps (from settings), who holds a claimed step,
and when a step whose holder died may be taken over. Read by the step runner, the tenant poller and the sweeper.
"""

import os
import socket
from datetime import timedelta

from django.conf import settings


def setting(key, default):
    """A number of NODECONDUCTOR settings, read at each call so that overrides (tests) take effect."""
    return float(settings.NODECONDUCTOR.get(key, default))


def wait_timeout():
    """Seconds an operation may wait for the cloud before it fails."""
    return setting("OPENSTACK_WAIT_TIMEOUT", 900)


def step_lease():
    """Seconds a claimed step may run before another worker may take it over (longer than any step)."""
    return setting("OPERATION_STEP_LEASE", 180)


def sweep_grace():
    """Seconds past its due time before the sweeper sends an operation's step again."""
    return setting("OPERATION_SWEEP_GRACE", 30)


def poll_interval():
    """Longest pause between two looks at the cloud while it works."""
    return setting("OPENSTACK_POLL_INTERVAL", 2)


def next_poll(waited):
    """Pause before the next look: a fraction (a tenth) of the time already waited in this phase, within bounds.

    A fixed interval makes every wait end up to one interval late; looking again after a fraction of the time
    waited keeps the lateness near that fraction of each wait (or the minimum) with a few more calls per wait.
    """
    pause = setting("OPENSTACK_POLL_FRACTION", 0.1) * waited
    return min(max(pause, setting("OPENSTACK_MIN_POLL_INTERVAL", 0.25)), poll_interval())


def holder_id():
    """Who runs a step: host and process, so a worker on the same host can tell that the holder died."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_dead(holder):
    """True when the holder ran on this host and its process is gone (or a zombie): its step will never end."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    pid = int(pid)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def in_flight_window():
    """Seconds a call sent by a dead worker may still take effect in the cloud (its connect and read timeouts).

    A step taken over sooner could miss a server whose create request was still being answered, and make a
    second one; after this window, what the dead worker asked for is either there to be found or never came.
    """
    return setting("OPENSTACK_CONNECT_TIMEOUT", 10) + setting("OPENSTACK_READ_TIMEOUT", 60)


def dead_and_settled(holder, lease_until, now):
    """A claimed step whose holder died on this host, claimed longer ago than the in-flight window."""
    if not holder or lease_until is None:
        return False
    claimed_at = lease_until - timedelta(seconds=step_lease())
    return now >= claimed_at + timedelta(seconds=in_flight_window()) and holder_dead(holder)
