"""Contract targets: the simulator always, a real OpenStack when OS_AUTH_URL and friends are set."""

import os

import pytest

from .cloud import REAL_HOWTO, Cloud, Credentials

TARGETS = [pytest.param("sim", id="sim"), pytest.param("real", id="real", marks=pytest.mark.realcloud)]


def _target(name, cloudsim_server):
    if name == "sim":
        cloudsim_server.reset()
        auth_url = cloudsim_server.auth_url
        return Cloud("sim", Credentials(auth_url, "demo", "demo", "demo"),
                     Credentials(auth_url, "admin", "admin", "admin"), sim=cloudsim_server)
    creds = Credentials.from_env()
    if creds is None:
        pytest.skip(REAL_HOWTO)
    return Cloud("real", creds, Credentials.from_env("OS_ADMIN_"))


@pytest.fixture(scope="module", params=TARGETS)
def cloud(request, cloudsim_server):
    """A contract target for the whole module; everything tracked is deleted afterwards, also on failure."""
    target = _target(request.param, cloudsim_server)
    yield target
    errors = target.cleanup()
    assert not errors, f"cleanup left resources behind: {errors}"


@pytest.fixture
def fresh(cloud):
    """The module's target, with per-test cleanup of what the test tracked."""
    yield cloud
    errors = cloud.cleanup()
    assert not errors, f"cleanup left resources behind: {errors}"


@pytest.fixture
def netfresh(cloud):
    """The module's target, with per-test cleanup of tracked servers, volumes and Neutron resources."""
    yield cloud
    errors = cloud.cleanup() + cloud.cleanup_network()
    assert not errors, f"cleanup left resources behind: {errors}"


def pytest_report_header(config):
    """Say which targets the contract suite runs against."""
    url = os.environ.get("OS_AUTH_URL")
    return "contract targets: simulator" + (f" + real cloud {url}" if url else " (real cloud skipped: no OS_AUTH_URL)")
