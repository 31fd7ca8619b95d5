"""The messages that start work on a worker: the one way the request side and the engine reach the Celery entry
points (tasks.py).

Nothing imports tasks.py: the app registry hands it over (IaasConfig.tasks), as it hands the models their cloud
(Cloud.get_backend), so the layers below the workers' entry points have no import cycle. Each send is looked up
on tasks.py when it is made, so a test that replaces a send there replaces it everywhere. Each raises what the
broker raised when it refuses the message; the callers undo or leave the row to the sweeper.
"""

from django.apps import apps


def _tasks():
    return apps.get_app_config("iaas").tasks


def send_operation_step(instance_uuid, token, seq, countdown=0):
    """Send step `seq` of an instance's recorded operation, after `countdown` seconds."""
    _tasks().send_operation_step(instance_uuid, token, seq, countdown=countdown)


def send_resource_step(kind, uuid, token, seq, countdown=0):
    """Send step `seq` of the operation recorded on a cloud, a membership or a security group (`kind`)."""
    _tasks().send_resource_step(kind, uuid, token, seq, countdown=countdown)
