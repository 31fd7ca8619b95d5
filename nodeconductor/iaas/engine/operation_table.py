"""The instance operations, each one explicit definition: its transitions, its backend step, its phases.

A phase names what one look of the backend step does and waits for, in order, with the cloud calls it makes.
The same definition is what the worker runs (operations.run_step), what the progress shows
(progress.py), and what a dry run prints (plans.py): nothing here is copied elsewhere.
"""

import dataclasses

from django.db import transaction

from ..backend.instance_actions import InstanceActionsMixin as Actions
from ..backend.instances import InstanceOperationsMixin as Steps
from ..events import VERBS
from ..models import Backup, BackupState, Flavor, Instance, InstanceState, SecurityGroup
from ..models.floating_ips import external_ips_of, forget_released, record
from ..models.security_groups import set_instance_groups

S = InstanceState


@dataclasses.dataclass(frozen=True)
class Call:
    """A write a phase makes in the cloud, as a plan prints it: the client call and its arguments."""

    api: str  # the python-*client call, e.g. "cinder volumes.create"
    args: str = ""  # a template over the plan's context, e.g. "size={system_gib} GiB imageRef={image_id}"
    when: str = ""  # a context key that must be truthy for the call to be made (e.g. an SSH key to push)
    only_if: str = ""  # a condition only the cloud's state at run time decides, e.g. "the volume is still there"

    def applies(self, context):
        """Whether the call is made for this request."""
        return not self.when or bool(context.get(self.when))

    def render(self, context):
        """The call as text, its arguments filled from the context."""
        return f"{self.api} {self.args.format_map(_Known(context))}".strip()


@dataclasses.dataclass(frozen=True)
class Wait:
    """What a phase waits for in the cloud before it goes on: a resource and the status it must reach."""

    what: str  # e.g. "root volume {system_volume_id} and data volume {data_volume_id}"
    status: str  # e.g. "available", or "gone"

    def render(self, context):
        """The wait as text, e.g. "root volume and data volume → available"."""
        return f"{self.what.format_map(_Known(context))} → {self.status}"


class _Known(dict):
    """A format context that leaves an unknown name as it is written instead of failing."""

    def __missing__(self, key):
        return "{" + key + "}"


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of a backend step: its name (as the step returns it), what it does, and its calls and waits."""

    name: str
    does: str
    actions: tuple = ()  # Call and Wait items in the order the phase makes them
    when: str = ""  # a context key that must be truthy for the phase to happen at all (e.g. a floating IP asked)
    # A key only a run knows (run_context), for a phase that the cloud's behaviour brings about (a retry after its
    # transient failure): a plan, whose context lacks the key, shows the phase (its `does` says when it happens);
    # a run's progress counts it only once it happened.
    happens_if: str = ""

    def applies(self, context):
        """Whether the step goes through this phase for the request behind `context`."""
        if self.when and not context.get(self.when):
            return False
        return not self.happens_if or bool(context.get(self.happens_if, True))

    def calls(self, context):
        """The calls this phase makes for the request behind `context`, in order."""
        return [item for item in self.actions if isinstance(item, Call) and item.applies(context)]


def _finish_provision(instance, params):
    """A provision learns its flavor row from the backend id when the shell created the instance without one."""
    if instance.flavor_id is None:
        instance.flavor = Flavor.objects.filter(
            cloud=instance.cloud_project_membership.cloud_id, backend_id=params["backend_flavor_id"]
        ).first()


def run_context(params):
    """The context keys a recorded operation's params decide (the progress shows only the phases that apply)."""
    return {"floating_ip": bool(params.get("assign_floating_ip")), "build_retry": bool(params.get("build_retry"))}


def _finish_provision_ip(instance, params):
    """The flavor row, and the row of the floating IP the provision gave the instance (its address showed)."""
    _finish_provision(instance, params)
    if params.get("floating_ip"):
        # Nova showed the address, so Neutron reported it up: the create's answer said DOWN, as it always does.
        record(instance.cloud_project_membership, {**params["floating_ip"], "status": "ACTIVE"}, instance)


def _finish_delete(instance, params):
    """The rows of the floating IPs the delete released go with the instance (the others are just freed)."""
    forget_released(instance)


