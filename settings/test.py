"""Test settings: PostgreSQL when DATABASE_URL is set (CI), SQLite otherwise; Celery runs tasks in-process."""

import os

import dj_database_url

from .base import *  # noqa: F403
from .base import NODECONDUCTOR

SECRET_KEY = "test-only-key"
DEBUG = False
ALLOWED_HOSTS = ["*"]

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"

REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"password_login": "1000/min", "password_login_user": "1000/min"}

# Tests point this at the simulated cloud they start (see tests/conftest.py).
NODECONDUCTOR = {
    **NODECONDUCTOR,
    "OPENSTACK_POLL_INTERVAL": 0.02,
    "OPENSTACK_WAIT_TIMEOUT": 120,
    "OPENSTACK_NETWORKS": "none",
}
