"""The Celery application; workers and beat start from here."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.development")

# "filesystem://" (the development broker) gets whole-file writes: kombu's own lets a worker read a message
# before it is written, and the worker dies on it (see nodeconductor/core/broker.py).
TRANSPORT_ALIASES["filesystem"] = "nodeconductor.core.broker:Transport"

app = Celery("nodeconductor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
