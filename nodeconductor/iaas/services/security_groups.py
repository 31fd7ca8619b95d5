"""Cross-model rules of security groups: quotas, use by instances, and scheduling the push on commit.

Our database is the source of truth for the groups we manage: every write lands here first and schedules a
push (Sync Scheduled); the worker makes Neutron match it as a diff (security_group_sync.py). When the task
queue refuses the message, the request is undone and answered 503, as every scheduling request is.
"""

import ipaddress

from django.conf import settings
from django.db import transaction
from django_fsm import ConcurrentTransition

from nodeconductor.core.exceptions import Conflict, InUse, QuotaExceeded

from .. import quota_alerts
from ..engine import messages, records
from ..models import CloudProjectMembership, Instance, SecurityGroup, SecurityGroupRule, SecurityGroupState
from ..models.cloud import Networking
from ..models.security_groups import BUSY_STATES

G = SecurityGroupState
# The operations a request records on a group (resource_operations.py).
PUSH, DELETE = "push_security_group", "delete_security_group"
RULE_FIELDS = ("protocol", "from_port", "to_port", "cidr", "direction", "backend_id")
ANYWHERE = "0.0.0.0/0"
# NODECONDUCTOR["DEFAULT_SECURITY_GROUPS"] replaces these; each is made on every membership at its sync.
DEFAULT_SECURITY_GROUPS = (
    {"name": "ssh", "description": "SSH from anywhere", "rules": [{"protocol": "tcp", "from_port": 22,
                                                                    "to_port": 22, "cidr": ANYWHERE}]},
    {"name": "ping", "description": "ICMP echo from anywhere", "rules": [{"protocol": "icmp", "from_port": None,
                                                                           "to_port": None, "cidr": ANYWHERE}]},
    {"name": "http", "description": "HTTP from anywhere", "rules": [{"protocol": "tcp", "from_port": 80,
                                                                      "to_port": 80, "cidr": ANYWHERE}]},
    {"name": "https", "description": "HTTPS from anywhere", "rules": [{"protocol": "tcp", "from_port": 443,
                                                                        "to_port": 443, "cidr": ANYWHERE}]},
)  # fmt: skip


def default_groups():
    """The groups every membership gets, from settings (an empty list turns them off)."""
    return settings.NODECONDUCTOR.get("DEFAULT_SECURITY_GROUPS", DEFAULT_SECURITY_GROUPS)


def rule_identity(rule):
    """What makes two rules the same rule (a dict or a SecurityGroupRule): used to keep unchanged rows."""
    get = rule.get if isinstance(rule, dict) else lambda k, d=None: getattr(rule, k, d)
    cidr = str(ipaddress.ip_network(get("cidr") or ANYWHERE, strict=False))
    return (get("protocol"), get("from_port"), get("to_port"), cidr, get("direction") or "ingress")


# ---------------------------------------------------------------------------------------------- quotas
def check_quota(membership, extra_groups, extra_rules):
    """Refuse (400 quota_exceeded) when the membership would hold more groups or rules than its quota."""
    groups = SecurityGroup.objects.filter(membership=membership)
    problems = []
    limit = membership.quota_security_group_count
    if extra_groups > 0 and limit >= 0 and groups.count() + extra_groups > limit:
        problems.append(f"security groups: {groups.count()} in use + {extra_groups} requested > limit {limit}")
    limit = membership.quota_security_group_rule_count
    used = SecurityGroupRule.objects.filter(group__membership=membership).count()
    if extra_rules > 0 and limit >= 0 and used + extra_rules > limit:
        problems.append(f"security group rules: {used} in use + {extra_rules} requested > limit {limit}")
    if problems:
        raise QuotaExceeded({"non_field_errors": ["Quota exceeded in the project's tenant: " + "; ".join(problems)]})


def _locked_membership(membership):
    """Lock the membership so concurrent requests count its groups and rules one after another."""
    return CloudProjectMembership.objects.select_for_update(of=("self",)).get(pk=membership.pk)


# ---------------------------------------------------------------------------------------------- enqueueing
def _enqueue(group, what, undo, *, in_request=True):
    """Send the first step of the group's recorded operation on commit (messages.send_on_commit); a refused
    request is undone with `undo` and answered 503. Outside a request (a worker, the shell) nothing is undone:
    the row stays recorded and the sweeper sends its step once the queue is back."""
    uuid, token = str(group.uuid), group.operation_token
    messages.send_on_commit(lambda: messages.send_resource_step("security_group", uuid, token, 0), what,
                            f"security group {uuid}", undo if in_request else None)  # fmt: skip


def _locked_if(group, states):
    """The group locked, when it is still in one of `states` (else None: a worker took it up already)."""
    return SecurityGroup.objects.select_for_update().filter(pk=group.pk, state__in=states).first()


def _snapshot(group):
    """What an update may change, to put back when its push cannot be queued."""
    return group.name, group.description, [{f: getattr(r, f) for f in RULE_FIELDS} for r in group.rules.all()]


def _restore(group, previous_state, snapshot):
    """Undo an update whose push could not be queued; False when a worker already took it up."""
    with transaction.atomic():
        locked = _locked_if(group, [G.SYNC_SCHEDULED])
        if locked is None or locked.operation_token != group.operation_token:
            return False
        locked.name, locked.description, rules = snapshot
        locked.rules.all().delete()
        SecurityGroupRule.objects.bulk_create([SecurityGroupRule(group=locked, **r) for r in rules])
        try:
            if previous_state != G.SYNC_SCHEDULED:  # a row the shell made scheduled stays so, for the sweeper
                locked.unschedule_syncing(previous_state)
            records.clear(locked)
            locked.save()
        except ConcurrentTransition:
            return False
    return True


