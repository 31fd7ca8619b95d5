"""The messages that start work on a worker: the one way the request side and the engine reach the Celery entry
points (tasks.py).

Nothing imports tasks.py: the app registry hands it over (IaasConfig.tasks), as it hands the models their cloud
(Cloud.get_backend), so the layers below the workers' entry points have no import cycle. Each send is looked up
on tasks.py when it is made, so a test that replaces a send there replaces it everywhere. Each raises what the
broker raised when it refuses the message; the callers undo or leave the row to the sweeper.
"""

import logging

from django.apps import apps
from django.db import transaction

from nodeconductor.core.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)
QUEUE_DOWN = "The task queue is unavailable, so the {what} was not scheduled and nothing was changed; retry shortly."


def send_on_commit(send, what, of, undo=None):
    """Call `send()` once the transaction commits; when the queue refuses it, `undo()` and answer 503.

    The row is the record of the operation; a message that never left would leave it scheduled with no task,
    and a 503 that still acted would make a client's retry schedule it twice. So a request is undone (`undo`
    returns True once it took the request back, False when a worker took the job up already). The system's own
    request (`undo` None) has no client to answer: its row stays recorded, and the sweeper sends the step.
    `what` names the operation in the 503 ("pull of the cloud"), `of` the row in the log.
    """

    def deliver():
        try:
            send()
        except Exception as exc:  # noqa: BLE001 - any refusal by the broker (connection, missing folder, ...)
            logger.warning("The task queue refused the %s of %s: %s", what, of, type(exc).__name__)
            if undo is not None and undo():
                raise ServiceUnavailable(QUEUE_DOWN.format(what=what)) from None

    transaction.on_commit(deliver)


def _tasks():
    return apps.get_app_config("iaas").tasks


def send_operation_step(instance_uuid, token, seq, countdown=0):
    """Send step `seq` of an instance's recorded operation, after `countdown` seconds."""
    _tasks().send_operation_step(instance_uuid, token, seq, countdown=countdown)


def send_resource_step(kind, uuid, token, seq, countdown=0):
    """Send step `seq` of the operation recorded on a cloud, a membership or a security group (`kind`)."""
    _tasks().send_resource_step(kind, uuid, token, seq, countdown=countdown)


def send_cloud_read(read_id, token):
    """Send a read of the cloud that a request waits for (services/cloud_reads.py)."""
    _tasks().send_cloud_read(read_id, token)
