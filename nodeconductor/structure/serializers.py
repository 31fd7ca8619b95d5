"""Serializers of customers, projects, project groups and the roles on them."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nodeconductor.core.models import User
from nodeconductor.core.serializers import (
    HyperlinkedModelSerializer,
    UuidHyperlinkedIdentityField,
    UuidHyperlinkedRelatedField,
    detail_url,
)
from nodeconductor.structure import costs, models

URL_LIST = serializers.ListField(child=serializers.URLField(), read_only=True)
MONTHLY_COST = {"type": "string", "format": "decimal", "example": "42.000",
                "description": "What its instances cost a month, in `currency`."}  # fmt: skip


class MonthlyCostMixin(serializers.Serializer):
    """A customer's or project's monthly total and its currency (the view annotates the total)."""

    monthly_cost = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    @extend_schema_field(MONTHLY_COST)
    def get_monthly_cost(self, row):
        """What the instances cost a month: a customer counts those of the projects the requester sees."""
        return costs.shown(row)

    def get_currency(self, row) -> str:
        """The currency of monthly_cost (the CURRENCY setting)."""
        return costs.currency()


def _visible(obj, attr, queryset, request):
    """The prefetched visible related objects, or (for a just-created object) a query for them."""
    if hasattr(obj, attr):
        return getattr(obj, attr)
    return list(queryset.for_user(request.user))


class CustomerSerializer(MonthlyCostMixin, HyperlinkedModelSerializer):
    """A customer with its owners and the projects and groups the requester sees, as URLs."""

    owners = serializers.SerializerMethodField(help_text="URLs of the users who own the customer.")
    projects = serializers.SerializerMethodField(help_text="URLs of the customer's projects the requester sees.")
    project_groups = serializers.SerializerMethodField(help_text="URLs of the customer's visible project groups.")

    class Meta:
        model = models.Customer
        fields = (
            "url",
            "uuid",
            "name",
            "native_name",
            "abbreviation",
            "contact_details",
            "owners",
            "projects",
            "project_groups",
            "monthly_cost",
            "currency",
            "created",
        )
        read_only_fields = ("uuid", "created")

    @extend_schema_field(URL_LIST)
    def get_owners(self, customer):
        """Owner URLs from the prefetched owner roles (a query only for a just-created customer)."""
        request = self.context["request"]
        perms = getattr(customer, "owner_permissions", None)
        if perms is None:
            perms = customer.permissions.filter(role=models.CustomerRole.OWNER).select_related("user")
        return [detail_url("user-detail", p.user, request) for p in perms]

    @extend_schema_field(URL_LIST)
    def get_projects(self, customer):
        """URLs of the projects the requester sees, so invisible projects are not even hinted at."""
        request = self.context["request"]
        projects = _visible(customer, "visible_projects", customer.projects.all(), request)
        return [detail_url("project-detail", p, request) for p in projects]

    @extend_schema_field(URL_LIST)
    def get_project_groups(self, customer):
        """URLs of the project groups the requester sees."""
        request = self.context["request"]
        groups = _visible(customer, "visible_project_groups", customer.project_groups.all(), request)
        return [detail_url("projectgroup-detail", g, request) for g in groups]


class ProjectMemberSerializer(serializers.ModelSerializer):
    """One member of a project: who, in which role, and the permission URL that revokes it."""

    permission = UuidHyperlinkedIdentityField(view_name="projectpermission-detail")
    user = UuidHyperlinkedRelatedField(view_name="user-detail", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    # A plain string here, so the schema has one enum of project roles (in ProjectPermission).
    role = serializers.CharField(read_only=True, help_text='"admin" or "manager".')

    class Meta:
        model = models.ProjectPermission
        fields = ("permission", "user", "username", "full_name", "role")


class ProjectSerializer(MonthlyCostMixin, HyperlinkedModelSerializer):
    """A project with its customer, the groups the requester sees and its members with their roles."""

    customer = UuidHyperlinkedRelatedField(
        view_name="customer-detail", queryset=models.Customer.objects.all(), help_text="Set on creation only."
    )
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    project_groups = serializers.SerializerMethodField(help_text="URLs of the project's visible project groups.")
    members = ProjectMemberSerializer(source="permissions", many=True, read_only=True)

    class Meta:
        model = models.Project
        fields = (
            "url",
            "uuid",
            "name",
            "description",
            "customer",
            "customer_name",
            "project_groups",
            "members",
            "monthly_cost",
            "currency",
            "created",
        )
        read_only_fields = ("uuid", "created")

    def get_fields(self):
        """A project stays with the customer it was created for."""
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["customer"].read_only = True
        return fields

    @extend_schema_field(URL_LIST)
    def get_project_groups(self, project):
        """URLs of the groups of this project the requester sees."""
        request = self.context["request"]
        groups = _visible(project, "visible_project_groups", project.project_groups.all(), request)
        return [detail_url("projectgroup-detail", g, request) for g in groups]


class ProjectGroupSerializer(HyperlinkedModelSerializer):
    """A named set of projects of one customer."""

    customer = UuidHyperlinkedRelatedField(
        view_name="customer-detail", queryset=models.Customer.objects.all(), help_text="Set on creation only."
    )
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    projects = UuidHyperlinkedRelatedField(
        view_name="project-detail",
        queryset=models.Project.objects.all(),
        many=True,
        required=False,
        help_text="URLs of projects of the group's customer.",
    )

    class Meta:
        model = models.ProjectGroup
        fields = ("url", "uuid", "name", "customer", "customer_name", "projects", "created")
        read_only_fields = ("uuid", "created")

    def get_fields(self):
        """A group stays with the customer it was created for."""
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["customer"].read_only = True
        return fields

    def validate(self, attrs):
        """Only projects of the group's own customer may join it."""
        customer = attrs.get("customer") or getattr(self.instance, "customer", None)
        strangers = [p for p in attrs.get("projects", ()) if p.customer_id != getattr(customer, "pk", None)]
        if strangers:
            names = ", ".join(sorted(p.name for p in strangers))
            raise serializers.ValidationError({"projects": [f"Projects of another customer cannot join: {names}."]})
        return attrs


