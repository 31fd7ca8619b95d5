"""Production: PostgreSQL, Redis and the secret key from the environment; refuses to start without them."""

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
# Serves the admin's and the browsable API's collected static files from gunicorn, no proxy needed.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]  # noqa: F405
DATABASES = {"default": dj_database_url.parse(_required("DATABASE_URL"), conn_max_age=600)}
CELERY_BROKER_URL = _required("CELERY_BROKER_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}}
NODECONDUCTOR = {**NODECONDUCTOR, "OPENSTACK_CREDENTIALS": _openstack_credentials()}
SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "true").lower() == "true"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
