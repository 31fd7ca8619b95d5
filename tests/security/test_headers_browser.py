"""Finding 4 of issue 27, in real Chromium: Swagger UI, ReDoc, the admin and the browsable API work under their
Content-Security-Policy, load nothing from another host, and the browser reports no violation (except the one
ReDoc provokes by fetching its logo from a CDN, which the policy blocks)."""

import pytest

from tests import factories
from tests.portal.browser import Browser, available

pytestmark = pytest.mark.django_db(transaction=True)

# Runs in the page: the policy header its own URL is served with.
POLICY_OF_THIS_PAGE = """
const done = arguments[arguments.length - 1];
fetch(location.href, {credentials: "same-origin", headers: {Accept: "text/html"}})
  .then(r => done(r.headers.get("content-security-policy")));
"""
# Runs in the page: every resource the page asked for (blocked ones too) that is not on its own origin.
FOREIGN_RESOURCES = (
    "return performance.getEntriesByType('resource').map(e => e.name)"
    ".filter(name => new URL(name).origin !== location.origin)"
)


@pytest.fixture
def browser(live_server):
    """A fresh Chromium on the live server, closed after the test."""
    if not available():
        pytest.skip("needs Debian's chromium and chromium-driver (bash scripts/test.sh installs them as root)")
    b = Browser(live_server.url)
    yield b
    b.close()


def violations(browser):
    """The CSP violations Chromium logged on its console since the last call."""
    return [e["message"] for e in browser.driver.get_log("browser") if "Content Security Policy" in e["message"]]


def visit(browser, path):
    """Load a page of the live server."""
    browser.driver.get(browser.base_url + path)


def assert_under_policy(browser, start):
    """The page was served with a policy starting so; returns what it asked for from other hosts."""
    policy = browser.driver.execute_async_script(POLICY_OF_THIS_PAGE)
    assert policy and policy.startswith(start), policy
    return browser.driver.execute_script(FOREIGN_RESOURCES)


def log_in_to_the_admin(browser, user):
    """Sign in through the admin's login form, as a person would."""
    visit(browser, "/admin/login/")
    browser.fill("username", user.username)
    browser.fill("password", factories.PASSWORD)
    browser.click("input[type=submit]")
    browser.wait(lambda: "Site administration" in browser.text("#content"), message="the admin index")


def test_swagger_ui_lists_the_operations_under_its_policy(browser):
    visit(browser, "/api/schema/swagger/")
    browser.wait(lambda: len(browser.all(".opblock")) > 20, message="Swagger UI's operations")
    paths = {e.text for e in browser.all(".opblock-summary-path")}
    assert {"/api/clouds/", "/api/users/{uuid}/password/", "/api-auth/password/"} <= paths
    assert assert_under_policy(browser, "default-src 'self'; script-src 'self';") == []
    assert violations(browser) == []


def test_redoc_lists_the_operations_and_its_policy_blocks_the_cdn(browser):
    visit(browser, "/api/schema/redoc/")
    browser.wait(lambda: "List clouds" in browser.text("body"), message="ReDoc's operations")
    assert "Create a cloud" in browser.text("body")
    foreign = assert_under_policy(browser, "default-src 'self'; script-src 'self';")
    # ReDoc's sidebar asks cdn.redoc.ly for its logo: the only foreign request, and the policy refuses it.
    assert set(foreign) == {"https://cdn.redoc.ly/redoc/logo-mini.svg"}
    (refused,) = violations(browser)
    assert "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates" in refused


def test_the_admin_login_page_renders_and_signs_in_under_its_policy(browser):
    staff = factories.UserFactory(is_staff=True, is_superuser=True)
    visit(browser, "/admin/login/")
    assert browser.find("#id_username").is_displayed() and browser.find("#id_password").is_displayed()
    # Its stylesheet applied: the login box is a styled block, not bare HTML.
    assert browser.driver.execute_script("return getComputedStyle(document.querySelector('#header')).display") == "flex"
    assert assert_under_policy(browser, "default-src 'self'; script-src 'self';") == []
    assert violations(browser) == []
    log_in_to_the_admin(browser, staff)
    visit(browser, "/admin/core/user/")
    browser.wait(lambda: staff.username in browser.text("#result_list"), message="the user list")
    assert violations(browser) == []


def test_the_browsable_api_renders_under_its_policy(browser):
    staff = factories.UserFactory(is_staff=True, is_superuser=True)
    log_in_to_the_admin(browser, staff)
    for path, title in (("/api/", "Api Root"), ("/api/users/", "User List")):
        visit(browser, path)
        browser.wait(lambda title=title: title in browser.text(".content-main"), message=title)
        assert assert_under_policy(browser, "default-src 'self'; script-src 'self';") == []
        assert violations(browser) == [], path
    # Its scripts run: the format dropdown (jQuery and bootstrap, loaded as files) opens.
    browser.click("#get-form .dropdown-toggle")
    browser.find("#get-form .dropdown-menu a")