def _finish_resize_flavor(instance, params):
    """The new flavor's cores and RAM are written only once the cloud applied them."""
    flavor = Flavor.objects.get(uuid=params["flavor_uuid"])
    instance.flavor, instance.cores, instance.ram = flavor, flavor.cores, flavor.ram


@dataclasses.dataclass(frozen=True)
class Operation:
    """One kind of instance job: its states and transitions, its backend step, and its compensation."""

    name: str
    scheduled_state: str
    working_state: str
    begin: object  # the Instance transition a worker makes when it picks the job up
    step: object  # the backend step, called as step(backend, instance, phase=..., **params)
    succeed: object = None  # the Instance transition on success; None removes the row (delete)
    finish: object = None  # writes what the cloud applied, just before `succeed` (or the row's removal)
    compensation: object = None  # a backend step that undoes a failed run before the instance goes Erred
    # The phases the step goes through, in order; tests check that the step returns no other phase, and that
    # the calls a run makes in the cloud are the ones the phases list.
    phases: tuple = ()
    compensation_phases: tuple = ()
    # A build takes one of the cloud's build slots (the per-cloud cap): the job waits in its scheduled state,
    # queued, until one is free.
    builds: bool = False
    # The recorded params (carried by the last step) the success transition takes, e.g. whether the server runs.
    succeed_args: tuple = ()
    # The transition of a failure, with the cloud's message; None is Instance.set_erred.
    fail: object = None
    # The states an operation that keeps the instance's state runs in, when there are several (a floating IP
    # changes on an Online or Offline VM); empty: its working state alone.
    runs_in: tuple = ()
    # ended(instance, params): what the end of a run frees, whichever way it ended (a restore's backup).
    ended: object = None

    @property
    def title(self):
        """The operation as a message names it, e.g. "flavor resize" (events.VERBS, which the events read too)."""
        return VERBS.get(self.name, self.name.replace("_", " "))

    @property
    def keeps_state(self):
        """Whether the instance stays in its state while the operation runs (a recovery stays Erred)."""
        return bool(self.runs_in) or self.scheduled_state == self.working_state

    @property
    def working_states(self):
        """The states the instance may be in while a worker runs the operation; in any other, it is dropped."""
        return self.runs_in or (self.working_state,)

    def begun(self, instance):
        """Whether a worker began the operation: its state moved on, or (keeping its state) it has a start time."""
        if self.keeps_state:
            return instance.operation_started is not None
        return instance.state != self.scheduled_state

    @property
    def deletes(self):
        """Whether success removes the instance row."""
        return self.succeed is None

    def phases_for(self, context, compensating=False):
        """The phases a run for the request behind `context` goes through (or its compensation's)."""
        return [p for p in (self.compensation_phases if compensating else self.phases) if p.applies(context)]

    def phase_table(self, compensating=False):
        """{phase name: what it does} of the step (or of the compensation)."""
        return {p.name: p.does for p in (self.compensation_phases if compensating else self.phases)}


_LEFT = "Nova did not delete it with the server (delete_on_termination)"
_DELETE_PHASES = (
    Phase("", "delete the server", (Call("nova servers.delete", "{server_id}"),)),
    Phase("server_gone", "wait for the server to be gone", (Wait("server {server_id}", "gone"),)),
    Phase("volumes", "delete both volumes, wait for them to be gone, then the port", (
        Call("cinder volumes.delete", "{system_volume_id}", only_if=_LEFT),
        Call("cinder volumes.delete", "{data_volume_id}", only_if=_LEFT),
        Wait("root volume and data volume", "gone"),
        Call("neutron delete_floatingip", "(each IP tagged nc-instance-{uuid})", when="floating_ips",
             only_if="we allocated it for this instance and it is on its port or free"),
        Call("neutron delete_port", "{port_id}", when="port", only_if="the port is still there"))),
)  # fmt: skip


def _power_phases(call, status):
    return (
        Phase("", "ask the cloud", (Call(call, "{server_id}"),)),
        Phase("wait", "wait for the server", (Wait("server {server_id}", status),)),
    )


