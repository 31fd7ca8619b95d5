"""System checks of the OpenStack credentials, so a broken or ambiguous list refuses to start instead of misleading.

Every message names an entry by its position, auth_url and username, never by its password.
"""

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core import checks

from nodeconductor.iaas.models.cloud import _credentials_for

# What the backend reads without a default (session.py); tenant_name scopes the admin's own token.
REQUIRED_KEYS = ("auth_url", "username", "password", "tenant_name")
HINT = 'Fix NODECONDUCTOR["OPENSTACK_CREDENTIALS"] (or the JSON of NODECONDUCTOR_OPENSTACK_CREDENTIALS[_FILE]).'


def _shown_url(url):
    """The auth_url without any user:password@ part, fit for a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


def _describe(index, entry):
    """Name one entry for a message: its position, auth_url and username, no secret."""
    url = entry.get("auth_url")
    username = entry.get("username")
    shown = repr(_shown_url(url)) if isinstance(url, str) else "missing"
    user = repr(username) if isinstance(username, str) else "missing"
    return f"OPENSTACK_CREDENTIALS[{index}] (auth_url {shown}, username {user})"


def _malformed(entries):
    """Errors for entries that are not dicts or miss a required key (or hold an empty or non-text value)."""
    errors = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            errors.append(
                checks.Error(
                    f"OPENSTACK_CREDENTIALS[{index}] is a {type(entry).__name__}, not a dict of credentials.",
                    hint=HINT,
                    id="iaas.E001",
                )
            )
            continue
        missing = [key for key in REQUIRED_KEYS if not isinstance(entry.get(key), str) or not entry.get(key)]
        if missing:
            errors.append(
                checks.Error(
                    f"{_describe(index, entry)} lacks {', '.join(missing)} (each a non-empty string).",
                    hint=f"Every entry needs {', '.join(REQUIRED_KEYS)}. {HINT}",
                    id="iaas.E002",
                )
            )
    return errors


def _ambiguous(entries):
    """Errors for entries that the lookup by auth_url never returns because an earlier one matches first."""
    # The lookup clouds use, so the check cannot disagree with it about which auth_urls are the same.
    errors = []
    for index, entry in enumerate(entries):
        if not entry.get("auth_url"):
            continue
        found = _credentials_for(entry["auth_url"])
        if found is not entry:
            first = next(i for i, e in enumerate(entries) if e is found)
            errors.append(
                checks.Error(
                    f"{_describe(first, found)} and {_describe(index, entry)} name the same Keystone; "
                    f"clouds of that auth_url would silently use the first.",
                    hint=f"Keep one entry per Keystone URL (a trailing slash does not make another). {HINT}",
                    id="iaas.E003",
                )
            )
    return errors


def check_openstack_credentials(app_configs=None, **kwargs):
    """Refuse credentials the backend could not use or could not tell apart by auth_url."""
    entries = settings.NODECONDUCTOR.get("OPENSTACK_CREDENTIALS", ())
    if isinstance(entries, Mapping) or not isinstance(entries, list | tuple):
        return [
            checks.Error(
                f"OPENSTACK_CREDENTIALS is a {type(entries).__name__}; it must be a tuple or list of dicts.",
                hint=HINT,
                id="iaas.E000",
            )
        ]
    entries = list(entries)
    errors = _malformed(entries)
    # The lookup itself fails on an entry that is not a dict or whose auth_url is not text: fix those first.
    if all(isinstance(e, Mapping) and isinstance(e.get("auth_url", ""), str) for e in entries):
        errors += _ambiguous(entries)
    return errors
