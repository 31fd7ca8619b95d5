"""Cross-model rules of backups: who may do what in which state, what a restore needs, and scheduling on commit.

The one home of a backup's 403 and 409 decisions: the requests ask `require`, and the API shows `available`
on every backup from the same code. A backup is taken, restored and deleted by the project's administrators
and staff; its managers and the customer's owners read it.
"""

import types

from django.db import transaction
from django_fsm import ConcurrentTransition, can_proceed

from nodeconductor.core.exceptions import Conflict
from nodeconductor.core.models import SshPublicKey

from .. import events, instance_policy, quota_alerts
from ..engine import messages, operations, records
from ..instance_policy import Decision, Operators
from ..models import (
    Backup,
    BackupState,
    CloudProjectMembership,
    Instance,
    InstanceState,
    SecurityGroup,
    SecurityGroupState,
    Template,
)
from . import instances as instance_services

B = BackupState
# The operations a request records on a backup (backup_operations.py).
BACKUP, DELETE = "backup", "delete_backup"
NOT_ADMIN = "Only project administrators and staff back up, restore and delete backups."
BUSY_WITH = "A {operation} is under way; retry once it is done."
# What each action needs of the backup's state, and the transition that decides it (can_proceed).
RULES = {
    "restore": (Backup.begin_restoring, "Only a Ready backup can be restored"),
    "delete": (Backup.schedule_deletion, "Only a Ready or Erred backup can be deleted"),
}
STATE_LABELS = dict(BackupState.choices)
CRASH_CONSISTENT = "The backup of a running VM is crash-consistent: its disks are as if its power had been cut."


def decide(operators, backup, action):
    """The decision for one action on one backup by the user behind `operators` (None user: the system)."""
    if operators.user is not None and not operators.can_operate(backup.membership.project_id):
        return Decision(False, NOT_ADMIN, 403, "permission_denied")
    transition, needed = RULES[action]
    if not can_proceed(types.MethodType(transition, backup)):
        label = STATE_LABELS.get(backup.state, backup.state)
        return Decision(False, f"{needed}; the backup is {label}.", 409, "invalid_state")
    if backup.operation_token:
        title = events.VERBS.get(backup.operation_name, backup.operation_name)
        return Decision(False, BUSY_WITH.format(operation=title), 409, "invalid_state")
    return instance_policy.ALLOWED


def require(user, backup, action):
    """Raise the 403 or 409 of an action on a backup that is not possible now."""
    instance_policy.enforce(decide(Operators(user), backup, action))


def available(operators, backup):
    """Every action's decision for a backup, as the API shows them."""
    return {action: decide(operators, backup, action).as_dict() for action in RULES}


def _uuid(user):
    return str(user.uuid) if user is not None and user.is_authenticated else None


def restore_metadata(instance):
    """What a restore needs of the instance, copied now: the instance may change or go before the restore."""
    key = instance.ssh_public_key
    groups = SecurityGroup.objects.filter(instances=instance).order_by("name")
    return {
        "instance_uuid": str(instance.uuid),
        "hostname": instance.hostname,
        "template_uuid": str(instance.template.uuid),
        "template_name": instance.template.name,
        "flavor_uuid": str(instance.flavor.uuid) if instance.flavor else None,
        "flavor_name": instance.flavor.name if instance.flavor else "",
        "cores": instance.cores,
        "ram": instance.ram,
        "system_volume_size": instance.system_volume_size,
        "data_volume_size": instance.data_volume_size,
        "system_volume_id": instance.system_volume_id,
        "data_volume_id": instance.data_volume_id,
        "key_name": instance.key_name,
        "key_fingerprint": instance.key_fingerprint,
        "ssh_public_key_uuid": str(key.uuid) if key else None,
        "security_groups": [{"uuid": str(g.uuid), "name": g.name} for g in groups],
        "running": instance.state == InstanceState.ONLINE,  # its backup is crash-consistent
        "user_data": instance.user_data,  # the serializer shows it only to those who may operate the project
    }


# What a backup holds against the membership's backup quotas: its two snapshots and their size.
SNAPSHOTS_PER_BACKUP = quota_alerts.SNAPSHOTS_PER_BACKUP
SNAPSHOT_QUOTAS = {key: quota_alerts.LABELS[key] for key in quota_alerts.BACKUPS}
snapshot_usage = quota_alerts.snapshot_usage


def backup_quota_change(instance):
    """What a backup of the instance adds: two snapshots, the size of both volumes."""
    size = instance.system_volume_size + instance.data_volume_size
    return {"snapshots": SNAPSHOTS_PER_BACKUP, "snapshot_storage": size}


def check_quota(membership, change, usage=None):
    """Refuse (400 quota_exceeded) a backup that would take the tenant over its snapshot quotas."""
    instance_services.refuse_over_quota(membership, change, usage or snapshot_usage(membership), SNAPSHOT_QUOTAS)


def _enqueue(backup, what, undo):
    """Send the backup's first step on commit; a refused request is undone with `undo` and answered 503."""
    uuid, token = str(backup.uuid), backup.operation_token
    messages.send_on_commit(lambda: messages.send_resource_step("backup", uuid, token, 0), what, f"backup {uuid}",
                            undo)  # fmt: skip


