"""Throttles of password guessing: per client address and per username, neither of which a client can forge.

The address is REMOTE_ADDR, or the entry of X-Forwarded-For that the deployment's own proxies wrote
(REST_FRAMEWORK's NUM_PROXIES, 0 by default: the header is ignored). The username throttle counts the attempts
at one account from every address, so a guesser who rotates addresses is stopped too; its cache key holds a
keyed hash of the username, never the name itself.
"""

import unicodedata
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac
from rest_framework import throttling
from rest_framework.settings import api_settings

ADDRESS_SCOPE = "password_login"
USERNAME_SCOPE = "password_login_user"


class CurrentRateThrottle(throttling.SimpleRateThrottle):
    """Reads its rate at each request rather than at import, so settings overrides (tests) take effect."""

    def get_rate(self):
        """The current rate of this throttle's scope from REST_FRAMEWORK settings."""
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No throttle rate set for scope '{self.scope}'.")
        return rates[self.scope]


class PasswordLoginThrottle(CurrentRateThrottle):
    """Limits login attempts per client address (scope `password_login`) to slow down password guessing."""

    scope = ADDRESS_SCOPE

    def get_cache_key(self, request, view):
        """The client address as NUM_PROXIES defines it: REMOTE_ADDR unless trusted proxies forward it."""
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def normalize_username(value):
    """The username as the throttle counts it: what the login would look up, compared case-insensitively.

    Accepts what the login's CharField accepts (strings and numbers, spaces trimmed); None for anything else,
    which the login refuses before it looks anyone up.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    name = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    return name or None


def username_ident(username):
    """A keyed hash of a normalized username: the throttle's cache keys never show who was guessed at."""
    return salted_hmac("nodeconductor.core.throttling.username", username, algorithm="sha256").hexdigest()


class UsernameLoginThrottle(CurrentRateThrottle):
    """Limits failed login attempts per username (scope `password_login_user`), from whatever address they come.

    Only failures count, recorded by the view (`record_failure`): a user who logs in right, or a script that
    logs in often, never spends the budget; a guesser spends it on every wrong password.
    """

    scope = USERNAME_SCOPE

    def _recent(self, key):
        """The failures recorded under key within the period, newest first."""
        now = self.timer()
        return [t for t in self.cache.get(key, []) if t > now - self.duration], now

    def allow_request(self, request, view):
        """Refuse once the username's recent failures reach the rate; the request itself is not counted here."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.history, self.now = self._recent(self.key)
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        return True

    def record_failure(self, request, view=None):
        """Count one failed attempt at the username the request names."""
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return
        history, now = self._recent(key)
        self.cache.set(key, [now, *history], self.duration)

    def get_username(self, request):
        """The username the login names; a body that does not parse fails here as it would in the view."""
        data = request.data
        return data.get("username") if isinstance(data, Mapping) else None

    def get_cache_key(self, request, view):
        """One key per normalized username; None (not throttled here) when the request names none."""
        username = normalize_username(self.get_username(request))
        if username is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": username_ident(username)}


class PasswordChangeThrottle(UsernameLoginThrottle):
    """Counts wrong current passwords against the requester's login budget: checking one is a guess too."""

    def get_username(self, request):
        """The authenticated requester's username."""
        user = request.user
        return user.get_username() if user and user.is_authenticated else None
