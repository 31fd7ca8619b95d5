"""Settings shared by every environment; environment-specific modules override them."""

import os
import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("NODECONDUCTOR_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's and ReDoc's files, served from our static files instead of a CDN.
    "drf_spectacular_sidecar",
    "nodeconductor.core",
    "nodeconductor.structure",
    "nodeconductor.iaas",
    "nodeconductor.events",
    "nodeconductor.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise (which production inserts after it), so static HTML files get the policy too.
    "nodeconductor.core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "nodeconductor.urls"
WSGI_APPLICATION = "nodeconductor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    # Refuses a password close to the username, full name or email ("nobody123" for "nobody").
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Headers on every answer (production adds HTTPS); Django's defaults, set here so a reviewer sees them.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _non_negative_int(name, default):
    """An environment variable as a whole number >= 0, or a refusal to start that names it."""
    raw = os.environ.get(name, default)
    if not (raw.isascii() and raw.isdigit()):
        raise ImproperlyConfigured(f"{name} must be a whole number of 0 or more, not {raw!r}.")
    return int(raw)


def _rate(name, default):
    """An environment variable as a DRF throttle rate ("30/hour": requests per second, minute, hour or day)."""
    raw = os.environ.get(name, default)
    if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", raw):
        raise ImproperlyConfigured(f"{name} must be a rate such as 30/hour (per s, min, hour or day), not {raw!r}.")
    return raw


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": (
        "nodeconductor.core.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ),
    "DEFAULT_PERMISSION_CLASSES": ("rest_framework.permissions.IsAuthenticated",),
    # DRF's defaults, with its JSON parser replaced by one that refuses bodies nested too deep (a 400, not a 500).
    "DEFAULT_PARSER_CLASSES": (
        "nodeconductor.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ),
    "DEFAULT_PAGINATION_CLASS": "nodeconductor.core.pagination.LinkHeaderPagination",
    "PAGE_SIZE": 10,
    "DEFAULT_FILTER_BACKENDS": (
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ),
    "ORDERING_PARAM": "o",
    "EXCEPTION_HANDLER": "nodeconductor.core.exceptions.exception_handler",
    # Documents the error answers (400/401/403/404/409/429) and list headers every endpoint can give.
    "DEFAULT_SCHEMA_CLASS": "nodeconductor.core.schema.AutoSchema",
    # How many proxies of this deployment append to X-Forwarded-For: the throttles take the client address from
    # the entry the nearest one wrote. 0: the header is ignored and REMOTE_ADDR is the client (a client could
    # write anything in the header).
    "NUM_PROXIES": _non_negative_int("NODECONDUCTOR_NUM_PROXIES", "0"),
    # Login attempts per client address, and per username from any address (slows a guesser who rotates them).
    "DEFAULT_THROTTLE_RATES": {
        "password_login": "10/min",
        "password_login_user": _rate("NODECONDUCTOR_LOGIN_USER_RATE", "30/hour"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# API tokens (django-rest-knox): stored as digests, and each expires TOKEN_TTL after its last use; a use moves
# the expiry forward, with a database write at most once per MIN_REFRESH_INTERVAL seconds, but never past
# AUTO_REFRESH_MAX_TTL after the login: a stolen token that is kept in use still dies then.
_TOKEN_TTL = _non_negative_int("NODECONDUCTOR_TOKEN_TTL", "36000")
if not _TOKEN_TTL:
    raise ImproperlyConfigured("NODECONDUCTOR_TOKEN_TTL must be a number of seconds above 0.")
_TOKEN_MAX_AGE = _non_negative_int("NODECONDUCTOR_TOKEN_MAX_AGE", "604800")
if _TOKEN_MAX_AGE < _TOKEN_TTL:
    raise ImproperlyConfigured(
        f"NODECONDUCTOR_TOKEN_MAX_AGE ({_TOKEN_MAX_AGE} s) must be at least NODECONDUCTOR_TOKEN_TTL ({_TOKEN_TTL} s)."
    )
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=_TOKEN_TTL),
    "AUTO_REFRESH_MAX_TTL": timedelta(seconds=_TOKEN_MAX_AGE),
    "AUTO_REFRESH": True,
    "MIN_REFRESH_INTERVAL": 60,
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "NodeConductor API",
    "DESCRIPTION": "Self-service cloud broker: customers, projects, clouds and instances.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    # Swagger UI and ReDoc come from drf-spectacular-sidecar's static files: no CDN, a CSP of 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: the broker comes from the environment in production; development uses a serverless transport.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message a worker took but never acknowledged (the worker was killed) comes back after this many seconds
# (Redis); it must outlast the longest step lease, or a slow step would be handed to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
# A broker that is down answers the request with a 503 within about a second instead of holding it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"

# Product settings; every key is documented in docs/guide/configuration.rst.
NODECONDUCTOR = {
    # The currency of every fee and cost (templates, licences, flavors, storage); ISO 4217. Amounts are Decimals.
    "CURRENCY": os.environ.get("NODECONDUCTOR_CURRENCY", "EUR"),
    # Percent of a quota's limit at which usage logs the event quota_threshold_reached (once, until it falls under).
    "QUOTA_ALERT_THRESHOLD": int(os.environ.get("NODECONDUCTOR_QUOTA_ALERT_THRESHOLD", "80")),
    # Seconds a read of the cloud that a request needs (a tenant's untracked servers, a console log) is reused,
    # and how long the request waits for a worker to make it before it answers 503 with Retry-After.
    "CLOUD_READ_FRESH_FOR": float(os.environ.get("NODECONDUCTOR_CLOUD_READ_FRESH_FOR", "5")),
    "CLOUD_READ_WAIT": float(os.environ.get("NODECONDUCTOR_CLOUD_READ_WAIT", "15")),
    # Admin credentials of each OpenStack, looked up by the Cloud's auth_url; never stored in the database.
    "OPENSTACK_CREDENTIALS": (),
    # Seconds between periodic pulls of every cloud account (flavors, images, quotas, instances).
    "CLOUD_ACCOUNT_PULL_INTERVAL": int(os.environ.get("NODECONDUCTOR_CLOUD_ACCOUNT_PULL_INTERVAL", "3600")),
    # Connect and read timeouts (seconds) of every OpenStack API call.
    "OPENSTACK_CONNECT_TIMEOUT": float(os.environ.get("NODECONDUCTOR_OPENSTACK_CONNECT_TIMEOUT", "10")),
    "OPENSTACK_READ_TIMEOUT": float(os.environ.get("NODECONDUCTOR_OPENSTACK_READ_TIMEOUT", "60")),
    # Longest and shortest pause (seconds) between two looks at a cloud resource while a worker waits for it;
    # in between, the pause is OPENSTACK_POLL_FRACTION of the time already waited. Halving both (0.1 s, 0.05)
    # doubled the list calls per provision and did not measurably shorten one on the real cloud
    # (benchmarks/README.rst, P1).
    "OPENSTACK_POLL_INTERVAL": 2,
    "OPENSTACK_MIN_POLL_INTERVAL": 0.25,
    "OPENSTACK_POLL_FRACTION": 0.1,
    # Seconds after which a wait for a cloud resource gives up and the resource goes Erred.
    "OPENSTACK_WAIT_TIMEOUT": 900,
    # How many provisions may build at once in one cloud (a cloud's credentials may say max_concurrent_builds);
    # the others wait in Provisioning Scheduled, first come first served. 0 means no cap.
    "OPENSTACK_MAX_CONCURRENT_BUILDS": int(os.environ.get("NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BUILDS", "10")),
    # How many backups may snapshot at once in one cloud (credentials: max_concurrent_backups); the others wait,
    # queued in Backing up, first come first served. 0 means no cap.
    "OPENSTACK_MAX_CONCURRENT_BACKUPS": int(os.environ.get("NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BACKUPS", "10")),
    # Seconds between two looks for a free build slot by a provision run in-process (the shell, eager tasks); a
    # worker's queued provision sends no message while it waits: the build that ends hands its slot on.
    "OPERATION_QUEUE_POLL_INTERVAL": 1,
    # Seconds a queued provision waits for that hand-off before it is due again (the sweeper then looks for a
    # slot for it, after the sweep grace): the safety net for a lost hand-off or a worker that died.
    "OPERATION_QUEUE_RECHECK": float(os.environ.get("NODECONDUCTOR_OPERATION_QUEUE_RECHECK", "30")),
    # Whether operations that wait on the cloud are looked at by one poller per tenant, which lists the tenant's
    # servers and volumes once per tick for all of them (True), or by one message per operation (False).
    "OPERATION_BATCHED_POLLING": os.environ.get("NODECONDUCTOR_OPERATION_BATCHED_POLLING", "true").lower() == "true",
    # Seconds a worker may run one step of an instance operation before another worker may take it over: longer
    # than any step (a few cloud calls). A step whose worker died on the same host is taken over at once.
    "OPERATION_STEP_LEASE": float(os.environ.get("NODECONDUCTOR_OPERATION_STEP_LEASE", "180")),
    # Seconds an operation may be overdue (its next message lost) before the sweeper sends its step again.
    "OPERATION_SWEEP_GRACE": float(os.environ.get("NODECONDUCTOR_OPERATION_SWEEP_GRACE", "30")),
    # Seconds between two sweeps for lost work (operations, and clouds and memberships made in the shell).
    "OPERATION_SWEEP_INTERVAL": float(os.environ.get("NODECONDUCTOR_OPERATION_SWEEP_INTERVAL", "5")),
    # Seconds a cloud or membership may wait in Sync Scheduled before the sweeper sends its task (again).
    "SYNC_PICKUP_DELAY": float(os.environ.get("NODECONDUCTOR_SYNC_PICKUP_DELAY", "5")),
    # What servers are booted with: "tenant" (a port on the membership's tenant network, which the membership sync
    # finds or makes), "none" (no network: clouds without Neutron), "auto" (Nova picks), or a list of {"net-id": ...}.
    "OPENSTACK_NETWORKS": "tenant",
    # The block a tenant subnet is carved from, and the size of each: the first block overlapping none of the
    # tenant's subnets. A credentials entry may add "external_network": "<name>" when its cloud has several.
    "OPENSTACK_TENANT_SUBNET_POOL": os.environ.get("NODECONDUCTOR_OPENSTACK_TENANT_SUBNET_POOL", "10.20.0.0/16"),
    "OPENSTACK_TENANT_SUBNET_PREFIX": int(os.environ.get("NODECONDUCTOR_OPENSTACK_TENANT_SUBNET_PREFIX", "24")),
    # Smallest data volume an instance may be created with (MiB).
    "MIN_DATA_VOLUME_SIZE": 1024,
    # Default data volume size when a create request names none (MiB).
    "DEFAULT_DATA_VOLUME_SIZE": 20 * 1024,
}

CELERY_BEAT_SCHEDULE = {
    "pull-cloud-accounts": {
        "task": "nodeconductor.iaas.pull_cloud_accounts",
        "schedule": float(NODECONDUCTOR["CLOUD_ACCOUNT_PULL_INTERVAL"]),
    },
    "purge-expired-tokens": {"task": "nodeconductor.core.purge_expired_tokens", "schedule": 3600.0},
    # Backup schedules fire at most hourly: a look every minute starts each within a minute of its time.
    "run-backup-schedules": {"task": "nodeconductor.iaas.run_backup_schedules", "schedule": 60.0,
                             "options": {"expires": 60.0}},
    "resume-stalled-work": {
        "task": "nodeconductor.iaas.resume_stalled_work",
        "schedule": NODECONDUCTOR["OPERATION_SWEEP_INTERVAL"],
        # A sweep that waited longer than its interval is superseded by the next one.
        "options": {"expires": NODECONDUCTOR["OPERATION_SWEEP_INTERVAL"]},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # keystoneauth logs request bodies at DEBUG, which would include passwords.
        "keystoneauth": {"level": "WARNING"},
        "novaclient": {"level": "WARNING"},
        "cinderclient": {"level": "WARNING"},
        "glanceclient": {"level": "WARNING"},
    },
}
