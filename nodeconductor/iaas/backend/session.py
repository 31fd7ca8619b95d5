"""keystoneauth sessions, one per (auth_url, tenant) per process, reused for the token's life."""

import threading

from django.conf import settings
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic, v3

_sessions = {}
_lock = threading.Lock()


def _timeouts():
    """(connect, read) timeouts in seconds from settings."""
    conf = settings.NODECONDUCTOR
    return (float(conf.get("OPENSTACK_CONNECT_TIMEOUT", 10)), float(conf.get("OPENSTACK_READ_TIMEOUT", 60)))


def get_session(credentials, tenant_id=None):
    """Return the cached session for these credentials, scoped to tenant_id or to the admin's own tenant.

    The auth plugin keeps its token until it is about to expire and the session re-authenticates on a 401,
    so one session serves every call of a worker process.
    """
    key = (credentials["auth_url"], credentials["username"], tenant_id or "")
    with _lock:
        sess = _sessions.get(key)
        if sess is None:
            scope = {"project_id": tenant_id} if tenant_id else {"project_name": credentials.get("tenant_name")}
            # Keystone v2.0 knows no domains and keystoneauth refuses them there; elsewhere "Default" is the default.
            v2 = credentials["auth_url"].rstrip("/").endswith("/v2.0")
            default_domain = None if v2 else "Default"
            # A URL naming v3 needs no version discovery (one GET fewer per new session); others go generic.
            plugin = v3.Password if credentials["auth_url"].rstrip("/").endswith("/v3") else generic.Password
            auth = plugin(
                auth_url=credentials["auth_url"],
                username=credentials["username"],
                password=credentials["password"],
                user_domain_name=credentials.get("user_domain_name", default_domain),
                project_domain_name=None if tenant_id else credentials.get("project_domain_name", default_domain),
                **scope,
            )
            sess = ks_session.Session(auth=auth)
            # keystoneauth's constructor only takes one number; requests accepts (connect, read).
            sess.timeout = _timeouts()
            _sessions[key] = sess
        return sess


def forget_session(credentials, tenant_id=None):
    """Drop a cached session, e.g. after the admin was granted a role so the next token carries it."""
    with _lock:
        _sessions.pop((credentials["auth_url"], credentials["username"], tenant_id or ""), None)


def clear_sessions():
    """Drop every cached session (tests, and after credentials change)."""
    with _lock:
        _sessions.clear()
