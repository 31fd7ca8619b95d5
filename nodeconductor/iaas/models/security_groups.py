"""Security groups of a membership (the tenant's Neutron groups we manage), their ingress rules, and their users.

The database is the source of truth: a write schedules a push (Sync Scheduled), a worker makes Neutron match
rule by rule, and the pull schedules the same push when the cloud drifted.
"""

import ipaddress

from django.core.exceptions import ValidationError
from django.db import models
from django_fsm import RETURN_VALUE, FSMField, transition

from nodeconductor.core.models import StateMachineMixin, TimeStampedMixin, UuidMixin

from .cloud import ProjectScopedQuerySet
from .operation_record import OperationRecord


class SecurityGroupState(models.TextChoices):
    """A group's push states: the sync states of clouds and memberships, plus deletion."""

    SYNC_SCHEDULED = "sync_scheduled", "Sync Scheduled"
    SYNCING = "syncing", "Syncing"
    IN_SYNC = "in_sync", "In Sync"
    ERRED = "erred", "Erred"
    DELETION_SCHEDULED = "deletion_scheduled", "Deletion Scheduled"
    DELETING = "deleting", "Deleting"


G = SecurityGroupState
# States in which a worker owns the group: the API refuses changes until it is done.
BUSY_STATES = (G.SYNCING, G.DELETION_SCHEDULED, G.DELETING)


class SecurityGroupQuerySet(ProjectScopedQuerySet):
    """Group visibility per user: the groups of the memberships of projects the user sees."""

    project_path = "membership__project"


class SecurityGroup(StateMachineMixin, UuidMixin, TimeStampedMixin, OperationRecord):
    """A named set of ingress rules in one membership's tenant; instances of that membership use it."""

    # Unbinding a project forgets its groups with it; like the tenant, they stay in the cloud.
    membership = models.ForeignKey(
        "iaas.CloudProjectMembership", on_delete=models.CASCADE, related_name="security_groups"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    backend_id = models.CharField(max_length=255, blank=True, editable=False, help_text="Neutron group id")
    state = FSMField(default=G.SYNC_SCHEDULED, choices=G.choices, protected=True, max_length=30)
    error_message = models.TextField(blank=True)
    instances = models.ManyToManyField("iaas.Instance", through="InstanceSecurityGroup", related_name="security_groups")

    objects = SecurityGroupQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=("membership", "name"), name="iaas_secgroup_unique_membership_name")
        ]

    def __str__(self):
        return self.name

    @transition(field=state, source=[G.IN_SYNC, G.ERRED], target=G.SYNC_SCHEDULED)
    def schedule_syncing(self):
        """Queue a push of the group's rules."""

    @transition(field=state, source=G.SYNC_SCHEDULED, target=RETURN_VALUE(G.IN_SYNC, G.ERRED))
    def unschedule_syncing(self, previous):
        """The task queue refused the push: back to the state it was asked in."""
        return previous

    @transition(field=state, source=G.SYNC_SCHEDULED, target=G.SYNCING)
    def begin_syncing(self):
        """A worker picked the push up."""

    @transition(field=state, source=G.SYNCING, target=G.IN_SYNC)
    def set_in_sync(self):
        """Neutron has exactly our rules; forget any earlier error."""
        self.error_message = ""

    @transition(field=state, source=[G.SYNC_SCHEDULED, G.SYNCING, G.DELETION_SCHEDULED, G.DELETING], target=G.ERRED)
    def set_erred(self, message=""):
        """The push or the deletion failed; keep the cloud's message for the user."""
        self.error_message = message

    @transition(field=state, source=[G.SYNC_SCHEDULED, G.IN_SYNC, G.ERRED], target=G.DELETION_SCHEDULED)
    def schedule_deletion(self):
        """Queue the group's removal from Neutron; the row goes once it is gone there."""

    @transition(field=state, source=G.DELETION_SCHEDULED, target=RETURN_VALUE(G.SYNC_SCHEDULED, G.IN_SYNC, G.ERRED))
    def unschedule_deletion(self, previous):
        """The task queue refused the deletion: back to the state it was asked in."""
        return previous

    @transition(field=state, source=[G.DELETION_SCHEDULED, G.DELETING], target=G.DELETING)
    def begin_deleting(self):
        """A worker is deleting the group in Neutron (again, when its first worker was lost)."""


