"""settings.production, booting servers without a network, plus knobs a benchmark may turn to try a change.

OPENSTACK_NETWORKS is "none": neither the simulator nor mini-openstack has a network Nova can auto-allocate
("auto", production's default, is a 400 there), and the raw floor scripts boot with nics="none" too, so both
sides do the same work. BENCH_POLL_INTERVAL overrides NODECONDUCTOR["OPENSTACK_POLL_INTERVAL"] (what-if runs only).
"""

import os

from settings.production import *  # noqa: F403
from settings.production import NODECONDUCTOR

NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_NETWORKS": "none"}
if os.environ.get("BENCH_POLL_INTERVAL"):
    NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_POLL_INTERVAL": float(os.environ["BENCH_POLL_INTERVAL"])}
