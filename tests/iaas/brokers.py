"""Real brokers for tests: kombu's filesystem transport in a folder, and a Redis server of the test's own.

The suite runs tasks eagerly on an in-memory broker; these helpers point the Celery app at a real transport,
so that publishing really goes through kombu and a broker outage is a real one.
"""

import contextlib
import shutil
import socket
import subprocess
import time

from nodeconductor.celery import app


def free_port():
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def filesystem_options(folder):
    """kombu filesystem transport options for one folder (as the development settings use)."""
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


@contextlib.contextmanager
def celery_broker(url, transport_options=None):
    """Publish to a real broker (no eager execution) for the duration; restore the app afterwards."""
    saved = {
        key: app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")
    }
    app.conf.update(broker_url=url, task_always_eager=False, broker_transport_options=transport_options or {})
    _reset_pools()
    try:
        yield app
    finally:
        app.conf.update(saved)
        _reset_pools()


def _reset_pools():
    """Forget connections and producers made for the previous broker (kombu caches them per connection)."""
    from kombu import pools

    with contextlib.suppress(Exception):
        app.pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


class RedisServer:
    """A throw-away redis-server on a free port, so a test can stop it without touching anyone else's."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def queue_length(self, queue="celery"):
        """Messages waiting in a queue (the default Celery queue is a Redis list)."""
        import redis

        return redis.Redis(port=self.port).llen(queue)
