"""IaaS catalogue endpoints: flavors (read-only, pulled), templates (staff manage), template licences (staff).

Template mappings are managed through the template itself: `mappings` is a nested writable list that a
POST, PUT or PATCH carrying it replaces as a whole.
"""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions

from nodeconductor.core import filters
from nodeconductor.core.exceptions import InUse
from nodeconductor.core.permissions import CanManageObject, deny_unless, is_staff
from nodeconductor.core.schema import conflict
from nodeconductor.core.views import UuidModelViewSet, UuidReadOnlyViewSet
from nodeconductor.iaas.limits import INT32_MAX
from nodeconductor.iaas.models import Cloud, Flavor, Image, Template, TemplateLicense, TemplateMapping
from nodeconductor.iaas.serializers.catalogue import FlavorSerializer, TemplateLicenseSerializer, TemplateSerializer


class FlavorFilter(filters.NameFilterSet):
    """Filters of `/api/flavors/`: `?cloud=<uuid>`, `?name=`, `?is_active=`, and size bounds."""

    cloud = filters.UUIDFilter("cloud")
    # Flavor sizes are integer columns (32-bit in PostgreSQL).
    cores = filters.BoundedNumberFilter(maximum=INT32_MAX, unit="cores", help_text="Exactly this many cores.")
    ram__gte = filters.BoundedNumberFilter(field_name="ram", lookup_expr="gte", maximum=INT32_MAX, unit="MiB",
                                           help_text="At least this RAM, MiB.")  # fmt: skip

    class Meta:
        model = Flavor
        fields = ("name", "cloud", "is_active", "cores")


@extend_schema_view(
    list=extend_schema(
        summary="List flavors",
        description="Flavors of the clouds the requester sees; is_active is false for flavors that vanished "
        "from the cloud but are still used by instances.",
    ),
    retrieve=extend_schema(summary="Show a flavor"),
)
class FlavorViewSet(UuidReadOnlyViewSet):
    """Flavors are pulled from the clouds, so the API only reads them."""

    queryset = Flavor.objects.select_related("cloud")
    serializer_class = FlavorSerializer
    filterset_class = FlavorFilter
    ordering_fields = ("name", "cores", "ram", "disk", "cloud__name")


class TemplateFilter(filters.NameFilterSet):
    """Filters of `/api/iaas-templates/`: `?name=`, `?os_type=`, `?is_active=` (staff see inactive ones)."""

    os = django_filters.CharFilter(lookup_expr="icontains")
    cloud = filters.UUIDFilter("images__cloud", distinct=True, help_text="Templates with an image in this cloud.")

    class Meta:
        model = Template
        fields = ("name", "os", "os_type", "is_active", "cloud")


class IsStaff(permissions.BasePermission):
    """Every method for staff alone; other authenticated users get 403."""

    def has_permission(self, request, view):
        """Staff only (anonymous users get 401 from authentication first)."""
        return is_staff(request.user)


@extend_schema_view(
    list=extend_schema(
        summary="List templates",
        description="Active templates for every user, all for staff; mappings are shown to staff only.",
    ),
    retrieve=extend_schema(summary="Show a template"),
    create=extend_schema(summary="Create a template (staff)", description="mappings may be given inline."),
    update=extend_schema(summary="Replace a template (staff)", description="A given mappings list replaces all."),
    partial_update=extend_schema(summary="Change a template (staff)", description="A given mappings list replaces."),
    destroy=extend_schema(
        summary="Delete a template (staff)",
        responses={204: None, 409: conflict("Instances still use the template; deactivate it instead.")},
    ),
)
class TemplateViewSet(UuidModelViewSet):
    """Staff maintain the offer of operating systems; everybody else picks from the active ones."""

    queryset = Template.objects.all()
    serializer_class = TemplateSerializer
    permission_classes = (CanManageObject,)
    filterset_class = TemplateFilter
    ordering_fields = ("name", "os", "sla_level", "monthly_fee", "created")

    def get_queryset(self):
        """Visible templates with their images in visible clouds (and, for staff, mappings) prefetched."""
        user = self.request.user
        visible_images = Image.objects.filter(cloud__in=Cloud.objects.for_user(user)).select_related("cloud")
        queryset = super().get_queryset().prefetch_related(
            Prefetch("images", queryset=visible_images, to_attr="visible_images")
        )
        if is_staff(user):
            queryset = queryset.prefetch_related(Prefetch("mappings", queryset=TemplateMapping.objects.all()))
        return queryset

    def can_manage(self, user, template):
        """Staff alone change templates (others see active ones only, so an inactive one is a 404 to them)."""
        return is_staff(user)

    def create(self, request, *args, **kwargs):
        """Only staff create templates; others get 403 before their input is validated."""
        deny_unless(is_staff(request.user), "Only staff may manage templates.")
        return super().create(request, *args, **kwargs)

    def perform_destroy(self, instance):
        """Refuse while instances use the template, naming the way out."""
        if instance.instances.exists():
            raise InUse("Instances still use this template; deactivate it (is_active=false) instead.")
        instance.delete()


@extend_schema_view(
    list=extend_schema(summary="List template licences (staff)"),
    retrieve=extend_schema(summary="Show a template licence (staff)"),
    create=extend_schema(summary="Create a template licence (staff)"),
    update=extend_schema(summary="Replace a template licence (staff)"),
    partial_update=extend_schema(summary="Change a template licence (staff)"),
    destroy=extend_schema(summary="Delete a template licence (staff)"),
)
class TemplateLicenseViewSet(UuidModelViewSet):
    """Licences and their fees are staff's bookkeeping: every method is 403 for other users."""

    queryset = TemplateLicense.objects.prefetch_related(Prefetch("templates", queryset=Template.objects.only("uuid")))
    serializer_class = TemplateLicenseSerializer
    permission_classes = (IsStaff,)
    filterset_fields = ("service_type", "license_type")
    ordering_fields = ("name", "license_type", "service_type")


def register_in(router):
    """Register this module's viewsets."""
    router.register("flavors", FlavorViewSet, basename="flavor")
    router.register("iaas-templates", TemplateViewSet, basename="template")
    router.register("template-licenses", TemplateLicenseViewSet, basename="templatelicense")
