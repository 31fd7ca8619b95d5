"""Who may do what to an instance, and in which state: the one home of the 403 and 409 decisions.

The services ask `require` before they schedule; the API shows `available` on every instance, so a portal
knows which buttons work, and why not, without trying them. Both read the same rules, and the state part is
the FSM transition itself (`can_proceed`), so a flag and the real answer cannot disagree.
"""

import dataclasses
import types

from django_fsm import can_proceed
from rest_framework.exceptions import PermissionDenied

from nodeconductor.core.exceptions import Conflict
from nodeconductor.structure.models import ProjectPermission, ProjectRole

from .engine import operation_table as ops
from .events import VERBS
from .models import Instance, InstanceState

NOT_ADMIN = "Only project administrators and staff operate instances."
NOT_STAFF = "Only staff recover instances."
RESIZE_NEEDS = "The instance must be stopped (Offline) to be resized"
FIP_NEEDS = "Only an Online or Offline instance can change its floating IPs"
# What get_state_display() answers, without its per-call rebuild of the choices (most of a list's `actions`).
STATE_LABELS = dict(InstanceState.choices)


BUSY_WITH = "A {operation} of the instance is under way; retry once it is done."
# The states an operation may run in without a state of its own (a recovery runs while the instance is Erred).
RESTING_STATES = frozenset((InstanceState.ONLINE, InstanceState.OFFLINE, InstanceState.ERRED))


def floating_ip_problem(instance, action):
    """Why the instance cannot take (or give up) a floating IP now, beyond its state; "" when it can.

    Read from the instance's own row and its membership (no query of their own): the `actions` of a whole page
    cost nothing more. `external_ips` holds the addresses of its floating IPs.
    """
    membership = instance.cloud_project_membership
    if not instance.port_id:
        return "The instance has no port on its tenant network (it boots without Neutron networking), so it " \
            "cannot have a floating IP."  # fmt: skip
    if not membership.external_network_id:
        return "The project's tenant has no router to an external network (internal networking only), so no " \
            "floating IP can reach the instance."  # fmt: skip
    if action == "assign" and instance.external_ips:
        return f"The instance has a floating IP already ({instance.external_ips}); unassign it first."
    if action == "unassign" and not instance.external_ips:
        return "The instance has no floating IP."
    return ""


# While a backup snapshots the volumes, the VM is not powered or resized under it (the snapshot could fail).
BACKUP_BLOCKS = frozenset(("start", "stop", "restart", "resize_flavor", "resize_disk"))
BACKUP_RUNNING = "A backup of the instance is being taken; retry once it is Ready."


def backup_running(instance):
    """Whether a backup of the instance is Backing up (a list annotates `backing_up`: no query per row)."""
    running = instance.__dict__.get("backing_up")
    if running is None:
        running = instance.backups.filter(state="backing_up").exists()
    return running


def backups_problem(instance):
    """Why the instance cannot be deleted while it has backups (their snapshots are of its volumes); "" if none.

    A list annotates `backup_count` (views), so a page of instances costs no query per row for it.
    """
    count = instance.__dict__.get("backup_count")
    if count is None:
        count = instance.backups.count()
    if not count:
        return ""
    return f"The instance has {count} backup{'s' if count > 1 else ''}; delete {'them' if count > 1 else 'it'} " \
        f"first (/api/backups/?instance={instance.uuid})."  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Rule:
    """An action's requirements: who may ask, and the transition (with its source states) it makes."""

    name: str
    transition: object
    needed: str
    staff_only: bool = False
    # What else the instance needs beyond its state (a port, an IP to remove): the reason for a 409, or "".
    check: object = None
    # The operation the action schedules (operation_table.py): its plan, its progress, its worker's steps.
    operation: object = None


RULES = {
    rule.name: rule
    for rule in (
        Rule("start", Instance.schedule_starting, "Only an Offline instance can be started", operation=ops.START),
        Rule("stop", Instance.schedule_stopping, "Only an Online instance can be stopped", operation=ops.STOP),
        Rule("restart", Instance.schedule_restarting, "Only an Online instance can be restarted",
             operation=ops.RESTART),
        Rule("resize_flavor", Instance.schedule_resizing, RESIZE_NEEDS, operation=ops.RESIZE_FLAVOR),
        Rule("resize_disk", Instance.schedule_resizing, RESIZE_NEEDS, operation=ops.RESIZE_DISK),
        Rule("delete", Instance.schedule_deletion, "Only an Offline or Erred instance can be deleted",
             check=lambda instance: backups_problem(instance), operation=ops.DELETE),
        Rule("update_security_groups", Instance.schedule_security_groups_update,
             "Only an Online instance can change its security groups", operation=ops.UPDATE_SECURITY_GROUPS),
        Rule("assign_floating_ip", Instance.schedule_floating_ip_change, FIP_NEEDS,
             check=lambda instance: floating_ip_problem(instance, "assign"), operation=ops.ASSIGN_FLOATING_IP),
        Rule("unassign_floating_ip", Instance.schedule_floating_ip_change, FIP_NEEDS,
             check=lambda instance: floating_ip_problem(instance, "unassign"), operation=ops.UNASSIGN_FLOATING_IP),
        Rule("backup", Instance.back_up, "Only an Online or Offline instance can be backed up"),
        Rule("recover", Instance.schedule_recovery, "Only an Erred instance can be recovered", staff_only=True,
             operation=ops.RECOVER),
    )
}  # fmt: skip
# Not an action on a managed instance: servers that no instance tracks are imported through their membership.
IMPORT_REASON = "The instance is already managed by NodeConductor; servers no instance tracks are imported from " \
    "their project's cloud membership."  # fmt: skip
