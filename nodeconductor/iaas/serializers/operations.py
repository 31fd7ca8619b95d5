"""The `operation` field of the rows the engine runs resource operations on: clouds, memberships, security groups,
backups."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..engine.progress import resource_progress

RESOURCE_OPERATION_SCHEMA = {
    "type": "object",
    "nullable": True,
    "description": "The operation recorded on the row (a pull, a sync, a push, a deletion) while it is queued or "
    "running; null when none. While it is there, another one is refused with 409.",
    "properties": {
        "name": {"type": "string", "enum": ["pull_cloud", "sync_membership", "push_security_group",
                                            "delete_security_group", "backup", "delete_backup"]},
        "title": {"type": "string", "description": 'e.g. "pull of the cloud".'},
        "state": {"type": "string", "enum": ["queued", "running", "cleaning up"]},
        "started": {"type": "string", "format": "date-time", "nullable": True},
        "waiting_for": {"type": "string", "description": 'What it waits for in the cloud, e.g. "a backup slot: 10 '
                        'of 10 backups run in cloud X, 3 queued ahead"; empty when nothing.'},
    },
}  # fmt: skip


class OperationFieldMixin(serializers.Serializer):
    """The `operation` of a row the engine runs one-step operations on (clouds, memberships, security groups)."""

    operation = serializers.SerializerMethodField()

    @extend_schema_field(RESOURCE_OPERATION_SCHEMA)
    def get_operation(self, row):
        """The operation queued or running on the row (engine/progress.py), or null."""
        return resource_progress(row)
