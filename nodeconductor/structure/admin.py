"""Admin of customers, projects, groups and roles: staff repair memberships here without the API."""

from django import forms
from django.contrib import admin
from django.db.models import Count

from nodeconductor.structure.models import (
    Customer,
    CustomerPermission,
    Project,
    ProjectGroup,
    ProjectGroupPermission,
    ProjectPermission,
)


class CustomerPermissionInline(admin.TabularInline):
    """Owners listed on the customer's page, where staff look for them."""

    model = CustomerPermission
    fields = ("user", "role", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = "owner"
    verbose_name_plural = "owners"


class ProjectPermissionInline(admin.TabularInline):
    """Administrators and managers listed on the project's page."""

    model = ProjectPermission
    fields = ("user", "role", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = "member"
    verbose_name_plural = "members"


class ProjectGroupPermissionInline(admin.TabularInline):
    """Managers listed on the project group's page."""

    model = ProjectGroupPermission
    fields = ("user", "role", "created")
    readonly_fields = ("created",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = "manager"
    verbose_name_plural = "managers"


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Customers with their owners inline and project counts computed in the list query."""

    fields = ("name", "native_name", "abbreviation", "contact_details", "uuid", "created", "modified")
    readonly_fields = ("uuid", "created", "modified")
    list_display = ("name", "abbreviation", "native_name", "project_count", "created")
    search_fields = ("name", "native_name", "abbreviation", "uuid")
    ordering = ("name",)
    inlines = (CustomerPermissionInline,)

    def get_queryset(self, request):
        """Count projects in the changelist's own query rather than one query per row."""
        return super().get_queryset(request).annotate(_project_count=Count("projects", distinct=True))

    @admin.display(description="projects", ordering="_project_count")
    def project_count(self, obj):
        """How many projects the customer has."""
        return obj._project_count


class CustomerNameInSearchMixin:
    """Autocomplete answers show str(obj), which names the customer: fetch it in the same query."""

    def get_search_results(self, request, queryset, search_term):
        """Join the customer into the search (and so autocomplete) results."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.select_related("customer"), may_have_duplicates


@admin.register(Project)
class ProjectAdmin(CustomerNameInSearchMixin, admin.ModelAdmin):
    """Projects with their members inline."""

    fields = ("customer", "name", "description", "uuid", "created", "modified")
    readonly_fields = ("uuid", "created", "modified")
    list_display = ("name", "customer", "created")
    list_select_related = ("customer",)
    search_fields = ("name", "customer__name", "uuid")
    autocomplete_fields = ("customer",)
    inlines = (ProjectPermissionInline,)

    def get_readonly_fields(self, request, obj=None):
        """A project stays with the customer it was created for, as in the API: its tenants are that customer's."""
        if obj is not None:
            return self.readonly_fields + ("customer",)
        return self.readonly_fields


class ProjectGroupForm(forms.ModelForm):
    """Refuses to put another customer's project into a group."""

    class Meta:
        model = ProjectGroup
        fields = ("customer", "name", "projects")

    def clean(self):
        """A group only gathers projects of its own customer."""
        cleaned = super().clean()
        customer, projects = cleaned.get("customer"), cleaned.get("projects")
        if customer and projects:
            foreign = [p.name for p in projects if p.customer_id != customer.pk]
            if foreign:
                self.add_error("projects", f"Not projects of {customer}: {', '.join(sorted(foreign))}.")
        return cleaned


@admin.register(ProjectGroup)
class ProjectGroupAdmin(CustomerNameInSearchMixin, admin.ModelAdmin):
    """Project groups with their managers inline."""

    form = ProjectGroupForm
    fields = ("customer", "name", "projects", "uuid", "created", "modified")
    readonly_fields = ("uuid", "created", "modified")
    list_display = ("name", "customer", "created")
    list_select_related = ("customer",)
    search_fields = ("name", "customer__name", "uuid")
    autocomplete_fields = ("customer", "projects")
    inlines = (ProjectGroupPermissionInline,)


class PermissionAdmin(admin.ModelAdmin):
    """Shared layout of the three role models: who, which role, on what."""

    readonly_fields = ("uuid", "created", "modified")
    list_filter = ("role",)
    autocomplete_fields = ("user",)


@admin.register(CustomerPermission)
class CustomerPermissionAdmin(PermissionAdmin):
    """Every customer role in one searchable list."""

    fields = ("customer", "user", "role", "uuid", "created", "modified")
    list_display = ("user", "role", "customer", "created")
    list_select_related = ("user", "customer")
    search_fields = ("user__username", "user__full_name", "customer__name")
    autocomplete_fields = ("user", "customer")


@admin.register(ProjectPermission)
class ProjectPermissionAdmin(PermissionAdmin):
    """Every project role in one searchable list."""

    fields = ("project", "user", "role", "uuid", "created", "modified")
    list_display = ("user", "role", "project", "created")
    # The project's name includes its customer's, so fetch both.
    list_select_related = ("user", "project__customer")
    search_fields = ("user__username", "user__full_name", "project__name", "project__customer__name")
    autocomplete_fields = ("user", "project")


@admin.register(ProjectGroupPermission)
class ProjectGroupPermissionAdmin(PermissionAdmin):
    """Every project group role in one searchable list."""

    fields = ("project_group", "user", "role", "uuid", "created", "modified")
    list_display = ("user", "role", "project_group", "created")
    list_select_related = ("user", "project_group__customer")
    search_fields = ("user__username", "user__full_name", "project_group__name", "project_group__customer__name")
    autocomplete_fields = ("user", "project_group")
