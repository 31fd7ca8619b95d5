"""FilterSets of structure: names match case-insensitively, parents by uuid."""

import django_filters

from nodeconductor.core.filters import NameFilterSet, UUIDFilter
from nodeconductor.structure import models


class CustomerFilter(NameFilterSet):
    """Filters of `/api/customers/`."""

    abbreviation = django_filters.CharFilter(lookup_expr="icontains")
    native_name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = models.Customer
        fields = ("name", "native_name", "abbreviation")


class ProjectFilter(NameFilterSet):
    """Filters of `/api/projects/`: `?customer=<uuid>`, `?project_group=<uuid>`."""

    customer = UUIDFilter("customer")
    customer_name = django_filters.CharFilter(field_name="customer__name", lookup_expr="icontains")
    project_group = UUIDFilter("project_groups")

    class Meta:
        model = models.Project
        fields = ("name", "customer", "customer_name", "project_group")


class ProjectGroupFilter(NameFilterSet):
    """Filters of `/api/project-groups/`: `?customer=<uuid>`, `?project=<uuid>`."""

    customer = UUIDFilter("customer")
    project = UUIDFilter("projects")

    class Meta:
        model = models.ProjectGroup
        fields = ("name", "customer", "project")


class _PermissionFilter(django_filters.FilterSet):
    """Filters every role list shares: `?user=<uuid>`, `?username=`, `?role=`."""

    user = UUIDFilter("user")
    username = django_filters.CharFilter(field_name="user__username", lookup_expr="icontains")


class CustomerPermissionFilter(_PermissionFilter):
    """Filters of `/api/customer-permissions/`."""

    customer = UUIDFilter("customer")

    class Meta:
        model = models.CustomerPermission
        fields = ("customer", "user", "username", "role")


class ProjectPermissionFilter(_PermissionFilter):
    """Filters of `/api/project-permissions/`: also `?customer=<uuid>` of the project's customer."""

    project = UUIDFilter("project")
    customer = UUIDFilter("project__customer")

    class Meta:
        model = models.ProjectPermission
        fields = ("project", "customer", "user", "username", "role")


class ProjectGroupPermissionFilter(_PermissionFilter):
    """Filters of `/api/project-group-permissions/`."""

    project_group = UUIDFilter("project_group")
    customer = UUIDFilter("project_group__customer")

    class Meta:
        model = models.ProjectGroupPermission
        fields = ("project_group", "customer", "user", "username", "role")
