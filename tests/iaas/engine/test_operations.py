"""Polling follows the cloud's pace: a fraction of the time waited, within the configured bounds."""

import pytest

from nodeconductor.iaas.engine.operations import next_poll


def test_next_poll_is_a_tenth_of_the_wait_within_bounds(settings):
    bounds = {"OPENSTACK_POLL_INTERVAL": 2, "OPENSTACK_MIN_POLL_INTERVAL": 0.25, "OPENSTACK_POLL_FRACTION": 0.1}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, **bounds}
    assert next_poll(0) == 0.25
    assert next_poll(5) == 0.5
    assert next_poll(12) == pytest.approx(1.2)
    assert next_poll(600) == 2


def test_a_maximum_below_the_minimum_wins(settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_POLL_INTERVAL": 0.02}
    assert next_poll(0) == next_poll(100) == 0.02


def test_the_default_pause_is_a_tenth_of_the_wait_from_a_quarter_second(settings):
    """Production's bounds and fraction (the test settings shorten only the longest pause)."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_POLL_INTERVAL": 2}
    assert next_poll(0) == next_poll(2.5) == pytest.approx(0.25)
    assert next_poll(5) == pytest.approx(0.5)
    assert next_poll(600) == 2


def test_a_smaller_fraction_looks_sooner(settings):
    bounds = {"OPENSTACK_POLL_INTERVAL": 2, "OPENSTACK_MIN_POLL_INTERVAL": 0.1, "OPENSTACK_POLL_FRACTION": 0.05}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, **bounds}
    assert next_poll(0) == next_poll(2) == pytest.approx(0.1)
    assert next_poll(5) == pytest.approx(0.25)
    assert next_poll(30) == pytest.approx(1.5)
