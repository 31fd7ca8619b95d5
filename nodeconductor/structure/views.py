"""Endpoints of structure: customers, projects, project groups and the roles on them.

Visibility comes from each model's `for_user()` (invisible is 404); `can_manage()` decides the 403s of
visible objects; write access to a parent named in the body is checked after validation, so an invisible
parent is a 400 on its field and a visible but unmanageable one a 403.
"""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from nodeconductor.core.permissions import CanManageObject, deny_unless, is_staff
from nodeconductor.core.schema import conflict
from nodeconductor.core.views import UuidModelViewSet, UuidViewSetMixin
from nodeconductor.structure import costs, filters, models, serializers, services

NOT_OWNER = "Only staff and owners of the customer may do this."


@extend_schema_view(
    list=extend_schema(summary="List customers", description="Customers the requester holds a role in; staff all."),
    retrieve=extend_schema(summary="Show a customer"),
    create=extend_schema(summary="Create a customer (staff)"),
    update=extend_schema(summary="Replace a customer", description="Staff and the customer's owners."),
    partial_update=extend_schema(summary="Change a customer", description="Staff and the customer's owners."),
    destroy=extend_schema(
        summary="Delete a customer (staff)",
        responses={204: None, 409: conflict("The customer still has projects (or clouds); delete them first.")},
    ),
)
class CustomerViewSet(UuidModelViewSet):
    """Staff create and delete customers; owners change theirs; every member reads his."""

    queryset = models.Customer.objects.all()
    serializer_class = serializers.CustomerSerializer
    permission_classes = (CanManageObject,)
    filterset_class = filters.CustomerFilter
    ordering_fields = ("name", "abbreviation", "created")

    def get_queryset(self):
        """Visible customers with their owners and visible projects and groups prefetched."""
        user = self.request.user
        return (
            super()
            .get_queryset()
            .prefetch_related(
                Prefetch(
                    "permissions",
                    queryset=models.CustomerPermission.objects.filter(role=models.CustomerRole.OWNER).select_related(
                        "user"
                    ),
                    to_attr="owner_permissions",
                ),
                Prefetch(
                    "projects",
                    queryset=models.Project.objects.for_user(user).only("uuid", "customer"),
                    to_attr="visible_projects",
                ),
                Prefetch(
                    "project_groups",
                    queryset=models.ProjectGroup.objects.for_user(user).only("uuid", "customer"),
                    to_attr="visible_project_groups",
                ),
            )
            .annotate(monthly_cost=costs.monthly_cost_annotation("customer", models.Project.objects.for_user(user)))
        )

    def can_manage(self, user, customer):
        """Staff do anything; owners change but do not delete their customer."""
        if is_staff(user):
            return True
        return self.action != "destroy" and customer.has_owner(user)

    def create(self, request, *args, **kwargs):
        """Only staff create customers; others get 403 before validation."""
        deny_unless(is_staff(request.user), "Only staff may create customers.")
        return super().create(request, *args, **kwargs)

    def perform_destroy(self, instance):
        """Delete through the service so leftover projects or clouds give a 409 that names them."""
        services.customer_delete(instance)


@extend_schema_view(
    list=extend_schema(summary="List projects", description="Projects the requester holds a role in; staff all."),
    retrieve=extend_schema(summary="Show a project"),
    create=extend_schema(summary="Create a project", description="Staff and owners of the customer."),
    update=extend_schema(summary="Replace a project", description="Staff and owners of the customer."),
    partial_update=extend_schema(summary="Change a project", description="Staff and owners of the customer."),
    destroy=extend_schema(
        summary="Delete a project",
        responses={204: None, 409: conflict("The project still holds resources; delete them first.")},
    ),
)
class ProjectViewSet(UuidModelViewSet):
    """Owners manage their customer's projects; administrators and managers read theirs."""

    queryset = models.Project.objects.all()
    serializer_class = serializers.ProjectSerializer
    permission_classes = (CanManageObject,)
    filterset_class = filters.ProjectFilter
    ordering_fields = ("name", "created", "customer__name")

    def get_queryset(self):
        """Visible projects with customer, members and visible groups fetched in constant queries."""
        user = self.request.user
        return (
            super()
            .get_queryset()
            .select_related("customer")
            .prefetch_related(
                Prefetch("permissions", queryset=models.ProjectPermission.objects.select_related("user")),
                Prefetch(
                    "project_groups",
                    queryset=models.ProjectGroup.objects.for_user(user).only("uuid"),
                    to_attr="visible_project_groups",
                ),
            )
            .annotate(monthly_cost=costs.monthly_cost_annotation("project", None))
        )

    def can_manage(self, user, project):
        """Staff and owners of the project's customer."""
        return project.customer.can_manage(user)

    def perform_create(self, serializer):
        """Owners create projects only for their customer (the customer is visible, else 400 already)."""
        deny_unless(serializer.validated_data["customer"].can_manage(self.request.user), NOT_OWNER)
        serializer.save()

    def perform_destroy(self, instance):
        """Delete through the service so resources still in the project give a 409 that names them."""
        services.project_delete(instance)


