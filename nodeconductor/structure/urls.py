"""Routes of structure."""

from nodeconductor.structure import views


def register_in(router):
    """Register structure's viewsets on the one router (basenames are model names, as serializers expect)."""
    router.register("customers", views.CustomerViewSet, basename="customer")
    router.register("projects", views.ProjectViewSet, basename="project")
    router.register("project-groups", views.ProjectGroupViewSet, basename="projectgroup")
    router.register("customer-permissions", views.CustomerPermissionViewSet, basename="customerpermission")
    router.register("project-permissions", views.ProjectPermissionViewSet, basename="projectpermission")
    router.register("project-group-permissions", views.ProjectGroupPermissionViewSet, basename="projectgrouppermission")
