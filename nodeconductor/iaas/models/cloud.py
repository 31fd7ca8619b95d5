"""Cloud accounts and the tenants that bind projects to them."""

from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef
from django_fsm import RETURN_VALUE, FSMField, transition

from nodeconductor.core.models import StateMachineMixin, TimeStampedMixin, UuidMixin
from nodeconductor.structure.models import (
    CustomerPermission,
    Project,
    ProjectGroupPermission,
    ProjectPermission,
)

from .operation_record import OperationRecord


class SyncState(models.TextChoices):
    """Synchronisation states of clouds and memberships, shown as the original's display strings."""

    SYNC_SCHEDULED = "sync_scheduled", "Sync Scheduled"
    SYNCING = "syncing", "Syncing"
    IN_SYNC = "in_sync", "In Sync"
    ERRED = "erred", "Erred"


class SynchronizableMixin(StateMachineMixin, OperationRecord):
    """Sync state machine shared by clouds and memberships (transitions only, no I/O), and its operation's record."""

    state = FSMField(default=SyncState.SYNC_SCHEDULED, choices=SyncState.choices, protected=True, max_length=20)
    error_message = models.TextField(blank=True)

    class Meta:
        abstract = True

    @transition(field=state, source=[SyncState.IN_SYNC, SyncState.ERRED], target=SyncState.SYNC_SCHEDULED)
    def schedule_syncing(self):
        """Queue a sync; allowed when none is queued or running."""

    @transition(field=state, source=SyncState.SYNC_SCHEDULED, target=RETURN_VALUE(SyncState.IN_SYNC, SyncState.ERRED))
    def unschedule_syncing(self, previous):
        """The task queue refused the sync: back to the state it was asked in."""
        return previous

    @transition(field=state, source=SyncState.SYNC_SCHEDULED, target=SyncState.SYNCING)
    def begin_syncing(self):
        """A worker picked the sync up."""

    @transition(field=state, source=SyncState.SYNCING, target=SyncState.IN_SYNC)
    def set_in_sync(self):
        """The sync succeeded; forget any earlier error."""
        self.error_message = ""

    @transition(field=state, source=[SyncState.SYNC_SCHEDULED, SyncState.SYNCING], target=SyncState.ERRED)
    def set_erred(self, message=""):
        """The sync failed; keep the cloud's message for the user."""
        self.error_message = message


def _credentials_for(auth_url):
    """Return the configured admin credentials of an auth_url, or None."""
    wanted = (auth_url or "").rstrip("/")
    for creds in settings.NODECONDUCTOR.get("OPENSTACK_CREDENTIALS", ()):
        if creds.get("auth_url", "").rstrip("/") == wanted:
            return creds
    return None


def auth_url_spellings(auth_url):
    """The auth_urls that name one OpenStack, as credentials are matched: with and without the trailing slash."""
    base = (auth_url or "").rstrip("/")
    return [base, base + "/"]


def configured_auth_urls():
    """The auth_urls that have credentials in settings (never the credentials themselves)."""
    return [c["auth_url"] for c in settings.NODECONDUCTOR.get("OPENSTACK_CREDENTIALS", ()) if "auth_url" in c]


