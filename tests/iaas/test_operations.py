"""Polling follows the cloud's pace: a tenth of the time waited, within the configured bounds."""

import pytest

from nodeconductor.iaas.operations import next_poll


def test_next_poll_is_a_tenth_of_the_wait_within_bounds(settings):
    bounds = {"OPENSTACK_POLL_INTERVAL": 2, "OPENSTACK_MIN_POLL_INTERVAL": 0.25}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, **bounds}
    assert next_poll(0) == 0.25
    assert next_poll(5) == 0.5
    assert next_poll(12) == pytest.approx(1.2)
    assert next_poll(600) == 2


def test_a_maximum_below_the_minimum_wins(settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_POLL_INTERVAL": 0.02}
    assert next_poll(0) == next_poll(100) == 0.02
