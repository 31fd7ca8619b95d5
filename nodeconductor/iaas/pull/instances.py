"""Reconcile instances with what the cloud reports, only through state machine transitions."""

import logging

from django.db import transaction

from .. import events
from ..models import Instance, InstanceState

logger = logging.getLogger(__name__)
S = InstanceState
NOT_FOUND = "The server was not found in the cloud."


def _transition(instance, name, *args):
    """Apply one transition atomically; a concurrent change by a worker wins and we skip."""
    from django_fsm import ConcurrentTransition

    try:
        with transaction.atomic():
            getattr(instance, name)(*args)
            instance.save()
    except ConcurrentTransition:
        logger.info("Instance %s changed while being pulled; left to its worker", instance)
        return None
    events.instance_event(instance, "pull", name)
    return name


def reconcile_instance(instance, server):
    """Move one stable instance to what its server (a dict from backend.list_servers, or None) says."""
    if server is None:
        if instance.state != S.ERRED:
            return _transition(instance, "set_erred", NOT_FOUND)
        return None
    if server["task_state"] is not None:
        return None  # the cloud is mid-action; look again next pull
    status = server["status"]
    if status == "ERROR" and instance.state != S.ERRED:
        return _transition(instance, "set_erred", f"The server is in ERROR in the cloud: {server['fault']}")
    if status == "ACTIVE" and instance.state in (S.OFFLINE, S.ERRED):
        return _transition(instance, "recover_online")
    if status == "SHUTOFF" and instance.state in (S.ONLINE, S.ERRED):
        return _transition(instance, "recover_offline")
    return None


def pull_instances(backend, membership, only=None):
    """Reconcile the stable instances of a membership (or those of `only`) that have a server."""
    queryset = Instance.objects.filter(cloud_project_membership=membership, state__in=[S.ONLINE, S.OFFLINE, S.ERRED])
    if only is not None:
        queryset = queryset.filter(pk__in=only.values("pk"))
    instances = list(queryset.exclude(backend_id=""))
    if not instances:
        return []
    servers = backend.list_servers(membership.tenant_id)
    changes = []
    for instance in instances:
        made = reconcile_instance(instance, servers.get(instance.backend_id))
        if made:
            changes.append(f"instance {instance.hostname}: {made}")
    return changes


def sweep_untracked(backend, membership):
    """Delete what carries our metadata in the tenant but belongs to no instance that still tracks it.

    Tracked: every instance of the membership but Erred ones that hold nothing (their provision cleaned up);
    an instance being provisioned counts even before its ids are saved, so its resources are never swept.
    """
    # Several projects may share a tenant: whatever any of them tracks there is kept.
    holding = Instance.objects.filter(
        cloud_project_membership__cloud=membership.cloud_id, cloud_project_membership__tenant_id=membership.tenant_id
    ).holding_quota()
    tracked = {str(uuid) for uuid in holding.values_list("uuid", flat=True)}
    return [f"deleted untracked {line}" for line in backend.delete_untracked(membership.tenant_id, tracked)]