# Giving a port a floating IP: the provision's last phase when asked, and the assign action, are this one step
# (InstanceOperationsMixin.give_floating_ip).
_GIVE_FLOATING_IP = (
    Call("neutron update_floatingip", "{floating_ip_choice} port_id={port_id}", when="floating_ip",
         only_if="the tenant has a free floating IP of ours (or the one asked for)"),
    Call("neutron create_floatingip", "floating_network_id={external_network_id} port_id={port_id}",
         when="any_floating_ip", only_if="the tenant has no free floating IP of ours"),
    Call("neutron replace_tag", "floatingips (the IP) [nodeconductor, nc-instance-{uuid}]", when="floating_ip",
         only_if="the IP is ours (tagged nodeconductor)"),
)

_BOOT = Call("nova servers.create", "name={hostname} flavor={flavor_id} block_device_mapping_v2=[root volume "
            "boot_index=0, data volume boot_index=-1] networks={networks}{user_data}")
# Nova's transient build failure is retried once, on the volumes Nova would otherwise delete with the failed server.
_RETRIED = "Nova failed the build with 'Exceeded maximum number of retries' (the first time only)"
_REBUILD = (
    Phase("rebuild", f"only when {_RETRIED}: keep both volumes, delete the failed server, wait for it to be gone "
          "and for both volumes to be available, then boot the server again on them", (
        Call("nova volumes.update_server_volume", "(the failed server) {system_volume_id} delete_on_termination=False "
             "(microversion 2.85)", only_if=_RETRIED),
        Call("nova volumes.update_server_volume", "(the failed server) {data_volume_id} delete_on_termination=False "
             "(microversion 2.85)", only_if=_RETRIED),
        Call("nova servers.delete", "(the failed server)", only_if=_RETRIED),
        Wait("the failed server", "gone"),
        Wait("root volume and data volume", "available"),
        Call("nova keypairs.create", "{key_pair} (the SSH key {key_name})", when="key_pair",
             only_if="the cloud does not have this keypair any more"),
        dataclasses.replace(_BOOT, only_if=_RETRIED)), happens_if="build_retry"),
    Phase("rebuilt", "wait for the server built again to be ACTIVE (a second failure is final)", (
        Wait("server", "ACTIVE"), *_GIVE_FLOATING_IP), happens_if="build_retry"),
)  # fmt: skip

PROVISION = Operation(
    "provision", S.PROVISIONING_SCHEDULED, S.PROVISIONING, Instance.begin_provisioning, Steps.provision_step,
    Instance.set_online, _finish_provision_ip, compensation=Actions.delete_step,
    phases=(
        Phase("", "create the root volume from the image, the empty data volume and the port", (
            Call("cinder volumes.create", "size={system_gib} GiB imageRef={image_id} name=nc-{uuid}-system"),
            Call("cinder volumes.create", "size={data_gib} GiB name=nc-{uuid}-data"),
            Call("neutron create_port", "name=nc-{uuid}-port network={network_id} security_groups={security_groups}",
                 when="port", only_if="the tenant has no port of that name yet"),
            Call("neutron add_tag", "ports (the new port) nodeconductor", when="port",
                 only_if="the port was just made"))),
        Phase("volumes", "wait for both volumes to be available, then boot the server from the root volume", (
            Wait("root volume and data volume", "available"),
            Call("nova keypairs.create", "{key_pair} (the SSH key {key_name})", when="key_pair",
                 only_if="the cloud does not have this keypair yet"),
            _BOOT)),
        Phase("server", "wait for the server to be ACTIVE", (  # then, when asked, a floating IP on its port
            Wait("server", "ACTIVE"), *_GIVE_FLOATING_IP)),
        *_REBUILD,
        Phase("floating_ip", "wait for the floating IP to show on the server", (
            Wait("server's addresses", "the floating IP"),), when="floating_ip"),
    ),
    compensation_phases=_DELETE_PHASES,
    builds=True,
)  # fmt: skip
STOP = Operation("stop", S.STOPPING_SCHEDULED, S.STOPPING, Instance.begin_stopping, Actions.stop_step,
                 Instance.set_offline, phases=_power_phases("nova servers.stop", "SHUTOFF"))  # fmt: skip
