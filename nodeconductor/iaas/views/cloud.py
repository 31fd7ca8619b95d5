"""IaaS cloud endpoints: cloud accounts (with their pull) and project memberships (with their quotas).

Visibility comes from each model's `for_user()` (invisible is 404); `can_manage()` decides the 403s.
A customer or project named in a create body that the requester cannot see is a 400 on its field;
one he sees but does not own is a 403.
"""

import django_filters
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Subquery, Sum
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import decorators, mixins, response, status, viewsets

from nodeconductor.core import filters
from nodeconductor.core.permissions import CanManageObject, deny_unless, is_staff
from nodeconductor.core.schema import ERRORS, accepted, conflict
from nodeconductor.core.views import UuidViewSetMixin, scheduled
from nodeconductor.iaas import plans
from nodeconductor.iaas.models import Backup, Cloud, CloudProjectMembership, Flavor, Instance, SyncState
from nodeconductor.iaas.models.instance import quota_expressions
from nodeconductor.iaas.resource_operations import PULL_CLOUD, SYNC_MEMBERSHIP
from nodeconductor.iaas.serializers.cloud import (
    QUOTA_FIELDS,
    CloudProjectMembershipSerializer,
    CloudSerializer,
    MembershipQuotasSerializer,
)
from nodeconductor.iaas.serializers.imports import ImportableServerSerializer, InstanceImportSerializer
from nodeconductor.iaas.serializers.instance import InstanceSerializer
from nodeconductor.iaas.services import clouds as services
from nodeconductor.iaas.services import imports as import_services
from nodeconductor.structure.models import CustomerPermission, CustomerRole

from .dry_runs import DRY_RUN, RESOURCE_PLAN, dry_run, plan_answer

NOT_OWNER = "Only staff and owners of the customer may do this."
EXISTING_TENANT_STAFF_ONLY = (
    "Only staff may bind an existing tenant: the cloud's admin credentials reach every tenant of the OpenStack, so "
    "only the operator can tell which one is this customer's. Leave tenant_id out to have a tenant made for the "
    "project."
)


