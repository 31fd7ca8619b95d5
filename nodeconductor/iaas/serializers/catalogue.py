"""Serializers of the catalogue: pulled flavors, templates with their image mappings, and licences."""

from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField
from nodeconductor.iaas.models import Cloud, Flavor, Image, Template, TemplateLicense, TemplateMapping


class FlavorSerializer(HyperlinkedModelSerializer):
    """A Nova flavor of a cloud (sizes in MiB); inactive ones vanished from the cloud but are still in use."""

    cloud = UuidHyperlinkedRelatedField(view_name="cloud-detail", read_only=True)
    cloud_name = serializers.CharField(source="cloud.name", read_only=True)

    class Meta:
        model = Flavor
        fields = ("url", "uuid", "name", "cloud", "cloud_name", "cores", "ram", "disk", "is_active")
        read_only_fields = fields


class TemplateMappingSerializer(serializers.ModelSerializer):
    """One Glance image id the template stands for; a pull turns matches into the template's images."""

    class Meta:
        model = TemplateMapping
        fields = ("backend_image_id", "description")

    def validate(self, attrs):
        """Require every required key even in a PATCH of the template: the list replaces whole mappings.

        DRF skips missing fields of nested serializers when the root update is partial, which let
        {"mappings": [{"description": ""}]} through without an image id.
        """
        missing = {
            name: [field.error_messages["required"]]
            for name, field in self.fields.items()
            if field.required and not field.read_only and field.source not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class TemplateImageSerializer(serializers.ModelSerializer):
    """Where a template can be booted: a cloud holding one of its mapped images, with the image's minimums."""

    cloud = UuidHyperlinkedRelatedField(view_name="cloud-detail", read_only=True)
    cloud_name = serializers.CharField(source="cloud.name", read_only=True)

    class Meta:
        model = Image
        fields = ("cloud", "cloud_name", "min_disk", "min_ram")


class TemplateSerializer(HyperlinkedModelSerializer):
    """A template with the clouds the requester sees where it has an image; staff also see and set mappings.

    `mappings` is a nested writable list: on create or update it replaces the template's mappings
    (left out, they stay as they are).
    """

    mappings = TemplateMappingSerializer(many=True, required=False, help_text="Staff only: the Glance image ids.")
    images = serializers.SerializerMethodField(help_text="Clouds (visible to the requester) with an image of it.")

    class Meta:
        model = Template
        fields = (
            "url",
            "uuid",
            "name",
            "description",
            "icon_url",
            "os",
            "os_type",
            "is_active",
            "sla_level",
            "setup_fee",
            "monthly_fee",
            "mappings",
            "images",
        )
        read_only_fields = ("uuid",)

    @extend_schema_field(TemplateImageSerializer(many=True))
    def get_images(self, template):
        """The prefetched images in visible clouds, or (just written) a query for them."""
        images = getattr(template, "visible_images", None)
        if images is None:
            user = self.context["request"].user
            images = template.images.filter(cloud__in=Cloud.objects.for_user(user)).select_related("cloud")
        return TemplateImageSerializer(images, many=True, context=self.context).data

    def get_fields(self):
        """Leave the mappings out for everyone but staff: image ids are operators' business."""
        fields = super().get_fields()
        request = self.context.get("request")
        # The schema generator's fake view must still see the field to document it.
        documenting = getattr(self.context.get("view"), "swagger_fake_view", False)
        if request is not None and not request.user.is_staff and not documenting:
            fields.pop("mappings")
        return fields

    def validate_mappings(self, mappings):
        """One mapping per image id."""
        ids = [m["backend_image_id"] for m in mappings]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise serializers.ValidationError(f"Image ids listed more than once: {', '.join(duplicates)}.")
        return mappings

    def _replace_mappings(self, template, mappings):
        """Make the template's mappings exactly the given list, touching only rows that change."""
        existing = {m.backend_image_id: m for m in template.mappings.all()}
        wanted = {m["backend_image_id"]: m.get("description", "") for m in mappings}
        template.mappings.exclude(backend_image_id__in=wanted).delete()
        for image_id, description in wanted.items():
            mapping = existing.get(image_id)
            if mapping is None:
                TemplateMapping.objects.create(template=template, backend_image_id=image_id, description=description)
            elif mapping.description != description:
                mapping.description = description
                mapping.save(update_fields=["description"])

    def create(self, validated_data):
        """Create the template and its mappings together."""
        mappings = validated_data.pop("mappings", [])
        with transaction.atomic():
            template = super().create(validated_data)
            self._replace_mappings(template, mappings)
        return template

    def update(self, template, validated_data):
        """Update the template; replace its mappings when the request lists them."""
        mappings = validated_data.pop("mappings", None)
        with transaction.atomic():
            template = super().update(template, validated_data)
            if mappings is not None:
                self._replace_mappings(template, mappings)
        # Drop prefetched rows so the answer shows what was just written.
        template._prefetched_objects_cache = {}
        if hasattr(template, "visible_images"):
            del template.visible_images
        return template


class TemplateLicenseSerializer(HyperlinkedModelSerializer):
    """A licence with its fees and the templates that carry it."""

    templates = UuidHyperlinkedRelatedField(
        view_name="template-detail", queryset=Template.objects.all(), many=True, required=False
    )

    class Meta:
        model = TemplateLicense
        fields = (
            "url",
            "uuid",
            "name",
            "license_type",
            "service_type",
            "templates",
            "setup_fee",
            "monthly_fee",
        )
        read_only_fields = ("uuid",)