START = Operation("start", S.STARTING_SCHEDULED, S.STARTING, Instance.begin_starting, Actions.start_step,
                  Instance.set_online, phases=_power_phases("nova servers.start", "ACTIVE"))  # fmt: skip
RESTART = Operation("restart", S.RESTARTING_SCHEDULED, S.RESTARTING, Instance.begin_restarting,
                    Actions.restart_step, Instance.set_online,
                    phases=_power_phases("nova servers.reboot", "ACTIVE"))  # fmt: skip
RESIZE_FLAVOR = Operation(
    "resize_flavor", S.RESIZING_SCHEDULED, S.RESIZING, Instance.begin_resizing, Actions.resize_flavor_step,
    Instance.set_offline, _finish_resize_flavor,
    phases=(
        Phase("", "ask the cloud to resize the server", (
            Call("nova servers.resize", "{server_id} flavor={flavor_id}"),)),
        Phase("verify", "wait for VERIFY_RESIZE, then confirm", (
            Wait("server {server_id}", "VERIFY_RESIZE"), Call("nova servers.confirm_resize", "{server_id}"))),
        Phase("confirm", "wait for the server to be SHUTOFF", (Wait("server {server_id}", "SHUTOFF"),)),
    ),
)  # fmt: skip
RESIZE_DISK = Operation(
    "resize_disk", S.RESIZING_SCHEDULED, S.RESIZING, Instance.begin_resizing, Actions.resize_disk_step,
    Instance.set_offline,
    phases=(
        Phase("", "detach the data volume", (
            Call("nova volumes.delete_server_volume", "{server_id} {data_volume_id}"),)),
        Phase("detached", "wait for it to be available, then extend it", (
            Wait("data volume {data_volume_id}", "available"),
            Call("cinder volumes.extend", "{data_volume_id} new_size={new_gib} GiB"))),
        Phase("extended", "wait for the extend", (Wait("data volume {data_volume_id}", "available, {new_gib} GiB"),)),
        Phase("attach", "attach the data volume again", (
            Call("nova volumes.create_server_volume", "{server_id} {data_volume_id}"),)),
        Phase("attached", "wait for it to be in-use", (Wait("data volume {data_volume_id}", "in-use"),)),
    ),
)  # fmt: skip
DELETE = Operation("delete", S.DELETION_SCHEDULED, S.DELETING, Instance.begin_deleting, Actions.delete_step,
                   finish=_finish_delete, phases=_DELETE_PHASES)  # fmt: skip

# Importing a server no instance tracks (see importable.py): Provisioning Scheduled -> Provisioning -> Online or
# Offline as the server is. It only reads the cloud; a failure leaves the server alone and the instance Erred
# holding nothing.
from .. import importable  # noqa: E402 - kept beside its one use, so this table's edit stays local

IMPORT = Operation(
    "import", S.PROVISIONING_SCHEDULED, S.PROVISIONING, Instance.begin_provisioning, importable.import_step,
    importable.import_succeeded, compensation=importable.release_step,
    phases=(
        Phase("", "verify the server and its volumes in the cloud", (Wait("server {server_id}", "ACTIVE or SHUTOFF"),)),
        Phase("idle", "wait for the server to be idle", (Wait("server {server_id}", "no task under way"),)),
    ),
    compensation_phases=(Phase("", "leave the server as it is"),),
)  # fmt: skip

# Recovery of an Erred instance (staff): one look at the server and both volumes; it stays Erred while it runs,
# then goes Online or Offline as the server is, or stays Erred saying what is wrong. It changes nothing in the cloud.
RECOVER = Operation(
    "recover", S.ERRED, S.ERRED, Instance.begin_recovery, Actions.recover_step, Instance.recover,
    succeed_args=("running",), fail=Instance.recovery_failed,
    phases=(Phase("", "look the server and both volumes up: healthy means Online or Offline", (
        Wait("server {server_id}, root volume and data volume", "ACTIVE or SHUTOFF, both volumes in-use on it"),)),),
)  # fmt: skip


