"""What a membership holds against each of its quotas, and the one warning when that passes a threshold.

Checked on the change itself: a request that reserves (create, resize, backup, group), an operation that ends
(which may free or settle what was held), and a pull that changes the limits. An event `quota_threshold_reached`
is logged the first time usage reaches QUOTA_ALERT_THRESHOLD percent of a limit; the membership remembers which
quotas are past it (`quota_alerts`), so the event comes again only once usage fell under and crossed anew.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from nodeconductor.events.models import log_event

from .models import Backup, CloudProjectMembership, FloatingIP, Instance, SecurityGroup, SecurityGroupRule

# Each quota: the membership's limit field and its words, as the quota refusals say them.
LABELS = {
    "vcpu": ("quota_vcpu", "cores"),
    "ram": ("quota_ram", "MiB of RAM"),
    "storage": ("quota_storage", "MiB of storage"),
    "max_instances": ("quota_max_instances", "instances"),
    "snapshots": ("quota_snapshot_count", "snapshots"),
    "snapshot_storage": ("quota_snapshot_storage", "MiB of snapshots"),
    "floating_ips": ("quota_floating_ip_count", "floating IPs"),
    "security_groups": ("quota_security_group_count", "security groups"),
    "security_group_rules": ("quota_security_group_rule_count", "security group rules"),
}
INSTANCES = ("vcpu", "ram", "storage", "max_instances", "floating_ips")
BACKUPS = ("snapshots", "snapshot_storage")
SECURITY_GROUPS = ("security_groups", "security_group_rules")
# A backup holds two snapshots (root and data volume) and their size.
SNAPSHOTS_PER_BACKUP = 2


def snapshot_usage(membership):
    """What the membership's backups hold: snapshots (count) and snapshot storage (MiB). Derived, never stored, so
    a deleted or failed backup frees its share."""
    totals = Backup.objects.filter(membership=membership).holding_quota().aggregate(
        count=Coalesce(Count("pk"), 0), size=Coalesce(Sum("size"), 0))
    return {"snapshots": totals["count"] * SNAPSHOTS_PER_BACKUP, "snapshot_storage": int(totals["size"])}


def usage(membership, keys):
    """What the membership holds now against each quota of `keys` (one query per kind of resource asked)."""
    held = {}
    if set(keys) & {"vcpu", "ram", "storage", "max_instances"}:
        held.update(Instance.objects.filter(cloud_project_membership=membership).quota_usage())
    if set(keys) & set(BACKUPS):
        held.update(snapshot_usage(membership))
    if "floating_ips" in keys:
        held["floating_ips"] = FloatingIP.objects.filter(membership=membership).count()
    if "security_groups" in keys:
        held["security_groups"] = SecurityGroup.objects.filter(membership=membership).count()
    if "security_group_rules" in keys:
        held["security_group_rules"] = SecurityGroupRule.objects.filter(group__membership=membership).count()
    return {key: held[key] for key in keys}


def threshold():
    """The percentage of a limit at which the warning is logged."""
    return settings.NODECONDUCTOR.get("QUOTA_ALERT_THRESHOLD", 80)


def _past(membership, held):
    """The quotas of `held` whose usage reached the threshold of a real limit (-1 is none; 0 allows nothing)."""
    past = set()
    for key, amount in held.items():
        limit = getattr(membership, LABELS[key][0])
        if limit > 0 and amount * 100 >= threshold() * limit:
            past.add(key)
    return past


def check(membership, keys=tuple(LABELS), held=None):
    """Log `quota_threshold_reached` for each quota of `keys` that passed the threshold since it was last under;
    remember which are past it. Reads only, unless that set changed (then under the membership's lock).

    `held`: the usage of `keys` when the caller knows it already (a create that just counted it)."""
    held = held if held is not None else usage(membership, keys)
    # What is remembered now, not when the caller loaded the row (a poller's tick reuses rows it read earlier).
    remembered = CloudProjectMembership.objects.filter(pk=membership.pk).values_list("quota_alerts", flat=True).first()
    if _past(membership, held) == set(remembered or ()) & set(keys):
        return []
    with transaction.atomic():
        locked = CloudProjectMembership.objects.select_for_update(of=("self",)).select_related(
            "project__customer").get(pk=membership.pk)  # fmt: skip
        held = usage(locked, keys)
        past, remembered = _past(locked, held), set(locked.quota_alerts or ())
        reached = sorted(past - remembered)
        for key in reached:
            _log(locked, key, held[key])
        now = sorted((remembered - set(keys)) | past)
        if now != sorted(remembered):
            CloudProjectMembership.objects.filter(pk=locked.pk).update(quota_alerts=now)
        membership.quota_alerts = now
    return reached


def _log(membership, key, amount):
    """The warning for one quota, with the numbers a person acts on."""
    field, label = LABELS[key]
    limit = getattr(membership, field)
    project = membership.project
    log_event(
        "quota_threshold_reached",
        f"Project {project.name} in cloud {membership.cloud.name}: {amount} of {limit} {label} in use "
        f"({amount * 100 // limit}%), past the {threshold()}% warning threshold.",
        level="warning", customer=project.customer, project=project, resource=membership,
        quota=key, usage=amount, limit=limit, threshold=threshold(),
    )  # fmt: skip
