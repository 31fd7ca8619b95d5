"""Serializers of backup schedules: cron and zone checked with messages for a person, the next run read-only."""

from rest_framework import serializers

from nodeconductor.core import cron
from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField

from ..models import BackupSchedule, Instance
from ..services import backup_schedules as services


class BackupScheduleSerializer(HyperlinkedModelSerializer):
    """A schedule of one instance's backups: when (cron in an IANA zone), how long each is kept, how many at most."""

    backup_source = UuidHyperlinkedRelatedField(
        source="instance", view_name="instance-detail", queryset=Instance.objects.all(),
        help_text="The instance to back up; set on creation only.",
    )  # fmt: skip
    schedule = serializers.CharField(
        max_length=100, help_text="Five cron fields in `timezone`, at most hourly, e.g. '0 2 * * *' (02:00 daily)."
    )
    timezone = serializers.CharField(max_length=64, required=False, help_text="An IANA name; default: the server's.")
    retention_time = serializers.IntegerField(
        min_value=0, max_value=36500, required=False, help_text="Days each backup is kept; 0 keeps it until deleted."
    )
    maximal_number_of_backups = serializers.IntegerField(
        min_value=0, max_value=1000, required=False, help_text="Backups the schedule keeps at most; 0: no limit."
    )

    class Meta:
        model = BackupSchedule
        fields = ("url", "uuid", "backup_source", "schedule", "timezone", "retention_time",
                  "maximal_number_of_backups", "description", "is_active", "next_trigger_at", "error_message",
                  "call_count", "created", "modified")  # fmt: skip
        read_only_fields = ("uuid", "is_active", "next_trigger_at", "error_message", "call_count", "created",
                            "modified")  # fmt: skip

    def __init__(self, *args, **kwargs):
        """Offer only the instances the requester sees; the source is fixed once the schedule exists."""
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["backup_source"].queryset = Instance.objects.for_user(request.user)
        if self.instance is not None:
            self.fields["backup_source"].read_only = True

    def validate_schedule(self, value):
        """Five fields that parse and fire at most hourly."""
        try:
            services.parsed(value)
        except cron.CronError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return " ".join(value.split())

    def validate_timezone(self, value):
        """An IANA zone name."""
        try:
            cron.zone(value)
        except cron.CronError as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate(self, attrs):
        """The schedule must run at least once (a 30th of February never does) in its zone."""
        expression = attrs.get("schedule", getattr(self.instance, "schedule", None))
        zone = attrs.get("timezone", getattr(self.instance, "timezone", None))
        if expression and zone:
            try:
                services.next_trigger(expression, zone)
            except cron.CronError as exc:
                raise serializers.ValidationError({"schedule": [str(exc)]}) from None
        return attrs