def _finish_security_groups(instance, params):
    """The instance's groups are written once the cloud's ports have them (a refusal leaves the old ones)."""
    groups = SecurityGroup.objects.filter(uuid__in=params["security_group_uuids"])
    set_instance_groups(instance, groups)


# Setting a running VM's security groups: it stays Online; a refusal leaves it Online with its old groups and
# the cloud's message in the failed event.
UPDATE_SECURITY_GROUPS = Operation(
    "update_security_groups", S.ONLINE, S.ONLINE, Instance.begin_security_groups_update,
    Actions.security_groups_step, Instance.security_groups_updated, _finish_security_groups,
    fail=Instance.security_groups_update_failed,
    phases=(Phase("", "give every port of the server exactly the instance's groups", (
        Call("neutron update_port", "(each port of server {server_id}) security_groups={security_groups}",
             only_if="the port has other groups"),)),),
)  # fmt: skip


def _finish_assign_floating_ip(instance, params):
    """The row of the IP the port got, and external_ips with its address."""
    record(instance.cloud_project_membership, params["floating_ip"], instance)
    instance.external_ips = external_ips_of(instance)


def _finish_unassign_floating_ip(instance, params):
    """The freed IPs stay the tenant's, on no instance; external_ips without them."""
    for data in params["released"]:
        record(instance.cloud_project_membership, data)
    instance.external_ips = external_ips_of(instance)


# A floating IP change keeps the VM Online or Offline; a refusal leaves it as it was, the cloud's message in the
# failed event.
_FIP_STATES = (S.ONLINE, S.OFFLINE)
ASSIGN_FLOATING_IP = Operation(
    "assign_floating_ip", S.ONLINE, S.ONLINE, Instance.begin_floating_ip_change, Actions.assign_floating_ip_step,
    Instance.floating_ip_changed, _finish_assign_floating_ip, fail=Instance.floating_ip_change_failed,
    runs_in=_FIP_STATES,
    phases=(Phase("", "give the instance's port a floating IP", _GIVE_FLOATING_IP),),
)  # fmt: skip
UNASSIGN_FLOATING_IP = Operation(
    "unassign_floating_ip", S.ONLINE, S.ONLINE, Instance.begin_floating_ip_change, Actions.unassign_floating_ip_step,
    Instance.floating_ip_changed, _finish_unassign_floating_ip, fail=Instance.floating_ip_change_failed,
    runs_in=_FIP_STATES,
    phases=(Phase("", "take the floating IP off the instance's port; it stays the tenant's", (
        Call("neutron update_floatingip", "{floating_ip_choice} port_id=None", only_if="the IP is on the port"),)),),
)  # fmt: skip


def _restore_ended(instance, params):
    """The backup the restore read is Ready again, for the next restore or its deletion, however the build ended."""
    with transaction.atomic():
        backup = Backup.objects.select_for_update().filter(
            uuid=params.get("backup_uuid"), state=BackupState.RESTORING, restoring_instance=instance.pk
        ).first()
        if backup is not None:
            backup.end_restoring()
            backup.save()


# A restore is a provision whose volumes are made from a backup's snapshots, at the snapshots' sizes: the
# instance has its own progress and plan; the backup stays Restoring until the build ends.
RESTORE = dataclasses.replace(
    PROVISION, name="restore", ended=_restore_ended,
    phases=(
        Phase("", "create the root and the data volume from the backup's snapshots, and the port", (
            Call("cinder volumes.create", "size={system_gib} GiB snapshot_id={system_snapshot_id} "
                 "name=nc-{uuid}-system"),
            Call("cinder volumes.create", "size={data_gib} GiB snapshot_id={data_snapshot_id} name=nc-{uuid}-data"),
            *PROVISION.phases[0].actions[2:])),
        *PROVISION.phases[1:],
    ),
)  # fmt: skip

OPERATIONS = {op.name: op for op in (PROVISION, STOP, START, RESTART, RESIZE_FLAVOR, RESIZE_DISK, DELETE, IMPORT,
                                     RECOVER, UPDATE_SECURITY_GROUPS, ASSIGN_FLOATING_IP,
                                     UNASSIGN_FLOATING_IP, RESTORE)}  # fmt: skip