class CloudQuerySet(models.QuerySet):
    """Cloud visibility per user, and the rows that share one OpenStack."""

    def on_openstack(self, auth_url):
        """Every Cloud row on the OpenStack of auth_url, whatever its customer: tenants and servers belong to the
        OpenStack, not to a row, so whatever decides who holds a tenant looks across all of them."""
        return self.filter(auth_url__in=auth_url_spellings(auth_url))

    def for_user(self, user):
        """Clouds of customers the user owns, or linked to projects he holds a role in; staff see all."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        memberships = CloudProjectMembership.objects.filter(cloud=OuterRef("pk"))
        project_role = ProjectPermission.objects.filter(project=OuterRef("project"), user=user)
        group_role = ProjectGroupPermission.objects.filter(project_group__projects=OuterRef("project"), user=user)
        return self.filter(
            Exists(CustomerPermission.objects.filter(customer=OuterRef("customer"), user=user))
            | Exists(memberships.filter(Exists(project_role)))
            | Exists(memberships.filter(Exists(group_role)))
        )


class Cloud(SynchronizableMixin, UuidMixin, TimeStampedMixin):
    """One OpenStack account of a customer; its admin credentials live in settings, keyed by auth_url."""

    customer = models.ForeignKey("structure.Customer", on_delete=models.PROTECT, related_name="clouds")
    name = models.CharField(max_length=100)
    auth_url = models.CharField(max_length=200, help_text="Keystone URL; must be listed in OPENSTACK_CREDENTIALS.")
    last_pulled = models.DateTimeField(null=True, blank=True, editable=False)
    # Staff price the storage of each cloud: both volumes of an instance count, in whole GiB as Cinder bills them.
    storage_monthly_fee = models.DecimalField(
        max_digits=9, decimal_places=4, default=Decimal(0), validators=[MinValueValidator(Decimal(0))],
        help_text="A month of one GiB of volume storage, in the CURRENCY setting's currency.",
    )  # fmt: skip

    objects = CloudQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("customer", "name"), name="iaas_cloud_unique_customer_name")]

    def __str__(self):
        return self.name

    def clean(self):
        """Refuse an auth_url that has no credentials in settings, naming the ones that do."""
        super().clean()
        if _credentials_for(self.auth_url) is None:
            urls = ", ".join(configured_auth_urls()) or "none"
            raise ValidationError({"auth_url": f"No credentials are configured for this auth_url. Configured: {urls}."})

    def get_credentials(self):
        """The admin credentials for this cloud from settings (for the backend only)."""
        return _credentials_for(self.auth_url)

    def get_backend(self):
        """The way into this cloud (the seed's `cloud.get_backend()`): its adapter, through the application façade.

        Found through Django's app registry (IaasConfig.backend_for), so the models import nothing above them.
        """
        return apps.get_app_config("iaas").backend_for(self)


TENANT_TAKEN = (
    "tenant {tenant} is bound to a project of another customer on this OpenStack, which bound it first; a tenant "
    "belongs to one customer. Delete this membership and bind the project again without tenant_id."
)
TENANT_OF_ANOTHER_CUSTOMER = (
    "This tenant is bound to a project of another customer on this OpenStack, and a tenant belongs to one customer. "
    "Leave tenant_id out to have a tenant made for the project."
)


class Networking(models.TextChoices):
    """What networking a membership's tenant has, as its sync found or made it."""

    UNKNOWN = "", "Not set up yet (the membership was not synced)"
    ROUTED = "routed", "Routed: a router joins the tenant network to the external network"
    INTERNAL_ONLY = "internal_only", "Internal networking only: the cloud has no external network"
    NONE = "none", 'None: the cloud has no Neutron, or OPENSTACK_NETWORKS is "none"'


class ProjectScopedQuerySet(models.QuerySet):
    """The one visibility rule of whatever lives in a project's membership: staff see all, others their projects'."""

    # The lookup from the model to its project; a subclass for a model under a membership says "membership__project".
    project_path = "project"

    def for_user(self, user):
        """Rows under the projects the user sees."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(**{f"{self.project_path}__in": Project.objects.for_user(user)})


class CloudProjectMembershipQuerySet(ProjectScopedQuerySet):
    """Membership visibility per user, and the memberships that hold one tenant."""

    def of_tenant(self, auth_url, tenant_id):
        """Memberships bound to tenant_id on the OpenStack of auth_url, under any Cloud row."""
        return self.filter(cloud__in=Cloud.objects.on_openstack(auth_url), tenant_id=tenant_id)


class CloudProjectMembership(SynchronizableMixin, UuidMixin, TimeStampedMixin):
    """A project's tenant in a cloud, with the quotas the cloud enforces there."""

    project = models.ForeignKey("structure.Project", on_delete=models.PROTECT, related_name="cloud_memberships")
    cloud = models.ForeignKey(Cloud, on_delete=models.PROTECT, related_name="memberships")
    tenant_id = models.CharField(max_length=64, blank=True, help_text="Keystone project id; empty to create one.")
    # Limits pulled from Nova and Cinder (-1 = unlimited); sizes in MiB like everything in the API.
    quota_vcpu = models.IntegerField(default=-1)
    quota_ram = models.IntegerField(default=-1, help_text="MiB")
    quota_storage = models.BigIntegerField(default=-1, help_text="MiB")
    quota_max_instances = models.IntegerField(default=-1)
    # Our own limits on the security groups of the membership and their rules (-1 = unlimited).
    quota_security_group_count = models.IntegerField(default=-1)
    quota_security_group_rule_count = models.IntegerField(default=-1)
    # Our own limit on the floating IPs the tenant holds, free or in use (-1 = unlimited).
    quota_floating_ip_count = models.IntegerField(default=-1)
    # Backups: the snapshots Cinder allows (pulled), and our own limit on their size, MiB (-1 = unlimited).
    quota_snapshot_count = models.IntegerField(default=-1)
    quota_snapshot_storage = models.BigIntegerField(default=-1, help_text="MiB")
    # The quotas whose usage is past the warning threshold: the warning comes again only after usage fell under.
    quota_alerts = models.JSONField(default=list, blank=True, editable=False)
    # The tenant's one network set, found or made by the sync (Neutron ids); instances boot on ports there.
    networking = models.CharField(max_length=20, choices=Networking.choices, blank=True, default="")
    network_id = models.CharField(max_length=64, blank=True)
    subnet_id = models.CharField(max_length=64, blank=True)
    internal_cidr = models.CharField(max_length=43, blank=True)
    router_id = models.CharField(max_length=64, blank=True)
    external_network_id = models.CharField(max_length=64, blank=True)

    objects = CloudProjectMembershipQuerySet.as_manager()

    class Meta:
        ordering = ("project__name", "cloud__name")
        constraints = [
            models.UniqueConstraint(fields=("project", "cloud"), name="iaas_membership_unique_project_cloud")
        ]

    def __str__(self):
        return f"{self.project.name} in {self.cloud.name}"

    def clean(self):
        """A project may only join clouds of its own customer, and a tenant belongs to one customer.

        The admin credentials reach every tenant of their OpenStack, so a tenant that a project of another
        customer holds there (under any Cloud row) is refused: its servers, quotas and untracked leftovers are
        that customer's.
        """
        super().clean()
        if self.project_id and self.cloud_id and self.project.customer_id != self.cloud.customer_id:
            raise ValidationError({"cloud": "The cloud belongs to another customer than the project."})
        if self.project_id and self.cloud_id and self.tenant_id:
            if self._other_customers_bindings().exclude(pk=self.pk).exists():
                raise ValidationError({"tenant_id": TENANT_OF_ANOTHER_CUSTOMER})

    def _other_customers_bindings(self):
        """Memberships of other customers' projects bound to this tenant on this OpenStack, under any Cloud row."""
        return CloudProjectMembership.objects.of_tenant(self.cloud.auth_url, self.tenant_id).exclude(
            project__customer_id=self.project.customer_id
        )

    def tenant_taken(self):
        """Whether a project of another customer bound this tenant, on this OpenStack, before this membership did.

        clean() refuses such a binding when it is made; this is the worker's check of the rows that passed it
        anyway: two binds at once, a project moved to another customer, rows from before the rule. The tenant
        stays with the customer who bound it first, and the later binding goes Erred.
        """
        if not self.tenant_id or self.pk is None:
            return False
        return self._other_customers_bindings().filter(pk__lt=self.pk).exists()
