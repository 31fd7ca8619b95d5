"""Serializers of imports: an untracked server as the last pull saw it, and the import request."""

from rest_framework import serializers

from nodeconductor.core.serializers import UuidHyperlinkedRelatedField

from ..models import ImportableServer


class ImportableServerSerializer(serializers.ModelSerializer):
    """A server of the tenant that no instance tracks: what an import would make of it, or why it cannot."""

    flavor = UuidHyperlinkedRelatedField(view_name="flavor-detail", read_only=True, allow_null=True)
    flavor_name = serializers.CharField(source="flavor.name", default="", read_only=True)
    template = UuidHyperlinkedRelatedField(view_name="template-detail", read_only=True, allow_null=True)
    template_name = serializers.CharField(source="template.name", default="", read_only=True)
    cores = serializers.IntegerField(source="flavor.cores", default=None, read_only=True)
    ram = serializers.IntegerField(source="flavor.ram", default=None, read_only=True, help_text="MiB")
    importable = serializers.BooleanField(read_only=True, help_text="True when `reasons` is empty.")
    reasons = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Why the server cannot be imported, if it cannot."
    )

    class Meta:
        model = ImportableServer
        fields = (
            "backend_id",
            "name",
            "status",
            "importable",
            "reasons",
            "flavor",
            "flavor_name",
            "flavor_backend_id",
            "cores",
            "ram",
            "template",
            "template_name",
            "image_backend_id",
            "system_volume_id",
            "system_volume_size",
            "data_volume_id",
            "data_volume_size",
            "internal_ips",
            "external_ips",
            "created_in_cloud",
            "launched_at",
            "pulled",
        )
        read_only_fields = fields


class InstanceImportSerializer(serializers.Serializer):
    """The import request: the Nova id of a server listed by importable_instances, under the list's own name."""

    backend_id = serializers.CharField(max_length=255, required=False,
                                       help_text="Nova server id, as `backend_id` in importable_instances.")
    server_id = serializers.CharField(max_length=255, required=False, help_text="The same, by its former name.")

    def validate(self, attrs):
        """Exactly one of backend_id (the list's name) or server_id (kept for older clients)."""
        given = [name for name in ("backend_id", "server_id") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"backend_id": ["Give the server's Nova id as backend_id, as importable_instances lists it."]})
        return {"backend_id": attrs[given[0]]}
