"""Fixtures of the portal's browser tests: a headless Chromium on the live server, one per test.

The live server runs the real API in a thread of the test process. Celery is eager there (settings.test), so a
POST that schedules provisioning or an action returns once the worker's code has run against the simulator:
the portal then sees the end state on its next poll, exactly as it would after a real worker.
"""

import pytest

from tests.factories import PASSWORD
from tests.portal.browser import Browser, available


@pytest.fixture(autouse=True)
def neutron_networking(settings):
    """The portal runs with the tenant network, as production does: VMs get IPs and memberships security groups."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}


@pytest.fixture
def browser(live_server):
    """A fresh Chromium (its own profile) at 1280 px, closed after the test."""
    if not available():
        pytest.skip("needs Debian's chromium and chromium-driver (bash scripts/test.sh installs them as root)")
    b = Browser(live_server.url)
    yield b
    errors = b.console_errors()
    b.close()
    # 4xx answers the tests provoke are logged as "Failed to load resource"; anything else is a script error.
    assert not [e for e in errors if "Failed to load resource" not in e], errors


@pytest.fixture
def login(browser):
    """Log the browser in through the login form as `user` (password of tests.factories)."""

    def log_in(user, password=PASSWORD):
        browser.open()
        browser.fill("username", user.username)
        browser.fill("password", password)
        browser.click("button[type=submit]")
        browser.wait(lambda: browser.all("#nav button"), message="the navigation after login")
        return browser

    return log_in


@pytest.fixture
def roles(roles):
    """The suite's roles, named as in the walkthrough of the docs, so the screenshots read like the guide."""
    roles.customer.name, roles.customer.abbreviation = "Joe", "JD"
    roles.customer.save()
    roles.project.name = "My Project"
    roles.project.save()
    for role, full_name in {"admin": "Bob Admin", "manager": "Mia Manager", "owner": "Alice Owner"}.items():
        roles.users[role].full_name = full_name
        roles.users[role].save()
    roles.users["staff"].full_name = "Sam Staff"
    roles.users["staff"].save()
    return roles
