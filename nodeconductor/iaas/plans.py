"""Dry runs: what a request would do, printed from the operation table the workers run, with no write.

A plan is checked exactly as the real request is (the serializer, the policy's 403/409, the quota's 400), then
rendered from the operation's phases (operation_table.py): the cloud calls in order with their arguments, the
waits between them, the quota change and the state path. It reads the database only; it never calls the cloud.
"""

from . import costs, instance_policy
from .backend.instances import keypair_name, networks_setting, uses_port
from .backend.units import mib_to_gib
from .engine.operation_table import PROVISION, RESTORE, Call, Operation
from .models import Instance, InstanceState
from .services import backups as backup_services
from .services import floating_ips as floating_ip_services
from .services import instances as instance_services
from .services.instances import QUOTA_LABELS

ERRED = InstanceState.ERRED.label


def _target(transition):
    """The display name of the state a django-fsm transition leads to."""
    targets = {t.target for t in transition._django_fsm.transitions.values()}
    (target,) = targets
    chosen = getattr(target, "allowed_states", None)  # RETURN_VALUE: the transition picks one of these
    if chosen:
        return " or ".join(InstanceState(state).label for state in chosen)
    return InstanceState(target).label


def state_path(op: Operation, current=None):
    """The states the instance goes through on success, from the request on; "(deleted)" when the row goes.

    An operation that runs in one of several states (a floating IP change) keeps the one it was asked in.
    """
    if op.runs_in and current is not None:
        return [_working(op, current)] * 3
    end = "(deleted)" if op.deletes else _target(op.succeed)
    return [InstanceState(op.scheduled_state).label, InstanceState(op.working_state).label, end]


def _working(op, current):
    """The state the instance is in while the operation runs: the one asked in, when it may run in several."""
    return InstanceState(current if op.runs_in and current is not None else op.working_state).label


def failure_path(op: Operation, current=None):
    """The states of a failed run: Erred, or the state an operation with its own failure keeps."""
    working = _working(op, current)
    if op.fail is None:
        return [working, ERRED]
    return [working, working if op.keeps_state else _target(op.fail)]


def _steps(phases, context):
    """The phases as the plan shows them: each with what it does, then its calls and waits in order."""
    steps = []
    for number, phase in enumerate(phases, 1):
        items = []
        for item in phase.actions:
            if isinstance(item, Call):
                if item.applies(context):
                    items.append({"call": item.render(context), **({"if": item.only_if} if item.only_if else {})})
            else:
                items.append({"wait": item.render(context)})
        steps.append({"step": number, "phase": phase.name, "does": phase.does, "actions": items})
    return steps


def _quota(membership, change):
    """Each quota's limit, usage now, the change the request makes, and the usage after it."""
    usage = instance_services.membership_usage(membership)
    rows = {}
    for key, (field, label) in QUOTA_LABELS.items():
        delta = change.get(key, 0)
        rows[key] = {"limit": getattr(membership, field), "usage": usage[key], "change": delta,
                     "after": usage[key] + delta, "unit": label.split(" of ")[0]}  # fmt: skip
    return rows


def _cost(before, after, setup=0):
    """What the request costs: once (a new instance's setup fees), and a month before and after it."""
    before, after = costs.money(before), costs.money(after)
    return {"currency": costs.currency(), "setup_fee": str(costs.money(setup)), "monthly_before": str(before),
            "monthly_after": str(after), "monthly_change": str(after - before)}  # fmt: skip


def _new_instance_cost(membership, template, flavor, system_mib, data_mib):
    """The cost block of a new instance: its setup fees, and its month from nothing."""
    monthly = costs.monthly_cost(template.monthly_fee, costs.template_license_fee(template.pk, "monthly_fee"),
                                 flavor.monthly_fee, membership.cloud.storage_monthly_fee, system_mib, data_mib)
    return _cost(0, monthly, costs.setup_cost(template))


def _action_cost(instance, action, flavor=None, disk_size=None):
    """The cost block of an action: a resize changes the flavor's fee or the storage, a delete ends the month."""
    before = costs.instance_monthly_cost(instance)
    after = before
    if action in ("resize_flavor", "resize_disk"):
        after = costs.instance_monthly_cost(instance, flavor=flavor, data_volume_size=disk_size)
    elif action == "delete":
        after = 0
    return _cost(before, after)


