"""Admin of clouds, memberships, the catalogue, instances and backups: staff inspect and repair here without the API.

States are never edited by hand (they move only through transitions); the actions schedule through the same
services as the API, so no admin request calls the cloud. Deleting a cloud with memberships or a membership with
instances is refused by Django's own protected-objects page (the foreign keys are PROTECT).
"""

from django.contrib import admin, messages
from django.db import models
from rest_framework.exceptions import APIException

from nodeconductor.core.exceptions import Conflict
from nodeconductor.iaas import admin_networking  # noqa: F401 - registers its admin
from nodeconductor.iaas.models import (
    Backup,
    BackupSchedule,
    Cloud,
    CloudProjectMembership,
    Flavor,
    Image,
    Instance,
    Template,
    TemplateLicense,
    TemplateMapping,
)
from nodeconductor.iaas.services import backups as backup_services
from nodeconductor.iaas.services import clouds as services
from nodeconductor.iaas.services import instances as instance_services


@admin.register(Cloud)
class CloudAdmin(admin.ModelAdmin):
    """Cloud accounts; "Pull selected clouds" schedules a pull of each, as the API does."""

    fields = ("customer", "name", "auth_url", "storage_monthly_fee", "state", "error_message", "last_pulled", "uuid",
              "created")  # fmt: skip
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
        """Schedule a pull of each cloud, as the API's pull action does; the request never calls the cloud."""
        _schedule_pulls(self, request, queryset)


def _schedule_pulls(modeladmin, request, clouds, why=""):
    """Schedule a pull of each cloud; those already pulling are reported and skipped."""
    scheduled = []
    for cloud in clouds:
        try:
            services.cloud_schedule_pull(cloud)
        except APIException as exc:
            modeladmin.message_user(request, f"{cloud.name}: {exc.detail}", messages.WARNING)
        else:
            scheduled.append(cloud.name)
    if scheduled:
        modeladmin.message_user(request, f"A pull was scheduled for {', '.join(scheduled)}{why}; its outcome shows "
                                         "in the cloud's state and last pulled time.", messages.SUCCESS)


# The tenant's network set, as the sync found or made it: read-only, the next sync would undo an edit.
MEMBERSHIP_NETWORK_FIELDS = ("networking", "network_id", "subnet_id", "internal_cidr", "router_id",
                             "external_network_id")


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
        # Neutron's limits are the API's to keep (400 quota_exceeded); staff set them here.
        "quota_security_group_count",
        "quota_security_group_rule_count",
        "quota_floating_ip_count",
        # Snapshots: Cinder's count (pulled, read-only here) and our limit on their size, which staff set here.
        "quota_snapshot_count",
        "quota_snapshot_storage",
        *MEMBERSHIP_NETWORK_FIELDS,
        "uuid",
        "created",
    )
    readonly_fields = (
        "state",
        "error_message",
        "quota_vcpu",
        "quota_snapshot_count",
        "quota_ram",
        "quota_storage",
        "quota_max_instances",
        *MEMBERSHIP_NETWORK_FIELDS,
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
    """Pulled flavors, read-only but for their price (a pull keeps it): the next pull would undo any other edit."""

    list_display = ("name", "cloud", "cores", "ram", "disk", "monthly_fee", "is_active")
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

    # An icon URL typed without a scheme is taken as https (Django 6's default; silences its deprecation).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
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


def _schedule_each(modeladmin, request, queryset, service, verb):
    """Run an instance service on each selected instance; report what was scheduled and what was refused."""
    done = 0
    for instance in queryset:
        try:
            service(instance, request.user)
            done += 1
        except APIException as exc:
            modeladmin.message_user(request, f"{instance.hostname}: {exc.detail}", level=messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{verb} was scheduled for {done} instance(s).", level=messages.SUCCESS)


@admin.action(description="Start selected instances")
def start_instances(modeladmin, request, queryset):
    """Schedule a start through the same service as the API."""
    _schedule_each(modeladmin, request, queryset, instance_services.instance_start, "Start")


@admin.action(description="Stop selected instances")
def stop_instances(modeladmin, request, queryset):
    """Schedule a stop through the same service as the API."""
    _schedule_each(modeladmin, request, queryset, instance_services.instance_stop, "Stop")


@admin.action(description="Restart selected instances")
def restart_instances(modeladmin, request, queryset):
    """Schedule a reboot through the same service as the API."""
    _schedule_each(modeladmin, request, queryset, instance_services.instance_restart, "Restart")


@admin.action(description="Delete selected instances from the cloud (Offline or Erred)")
def delete_instances(modeladmin, request, queryset):
    """Schedule deletion of server and volumes through the same service as the API."""
    _schedule_each(modeladmin, request, queryset, instance_services.instance_delete, "Deletion")


@admin.action(description="Recover selected Erred instances (a worker reconciles them with the cloud)")
def recover_instances(modeladmin, request, queryset):
    """Schedule a recovery through the same service as the API's recover action."""
    _schedule_each(modeladmin, request, queryset, instance_services.instance_recover, "Recovery")


@admin.action(description="Reconcile selected instances with the cloud (schedules a pull of their clouds)")
def reconcile_instances(modeladmin, request, queryset):
    """Schedule a pull of the selected instances' clouds: the pull reconciles every instance with the cloud."""
    clouds = Cloud.objects.filter(memberships__instances__in=queryset).distinct().order_by("name")
    _schedule_pulls(modeladmin, request, clouds, why=" to reconcile its instances")


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
        "port_id",
        "created",
    )
    raw_id_fields = ("cloud_project_membership", "template", "flavor", "ssh_public_key", "created_by")
    actions = (start_instances, stop_instances, restart_instances, delete_instances, recover_instances,
               reconcile_instances)

    def get_readonly_fields(self, request, obj=None):
        """Everything but the description: sizes, ids and state change only through the cloud's workers."""
        editable = {"hostname", "description"}
        return [f.name for f in Instance._meta.concrete_fields if f.name not in editable and f.name != "id"]

    def has_add_permission(self, request):
        """Instances are created through the API (quota, validation, provisioning), not by a bare admin row."""
        return False

    def has_delete_permission(self, request, obj=None):
        """A row deleted here would orphan the VM; use the delete action, which cleans the cloud first."""
        return False

    @admin.display(description="project", ordering="cloud_project_membership__project__name")
    def project_name(self, instance):
        """The project, through the membership joined in the list query."""
        return instance.cloud_project_membership.project.name

    @admin.display(description="cloud", ordering="cloud_project_membership__cloud__name")
    def cloud_name(self, instance):
        """The cloud, through the membership joined in the list query."""
        return instance.cloud_project_membership.cloud.name



@admin.action(description="Delete selected backups and their snapshots from the cloud (Ready or Erred)")
def delete_backups(modeladmin, request, queryset):
    """Schedule each deletion through the same service as the API; refusals are shown, not raised."""
    done = 0
    for backup in queryset:
        try:
            backup_services.backup_delete(backup, request.user)
            done += 1
        except APIException as exc:
            modeladmin.message_user(request, f"{backup}: {exc.detail}", level=messages.WARNING)
    if done:
        modeladmin.message_user(request, f"Deletion was scheduled for {done} backup(s).", level=messages.SUCCESS)


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    """Backups for inspection; a row deleted here would orphan its snapshots, so deletion is the action's."""

    list_display = ("uuid", "state", "description", "created")
    list_filter = ("state",)
    search_fields = ("uuid", "description", "system_snapshot_id", "data_snapshot_id")
    actions = (delete_backups,)

    def get_readonly_fields(self, request, obj=None):
        """Everything but the description and retention: snapshots and states are the workers'."""
        editable = {"description", "kept_until"}
        return [f.name for f in Backup._meta.concrete_fields if f.name not in editable and f.name != "id"]

    def has_add_permission(self, request):
        """Backups are taken through the API (policy, quota, the worker's snapshots), not by a bare row."""
        return False

    def has_delete_permission(self, request, obj=None):
        """Use the delete action, which removes the snapshots in the cloud first."""
        return False


@admin.register(BackupSchedule)
class BackupScheduleAdmin(admin.ModelAdmin):
    """Schedules for inspection; deleting one keeps its backups. Changes that move the next run go through the API."""

    list_display = ("uuid", "schedule", "timezone", "is_active", "next_trigger_at", "call_count")
    list_filter = ("is_active",)
    readonly_fields = ("instance", "schedule", "timezone", "is_active", "next_trigger_at", "error_message",
                       "call_count", "created_by")  # fmt: skip

    def has_add_permission(self, request):
        """Schedules are made through the API, which checks the cron, the zone and the next run."""
        return False
