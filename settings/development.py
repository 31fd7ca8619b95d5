"""The embedded default: SQLite, a serverless Celery broker and the simulated OpenStack; needs nothing installed."""

import json
import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import NODECONDUCTOR, VAR_DIR

DEBUG = True
SECRET_KEY = os.environ.get("SECRET_KEY", "development-only-insecure-key")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

# A portal's few concurrent clients, the worker and beat share one file. WAL lets readers go on while one writes;
# IMMEDIATE takes the write lock when a transaction begins, so two transactions never both read and then deadlock
# upgrading to write (SQLite answers that "database is locked" at once, whatever the timeout); the timeout is how
# long a writer queues for the lock.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "db.sqlite3",
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
    }
}

# kombu's filesystem transport: real Celery, no broker server.
FILESYSTEM_POLLING_INTERVAL = float(os.environ.get("NODECONDUCTOR_BROKER_POLLING_INTERVAL", "0.1"))
_QUEUE_DIR = VAR_DIR / "celery-queue"
# CELERY_BROKER_URL in the environment (e.g. redis://...) replaces the serverless transport.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_QUEUE_DIR),
    "data_folder_out": str(_QUEUE_DIR),
    "processed_folder": str(VAR_DIR / "celery-processed"),
    "control_folder": str(VAR_DIR / "celery-control"),
    "store_processed": False,
    # kombu looks at an empty folder once a second by default, and a provision crosses the broker several times
    # (request, worker, tenant poller, next step): a tenth of a second a hop keeps the embedded default as quick
    # as Redis, for a few more folder listings a second when idle (benchmarks/broker_hop.py measures both).
    "polling_interval": FILESYSTEM_POLLING_INTERVAL,
}

# The filesystem transport has no event loop: Celery runs a step's countdown (the tenant poller's next look) on its
# timer thread, which sleeps up to this long and is not woken by a new entry (Celery's default is 1 s, which made
# every look of the embedded default up to a second late: P1 in benchmarks/README.rst).
CELERY_WORKER_TIMER_PRECISION = FILESYSTEM_POLLING_INTERVAL

# kombu and SQLite do not create folders: without them the first enqueue or query fails (run-dev.sh or not).
for _folder in (VAR_DIR, _QUEUE_DIR, VAR_DIR / "celery-processed", VAR_DIR / "celery-control"):
    try:
        _folder.mkdir(parents=True, exist_ok=True)
    except OSError as _exc:
        raise ImproperlyConfigured(
            f"Cannot create {_folder} ({_exc.strerror}): point NODECONDUCTOR_VAR_DIR at a writable folder."
        ) from None

CLOUDSIM_PORT = int(os.environ.get("NODECONDUCTOR_CLOUDSIM_PORT", "5100"))
# Another cloud beside the simulated one, e.g. a real OpenStack to try against: a JSON list of credentials.
_EXTRA_CREDENTIALS = tuple(json.loads(os.environ.get("NODECONDUCTOR_OPENSTACK_CREDENTIALS") or "[]"))
NODECONDUCTOR = {
    **NODECONDUCTOR,
    "OPENSTACK_CREDENTIALS": _EXTRA_CREDENTIALS + (
        {
            "auth_url": f"http://127.0.0.1:{CLOUDSIM_PORT}/v3",
            "username": "admin",
            "password": "admin",
            "tenant_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    ),
    "OPENSTACK_POLL_INTERVAL": 1,
}