def _plan(op, context, membership, change, current, cost):
    """The plan body of an operation for a request whose checks passed (`current`: the instance's state)."""
    return {
        "operation": op.name,
        "dry_run": True,
        "state_path": state_path(op, current),
        "steps": _steps(op.phases_for(context), context),
        "quota": _quota(membership, change),
        "cost": cost,
        # An operation without compensation has no compensation phases: it goes Erred at once.
        "on_failure": {
            "state_path": failure_path(op, current),
            "steps": _steps(op.phases_for(context, compensating=True), context),
        },
    }


def _instance_context(instance):
    """What the calls and waits of an operation on a built instance name."""
    return {
        "uuid": instance.uuid.hex,
        "hostname": instance.hostname,
        "server_id": instance.backend_id or "(no server)",
        "system_volume_id": instance.system_volume_id or "(no root volume)",
        "data_volume_id": instance.data_volume_id or "(no data volume)",
        "port": bool(instance.port_id) or uses_port(instance.cloud_project_membership),
        "port_id": instance.port_id or f"nc-{instance.uuid.hex}-port",
        "floating_ips": bool(instance.cloud_project_membership.external_network_id)
        and (bool(instance.port_id) or uses_port(instance.cloud_project_membership)),
    }


def plan_create(user, data):
    """The plan of a create request that the serializer accepted; 400 when it is over a quota."""
    membership, flavor, template = data["membership"], data["flavor"], data["template"]
    change = instance_services.create_quota_change(flavor, data["system_volume_size"], data["data_volume_size"])
    instance_services.check_quota(membership, change)
    if data.get("assign_floating_ip"):
        floating_ip_services.check_quota(membership)
    image = template.images.filter(cloud=flavor.cloud_id).first()
    context = _build_context(membership, flavor, data, max(data["system_volume_size"], image.min_disk),
                             data["data_volume_size"])  # fmt: skip
    context["image_id"] = image.backend_id
    cost = _new_instance_cost(membership, template, flavor, data["system_volume_size"], data["data_volume_size"])
    return _plan(PROVISION, context, membership, change, None, cost)


def _build_context(membership, flavor, data, system_mib, data_mib):
    """What the calls of a new instance's build name: its sizes, flavor, key, network and floating IP."""
    key = data.get("ssh_public_key")
    return {
        "uuid": "<new instance uuid>",
        "hostname": data["hostname"],
        "system_gib": mib_to_gib(system_mib),
        "data_gib": mib_to_gib(data_mib),
        "flavor_id": flavor.backend_id,
        "key_pair": keypair_name(key) if key else "",
        "key_name": key.name if key else "",
        "networks": '[{"port-id": (the new port)}]' if uses_port(membership) else networks_setting(),
        "port": uses_port(membership),
        "network_id": membership.network_id or "(the tenant network)",
        "security_groups": "(the tenant's default group)",
        "server_id": "(new server)",
        "system_volume_id": "(new root volume)",
        "data_volume_id": "(new data volume)",
        "port_id": "(the new port)",
        "floating_ip": bool(data.get("assign_floating_ip")),
        "any_floating_ip": bool(data.get("assign_floating_ip")),
        "floating_ip_choice": "(a free IP of ours)",
        "floating_ips": bool(data.get("assign_floating_ip")),
        "external_network_id": membership.external_network_id or "(the external network)",
        "user_data": _user_data(data.get("user_data", "")),
    }


def _user_data(text):
    """The user data as the boot call's argument shows it: its size and first line (the request holds it all)."""
    if not text:
        return ""
    first = text.splitlines()[0] if text.splitlines() else ""
    return f" user_data=({len(text.encode()):,} bytes, base64-encoded by the client; first line: {first[:60]!r})"


