"""Admin of clouds, memberships, the catalogue and instances: staff inspect and repair here without the API.

States are never edited by hand (they move only through transitions); the actions run the same services
and pulls as the API and the management command. Deleting a cloud with memberships or a membership with
instances is refused by Django's own protected-objects page (the foreign keys are PROTECT).
"""

from django.contrib import admin, messages
from django_fsm import TransitionNotAllowed

from nodeconductor.core.exceptions import Conflict
from nodeconductor.iaas import services
from nodeconductor.iaas.backend import CloudBackendError
from nodeconductor.iaas.models import (
    Cloud,
    CloudProjectMembership,
    Flavor,
    Image,
    Instance,
    Template,
    TemplateLicense,
    TemplateMapping,
)


@admin.register(Cloud)
class CloudAdmin(admin.ModelAdmin):
    """Cloud accounts; "Pull selected clouds" pulls synchronously and reports the diff."""

    fields = ("customer", "name", "auth_url", "state", "error_message", "last_pulled", "uuid", "created")
    readonly_fields = ("state", "error_message", "last_pulled", "uuid", "created")
    list_display = ("name", "customer", "auth_url", "state", "last_pulled")
    list_filter = ("state",)
    list_select_related = ("customer",)
    search_fields = ("name", "auth_url", "customer__name", "uuid")
    autocomplete_fields = ("customer",)
    actions = ("pull_selected",)

    def get_readonly_fields(self, request, obj=None):
        """The auth_url and customer of an existing cloud stay: flavors and tenants belong to that account."""
        if obj is not None:
            return self.readonly_fields + ("customer", "auth_url")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        """A new cloud goes through the service so its first pull is scheduled."""
        if change:
            super().save_model(request, obj, form, change)
        else:
            services.cloud_save_new(obj)

    @admin.action(description="Pull selected clouds")
    def pull_selected(self, request, queryset):
        """Pull each cloud now, in this request, and show what changed or why it failed."""
        from nodeconductor.iaas.tasks import run_cloud_pull

        for cloud in queryset.select_related("customer"):
            try:
                diff = run_cloud_pull(cloud)
            except CloudBackendError as exc:
                self.message_user(request, f"{cloud.name}: pull failed: {exc}", messages.ERROR)
                continue
            except TransitionNotAllowed:
                self.message_user(request, f"{cloud.name}: a worker is pulling it right now.", messages.WARNING)
                continue
            for line in diff.lines():
                self.message_user(request, f"{cloud.name}: {line}", messages.SUCCESS)


@admin.register(CloudProjectMembership)
class CloudProjectMembershipAdmin(admin.ModelAdmin):
    """Project tenants; "Sync" verifies (or creates) the tenant and pulls its quotas again."""

    fields = (
        "project",
        "cloud",
        "tenant_id",
        "state",
        "error_message",
        "quota_vcpu",
        "quota_ram",
        "quota_storage",
        "quota_max_instances",
        "uuid",
        "created",
    )
    readonly_fields = (
        "state",
        "error_message",
        "quota_vcpu",
        "quota_ram",
        "quota_storage",
        "quota_max_instances",
        "uuid",
        "created",
    )
    list_display = ("project", "cloud", "tenant_id", "state")
    list_filter = ("state",)
    list_select_related = ("project__customer", "cloud")
    search_fields = ("project__name", "cloud__name", "tenant_id", "uuid")
    autocomplete_fields = ("project",)
    actions = ("sync_selected",)

    def get_readonly_fields(self, request, obj=None):
        """A membership's binding is fixed once made; quotas change through the API's set_quotas."""
        if obj is not None:
            return self.readonly_fields + ("project", "cloud", "tenant_id")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        """A new membership goes through the service so its tenant is verified or created."""
        if change:
            super().save_model(request, obj, form, change)
        else:
            services.membership_save_new(obj)

    @admin.action(description="Sync")
    def sync_selected(self, request, queryset):
        """Schedule a sync of each membership; those already syncing are reported and skipped."""
        scheduled = 0
        for membership in queryset.select_related("project", "cloud"):
            try:
                services.membership_schedule_sync(membership)
            except Conflict as exc:
                self.message_user(request, f"{membership}: {exc.detail}", messages.WARNING)
            else:
                scheduled += 1
        if scheduled:
            self.message_user(request, f"Sync was scheduled for {scheduled} membership(s).", messages.SUCCESS)


@admin.register(Flavor)
class FlavorAdmin(admin.ModelAdmin):
    """Pulled flavors, read-only: the next pull would undo any edit."""

    list_display = ("name", "cloud", "cores", "ram", "disk", "is_active")
    list_filter = ("is_active", "cloud")
    list_select_related = ("cloud",)
    search_fields = ("name", "backend_id", "cloud__name")
    readonly_fields = ("cloud", "name", "backend_id", "cores", "ram", "disk", "is_active", "uuid")

    def has_add_permission(self, request):
        """Flavors come from pulls only."""
        return False


class TemplateMappingInline(admin.TabularInline):
    """The Glance image ids a template stands for, edited on the template's page."""

    model = TemplateMapping
    fields = ("backend_image_id", "description")
    extra = 1


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    """Templates with their image mappings inline."""

    list_display = ("name", "os", "os_type", "is_active", "sla_level", "setup_fee", "monthly_fee")
    list_filter = ("is_active", "os_type")
    search_fields = ("name", "os", "uuid")
    readonly_fields = ("uuid", "created", "modified")
    inlines = (TemplateMappingInline,)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    """Pulled images per cloud and template, read-only: the next pull would undo any edit."""

    list_display = ("template", "cloud", "backend_id", "min_disk", "min_ram")
    list_select_related = ("template", "cloud")
    list_filter = ("cloud",)
    search_fields = ("template__name", "cloud__name", "backend_id")
    readonly_fields = ("cloud", "template", "backend_id", "min_disk", "min_ram", "uuid")

    def has_add_permission(self, request):
        """Images come from pulls only."""
        return False


@admin.register(TemplateLicense)
class TemplateLicenseAdmin(admin.ModelAdmin):
    """Licences with the templates that carry them."""

    list_display = ("name", "license_type", "service_type", "setup_fee", "monthly_fee")
    list_filter = ("service_type",)
    search_fields = ("name", "license_type")
    filter_horizontal = ("templates",)
    readonly_fields = ("uuid",)


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    """Instances for inspection; their state moves only through the API's actions and the workers."""

    list_display = ("hostname", "state", "project_name", "cloud_name", "created")
    list_filter = ("state",)
    list_select_related = ("cloud_project_membership__project", "cloud_project_membership__cloud")
    search_fields = ("hostname", "uuid", "backend_id", "cloud_project_membership__project__name")
    readonly_fields = (
        "state",
        "error_message",
        "uuid",
        "backend_id",
        "system_volume_id",
        "data_volume_id",
        "created",
    )
    raw_id_fields = ("cloud_project_membership", "template", "flavor", "ssh_public_key", "created_by")

    @admin.display(description="project", ordering="cloud_project_membership__project__name")
    def project_name(self, instance):
        """The project, through the membership joined in the list query."""
        return instance.cloud_project_membership.project.name

    @admin.display(description="cloud", ordering="cloud_project_membership__cloud__name")
    def cloud_name(self, instance):
        """The cloud, through the membership joined in the list query."""
        return instance.cloud_project_membership.cloud.name

