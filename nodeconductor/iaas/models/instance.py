"""Instances: boot-from-volume VMs and their state machine."""

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce, Greatest
from django_fsm import RETURN_VALUE, FSMField, transition

from nodeconductor.core.models import StateMachineMixin, TimeStampedMixin, UuidMixin
from nodeconductor.structure.models import Project

from .cloud import auth_url_spellings
from .operation_record import OperationRecord


def default_data_volume_size():
    """Data volume size (MiB) for instances created without one, as the seed does."""
    return settings.NODECONDUCTOR.get("DEFAULT_DATA_VOLUME_SIZE", 20 * 1024)


class InstanceState(models.TextChoices):
    """Instance states with the display strings the original API used."""

    PROVISIONING_SCHEDULED = "provisioning_scheduled", "Provisioning Scheduled"
    PROVISIONING = "provisioning", "Provisioning"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    STARTING_SCHEDULED = "starting_scheduled", "Starting Scheduled"
    STARTING = "starting", "Starting"
    STOPPING_SCHEDULED = "stopping_scheduled", "Stopping Scheduled"
    STOPPING = "stopping", "Stopping"
    RESTARTING_SCHEDULED = "restarting_scheduled", "Restarting Scheduled"
    RESTARTING = "restarting", "Restarting"
    RESIZING_SCHEDULED = "resizing_scheduled", "Resizing Scheduled"
    RESIZING = "resizing", "Resizing"
    DELETION_SCHEDULED = "deletion_scheduled", "Deletion Scheduled"
    DELETING = "deleting", "Deleting"
    ERRED = "erred", "Erred"


S = InstanceState
# Every state in which a worker owns the instance; a failure there ends Erred.
WORKING_STATES = [
    S.PROVISIONING_SCHEDULED,
    S.PROVISIONING,
    S.STARTING_SCHEDULED,
    S.STARTING,
    S.STOPPING_SCHEDULED,
    S.STOPPING,
    S.RESTARTING_SCHEDULED,
    S.RESTARTING,
    S.RESIZING_SCHEDULED,
    S.RESIZING,
    S.DELETION_SCHEDULED,
    S.DELETING,
]
# States in which the instance holds nothing in flight and a pull may reconcile it with the cloud.
STABLE_STATES = [S.ONLINE, S.OFFLINE, S.ERRED]


def canonical_uuid(value):
    """A value from a cloud's metadata as the canonical uuid string it spells, or "" when it spells none."""
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        return ""


