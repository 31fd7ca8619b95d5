"""Cross-model rules of instances: quota reservation, transitions, events, and enqueueing on commit.

Quota usage is never stored: it is derived from the instances that hold resources, so it cannot leak.
Creating an instance row under a lock on its membership *is* the reservation; a failed provision that
cleaned up after itself stops counting, and a deleted instance is gone.
"""

from django.conf import settings
from django.db import transaction
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from nodeconductor.core.exceptions import Conflict, QuotaExceeded

from .. import events, instance_policy, quota_alerts
from ..engine import messages, operations
from ..models import CloudProjectMembership, Instance, InstanceState, SecurityGroup
from ..models.security_groups import set_instance_groups
from . import floating_ips as floating_ip_services

S = InstanceState


def membership_usage(membership):
    """What the membership's instances hold now (scheduled resizes at their target), keyed like its quotas."""
    return Instance.objects.filter(cloud_project_membership=membership).quota_usage()


QUOTA_LABELS = {key: quota_alerts.LABELS[key] for key in ("vcpu", "ram", "storage", "max_instances")}


def check_quota(membership, extra):
    """Refuse (400) when adding `extra` (same keys as membership_usage) would exceed a limit of the tenant."""
    refuse_over_quota(membership, extra, membership_usage(membership), QUOTA_LABELS)


def refuse_over_quota(membership, extra, usage, labels):
    """Raise 400 quota_exceeded naming each limit of the membership that `extra` on top of `usage` passes.

    `labels` maps each key to (the membership's limit field, its words): instances' quotas and backups' share it.
    """
    problems = []
    for key, amount in extra.items():
        field, label = labels[key]
        limit = getattr(membership, field)
        if amount > 0 and limit >= 0 and usage[key] + amount > limit:
            problems.append(f"{label}: {usage[key]} in use + {amount} requested > limit {limit}")
    if problems:
        raise QuotaExceeded({"non_field_errors": ["Quota exceeded in the project's tenant: " + "; ".join(problems)]})


def _locked_membership(membership):
    """Lock the membership row so concurrent requests reserve quota one after another."""
    return (
        CloudProjectMembership.objects.select_for_update(of=("self",))
        .select_related("project__customer", "cloud")
        .get(pk=membership.pk)
    )


def _enqueue(instance, op, previous_state, user, undo=True):
    """Send the operation's first step on commit (messages.send_on_commit): a refused request is undone and
    answered 503, a new instance removed, an action back in the state it was asked in."""
    uuid, token = instance.uuid, instance.operation_token
    messages.send_on_commit(lambda: messages.send_operation_step(uuid, token, 0), op.title, f"instance {uuid}",
                            (lambda: _undo(instance, op, previous_state, token, user)) if undo else None)  # fmt: skip


def _undo(instance, op, previous_state, token, user):
    """Take back an operation that could not be queued; False when a worker already took it up."""
    with transaction.atomic():
        locked = Instance.objects.select_for_update().filter(pk=instance.pk, operation_token=token).first()
        if locked is None or op.begun(locked):
            return False
        events.instance_event(locked, op.name, "failed", user=user, error="the task queue is unavailable")
        if op.ended is not None:
            op.ended(locked, locked.operation_params)  # what the operation held is freed (a restore's backup)
        if previous_state is None:
            locked.delete()
            return True
        for field, value in operations.CLEARED.items():
            setattr(locked, field, value)
        try:
            if not op.keeps_state:
                locked.unschedule(previous_state)
            locked.save()
        except ConcurrentTransition:
            return False
    return True


def create_quota_change(flavor, system_volume_size, data_volume_size):
    """What a new instance adds to its tenant's quota usage (the create and its plan both check it)."""
    return {"vcpu": flavor.cores, "ram": flavor.ram, "storage": system_volume_size + data_volume_size,
            "max_instances": 1}  # fmt: skip


def resize_flavor_quota_change(instance, flavor):
    """What a flavor resize adds to the quota usage: the extra cores and RAM (negative when it shrinks)."""
    return {"vcpu": flavor.cores - instance.cores, "ram": flavor.ram - instance.ram}


def resize_disk_quota_change(instance, new_size):
    """What growing the data volume adds to the storage in use."""
    return {"storage": new_size - instance.data_volume_size}


