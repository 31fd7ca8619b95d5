"""Security issue 27, finding 2: the login throttle cannot be escaped with forged headers or rotating addresses.

The client address is REMOTE_ADDR unless REST_FRAMEWORK's NUM_PROXIES says how many proxies append to
X-Forwarded-For; a second throttle counts attempts per username, whatever address they come from.
"""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import factories

URL = "/api-auth/password/"
THROTTLED = {"detail": "Request was throttled. Expected available in 60 seconds.", "code": "throttled"}


@pytest.fixture
def alice(db):
    return factories.UserFactory(username="alice")


@pytest.fixture
def rates(settings):
    """Set the two login rates for one test (and the proxy count, when given; the project's default otherwise),
    with an empty throttle cache around it."""

    def set_rates(address="10/min", username="1000/min", num_proxies=None):
        rest = {**settings.REST_FRAMEWORK}
        rest["DEFAULT_THROTTLE_RATES"] = {"password_login": address, "password_login_user": username}
        if num_proxies is not None:
            rest["NUM_PROXIES"] = num_proxies
        settings.REST_FRAMEWORK = rest

    cache.clear()
    yield set_rates
    cache.clear()


def guess(username, address="203.0.113.7", forwarded_for=None, password="wrong-password"):
    """One login attempt from REMOTE_ADDR `address`, with an X-Forwarded-For header when given."""
    extra = {"REMOTE_ADDR": address}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return APIClient().post(URL, {"username": username, "password": password}, format="json", **extra)


def assert_throttled(response):
    assert response.status_code == 429
    assert response.json() == THROTTLED
    assert response["Retry-After"] == "60"


def test_forged_forwarded_for_headers_still_get_429(alice, rates):
    rates(address="10/min")
    for i in range(10):
        response = guess(f"user{i}")
        assert response.status_code == 400
        assert response.json() == {"detail": "Invalid username or password.", "code": "authentication_failed"}
    # Each with a new forged header and a new username, so only the address throttle can stop them.
    for i in range(30):
        assert_throttled(guess(f"other{i}", forwarded_for=f"198.51.100.{i}"))


def test_without_proxies_the_header_is_ignored_even_from_the_first_request(alice, rates):
    rates(address="2/min")
    assert guess("alice", forwarded_for="198.51.100.1").status_code == 400
    assert guess("alice", forwarded_for="198.51.100.2").status_code == 400
    assert_throttled(guess("alice", forwarded_for="198.51.100.3"))
    # Another real address is another client.
    assert guess("alice", address="203.0.113.8").status_code == 400


def test_behind_one_proxy_the_last_forwarded_address_is_the_client(alice, rates):
    rates(address="2/min", num_proxies=1)
    # The proxy appends the address it saw; what the client wrote before it does not count.
    assert guess("alice", forwarded_for="1.1.1.1, 198.51.100.1").status_code == 400
    assert guess("alice", forwarded_for="2.2.2.2, 198.51.100.1").status_code == 400
    assert_throttled(guess("alice", forwarded_for="3.3.3.3, 198.51.100.1"))
    assert guess("alice", forwarded_for="198.51.100.2").status_code == 400


def test_username_throttle_stops_a_guesser_who_rotates_addresses(alice, rates):
    rates(address="5/min", username="3/min", num_proxies=1)
    # The addresses really change: eight guesses at eight usernames from eight addresses all pass the
    # address throttle, which would stop one address after five.
    for i in range(8):
        assert guess(f"nobody{i}", forwarded_for=f"198.51.100.{i}").status_code == 400
    # Three guesses at alice from three fresh addresses, then she is throttled from anywhere.
    for i in range(3):
        assert guess("alice", forwarded_for=f"192.0.2.{i}").status_code == 400
    assert_throttled(guess("alice", forwarded_for="192.0.2.50"))
    # Case and surrounding spaces make no new username; the right password is refused too while throttled.
    assert_throttled(guess(" ALICE ", forwarded_for="192.0.2.51"))
    assert_throttled(guess("Alice", forwarded_for="192.0.2.52", password=factories.PASSWORD))
    # Another username from an address already used is still let through.
    assert guess("bob", forwarded_for="192.0.2.0").status_code == 400


def test_username_throttle_keys_do_not_hold_the_username(alice, rates):
    rates(username="3/min")
    assert guess("alice").status_code == 400
    keys = [str(key) for key in cache._cache]  # LocMemCache's own store: the keys as written
    assert len(keys) == 2, keys  # one for the address, one for the username
    assert not [key for key in keys if "alice" in key.lower()], keys


def test_a_password_change_shares_the_username_throttle(alice, rates):
    rates(username="3/min")
    client = APIClient()
    client.force_authenticate(alice)
    url = f"/api/users/{alice.uuid}/password/"
    for _ in range(3):
        response = client.post(url, {"current_password": "guess", "password": "Another-good-1"}, format="json")
        assert response.status_code == 400
        assert response.json() == {"current_password": ["Your current password is wrong."], "code": "invalid"}
    response = client.post(url, {"current_password": factories.PASSWORD, "password": "Another-good-1"}, format="json")
    assert_throttled(response)
    alice.refresh_from_db()
    assert alice.check_password(factories.PASSWORD)
    # And the login of that username is throttled as well: the two are one budget of guesses.
    assert_throttled(guess("alice", password=factories.PASSWORD))


def test_only_failed_logins_spend_the_username_budget(alice, rates):
    # A script that logs in right, often, is never throttled by its username; one wrong guess after that is.
    rates(address="1000/min", username="3/min")
    for _ in range(10):
        response = guess("alice", password=factories.PASSWORD)
        assert response.status_code == 200 and set(response.json()) == {"token", "expiry"}
    for _ in range(3):
        assert guess("alice").status_code == 400
    assert_throttled(guess("alice", password=factories.PASSWORD))


def test_only_wrong_current_passwords_spend_the_budget_of_a_password_change(alice, rates):
    rates(username="2/min")
    client = APIClient()
    client.force_authenticate(alice)
    url = f"/api/users/{alice.uuid}/password/"
    current = factories.PASSWORD
    for n in range(3):  # three right changes in a row: none counted
        new = f"Another-good-{n}"
        response = client.post(url, {"current_password": current, "password": new}, format="json")
        assert (response.status_code, response.json()) == (200, {"detail": "Password has been set."})
        current = new
    alice.refresh_from_db()
    assert alice.check_password(current)
    assert guess("alice", password=current).status_code == 200