@extend_schema_view(
    list=extend_schema(summary="List project groups", description="Groups of owned customers and managed groups."),
    retrieve=extend_schema(summary="Show a project group"),
    create=extend_schema(summary="Create a project group", description="Staff and owners of the customer."),
    update=extend_schema(summary="Replace a project group", description="Projects must be of the same customer."),
    partial_update=extend_schema(summary="Change a project group", description="E.g. add or remove projects."),
    destroy=extend_schema(summary="Delete a project group", description="Its projects stay."),
)
class ProjectGroupViewSet(UuidModelViewSet):
    """Owners group their customer's projects; group managers read their groups."""

    queryset = models.ProjectGroup.objects.all()
    serializer_class = serializers.ProjectGroupSerializer
    permission_classes = (CanManageObject,)
    filterset_class = filters.ProjectGroupFilter
    ordering_fields = ("name", "created", "customer__name")

    def get_queryset(self):
        """Visible groups with their customer and projects in constant queries."""
        return (
            super()
            .get_queryset()
            .select_related("customer")
            .prefetch_related(Prefetch("projects", queryset=models.Project.objects.only("uuid", "customer")))
        )

    def can_manage(self, user, group):
        """Staff and owners of the group's customer."""
        return group.customer.can_manage(user)

    def perform_create(self, serializer):
        """Owners create groups only for their customer."""
        deny_unless(serializer.validated_data["customer"].can_manage(self.request.user), NOT_OWNER)
        serializer.save()

    def perform_destroy(self, instance):
        """Delete through the service, which keeps the projects."""
        services.project_group_delete(instance)


class _PermissionViewSet(
    UuidViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Roles are granted by POST and revoked by DELETE; they are never edited in place."""

    permission_classes = (CanManageObject,)
    scope_field = None  # the role's object: "customer", "project" or "project_group"

    def scope_customer(self, scope):
        """The customer whose owners manage roles on `scope`."""
        return scope if isinstance(scope, models.Customer) else scope.customer

    def can_manage(self, user, permission):
        """Staff and owners of the customer the role belongs to."""
        return self.scope_customer(getattr(permission, self.scope_field)).can_manage(user)

    def perform_create(self, serializer):
        """Grant only on objects the requester manages (invisible ones were a 400 already)."""
        scope = serializer.validated_data[self.scope_field]
        deny_unless(self.scope_customer(scope).can_manage(self.request.user), NOT_OWNER)
        serializer.save()


def _permission_docs(what, who):
    """extend_schema_view arguments for a role endpoint."""
    return {
        "list": extend_schema(summary=f"List {what} roles", description=f"Roles on {who} the requester sees."),
        "retrieve": extend_schema(summary=f"Show a {what} role"),
        "create": extend_schema(
            summary=f"Grant a {what} role",
            description=f"Staff and owners of the customer. An invisible {what} is a 400 on its field.",
        ),
        "destroy": extend_schema(
            summary=f"Revoke a {what} role",
            responses={204: OpenApiResponse(description="The role was revoked.")},
        ),
    }


@extend_schema_view(**_permission_docs("customer", "customers"))
class CustomerPermissionViewSet(_PermissionViewSet):
    """Owners of customers: granted and revoked by staff and by the customer's other owners."""

    queryset = models.CustomerPermission.objects.select_related("customer", "user")
    serializer_class = serializers.CustomerPermissionSerializer
    filterset_class = filters.CustomerPermissionFilter
    ordering_fields = ("created", "role", "customer__name", "user__username")
    scope_field = "customer"


@extend_schema_view(**_permission_docs("project", "projects"))
class ProjectPermissionViewSet(_PermissionViewSet):
    """Administrators and managers of projects: managed by staff and the customer's owners."""

    queryset = models.ProjectPermission.objects.select_related("project__customer", "user")
    serializer_class = serializers.ProjectPermissionSerializer
    filterset_class = filters.ProjectPermissionFilter
    ordering_fields = ("created", "role", "project__name", "user__username")
    scope_field = "project"


@extend_schema_view(**_permission_docs("project group", "project groups"))
class ProjectGroupPermissionViewSet(_PermissionViewSet):
    """Managers of project groups: managed by staff and the customer's owners."""

    queryset = models.ProjectGroupPermission.objects.select_related("project_group__customer", "user")
    serializer_class = serializers.ProjectGroupPermissionSerializer
    filterset_class = filters.ProjectGroupPermissionFilter
    ordering_fields = ("created", "role", "project_group__name", "user__username")
    scope_field = "project_group"
