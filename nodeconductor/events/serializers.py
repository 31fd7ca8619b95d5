"""Serializer of events."""

from rest_framework import serializers

from .models import Event


class EventSerializer(serializers.ModelSerializer):
    """An event with the uuids of what it concerns."""

    user_username = serializers.CharField(source="user.username", read_only=True, default=None)

    class Meta:
        model = Event
        fields = (
            "uuid", "created", "event_type", "level", "message", "user_username",
            "resource_type", "resource_uuid", "context",
        )  # fmt: skip
        read_only_fields = fields