class Protocol(models.TextChoices):
    """The protocols a rule may open."""

    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
    ICMP = "icmp", "ICMP"


def normalise_cidr(value):
    """A CIDR in its canonical form, or ValidationError saying how to write it."""
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as exc:
        hint = "; use the network address, e.g. 10.0.0.0/24" if "host bits set" in str(exc) else ""
        raise ValidationError(f"{value!r} is not a valid IPv4 or IPv6 CIDR ({exc}){hint}.") from None
    return str(network)


class SecurityGroupRule(models.Model):
    """One ingress rule: a protocol, a port range (ICMP: type and code), from one CIDR."""

    group = models.ForeignKey(SecurityGroup, on_delete=models.CASCADE, related_name="rules")
    protocol = models.CharField(max_length=4, choices=Protocol.choices)
    from_port = models.IntegerField(null=True, blank=True, help_text="First port (ICMP: the type; empty: any)")
    to_port = models.IntegerField(null=True, blank=True, help_text="Last port (ICMP: the code; empty: any)")
    cidr = models.CharField(max_length=43, default="0.0.0.0/0", help_text="Source addresses, IPv4 or IPv6")
    direction = models.CharField(max_length=7, default="ingress", choices=[("ingress", "ingress")])
    backend_id = models.CharField(max_length=255, blank=True, editable=False, help_text="Neutron rule id")

    class Meta:
        ordering = ("pk",)

    def __str__(self):
        ports = "" if self.from_port is None else f" {self.from_port}-{self.to_port}"
        return f"{self.protocol}{ports} from {self.cidr}"

    def clean(self):
        """Ports 1-65535 with from <= to for TCP/UDP; ICMP type 0-255 and code 0-255 (or none); a valid CIDR."""
        super().clean()
        errors = {}
        try:
            self.cidr = normalise_cidr(self.cidr)
        except ValidationError as exc:
            errors["cidr"] = exc.messages
        if self.protocol == Protocol.ICMP:
            if self.from_port is not None and not 0 <= self.from_port <= 255:
                errors["from_port"] = ["The ICMP type must be 0 to 255, or empty for any type."]
            if self.to_port is not None and not 0 <= self.to_port <= 255:
                errors["to_port"] = ["The ICMP code must be 0 to 255, or empty for any code."]
            elif self.to_port is not None and self.from_port is None:
                errors["to_port"] = ["An ICMP code needs an ICMP type in from_port."]
        elif self.protocol in (Protocol.TCP, Protocol.UDP):
            for field in ("from_port", "to_port"):
                value = getattr(self, field)
                if value is None:
                    errors[field] = [f"A {self.protocol.upper()} rule needs a port: 1 to 65535."]
                elif not 1 <= value <= 65535:
                    errors[field] = [f"Ports are 1 to 65535; {value} is not."]
            if not errors.keys() & {"from_port", "to_port"} and self.from_port > self.to_port:
                errors["to_port"] = [f"Must be at least from_port ({self.from_port})."]
        if errors:
            raise ValidationError(errors)

    def neutron_rule(self):
        """The rule in Neutron's keys (ICMP type and code go in the port range, as Neutron wants them)."""
        network = ipaddress.ip_network(self.cidr)
        return {
            "direction": self.direction,
            "ethertype": f"IPv{network.version}",
            "protocol": self.protocol,
            "port_range_min": self.from_port,
            "port_range_max": self.to_port,
            "remote_ip_prefix": str(network),
        }


class InstanceSecurityGroup(models.Model):
    """An instance uses a group (its ports carry it); a group in use cannot be deleted."""

    instance = models.ForeignKey("iaas.Instance", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(SecurityGroup, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=("instance", "group"), name="iaas_instance_secgroup_unique")]


def set_instance_groups(instance, groups):
    """Record which groups an instance uses (rows only; callers schedule what the cloud must do)."""
    InstanceSecurityGroup.objects.filter(instance=instance).exclude(group__in=groups).delete()
    have = set(InstanceSecurityGroup.objects.filter(instance=instance).values_list("group_id", flat=True))
    InstanceSecurityGroup.objects.bulk_create(
        [InstanceSecurityGroup(instance=instance, group=g) for g in groups if g.pk not in have]
    )