# ---------------------------------------------------------------------------------------------- CRUD
def _replace_rules(group, rules):
    """Make the group's rule rows these rules, keeping the rows (and Neutron ids) of rules that stay."""
    kept = {rule_identity(r): r for r in group.rules.all()}
    wanted = []
    for rule in rules:
        identity = rule_identity(rule)
        if kept.pop(identity, None) is None:
            new = SecurityGroupRule(group=group, **{k: v for k, v in rule.items() if k in RULE_FIELDS})
            new.clean()  # the API validated already; rules from settings or the shell are checked here
            wanted.append(new)
    if kept:
        SecurityGroupRule.objects.filter(pk__in=[r.pk for r in kept.values()]).delete()
    SecurityGroupRule.objects.bulk_create(wanted)


def group_create(membership, name, rules, description="", *, in_request=True):
    """Create a group with its rules in Sync Scheduled (quota checked under a lock); the worker pushes it."""
    with transaction.atomic():
        membership = _locked_membership(membership)
        check_quota(membership, 1, len(rules))
        group = SecurityGroup(membership=membership, name=name, description=description)
        records.start(group, PUSH)
        group.save()
        _replace_rules(group, rules)
        quota_alerts.check(membership, quota_alerts.SECURITY_GROUPS)

        def undo():
            return bool(SecurityGroup.objects.filter(pk=group.pk, state=G.SYNC_SCHEDULED).delete()[0])

        _enqueue(group, "push of the security group", undo, in_request=in_request)
    return group


def _require_idle(group, doing):
    """409 while a worker pushes or deletes the group: its result would overwrite this request."""
    if group.state in BUSY_STATES:
        raise Conflict(f"The security group is {group.get_state_display()}; wait for it to finish before {doing}.")


def group_update(group, *, name=None, description=None, rules=None):
    """Change the name, description or rules (the full list) and schedule the push of the difference."""
    with transaction.atomic():
        membership = _locked_membership(group.membership)
        group = SecurityGroup.objects.select_for_update().get(pk=group.pk)
        _require_idle(group, "changing it")
        snapshot, previous = _snapshot(group), group.state
        if rules is not None:
            check_quota(membership, 0, len(rules) - group.rules.count())
            _replace_rules(group, rules)
            quota_alerts.check(membership, quota_alerts.SECURITY_GROUPS)
        group.name = group.name if name is None else name
        group.description = group.description if description is None else description
        if group.busy:
            group.save()  # its push is recorded and not begun: it reads the rules when it runs, these included
            return group
        if group.state != G.SYNC_SCHEDULED:
            group.schedule_syncing()
        records.start(group, PUSH)
        group.save()
        _enqueue(group, "push of the security group", lambda: _restore(group, previous, snapshot))
    return group


def _users(group):
    """Host names of the instances using the group, for the 409."""
    return sorted(Instance.objects.filter(security_groups=group).values_list("hostname", flat=True))


def check_delete(group):
    """409 while instances use the group, or while a worker pushes or deletes it."""
    users = _users(group)
    if users:
        raise InUse(f"The security group is used by instances {', '.join(users)}; remove it from them first.")
    _require_idle(group, "deleting it")


def check_update(group):
    """409 while a worker pushes or deletes the group."""
    _require_idle(group, "changing it")


def group_delete(group):
    """Schedule the group's removal from Neutron (the worker deletes the row after); 409 while instances use it."""
    with transaction.atomic():
        group = SecurityGroup.objects.select_for_update().get(pk=group.pk)
        check_delete(group)
        previous = group.state
        pending = {field: getattr(group, field) for field in records.CLEARED}  # a push not begun, put back on undo
        group.schedule_deletion()
        records.start(group, DELETE)  # its new token fences off the message of that push
        group.save()

        def undo():
            with transaction.atomic():
                locked = _locked_if(group, [G.DELETION_SCHEDULED])
                if locked is None or locked.operation_token != group.operation_token:
                    return False
                locked.unschedule_deletion(previous)
                for field, value in pending.items():
                    setattr(locked, field, value)
                locked.save()
            return True

        _enqueue(group, "deletion of the security group", undo)
    return group


def schedule_push(group):
    """Schedule a push of an idle group from a worker (the pull found drift); no 503, the sweeper covers it."""
    with transaction.atomic():
        group = _locked_if(group, [G.IN_SYNC, G.ERRED])
        if group is None:
            return False
        group.schedule_syncing()
        records.start(group, PUSH)
        group.save()
        _enqueue(group, "push of the security group", None, in_request=False)
    return True


def ensure_default_groups(membership):
    """Give a membership without groups the default ones (settings), scheduled for their push; returns their names.

    Only a membership with no group at all gets them (its first sync): a default group the project deleted on
    purpose does not come back at the next sync.
    """
    if membership.networking == Networking.NONE:
        return []  # a cloud without Neutron (or OPENSTACK_NETWORKS "none") has no security groups to make
    if SecurityGroup.objects.filter(membership=membership).exists():
        return []
    made = []
    for spec in default_groups():
        group_create(membership, spec["name"], list(spec["rules"]), spec.get("description", ""), in_request=False)
        made.append(spec["name"])
    return made


# ---------------------------------------------------------------------------------------------- instances
def usable_groups_error(membership, groups):
    """Why these groups cannot go on an instance of the membership (a 400 message), or "" when they can."""
    for group in groups:
        if group.membership_id != membership.pk:
            return f"The security group {group.name} belongs to another project or cloud than the instance."
        if group.state in (G.DELETION_SCHEDULED, G.DELETING):
            return f"The security group {group.name} is being deleted."
        if not group.backend_id:
            return f"The security group {group.name} is not in the cloud yet ({group.get_state_display()}); " \
                "retry once it is In Sync."  # fmt: skip
    return ""