class _PermissionSerializer(HyperlinkedModelSerializer):
    """Common shape of a role: the object, the user and the role; granted once, revoked by DELETE."""

    scope_field = None  # "customer", "project" or "project_group"
    user = UuidHyperlinkedRelatedField(view_name="user-detail", queryset=User.objects.all(), visible_only=False)
    username = serializers.CharField(source="user.username", read_only=True)
    user_full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        # Uniqueness is checked in validate() with a message that names the user and the role.
        validators = []

    def validate(self, attrs):
        """Refuse a second identical grant with a message instead of an integrity error."""
        scope = attrs[self.scope_field]
        role = attrs.get("role", self.Meta.model._meta.get_field("role").default)
        if self.Meta.model.objects.filter(**{self.scope_field: scope}, user=attrs["user"], role=role).exists():
            raise serializers.ValidationError(
                {"non_field_errors": [f"{attrs['user'].username} is already {role} of {scope.name}."]}
            )
        return attrs


class CustomerPermissionSerializer(_PermissionSerializer):
    """An owner of a customer."""

    scope_field = "customer"
    customer = UuidHyperlinkedRelatedField(view_name="customer-detail", queryset=models.Customer.objects.all())
    customer_name = serializers.CharField(source="customer.name", read_only=True)

    class Meta(_PermissionSerializer.Meta):
        model = models.CustomerPermission
        fields = ("url", "uuid", "customer", "customer_name", "user", "username", "user_full_name", "role", "created")
        read_only_fields = ("uuid", "created")


class ProjectPermissionSerializer(_PermissionSerializer):
    """An administrator or manager of a project."""

    scope_field = "project"
    project = UuidHyperlinkedRelatedField(view_name="project-detail", queryset=models.Project.objects.all())
    project_name = serializers.CharField(source="project.name", read_only=True)
    customer = UuidHyperlinkedRelatedField(source="project.customer", view_name="customer-detail", read_only=True)

    class Meta(_PermissionSerializer.Meta):
        model = models.ProjectPermission
        fields = (
            "url",
            "uuid",
            "project",
            "project_name",
            "customer",
            "user",
            "username",
            "user_full_name",
            "role",
            "created",
        )
        read_only_fields = ("uuid", "created")


class ProjectGroupPermissionSerializer(_PermissionSerializer):
    """A manager of a project group."""

    scope_field = "project_group"
    project_group = UuidHyperlinkedRelatedField(
        view_name="projectgroup-detail", queryset=models.ProjectGroup.objects.all()
    )
    project_group_name = serializers.CharField(source="project_group.name", read_only=True)

    class Meta(_PermissionSerializer.Meta):
        model = models.ProjectGroupPermission
        fields = (
            "url",
            "uuid",
            "project_group",
            "project_group_name",
            "user",
            "username",
            "user_full_name",
            "role",
            "created",
        )
        read_only_fields = ("uuid", "created")