def plan_restore(backup, data):
    """The plan of a restore the serializer accepted: the new instance's build from the snapshots; 400 over quota."""
    membership, flavor = backup.membership, data["flavor"]
    system, data_size = backup_services.restored_size(backup, "system"), backup_services.restored_size(backup, "data")
    change = instance_services.create_quota_change(flavor, system, data_size)
    instance_services.check_quota(membership, change)
    if data.get("assign_floating_ip"):
        floating_ip_services.check_quota(membership)
    hostname = data.get("hostname") or f"{backup.metadata['hostname']}-restored"
    key = backup_services.restore_key(backup)
    context = _build_context(membership, flavor, {**data, "hostname": hostname, "ssh_public_key": key,
                                                  "user_data": backup.metadata.get("user_data", "")},
                             system, data_size)  # fmt: skip
    context.update(system_snapshot_id=backup.system_snapshot_id, data_snapshot_id=backup.data_snapshot_id)
    cost = _new_instance_cost(membership, backup_services.restore_template(backup), flavor, system, data_size)
    return _plan(RESTORE, context, membership, change, None, cost)


def _floating_ip_context(instance, action, floating_ip):
    """What the calls of a floating IP change name: the IP asked for, or which one the worker picks."""
    if floating_ip is not None:
        choice = f"{floating_ip.backend_id} ({floating_ip.address})"
    else:
        choice = "(a free IP of ours)" if action == "assign_floating_ip" else "(each IP on the port)"
    return {"floating_ip": True, "any_floating_ip": floating_ip is None, "floating_ip_choice": choice,
            "external_network_id": instance.cloud_project_membership.external_network_id}  # fmt: skip


def plan_action(user, instance, action, flavor=None, disk_size=None, groups=None, floating_ip=None):
    """The plan of an action on an instance, after the same 403/409/400 checks as the real request."""
    instance_policy.require(user, instance, action)
    op = instance_policy.RULES[action].operation
    context = _instance_context(instance)
    change = {}
    if action in ("assign_floating_ip", "unassign_floating_ip"):
        context.update(_floating_ip_context(instance, action, floating_ip))
    if action == "assign_floating_ip" and floating_ip is None:
        floating_ip_services.check_quota(instance.cloud_project_membership)
    if groups is not None:
        context["security_groups"] = instance_services.security_groups_params(groups)["security_group_ids"]
    if action == "resize_flavor":
        change = instance_services.resize_flavor_quota_change(instance, flavor)
        context["flavor_id"] = flavor.backend_id
    elif action == "resize_disk":
        change = instance_services.resize_disk_quota_change(instance, disk_size)
        context["new_gib"] = mib_to_gib(disk_size)
    elif action == "delete":
        held = Instance.objects.filter(pk=instance.pk).quota_usage()
        change = {key: -amount for key, amount in held.items()}
    instance_services.check_quota(instance.cloud_project_membership, change)
    cost = _action_cost(instance, action, flavor, disk_size)
    return _plan(op, context, instance.cloud_project_membership, change, instance.state, cost)


def _state_label(model, state):
    """The display name of one of a row's states."""
    return dict(model._meta.get_field("state").choices)[state]


def plan_resource(op, row, context=None):
    """The plan of an operation on a cloud, a membership or a security group (resource_operations.py).

    The caller made the real request's checks first (the 403s and 409s); a plan reads the database only.
    """
    context = {"name": getattr(row, "name", ""), "backend_id": getattr(row, "backend_id", "") or "(none yet)",
               **(context or {})}  # fmt: skip
    end = "(deleted)" if op.deletes else _state_label(op.model, _target_state(op.succeed))
    working = _state_label(op.model, op.working_state)
    # A phase `when="failure"` runs only after the cloud refused (a backup deletes the snapshots it made).
    undo = [p for p in op.phases if p.when == "failure"]
    return {
        "operation": op.name,
        "dry_run": True,
        "state_path": [_state_label(op.model, op.scheduled_state), working, end],
        "steps": _steps([p for p in op.phases if p.applies(context)], context),
        "on_failure": {"state_path": [working, "Erred"], "steps": _steps(undo, {**context, "failure": True})},
    }


def _target_state(transition):
    """The state a django-fsm transition with one target leads to."""
    (target,) = {t.target for t in transition._django_fsm.transitions.values()}
    return target
