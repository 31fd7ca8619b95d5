"""The fleet fixture: hosts built once for the module, removed at its end whatever happened.

Each scenario records its figure line as the test property "fleet"; tests/fixtures/fleet_figures.py prints them.
"""

import pwd
import shutil

import pytest

from .fleet import Fleet
from .net import netns_available, new_tag, sweep_leftovers


def _missing():
    """Why the fleet cannot run on this machine, or ""."""
    reason = netns_available()
    if reason:
        return reason
    if shutil.which("redis-server") is None:
        return "the fleet test needs redis-server"
    if shutil.which("postgres", path="/usr/lib/postgresql/15/bin") is None:
        return "the fleet test needs PostgreSQL 15 in /usr/lib/postgresql/15/bin"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "the fleet test runs PostgreSQL as the user postgres, which does not exist"
    return ""


@pytest.fixture(scope="module")
def fleet(request, tmp_path_factory):
    """The running fleet; torn down (processes, folders, namespaces, veths, bridge) even when a test fails."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    left = sweep_leftovers()
    if left:
        print(f"\nfleet: removed the leftovers of a killed run: {', '.join(left)}")
    built = Fleet(new_tag(), tmp_path_factory.mktemp("fleet"))
    request.addfinalizer(built.down)
    return built.up()
