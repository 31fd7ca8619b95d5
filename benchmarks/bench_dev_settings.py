"""settings.development (the embedded default) with the changes bench_settings.py makes to production's.

OPENSTACK_NETWORKS is "none" for the same reason as there: neither the simulator nor mini-openstack has a network
Nova can auto-allocate, and the floor boots without one, so the embedded stack boots the same way.
BENCH_POLL_INTERVAL overrides NODECONDUCTOR["OPENSTACK_POLL_INTERVAL"] (what-if runs only). Everything else,
SQLite in NODECONDUCTOR_VAR_DIR and kombu's filesystem broker included, is the development settings' own.
"""

import os

from settings.development import *  # noqa: F403
from settings.development import NODECONDUCTOR

NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_NETWORKS": "none"}
if os.environ.get("BENCH_POLL_INTERVAL"):
    NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_POLL_INTERVAL": float(os.environ["BENCH_POLL_INTERVAL"])}
# What-if only: how often the worker's ETA timer thread looks at its schedule (the development settings: 0.1 s).
if os.environ.get("BENCH_TIMER_PRECISION"):
    CELERY_WORKER_TIMER_PRECISION = float(os.environ["BENCH_TIMER_PRECISION"])