def backup_create(instance, user, description="", kept_until=None, *, in_request=True, schedule=None):
    """Back an Online or Offline instance up (403/409 by the instance policy): a backup in Backing up, whose
    worker snapshots both volumes."""
    with transaction.atomic():
        locked = (Instance.objects.select_for_update(of=("self",))
                  .select_related("cloud_project_membership__project", "template", "flavor", "ssh_public_key")
                  .filter(pk=instance.pk).first())  # fmt: skip
        if locked is None:
            raise Instance.DoesNotExist(f"Instance {instance.pk} is gone.")
        instance_policy.require(user, locked, "backup")
        locked.back_up()  # it stays as it is: the transition proves, under the lock, that it is Online or Offline
        # The membership's lock makes concurrent backups count one another's snapshots.
        membership = CloudProjectMembership.objects.select_for_update(of=("self",)).get(
            pk=locked.cloud_project_membership_id)
        change = backup_quota_change(locked)
        check_quota(membership, change)
        backup = Backup(instance=locked, membership=locked.cloud_project_membership, description=description,
                        size=change["snapshot_storage"],
                        kept_until=kept_until, metadata=restore_metadata(locked),
                        created_by=user if user is not None and user.is_authenticated else None,
                        schedule=schedule)  # fmt: skip
        records.start(backup, BACKUP, {"user_uuid": _uuid(user)})
        backup.save()
        events.resource_event(backup, BACKUP, "scheduled")
        quota_alerts.check(membership, quota_alerts.BACKUPS)

        def undo():
            return bool(Backup.objects.filter(pk=backup.pk, operation_started__isnull=True).delete()[0])

        _enqueue(backup, "backup", undo if in_request else None)
    return backup


def backup_delete(backup, user, *, in_request=True):
    """Schedule the deletion of both snapshots of a Ready or Erred backup (403/409); the row goes with them."""
    with transaction.atomic():
        locked = Backup.objects.select_for_update(of=("self",)).select_related("membership").get(pk=backup.pk)
        require(user, locked, "delete")
        previous = locked.state
        locked.schedule_deletion()
        records.start(locked, DELETE, {"user_uuid": _uuid(user)})
        locked.save()
        events.resource_event(locked, DELETE, "scheduled")

        def undo():
            with transaction.atomic():
                row = (
                    Backup.objects.select_for_update()
                    .filter(pk=locked.pk, operation_token=locked.operation_token, operation_started__isnull=True)
                    .first()
                )
                if row is None:
                    return False
                try:
                    row.unschedule_deletion(previous)
                    records.clear(row)
                    row.save()
                except ConcurrentTransition:
                    return False
            return True

        _enqueue(locked, "deletion of the backup", undo if in_request else None)
    return locked


def backup_restore(backup, user, flavor, hostname="", security_groups=None, assign_floating_ip=False):
    """Restore a Ready backup into a new instance of its project (403/409 here, 400s by the caller's checks and
    the quota): volumes made from the snapshots at their sizes; the backup is Restoring until the build ends."""
    with transaction.atomic():
        locked = Backup.objects.select_for_update(of=("self",)).select_related("membership").get(pk=backup.pk)
        require(user, locked, "restore")
        meta = locked.metadata
        instance = instance_services.instance_create(
            user=user, membership=locked.membership, template=restore_template(locked), flavor=flavor,
            hostname=hostname or f"{meta['hostname']}-restored", system_volume_size=restored_size(locked, "system"),
            data_volume_size=restored_size(locked, "data"), ssh_public_key=restore_key(locked),
            security_groups=security_groups if security_groups is not None else restore_groups(locked),
            assign_floating_ip=assign_floating_ip, operation=operations.RESTORE, user_data=meta.get("user_data", ""),
            params={"system_snapshot_id": locked.system_snapshot_id, "data_snapshot_id": locked.data_snapshot_id,
                    "backup_uuid": str(locked.uuid)},
        )  # fmt: skip
        locked.begin_restoring(instance)
        locked.save()
        events.resource_event(locked, "restore", "scheduled")
    return instance


def restored_size(backup, role):
    """The size (MiB) of a restored volume: its snapshot's, whatever the source grew to since."""
    gib = backup.metadata.get(f"{role}_snapshot_gib")
    return int(gib) * 1024 if gib else int(backup.metadata[f"{role}_volume_size"])


def restore_template(backup):
    """The template of the backed-up instance (its OS, licence and SLA); 409 when it was deleted since."""
    template = Template.objects.filter(uuid=backup.metadata.get("template_uuid")).first()
    if template is None:
        raise Conflict(f"The template {backup.metadata.get('template_name')} of the backed-up instance was deleted.")
    return template


def restore_key(backup):
    """The SSH key the backed-up instance had, when its owner still has it (its key is in the root volume anyway)."""
    uuid = backup.metadata.get("ssh_public_key_uuid")
    return SshPublicKey.objects.filter(uuid=uuid).first() if uuid else None


def restore_groups(backup):
    """The security groups the backed-up instance had that are still in its membership and in the cloud."""
    uuids = [g["uuid"] for g in backup.metadata.get("security_groups", ())]
    groups = SecurityGroup.objects.filter(uuid__in=uuids, membership=backup.membership)
    # Only the usable ones: a group being deleted, or not yet in the cloud, is left out as a request's is refused.
    return list(groups.filter(state=SecurityGroupState.IN_SYNC).exclude(backend_id=""))


def release_stale_restores():
    """Make Ready again every Restoring backup whose restore no longer runs (its instance went, or its build ended
    without saying so): a backup is never left Restoring for good. Returns the count released."""
    count = 0
    for backup in Backup.objects.filter(state=B.RESTORING).select_related("restoring_instance"):
        instance = backup.restoring_instance
        if instance is not None and instance.operation_token and instance.operation_name == operations.RESTORE.name:
            continue  # its build is still under way
        with transaction.atomic():
            locked = Backup.objects.select_for_update().filter(pk=backup.pk, state=B.RESTORING).first()
            if locked is not None and locked.restoring_instance_id == backup.restoring_instance_id:
                locked.end_restoring()
                locked.save()
                count += 1
    return count
