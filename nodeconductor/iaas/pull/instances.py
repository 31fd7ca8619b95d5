"""Reconcile instances with what the cloud reports, only through state machine transitions."""

import logging

from django.db import transaction
from django_fsm import ConcurrentTransition

from .. import events
from ..models import Instance, InstanceState
from ..models.instance import canonical_uuid

logger = logging.getLogger(__name__)
S = InstanceState
NOT_FOUND = "The server was not found in the cloud."


def _transition(transition, *args):
    """Apply one transition (a bound method of the instance) atomically and log it; a concurrent change by a
    worker wins and we skip. Returns the transition's name, or None when skipped."""
    instance, name = transition.__self__, transition.__name__
    try:
        with transaction.atomic():
            transition(*args)
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
            return _transition(instance.set_erred, NOT_FOUND)
        return None
    if server["task_state"] is not None:
        return None  # the cloud is mid-action; look again next pull
    status = server["status"]
    if status == "ERROR" and instance.state != S.ERRED:
        return _transition(instance.set_erred, f"The server is in ERROR in the cloud: {server['fault']}")
    if status == "ACTIVE" and instance.state in (S.OFFLINE, S.ERRED):
        return _transition(instance.recover_online)
    if status == "SHUTOFF" and instance.state in (S.ONLINE, S.ERRED):
        return _transition(instance.recover_offline)
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


def sweepable_owners(membership, owners):
    """Of the instance uuids (canonical) found in our metadata in the tenant, (for servers, for volumes) the ones
    whose resources a sweep may delete.

    A server is deleted only when no instance of our database has its uuid, under any membership, Cloud row or
    customer. A volume also when its instance is of this very tenant and holds nothing (a provision gave up
    before the cloud's create landed, as a timed-out volume create does).
    """
    owners = set(filter(None, owners))
    known = Instance.objects.known_uuids(owners)
    here = Instance.objects.on_tenant(membership.cloud.auth_url, membership.tenant_id)
    spent = here.known_uuids(known) - here.holding_quota().known_uuids(known)
    unknown = owners - known
    return unknown, unknown | spent


def sweep_untracked(backend, membership):
    """Delete what carries our metadata in the tenant but belongs to no instance that still tracks it.

    The tenant is listed first and our database asked second, so an instance created in between (its
    resources not yet made when the tenant was listed) is never swept.
    """
    found = backend.list_ours(membership.tenant_id)
    for resource in found["servers"] + found["volumes"]:
        resource["owner"] = canonical_uuid(resource["owner"])
    servers_ok, volumes_ok = sweepable_owners(membership, [r["owner"] for r in found["servers"] + found["volumes"]])
    servers = [r for r in found["servers"] if r["owner"] in servers_ok]
    volumes = [r for r in found["volumes"] if r["owner"] in volumes_ok]
    if not servers and not volumes:
        return []
    return [f"deleted untracked {line}" for line in backend.delete_leftovers(membership.tenant_id, servers, volumes)]
