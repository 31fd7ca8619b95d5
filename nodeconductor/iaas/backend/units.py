"""Sizes between our MiB and the cloud's GiB: a leaf that every part of the backend may import."""

import math

MIB_PER_GIB = 1024


def gib_to_mib(gib):
    """Convert the cloud's GiB to our MiB."""
    return int(gib or 0) * MIB_PER_GIB


def mib_to_gib(mib):
    """Convert our MiB to the cloud's GiB, rounding up so a volume is never smaller than asked."""
    return max(1, math.ceil(int(mib) / MIB_PER_GIB))