def instance_create(*, user, membership, template, flavor, hostname, system_volume_size, data_volume_size,
                    description="", ssh_public_key=None, security_groups=(), assign_floating_ip=False,
                    operation=None, params=None, user_data=""):  # fmt: skip
    """Reserve quota and create the instance in Provisioning Scheduled; the worker builds it (`operation`: the
    provision, or a restore with its snapshots in `params`)."""
    operation = operation or operations.PROVISION
    with transaction.atomic():
        membership = _locked_membership(membership)
        change, usage = create_quota_change(flavor, system_volume_size, data_volume_size), membership_usage(membership)
        refuse_over_quota(membership, change, usage, QUOTA_LABELS)
        if assign_floating_ip:
            floating_ip_services.check_quota(membership)
        instance = Instance(
            hostname=hostname,
            description=description,
            template=template,
            cloud_project_membership=membership,
            flavor=flavor,
            agreed_sla=template.sla_level,
            cores=flavor.cores,
            ram=flavor.ram,
            system_volume_size=system_volume_size,
            data_volume_size=data_volume_size,
            ssh_public_key=ssh_public_key,
            key_name=ssh_public_key.name if ssh_public_key else "",
            key_fingerprint=ssh_public_key.fingerprint if ssh_public_key else "",
            created_by=user,
            user_data=user_data,
        )
        # The state is a protected FSM field: full_clean would assign it and fail; it is the default anyway.
        # No unique checks: the only unique field is the fresh uuid, and each check is a query on this hot path.
        # References were resolved by the caller already: checking them again costs a query each.
        references = ["template", "cloud_project_membership", "flavor", "ssh_public_key", "created_by"]
        instance.full_clean(exclude=["state", *references], validate_unique=False, validate_constraints=False)
        params = {**(params or {}), "backend_flavor_id": flavor.backend_id, "user_uuid": _uuid(user)}
        if security_groups:  # without any, the ports get the tenant's default group (the key stays absent)
            params["security_group_ids"] = sorted(g.backend_id for g in security_groups)
        if assign_floating_ip:  # absent otherwise, as the groups: the quota counts instances by this key
            params["assign_floating_ip"] = True
        operations.start(instance, operation, params)
        instance.save()
        if security_groups:
            set_instance_groups(instance, security_groups)
        events.instance_event(instance, operation.name, "scheduled", user=user)
        # The usage with this instance is known: the hot path of a create reads no instance back.
        quota_alerts.check(membership, tuple(QUOTA_LABELS), held={k: usage[k] + change.get(k, 0) for k in QUOTA_LABELS})
        _enqueue(instance, operation, None, user)
    return instance


def _uuid(user):
    """The user's uuid as a string for task params, or None."""
    return str(user.uuid) if user is not None and user.is_authenticated else None


def _schedule(instance, user, action, op, params=None, system=False):
    """Lock, check the action (403, or 409 saying which state is needed), record the operation, log, enqueue.

    `system`: the system's own request (a pull's repair), with no user and no client: an instance gone, busy
    or in another state is skipped (None), and a message the queue refused is left to the sweeper.
    """
    rule = instance_policy.RULES[action]
    with transaction.atomic():
        locked = Instance.objects.select_for_update().filter(pk=instance.pk).first()
        if system and (locked is None or instance_policy.decide(
                instance_policy.Operators(None), locked, action) != instance_policy.ALLOWED):  # fmt: skip
            return None
        if locked is None:
            raise Instance.DoesNotExist(f"Instance {instance.pk} is gone.")
        previous = locked.state
        instance_policy.require(user, locked, action)
        try:
            rule.transition(locked)
        except TransitionNotAllowed:
            raise Conflict(f"{rule.needed}; the instance is {locked.get_state_display()}.") from None
        operations.start(locked, op, {**(params or {}), "user_uuid": _uuid(user)})
        locked.save()
        events.instance_event(locked, op.name, "scheduled", user=user)
        _enqueue(locked, op, previous, user, undo=not system)
    return locked


def instance_start(instance, user=None):
    """Schedule a start of a stopped instance."""
    return _schedule(instance, user, "start", operations.START)  # fmt: skip


def instance_stop(instance, user=None):
    """Schedule a stop of a running instance."""
    return _schedule(instance, user, "stop", operations.STOP)  # fmt: skip


def instance_restart(instance, user=None):
    """Schedule a reboot of a running instance."""
    return _schedule(instance, user, "restart", operations.RESTART)  # fmt: skip


