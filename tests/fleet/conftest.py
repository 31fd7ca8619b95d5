"""The fleet fixture (hosts built once for the module, removed at its end whatever happened) and the figures.

Each scenario records its figure line as the test property "fleet"; the terminal summary prints them all, from
this process or from pytest-xdist's workers (a report carries its properties back to the controller).
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


def pytest_terminal_summary(terminalreporter):
    """Print the figure line of every scenario that ran, in order."""
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) == "call":
                lines += [(report.location[1] or 0, value) for key, value in getattr(report, "user_properties", ())
                          if key == "fleet"]  # fmt: skip
    lines = [line for _, line in sorted(lines)]
    if lines:
        terminalreporter.write_sep("=", "fleet figures")
        for line in lines:
            terminalreporter.write_line(line)
