"""Production: PostgreSQL, Redis and the secret key from the environment; refuses to start without them. HTTPS only."""

import json
import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import NODECONDUCTOR


def _required(name):
    """Return an environment variable or refuse to start, naming what is missing."""
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable for production settings.")
    return value


def _flag(name, default):
    """Read a true/false environment variable; refuse a value that is neither, so a typo cannot turn HTTPS off."""
    raw = os.environ.get(name, "").strip().lower() or default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def _seconds(name, default):
    """Read a whole number of seconds (0 or more) from the environment."""
    raw = os.environ.get(name, "").strip() or default
    if not raw.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number of seconds (0 or more), not {raw!r}.")
    return int(raw)


def _proxy_ssl_header():
    """The header a TLS-terminating proxy sets to https, as Django's request.META key; None when there is no proxy."""
    raw = os.environ.get("NODECONDUCTOR_SECURE_PROXY_SSL_HEADER", "").strip()
    if not raw:
        return None
    # Accept the header as written on the wire (X-Forwarded-Proto) or as Django names it (HTTP_X_FORWARDED_PROTO).
    key = raw.upper().replace("-", "_")
    key = key if key.startswith("HTTP_") else f"HTTP_{key}"
    if not key[5:] or not all(c.isalnum() or c == "_" for c in key):
        raise ImproperlyConfigured(
            f"NODECONDUCTOR_SECURE_PROXY_SSL_HEADER must name a header, e.g. HTTP_X_FORWARDED_PROTO, not {raw!r}."
        )
    return (key, "https")


def _openstack_credentials():
    """Read OPENSTACK_CREDENTIALS as JSON from the environment or from the file the _FILE variable names."""
    path = os.environ.get("NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE")
    raw = os.environ.get("NODECONDUCTOR_OPENSTACK_CREDENTIALS")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                raw = fh.read()
        except OSError as exc:
            raise ImproperlyConfigured(f"Cannot read the OpenStack credentials file {path}: {exc.strerror}") from None
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"OpenStack credentials are not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) and "auth_url" in v for v in value):
        raise ImproperlyConfigured("OpenStack credentials must be a JSON list of objects, each with an auth_url.")
    return tuple(value)


DEBUG = False
SECRET_KEY = _required("SECRET_KEY")
# Serves the admin's and the browsable API's collected static files from gunicorn, no proxy needed; after the
# Content-Security-Policy middleware, so the static HTML files it serves get the policy too.
_AT = MIDDLEWARE.index("nodeconductor.core.middleware.ContentSecurityPolicyMiddleware") + 1  # noqa: F405
MIDDLEWARE = [*MIDDLEWARE[:_AT], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[_AT:]]  # noqa: F405
DATABASES = {"default": dj_database_url.parse(_required("DATABASE_URL"), conn_max_age=600)}
# A worker cut off from the database while it holds a row lock (the cloud's, as a build begins) would leave its
# transaction open on the server for as long as TCP takes to give up (minutes), and every other worker would wait
# on that lock: the server ends a session idle inside a transaction after this many seconds, and frees its locks.
# Our transactions wait on nothing but the database (no cloud call runs inside one), so none of ours is cut short.
_IDLE_IN_TRANSACTION = _seconds("NODECONDUCTOR_DB_IDLE_IN_TRANSACTION_TIMEOUT", "10")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c idle_in_transaction_session_timeout={_IDLE_IN_TRANSACTION * 1000}"
    )
CELERY_BROKER_URL = _required("CELERY_BROKER_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}}
NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_CREDENTIALS": _openstack_credentials()}
SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", "true")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# HTTPS: production runs behind TLS. Django redirects plain HTTP to HTTPS unless a proxy in front already does.
SECURE_SSL_REDIRECT = _flag("NODECONDUCTOR_SECURE_SSL_REDIRECT", "true")
# Set only when the operator says a proxy sets this header: otherwise any client could claim HTTPS with it.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()
# Browsers remember to use HTTPS only for a year; subdomains too. Preload (a submission to the browsers' built-in
# lists, hard to undo) is the domain owner's decision: off unless asked for.
SECURE_HSTS_SECONDS = _seconds("NODECONDUCTOR_SECURE_HSTS_SECONDS", "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("NODECONDUCTOR_SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
SECURE_HSTS_PRELOAD = _flag("NODECONDUCTOR_SECURE_HSTS_PRELOAD", "false")
# check --deploy warns (security.W021) whenever preload is off; here off is the operator's choice, not an oversight.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Origins (scheme://host[:port]) allowed to POST with the session, when the proxy gives Django another Host.
_ORIGINS = os.environ.get("NODECONDUCTOR_CSRF_TRUSTED_ORIGINS", "")
CSRF_TRUSTED_ORIGINS = [origin.strip() for origin in _ORIGINS.split(",") if origin.strip()]