# A read, not an action that changes anything: who may, and in which state, decided here like the others.
CONSOLE_NEEDS = "Only an Online or Offline instance has a console log to read"
ACTION_NAMES = (*RULES, "import", "console_log")


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether an action is possible now; when not, why, with the HTTP status and code its request gets."""

    enabled: bool
    reason: str = ""
    status: int = 200
    code: str = ""

    def as_dict(self):
        """The shape shown in the API: {"enabled": bool, "reason": str}."""
        return {"enabled": self.enabled, "reason": self.reason}


# The decisions that name nothing of the instance, made once (a page of 100 rows makes 1,100 decisions).
ALLOWED = Decision(True)
STAFF_ONLY = Decision(False, NOT_STAFF, 403, "permission_denied")
ADMINS_ONLY = Decision(False, NOT_ADMIN, 403, "permission_denied")
IMPORT_REFUSED = Decision(False, IMPORT_REASON, 409, "invalid_state")


class Operators:
    """Which projects a user administers, looked up once per request rather than once per instance."""

    def __init__(self, user):
        self.user = user
        self._projects = None
        self._wrong_state = {}

    def wrong_state(self, action, instance):
        """The 409 of an action whose transition cannot leave the instance's state (None when it can).

        No instance transition has conditions (tests/iaas/views/test_instance_availability.py checks it), so the
        state alone decides: a page of 100 rows asks 1,100 times and needs at most one answer per state and
        action, which its reason (naming the state) lets every row share.
        """
        key = (action, instance.state)
        if key not in self._wrong_state:
            refused = None
            if not can_proceed(types.MethodType(RULES[action].transition, instance)):
                label = STATE_LABELS.get(instance.state, instance.state)
                refused = Decision(False, f"{RULES[action].needed}; the instance is {label}.", 409, "invalid_state")
            self._wrong_state[key] = refused
        return self._wrong_state[key]

    def can_operate(self, project_id):
        """Project administrators and staff may create and operate instances; managers and owners only read."""
        if self.user is None or not self.user.is_authenticated:
            return False
        if self.user.is_staff:
            return True
        if self._projects is None:
            self._projects = set(
                ProjectPermission.objects.filter(user=self.user, role=ProjectRole.ADMINISTRATOR).values_list(
                    "project_id", flat=True
                )
            )
        return project_id in self._projects


def can_operate(user, project):
    """Project administrators and staff may create and operate instances; managers and owners only read."""
    return Operators(user).can_operate(project.pk)


def decide(operators, instance, action):
    """The decision for one action on one instance by the user behind `operators`."""
    if action == "import":
        return IMPORT_REFUSED
    if action == "console_log":
        return _console_log(operators, instance)
    rule = RULES[action]
    if operators.user is None:
        pass  # the system itself (the shell, a management command): only the state decides
    elif rule.staff_only:
        if not (operators.user and operators.user.is_authenticated and operators.user.is_staff):
            return STAFF_ONLY
    elif not operators.can_operate(instance.cloud_project_membership.project_id):
        return ADMINS_ONLY
    refused = operators.wrong_state(action, instance)
    if refused is not None:
        return refused
    if instance.operation_token and instance.state in RESTING_STATES:
        operation = VERBS.get(instance.operation_name, instance.operation_name)
        return Decision(False, BUSY_WITH.format(operation=operation), 409, "invalid_state")
    if action in BACKUP_BLOCKS and backup_running(instance):
        return Decision(False, BACKUP_RUNNING, 409, "invalid_state")
    problem = rule.check(instance) if rule.check else ""
    if problem:
        return Decision(False, problem, 409, "invalid_state")
    return ALLOWED


def _console_log(operators, instance):
    """Reading the console: those who operate the instance (it can show what only they should read), once its
    server runs or is stopped; an operation under way does not stand in the way of a read."""
    if operators.user is not None and not operators.can_operate(instance.cloud_project_membership.project_id):
        return ADMINS_ONLY
    if instance.state not in (InstanceState.ONLINE, InstanceState.OFFLINE) or not instance.backend_id:
        label = STATE_LABELS.get(instance.state, instance.state)
        return Decision(False, f"{CONSOLE_NEEDS}; the instance is {label}.", 409, "invalid_state")
    return ALLOWED


def require(user, instance, action):
    """Raise the 403 or 409 of an action that is not possible now (user None: the system, state only)."""
    enforce(decide(Operators(user), instance, action))


def enforce(decision):
    """Raise the 403 or 409 of a refused decision (an instance's, or a backup's in services/backups.py)."""
    if decision.status == 403:
        raise PermissionDenied(decision.reason)
    if decision.status == 409:
        raise Conflict(decision.reason)


def available(operators, instance):
    """Every action's decision for an instance, as the API shows them."""
    return {action: decide(operators, instance, action).as_dict() for action in ACTION_NAMES}