def instance_resize_flavor(instance, flavor, user=None):
    """Schedule a flavor change of a stopped instance, after checking the extra cores and RAM fit the quota."""
    instance_policy.require(user, instance, "resize_flavor")
    with transaction.atomic():
        membership = _locked_membership(instance.cloud_project_membership)
        check_quota(membership, resize_flavor_quota_change(instance, flavor))
        Instance.objects.filter(pk=instance.pk).update(pending_cores=flavor.cores, pending_ram=flavor.ram)
        quota_alerts.check(membership, quota_alerts.INSTANCES)
        return _schedule(
            instance, user, "resize_flavor", operations.RESIZE_FLAVOR,
            {"backend_flavor_id": flavor.backend_id, "flavor_uuid": str(flavor.uuid)},
        )  # fmt: skip


def instance_resize_disk(instance, new_size, user=None):
    """Schedule growing the data volume of a stopped instance to new_size MiB."""
    instance_policy.require(user, instance, "resize_disk")
    with transaction.atomic():
        membership = _locked_membership(instance.cloud_project_membership)
        check_quota(membership, resize_disk_quota_change(instance, new_size))
        Instance.objects.filter(pk=instance.pk).update(pending_data_volume_size=new_size)
        quota_alerts.check(membership, quota_alerts.INSTANCES)
        return _schedule(
            instance, user, "resize_disk", operations.RESIZE_DISK,
            {"new_size_mib": new_size},
        )  # fmt: skip


def instance_update_security_groups(instance, groups, user=None):
    """Schedule setting a running instance's groups (403/409 by the policy); it stays Online, and its groups
    are written once the cloud's ports have them."""
    return _schedule(instance, user, "update_security_groups", operations.UPDATE_SECURITY_GROUPS,
                     security_groups_params(groups))  # fmt: skip


def security_groups_params(groups):
    """The recorded params of a groups update: the Neutron ids the ports get, and the rows written on success."""
    return {"security_group_ids": sorted(g.backend_id for g in groups if g.backend_id),
            "security_group_uuids": sorted(str(g.uuid) for g in groups)}  # fmt: skip


def instance_reapply_security_groups(instance):
    """Schedule putting the instance's groups back on its ports (a pull found others there): the system's own
    request, skipped when the instance is busy or no longer Online."""
    groups = list(SecurityGroup.objects.filter(instances=instance))
    return _schedule(instance, None, "update_security_groups", operations.UPDATE_SECURITY_GROUPS,
                     security_groups_params(groups), system=True)  # fmt: skip


def instance_assign_floating_ip(instance, user=None, floating_ip=None):
    """Schedule giving the instance a floating IP: `floating_ip` (a free one of its membership) or any (the
    tenant's floating IP quota checked under the membership's lock)."""
    with transaction.atomic():
        membership = _locked_membership(instance.cloud_project_membership)
        if floating_ip is None:
            instance_policy.require(user, instance, "assign_floating_ip")
            floating_ip_services.check_quota(membership)
        return _schedule(instance, user, "assign_floating_ip", operations.ASSIGN_FLOATING_IP,
                         _floating_ip_params(floating_ip))  # fmt: skip


def instance_unassign_floating_ip(instance, user=None, floating_ip=None):
    """Schedule taking the instance's floating IPs (or only `floating_ip`) off it; they stay the tenant's."""
    return _schedule(instance, user, "unassign_floating_ip", operations.UNASSIGN_FLOATING_IP,
                     _floating_ip_params(floating_ip))  # fmt: skip


def _floating_ip_params(floating_ip):
    """The recorded params of a floating IP change: the Neutron id of the IP asked for, absent for any."""
    return {"floating_ip_id": floating_ip.backend_id} if floating_ip is not None else {}


def instance_delete(instance, user=None):
    """Schedule deletion of a stopped or erred instance with both its volumes."""
    return _schedule(instance, user, "delete", operations.DELETE)  # fmt: skip


def min_data_volume_size():
    """Smallest data volume (MiB) the API accepts."""
    return int(settings.NODECONDUCTOR.get("MIN_DATA_VOLUME_SIZE", 1024))


def instance_recover(instance, user=None):
    """Schedule a reconciliation of an Erred instance with the cloud (staff): it ends Online or Offline if healthy."""
    return _schedule(instance, user, "recover", operations.RECOVER)  # fmt: skip