class InstanceQuerySet(models.QuerySet):
    """Instance visibility per user."""

    def for_user(self, user):
        """Instances of projects the user sees."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(cloud_project_membership__project__in=Project.objects.for_user(user))

    def on_tenant(self, auth_url, tenant_id):
        """Instances of every membership bound to tenant_id on the OpenStack of auth_url, under any Cloud row or
        customer: what a tenant tracks is decided per OpenStack and tenant, never per row."""
        return self.filter(
            cloud_project_membership__cloud__auth_url__in=auth_url_spellings(auth_url),
            cloud_project_membership__tenant_id=tenant_id,
        )

    def known_uuids(self, values):
        """The values (strings from a cloud's metadata, which a tenant's users can write) that are uuids of these
        instances, as strings; anything that is not a uuid is simply not one of ours."""
        wanted = set(filter(None, map(canonical_uuid, values)))
        return {str(u) for u in self.filter(uuid__in=wanted).values_list("uuid", flat=True)} if wanted else set()

    def holding_quota(self):
        """Instances that count against quotas: all but erred ones that left nothing in the cloud."""
        return self.exclude(state=S.ERRED, backend_id="", system_volume_id="", data_volume_id="")

    def quota_usage(self):
        """What these instances hold against quotas: vcpu, ram, storage (MiB) and max_instances."""
        totals = self.holding_quota().aggregate(
            **{key: Coalesce(Sum(expression), 0) for key, expression in quota_expressions().items()},
            max_instances=Count("pk"),
        )
        return {key: int(value) for key, value in totals.items()}


def quota_expressions():
    """Per-instance quota use; a scheduled resize counts at its target until it ends, so it is reserved."""
    return {
        "vcpu": Greatest("cores", Coalesce("pending_cores", "cores")),
        "ram": Greatest("ram", Coalesce("pending_ram", "ram")),
        "storage": F("system_volume_size")
        + Greatest("data_volume_size", Coalesce("pending_data_volume_size", "data_volume_size")),
    }


class Instance(StateMachineMixin, UuidMixin, TimeStampedMixin, OperationRecord):
    """A VM booted from a root volume (the template's image) with an empty data volume attached."""

    hostname = models.CharField(max_length=80)
    description = models.CharField(max_length=500, blank=True)
    template = models.ForeignKey("iaas.Template", on_delete=models.PROTECT, related_name="instances")
    cloud_project_membership = models.ForeignKey(
        "iaas.CloudProjectMembership", on_delete=models.PROTECT, related_name="instances"
    )
    flavor = models.ForeignKey("iaas.Flavor", on_delete=models.PROTECT, related_name="instances", null=True, blank=True)
    agreed_sla = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    cores = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    ram = models.PositiveIntegerField(default=512, help_text="MiB", validators=[MinValueValidator(1)])
    system_volume_size = models.PositiveIntegerField(help_text="MiB", validators=[MinValueValidator(1)])
    data_volume_size = models.PositiveIntegerField(
        default=default_data_volume_size, help_text="MiB", validators=[MinValueValidator(1)]
    )
    ssh_public_key = models.ForeignKey(
        "core.SshPublicKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="instances"
    )
    # Copied at creation so the VM keeps its key facts when the user deletes the key.
    key_name = models.CharField(max_length=50, blank=True)
    key_fingerprint = models.CharField(max_length=47, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Given to Nova as it was written (cloud-init reads it at first boot); kept so a restore boots with it too.
    user_data = models.TextField(blank=True, default="", help_text="cloud-init user data, as given at creation")

    backend_id = models.CharField(max_length=255, blank=True, help_text="Nova server id")
    system_volume_id = models.CharField(max_length=255, blank=True, help_text="Cinder id of the root volume")
    data_volume_id = models.CharField(max_length=255, blank=True, help_text="Cinder id of the data volume")
    port_id = models.CharField(max_length=255, blank=True, help_text="Neutron id of the port it boots on")
    internal_ips = models.CharField(max_length=255, blank=True)
    external_ips = models.CharField(max_length=255, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    # What a scheduled resize will grow to: counted against quota until the resize ends, then cleared.
    pending_cores = models.PositiveIntegerField(null=True, blank=True, editable=False)
    pending_ram = models.PositiveIntegerField(null=True, blank=True, editable=False, help_text="MiB")
    pending_data_volume_size = models.PositiveIntegerField(null=True, blank=True, editable=False, help_text="MiB")

    state = FSMField(default=S.PROVISIONING_SCHEDULED, choices=S.choices, protected=True, max_length=30)
    error_message = models.TextField(blank=True)

    # When a queued provision was handed a freed build slot: its step is on the way and holds that slot, so no
    # other hand-off sends it again. The next step to run clears it (it began its build or queued anew).
    operation_slot_handed = models.DateTimeField(null=True, blank=True, editable=False)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ("-created",)
        # "-created" backs the default order of every list; state and hostname back the portal's filters. On
        # PostgreSQL, migration 0010 adds a trigram index for ?hostname= (icontains); it is not declared here
        # because SQLite cannot build it.
        indexes = [
            models.Index(fields=("-created",), name="iaas_instance_created_idx"),
            models.Index(fields=("state",)),
            models.Index(fields=("hostname",)),
            models.Index(fields=("operation_due",), name="iaas_instance_op_due_idx"),
        ]

    def holds_quota(self):
        """The row's own answer to InstanceQuerySet.holding_quota: all but an Erred one that left nothing."""
        return not (self.state == S.ERRED and not self.backend_id and not self.system_volume_id
                    and not self.data_volume_id)  # fmt: skip

    def __str__(self):
        return self.hostname

    @property
    def project(self):
        """The project the instance belongs to, through its membership."""
        return self.cloud_project_membership.project

    @property
    def cloud(self):
        """The cloud the instance lives in, through its membership."""
        return self.cloud_project_membership.cloud

    # Provisioning
    @transition(field=state, source=S.PROVISIONING_SCHEDULED, target=S.PROVISIONING)
    def begin_provisioning(self):
        """A worker started building the VM."""

    @transition(field=state, source=[S.PROVISIONING, S.STARTING, S.RESTARTING], target=S.ONLINE)
    def set_online(self):
        """The cloud reports the VM running."""
        self.error_message = ""

    # Power
    @transition(field=state, source=S.ONLINE, target=S.STOPPING_SCHEDULED)
    def schedule_stopping(self):
        """Queue a stop; only a running VM can be stopped."""

    @transition(field=state, source=S.STOPPING_SCHEDULED, target=S.STOPPING)
    def begin_stopping(self):
        """A worker is stopping the VM."""

    @transition(field=state, source=[S.STOPPING, S.RESIZING, S.PROVISIONING], target=S.OFFLINE)
    def set_offline(self):
        """The cloud reports the VM shut off (from Provisioning: an imported server that is shut off)."""
        self.error_message = ""

    @transition(field=state, source=S.OFFLINE, target=S.STARTING_SCHEDULED)
    def schedule_starting(self):
        """Queue a start; only a stopped VM can be started."""

    @transition(field=state, source=S.STARTING_SCHEDULED, target=S.STARTING)
    def begin_starting(self):
        """A worker is starting the VM."""

    @transition(field=state, source=S.ONLINE, target=S.RESTARTING_SCHEDULED)
    def schedule_restarting(self):
        """Queue a reboot; only a running VM can be restarted."""

    @transition(field=state, source=S.RESTARTING_SCHEDULED, target=S.RESTARTING)
    def begin_restarting(self):
        """A worker is rebooting the VM."""

    # Resize (flavor or data disk): stopped VMs only.
    @transition(field=state, source=S.OFFLINE, target=S.RESIZING_SCHEDULED)
    def schedule_resizing(self):
        """Queue a flavor or disk resize; only a stopped VM can be resized."""

    @transition(field=state, source=S.RESIZING_SCHEDULED, target=S.RESIZING)
    def begin_resizing(self):
        """A worker is resizing the VM."""

    # Deletion
    @transition(field=state, source=[S.OFFLINE, S.ERRED], target=S.DELETION_SCHEDULED)
    def schedule_deletion(self):
        """Queue deletion; only stopped or erred VMs can be deleted."""

    @transition(field=state, source=S.DELETION_SCHEDULED, target=S.DELETING)
    def begin_deleting(self):
        """A worker is deleting the VM and its volumes."""

    @transition(
        field=state,
        source=[S.STARTING_SCHEDULED, S.STOPPING_SCHEDULED, S.RESTARTING_SCHEDULED, S.RESIZING_SCHEDULED,
                S.DELETION_SCHEDULED],
        target=RETURN_VALUE(S.ONLINE, S.OFFLINE, S.ERRED),
    )  # fmt: skip
    def unschedule(self, previous):
        """The task queue refused the operation: back to the state it was asked in, as if never asked."""
        self.pending_cores = self.pending_ram = self.pending_data_volume_size = None
        return previous

    @transition(field=state, source=S.ONLINE, target=S.ONLINE)
    def schedule_security_groups_update(self):
        """Queue setting the running VM's security groups; it stays Online while a worker applies them."""

    @transition(field=state, source=S.ONLINE, target=S.ONLINE)
    def begin_security_groups_update(self):
        """A worker sets the ports' groups; the VM stays Online and keeps running."""

    @transition(field=state, source=S.ONLINE, target=S.ONLINE)
    def security_groups_updated(self):
        """The cloud's ports have the instance's groups now."""

    @transition(field=state, source=S.ONLINE, target=S.ONLINE)
    def security_groups_update_failed(self, message):
        """The cloud refused the ports' groups: the VM still runs with the ones it had; the event says why."""

    @transition(field=state, source=[S.ONLINE, S.OFFLINE], target=RETURN_VALUE(S.ONLINE, S.OFFLINE))
    def back_up(self):
        """A backup of the VM's volumes is taken; it stays Online or Offline (the backup has its own states)."""
        return self.state

    @transition(field=state, source=[S.ONLINE, S.OFFLINE], target=RETURN_VALUE(S.ONLINE, S.OFFLINE))
    def schedule_floating_ip_change(self):
        """Queue assigning or unassigning a floating IP; the VM stays Online or Offline while a worker does it."""
        return self.state

    @transition(field=state, source=[S.ONLINE, S.OFFLINE], target=RETURN_VALUE(S.ONLINE, S.OFFLINE))
    def begin_floating_ip_change(self):
        """A worker changes the port's floating IP; the VM stays as it was, running or stopped."""
        return self.state

    @transition(field=state, source=[S.ONLINE, S.OFFLINE], target=RETURN_VALUE(S.ONLINE, S.OFFLINE))
    def floating_ip_changed(self):
        """The cloud made the change; the VM's floating IP rows and external_ips say which it has now."""
        return self.state

    @transition(field=state, source=[S.ONLINE, S.OFFLINE], target=RETURN_VALUE(S.ONLINE, S.OFFLINE))
    def floating_ip_change_failed(self, message):
        """The cloud refused the change (pool exhausted, no router): the VM keeps its IPs; the event says why."""
        return self.state

    # Failure and recovery
    @transition(field=state, source=WORKING_STATES + [S.ONLINE, S.OFFLINE], target=S.ERRED)
    def set_erred(self, message=""):
        """Something failed; keep the reason (the cloud's message) for the user."""
        self.error_message = message

    @transition(field=state, source=S.ERRED, target=S.ERRED)
    def schedule_recovery(self):
        """Staff asked a worker to reconcile an Erred instance with the cloud; it stays Erred until then."""

    @transition(field=state, source=S.ERRED, target=S.ERRED)
    def begin_recovery(self):
        """A worker looks the server and both volumes up; the instance stays Erred while it does."""

    @transition(field=state, source=S.ERRED, target=RETURN_VALUE(S.ONLINE, S.OFFLINE))
    def recover(self, running):
        """The recovery found the server and both volumes healthy: Online when the server runs, else Offline."""
        self.error_message = ""
        return S.ONLINE if running else S.OFFLINE

    @transition(field=state, source=S.ERRED, target=S.ERRED)
    def recovery_failed(self, message):
        """The recovery found something wrong (or could not look): the instance stays Erred saying what."""
        self.error_message = message

    @transition(field=state, source=[S.ERRED, S.OFFLINE], target=S.ONLINE)
    def recover_online(self):
        """A pull found the VM running: an erred VM recovers, a stopped one was started behind our back."""
        self.error_message = ""

    @transition(field=state, source=[S.ERRED, S.ONLINE], target=S.OFFLINE)
    def recover_offline(self):
        """A pull found the VM shut off: an erred VM recovers, a running one was stopped behind our back."""
        self.error_message = ""
