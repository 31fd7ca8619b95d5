"""Celery tasks of core: housekeeping of the API's tokens."""

from celery import shared_task
from django.utils import timezone
from knox.models import AuthToken


@shared_task(name="nodeconductor.core.purge_expired_tokens")
def purge_expired_tokens():
    """Periodic: delete the API tokens past their expiry in one statement; returns how many went.

    knox deletes an expired token only when it is presented again, so tokens never used after their life would
    stay in the table for good (digests only, but rows all the same).
    """
    deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted
