"""Admin of the tenants' security groups and floating IPs: staff see what Neutron holds for each project.

Both are read-only here. A group's rules change through the API, which pushes them to Neutron as a diff; a
floating IP is what the last pull or worker saw in the cloud, so an edit here would be undone or would lie.
"""

from django.contrib import admin

from nodeconductor.iaas.models import FloatingIP, SecurityGroup, SecurityGroupRule

_MEMBERSHIP = ("membership__project", "membership__cloud")


class _ReadOnly(admin.ModelAdmin):
    """Viewed here, never added, edited or deleted: a hand edit would bypass Neutron and leave it out of step."""

    def has_add_permission(self, request):
        """Made by the API, the sync or a worker only."""
        return False

    def has_change_permission(self, request, obj=None):
        """Changed by the API and the pull only."""
        return False

    def has_delete_permission(self, request, obj=None):
        """Deleted through the API (which deletes in Neutron first) or by the pull when the cloud lost it."""
        return False


class SecurityGroupRuleInline(admin.TabularInline):
    """A group's rules as Neutron has them (with their Neutron ids), under the group."""

    model = SecurityGroupRule
    fields = readonly_fields = ("protocol", "from_port", "to_port", "cidr", "direction", "backend_id")
    extra = 0
    can_delete = False


@admin.register(SecurityGroup)
class SecurityGroupAdmin(_ReadOnly):
    """Groups per membership with their state and the cloud's message when a push failed."""

    list_display = ("name", "membership", "state", "backend_id", "error_message")
    list_select_related = _MEMBERSHIP
    list_filter = ("state", "membership__cloud")
    search_fields = ("name", "backend_id", "membership__project__name")
    readonly_fields = ("uuid", "membership", "name", "description", "backend_id", "state", "error_message")
    inlines = (SecurityGroupRuleInline,)


@admin.register(FloatingIP)
class FloatingIPAdmin(_ReadOnly):
    """Floating IPs per membership: free or on which instance, and whether a worker of ours allocated it."""

    list_display = ("address", "membership", "status", "instance", "allocated_for", "backend_id")
    list_select_related = (*_MEMBERSHIP, "instance")
    list_filter = ("status", "membership__cloud")
    search_fields = ("address", "backend_id", "instance__hostname", "membership__project__name")
    readonly_fields = ("uuid", "membership", "address", "status", "instance", "allocated_for", "backend_id")