class _CreateListRetrieveDestroyViewSet(
    UuidViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Clouds and memberships are created and deleted, never edited: their identity is their binding."""

    permission_classes = (CanManageObject,)


class CloudFilter(filters.NameFilterSet):
    """Filters of `/api/clouds/`: `?customer=<uuid>`, `?name=`, `?state=`."""

    customer = filters.UUIDFilter("customer")
    state = django_filters.ChoiceFilter(choices=SyncState.choices)

    class Meta:
        model = Cloud
        fields = ("name", "customer", "state")


@extend_schema_view(
    list=extend_schema(
        summary="List clouds",
        description="Clouds of owned customers and clouds linked to the requester's projects; staff all. "
        "auth_url is shown to owners and staff only.",
    ),
    retrieve=extend_schema(summary="Show a cloud"),
    create=extend_schema(
        summary="Create a cloud (owners, staff)",
        description="auth_url must have credentials in settings; a pull of the catalogue is scheduled.",
    ),
    destroy=extend_schema(
        summary="Delete a cloud (owners, staff)",
        responses={204: None, 409: conflict("The cloud still has project memberships; delete them first.")},
    ),
)
class CloudViewSet(_CreateListRetrieveDestroyViewSet):
    """Owners and staff register a customer's OpenStack accounts; members of linked projects read them."""

    queryset = Cloud.objects.all()
    serializer_class = CloudSerializer
    filterset_class = CloudFilter
    ordering_fields = ("name", "created", "customer__name", "state", "last_pulled")

    def get_queryset(self):
        """Visible clouds with the customer, the offered flavors and whether the requester owns the customer."""
        user = self.request.user
        queryset = (
            super()
            .get_queryset()
            .select_related("customer")
            .prefetch_related(
                Prefetch("flavors", queryset=Flavor.objects.filter(is_active=True), to_attr="active_flavors")
            )
        )
        if user.is_authenticated:
            owner = CustomerPermission.objects.filter(customer=OuterRef("customer"), user=user, role=CustomerRole.OWNER)
            queryset = queryset.annotate(user_is_owner=Exists(owner))
        return queryset

    def can_manage(self, user, cloud):
        """Staff and owners of the cloud's customer."""
        return is_staff(user) or bool(getattr(cloud, "user_is_owner", False)) or cloud.customer.can_manage(user)

    def perform_create(self, serializer):
        """Owners create clouds only for their customer (an invisible customer was a 400 already)."""
        deny_unless(serializer.validated_data["customer"].can_manage(self.request.user), NOT_OWNER)
        serializer.save()

    def perform_destroy(self, instance):
        """Delete through the service so remaining memberships give a 409."""
        services.cloud_delete(instance)

    @extend_schema(
        summary="Pull the cloud's catalogue now (owners, staff)",
        request=None,
        parameters=[DRY_RUN],
        responses={
            202: accepted('{"status": "sync was scheduled"}; the cloud is Sync Scheduled until a worker pulls it.'),
            200: RESOURCE_PLAN,
            409: conflict("A pull is already scheduled or running."),
        },
    )
    @decorators.action(detail=True, methods=["post"])
    def sync(self, request, uuid=None):
        """Schedule a pull of flavors, images and quotas; 409 while one is queued or running."""
        cloud = self.get_object()
        if dry_run(request):
            services.require_idle(cloud)
            return plan_answer(plans.plan_resource(PULL_CLOUD, cloud))
        services.cloud_schedule_pull(cloud)
        return scheduled("sync")


class CloudProjectMembershipFilter(django_filters.FilterSet):
    """Filters of `/api/project-cloud-memberships/`: `?project=<uuid>`, `?cloud=<uuid>`, `?state=`."""

    project = filters.UUIDFilter("project")
    cloud = filters.UUIDFilter("cloud")
    state = django_filters.ChoiceFilter(choices=SyncState.choices)

    class Meta:
        model = CloudProjectMembership
        fields = ("project", "cloud", "state")


def _usage_sum(expression):
    """A subquery summing `expression` over the membership's instances that hold quota (0 when none)."""
    instances = (
        Instance.objects.holding_quota()
        .filter(cloud_project_membership=OuterRef("pk"))
        .order_by()
        .values("cloud_project_membership")
    )
    aggregate = Count("pk") if expression is None else Sum(expression)
    return Coalesce(Subquery(instances.annotate(total=aggregate).values("total")[:1]), 0, output_field=IntegerField())


def _backup_sum(field):
    """A subquery counting the membership's backups that hold snapshots, or summing `field` over them (0: none)."""
    backups = Backup.objects.holding_quota().filter(membership=OuterRef("pk")).order_by().values("membership")
    aggregate = Count("pk") if field is None else Sum(field)
    return Coalesce(Subquery(backups.annotate(total=aggregate).values("total")[:1]), 0, output_field=IntegerField())


@extend_schema_view(
    list=extend_schema(
        summary="List project-cloud memberships",
        description="Memberships of projects the requester sees, with quotas and the usage of their instances.",
    ),
    retrieve=extend_schema(summary="Show a membership"),
    create=extend_schema(
        summary="Bind a project to a cloud (owners, staff)",
        description="Without tenant_id a Keystone project named after the project's uuid is created. With "
        "tenant_id (staff only: 403 for anyone else) that existing tenant is verified and the admin user granted a "
        "role there; a tenant bound to a project of another customer on the same OpenStack is a 400, and the "
        "admin credentials' own project ends Erred. Both happen in a worker: the membership is Sync Scheduled, "
        "then In Sync or Erred with the cloud's message.",
    ),
    destroy=extend_schema(
        summary="Unbind a project from a cloud (owners, staff)",
        description="The tenant itself stays in the cloud.",
        responses={204: None, 409: conflict("The membership still has instances; delete them first.")},
    ),
)
class CloudProjectMembershipViewSet(_CreateListRetrieveDestroyViewSet):
    """Owners and staff bind their projects to their clouds; whoever sees the project reads its memberships."""

    queryset = CloudProjectMembership.objects.all()
    serializer_class = CloudProjectMembershipSerializer
    filterset_class = CloudProjectMembershipFilter
    ordering_fields = ("project__name", "cloud__name", "state", "created")

    def get_queryset(self):
        """Visible memberships with project, cloud and the usage of their instances in the one query."""
        usage = quota_expressions()
        return (
            super()
            .get_queryset()
            .select_related("project__customer", "cloud")
            .annotate(
                usage_vcpu=_usage_sum(usage["vcpu"]),
                usage_ram=_usage_sum(usage["ram"]),
                usage_storage=_usage_sum(usage["storage"]),
                usage_count=_usage_sum(None),
                usage_snapshots=_backup_sum(None),
                usage_snapshot_storage=_backup_sum("size"),
            )
        )

    def can_manage(self, user, membership):
        """Staff and owners of the project's customer; set_quotas is for staff alone."""
        if self.action == "set_quotas":
            return is_staff(user)
        if self.action == "import_instance":
            return True  # the action says who may import, with its own message
        return membership.project.customer.can_manage(user)

    def create(self, request, *args, **kwargs):
        """Binding an existing tenant is for staff alone; anyone else gets 403 before the tenant is even looked up,
        so the answer tells nothing about who holds it."""
        tenant_id = request.data.get("tenant_id") if hasattr(request.data, "get") else None
        # As the serializer will read it: 0 is "0", a tenant id like any other; only missing or blank is none.
        given = tenant_id is not None and str(tenant_id).strip() != ""
        deny_unless(not given or is_staff(request.user), EXISTING_TENANT_STAFF_ONLY)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        """Owners bind only their customer's projects (invisible projects and clouds were a 400 already)."""
        deny_unless(serializer.validated_data["project"].customer.can_manage(self.request.user), NOT_OWNER)
        serializer.save()

    def perform_destroy(self, instance):
        """Delete through the service so instances still in the tenant give a 409."""
        services.membership_delete(instance)

    @extend_schema(
        summary="Verify the tenant and pull its quotas again (owners, staff)",
        request=None,
        parameters=[DRY_RUN],
        responses={
            202: accepted('{"status": "sync was scheduled"}.'),
            200: RESOURCE_PLAN,
            409: conflict("A sync of the membership is already scheduled or running."),
        },
    )
    @decorators.action(detail=True, methods=["post"])
    def sync(self, request, uuid=None):
        """Re-run the tenant's verification or creation, e.g. to recover an Erred membership."""
        membership = self.get_object()
        if dry_run(request):
            services.require_idle(membership)
            context = {"project_uuid": membership.project.uuid.hex}
            return plan_answer(plans.plan_resource(SYNC_MEMBERSHIP, membership, context))
        services.membership_schedule_sync(membership)
        return scheduled("sync")

    @extend_schema(
        summary="Set the tenant's quotas (staff)",
        request=MembershipQuotasSerializer,
        responses={
            202: OpenApiResponse(
                description='{"status": "quota update was scheduled", "quotas": {...}}: a worker pushes the given '
                "limits to Nova and Cinder, then pulls them back into the membership."
            ),
            409: conflict("A sync of the membership is already scheduled or running."),
        },
    )
    @decorators.action(detail=True, methods=["post"], serializer_class=MembershipQuotasSerializer)
    def set_quotas(self, request, uuid=None):
        """Push new limits to the cloud through the membership's sync task."""
        membership = self.get_object()
        serializer = MembershipQuotasSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quotas = {QUOTA_FIELDS[key]: value for key, value in serializer.validated_data.items()}
        services.membership_schedule_sync(membership, quotas=quotas)
        return scheduled("quota update", quotas=serializer.validated_data)

    @extend_schema(
        summary="List the tenant's servers that no instance tracks (owners, project administrators, staff)",
        description="Read from the cloud when asked: a worker lists the tenant's servers (an answer younger than "
        "CLOUD_READ_FRESH_FOR seconds is reused, so a portal may poll), and the request waits for it. Each says "
        "whether it can be imported and, if not, why (`reasons`). A membership not In Sync lists what its last "
        "pull saw. Managers get 403. 502: the cloud failed the read (its message); 503: no worker answered in "
        "time.",
        responses={200: ImportableServerSerializer(many=True),
                   502: OpenApiResponse(ERRORS[502], description="The cloud failed the read: its own message.")},
    )
    @decorators.action(detail=True, methods=["get"], serializer_class=ImportableServerSerializer,
                       filterset_class=None, ordering_fields=())  # fmt: skip
    def importable_instances(self, request, uuid=None):
        """The pulled untracked servers of the tenant, paginated like every list."""
        membership = self.get_object()
        import_services.require_list(request.user, membership)
        import_services.read_untracked(membership)
        page = self.paginate_queryset(import_services.importable_servers(membership))
        body = ImportableServerSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(body)

    @extend_schema(
        summary="Import a server as an instance (project administrators, staff)",
        description="Reads the tenant's untracked servers from the cloud (as importable_instances does), creates "
        "the instance in Provisioning Scheduled from what it saw (counted against the quotas now) and schedules "
        "the import: a worker verifies the server in the cloud again and the instance ends Online or Offline as "
        "the server is, or Erred holding nothing (the server is left untouched). The server is named by "
        "`backend_id`, as the list names it (`server_id` is accepted too). "
        "400 not_found_in_cloud: the server is not among the tenant's untracked servers; 400 not_importable: "
        "the message says why; 400 quota_exceeded; 409 conflict: an instance already tracks the server.",
        request=InstanceImportSerializer,
        responses={
            201: InstanceSerializer,
            409: conflict("An instance already tracks the server (code conflict), or the membership is not In Sync."),
        },
    )
    @decorators.action(detail=True, methods=["post"], serializer_class=InstanceImportSerializer)
    def import_instance(self, request, uuid=None):
        """Schedule the import of one untracked server of the tenant (201 with the new instance)."""
        membership = self.get_object()
        import_services.require_import(request.user, membership)
        serializer = InstanceImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        import_services.read_untracked(membership)
        instance = import_services.instance_import(
            user=request.user, membership=membership, server_id=serializer.validated_data["backend_id"]
        )
        instance = Instance.objects.select_related(
            "cloud_project_membership__project__customer", "cloud_project_membership__cloud", "template", "flavor",
            "ssh_public_key",
        ).get(pk=instance.pk)  # fmt: skip
        body = InstanceSerializer(instance, context=self.get_serializer_context()).data
        return response.Response(body, status=status.HTTP_201_CREATED)


def register_in(router):
    """Register this module's viewsets."""
    router.register("clouds", CloudViewSet, basename="cloud")
    router.register("project-cloud-memberships", CloudProjectMembershipViewSet, basename="cloudprojectmembership")
