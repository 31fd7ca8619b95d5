"""settings.production unchanged, except knobs a benchmark may turn to try a change (never by default).

BENCH_POLL_INTERVAL overrides NODECONDUCTOR["OPENSTACK_POLL_INTERVAL"] (what-if runs only).
"""

import os

from settings.production import *  # noqa: F403
from settings.production import NODECONDUCTOR

if os.environ.get("BENCH_POLL_INTERVAL"):
    NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_POLL_INTERVAL": float(os.environ["BENCH_POLL_INTERVAL"])}
