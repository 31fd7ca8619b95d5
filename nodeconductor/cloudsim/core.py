"""Shared primitives of the simulator: API errors, the timer scheduler, fault registry and call log."""

import heapq
import itertools
import threading
import time
import traceback
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

# Delays (seconds) of every asynchronous transition; "fast" keeps tests quick, "realistic" mirrors the
# timings measured on mini-openstack (NOTES.md).
DELAY_PROFILES = {
    "fast": {
        "server_build": 0.05, "server_stop": 0.05, "server_start": 0.05, "server_reboot": 0.05,
        "server_resize": 0.05, "server_confirm_resize": 0.05, "server_revert_resize": 0.05,
        "server_delete": 0.05, "volume_create": 0.05, "volume_download": 0.05, "volume_attach": 0.05,
        "volume_detach": 0.05, "volume_extend": 0.05, "volume_delete": 0.05, "floatingip_status": 0.05,
        "snapshot_create": 0.05, "snapshot_delete": 0.05,
    },
    "realistic": {
        "server_build": 2.5, "server_stop": 0.7, "server_start": 0.7, "server_reboot": 1.0,
        "server_resize": 3.0, "server_confirm_resize": 1.2, "server_revert_resize": 1.5,
        "server_delete": 0.7, "volume_create": 0.6, "volume_download": 1.5, "volume_attach": 0.7,
        "volume_detach": 0.65, "volume_extend": 0.6, "volume_delete": 0.6, "floatingip_status": 1.3,
        # Snapshots of attached volumes (Nova-assisted on mini-openstack): ~1.8 s to available, ~5 s to delete.
        "snapshot_create": 1.8, "snapshot_delete": 5.0,
    },
}


def new_id():
    """Return a fresh UUID string, the id format every OpenStack service uses."""
    return str(uuid.uuid4())


def new_hex_id():
    """Return a Keystone-style id (32 hex digits, no dashes)."""
    return uuid.uuid4().hex


def utcnow():
    """Return the current time as an aware UTC datetime, so timestamps compare across threads."""
    return datetime.now(UTC)


def isotime(dt=None, micro=False):
    """Format a timestamp the way Nova (seconds, Z) or Cinder/Keystone (microseconds) print it."""
    dt = dt or utcnow()
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def in_seconds(seconds):
    """Return a UTC datetime `seconds` from now; used for token expiry."""
    return utcnow() + timedelta(seconds=seconds)


class ApiError(Exception):
    """An HTTP refusal; each service renders it in its own error body shape."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Scheduler:
    """One background thread running delayed state transitions, so no thread is spawned per timer."""

    def __init__(self, lock):
        self._lock = lock
        self._cond = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._generation = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="cloudsim-scheduler", daemon=True)
        self._thread.start()

    def schedule(self, delay, fn, *args):
        """Run fn(*args) under the state lock after `delay` seconds (dropped by a later clear())."""
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0), next(self._seq), self._generation, fn, args))
            self._cond.notify()

    def clear(self):
        """Forget every pending transition; reset() uses it so old timers cannot touch new state."""
        with self._cond:
            self._generation += 1
            self._heap.clear()

    def pending(self):
        """Return how many transitions are still queued (tests wait for zero)."""
        with self._cond:
            return len(self._heap)

    def stop(self):
        """Stop the scheduler thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2)

    def _run(self):
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, generation, fn, args = heapq.heappop(self._heap)
                current = generation == self._generation
            if not current:
                continue
            with self._lock:
                with self._cond:
                    if generation != self._generation:
                        continue
                try:
                    fn(*args)
                except Exception:  # a broken transition must not kill the scheduler thread
                    traceback.print_exc()


class Fault:
    """One armed fault: how many calls it still hits and what it does to them."""

    def __init__(self, operation, times, mode, status, message, seconds):
        self.operation = operation
        self.remaining = times
        self.mode = mode
        self.status = status
        self.message = message
        self.seconds = seconds


FAULT_MODES = ("http", "hang", "error_state", "retries_exhausted")


class FaultRegistry:
    """Faults armed per operation name, plus the log of every fault that fired."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = {}
        self.log = []

    def arm(self, operation, times=1, status=500, message=None, mode=None, seconds=30.0):
        """Arm a fault for the next `times` calls of `operation`."""
        mode = mode or "http"
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {FAULT_MODES}")
        fault = Fault(operation, int(times), mode, int(status), message or "Injected fault", float(seconds))
        with self._lock:
            self._faults.setdefault(operation, []).append(fault)
        return fault

    def take(self, operation, modes=FAULT_MODES):
        """Consume and log the next armed fault for `operation` among `modes`, or return None."""
        with self._lock:
            queue = self._faults.get(operation) or []
            for fault in queue:
                if fault.mode in modes and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.remove(fault)
                    self.log.append({
                        "operation": operation, "mode": fault.mode,
                        "status": fault.status if fault.mode == "http" else None,
                        "message": fault.message, "seconds": fault.seconds if fault.mode == "hang" else None,
                        "at": time.time(),
                    })
                    return fault
        return None

    def armed(self):
        """Return the faults still waiting to fire, as plain dicts."""
        with self._lock:
            return [
                {"operation": f.operation, "mode": f.mode, "remaining": f.remaining, "status": f.status,
                 "message": f.message, "seconds": f.seconds}
                for queue in self._faults.values() for f in queue
            ]

    def clear(self):
        """Disarm every fault and empty the log."""
        with self._lock:
            self._faults.clear()
            self.log = []


class CallLog:
    """Every API call by operation name, so benchmarks can count writes and polls."""

    def __init__(self):
        self._lock = threading.Lock()
        self.entries = []

    def record(self, operation, method, path, status):
        """Append one finished call."""
        with self._lock:
            self.entries.append({"operation": operation, "method": method, "path": path, "status": status,
                                 "at": time.time()})

    def counts(self):
        """Return a Counter of calls per operation."""
        with self._lock:
            return Counter(e["operation"] for e in self.entries)

    def snapshot(self):
        """Return a copy of the entries."""
        with self._lock:
            return list(self.entries)

    def clear(self):
        """Forget all calls."""
        with self._lock:
            self.entries = []
