"""Serializers of users and keys, and the hyperlinked-by-uuid base every app's serializers build on."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.reverse import reverse

from nodeconductor.core.models import SshPublicKey, User


class UuidHyperlinkedRelatedField(serializers.HyperlinkedRelatedField):
    """A reference by URL whose last segment is the target's uuid (design.md section 5).

    When `visible_only` is set (the default), a writable field accepts only objects the requester sees
    (`queryset.for_user(user)`), so naming an invisible object reads as "does not exist" and stays invisible.
    """

    def __init__(self, *args, visible_only=True, **kwargs):
        """Default the lookup to uuid."""
        kwargs.setdefault("lookup_field", "uuid")
        self.visible_only = visible_only
        super().__init__(*args, **kwargs)

    def get_url(self, obj, view_name, request, format):
        """The target's URL by uuid, without a `reverse()` per row."""
        if format or self.lookup_field != "uuid":
            return super().get_url(obj, view_name, request, format)
        return detail_url(view_name, obj, request)

    def get_queryset(self):
        """Restrict the accepted targets to what the requester sees, when the queryset knows how."""
        queryset = super().get_queryset()
        request = self.context.get("request")
        if self.visible_only and request is not None and hasattr(queryset, "for_user"):
            queryset = queryset.for_user(request.user)
        return queryset


class UuidHyperlinkedIdentityField(serializers.HyperlinkedIdentityField):
    """The object's own `url`, by uuid."""

    def __init__(self, *args, **kwargs):
        """Default the lookup to uuid."""
        kwargs.setdefault("lookup_field", "uuid")
        super().__init__(*args, **kwargs)

    def get_url(self, obj, view_name, request, format):
        """The object's URL by uuid, without a `reverse()` per row."""
        if format or self.lookup_field != "uuid":
            return super().get_url(obj, view_name, request, format)
        return detail_url(view_name, obj, request)


class HyperlinkedModelSerializer(serializers.HyperlinkedModelSerializer):
    """Base of every API serializer: `url` and `uuid`, and references as URLs by uuid."""

    serializer_url_field = UuidHyperlinkedIdentityField
    serializer_related_field = UuidHyperlinkedRelatedField


_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _url_parts(view_name, request):
    """The URL of `view_name`'s detail route around the uuid, resolved once per request and view name."""
    cache = getattr(request, "_detail_url_parts", None)
    if cache is None:
        cache = {}
        if request is not None:
            request._detail_url_parts = cache
    if view_name not in cache:
        head, tail = reverse(view_name, kwargs={"uuid": _PLACEHOLDER}, request=request).split(_PLACEHOLDER)
        cache[view_name] = (head, tail)
    return cache[view_name]


def detail_url(view_name, obj, request):
    """Absolute URL of an object by uuid; resolving the route once per request keeps long lists cheap."""
    head, tail = _url_parts(view_name, request)
    return f"{head}{obj.uuid}{tail}"


class UserSerializer(HyperlinkedModelSerializer):
    """A user as staff and the user himself see him; never the password hash."""

    class Meta:
        model = User
        fields = (
            "url",
            "uuid",
            "username",
            "full_name",
            "native_name",
            "email",
            "phone_number",
            "organization",
            "job_title",
            "civil_number",
            "is_staff",
            "is_active",
            "description",
        )
        read_only_fields = ("uuid",)

    def get_fields(self):
        """Only staff may change staff and active flags, so nobody makes himself staff."""
        fields = super().get_fields()
        request = self.context.get("request")
        if request is None or not (request.user.is_authenticated and request.user.is_staff):
            fields["is_staff"].read_only = True
            fields["is_active"].read_only = True
        return fields

    def validate_civil_number(self, value):
        """Store a blank civil number as NULL so uniqueness only binds real numbers."""
        return value or None


class PasswordSerializer(serializers.Serializer):
    """A new password, checked by Django's password validators, and the current one when you change your own."""

    # Context: `request` and `user` (whose password is set). The current password keeps a stolen token from
    # taking the account over; staff setting someone else's password need not know it.

    current_password = serializers.CharField(
        max_length=128,
        write_only=True,
        required=False,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Your current password: required when you change your own (staff setting another's omit it).",
    )
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    def is_own(self):
        """Whether the requester is setting his own password."""
        request, user = self.context.get("request"), self.context.get("user")
        return request is not None and user is not None and request.user.pk == user.pk

    def get_fields(self):
        """The current password is required exactly when the requester changes his own."""
        fields = super().get_fields()
        fields["current_password"].required = self.is_own()
        return fields

    def validate_current_password(self, value):
        """Check the current password of a user who changes his own."""
        if self.is_own() and not self.context["user"].check_password(value):
            raise serializers.ValidationError("Your current password is wrong.")
        return value

    def validate_password(self, value):
        """Reject passwords the configured validators reject, with their messages."""
        try:
            password_validation.validate_password(value, self.context.get("user"))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages))
        return value


class SshPublicKeySerializer(HyperlinkedModelSerializer):
    """A user's public key; the fingerprint is derived and the owner is the requester."""

    user = UuidHyperlinkedRelatedField(view_name="user-detail", read_only=True)

    class Meta:
        model = SshPublicKey
        fields = ("url", "uuid", "name", "public_key", "fingerprint", "user")
        read_only_fields = ("uuid", "fingerprint")
        # Uniqueness of (user, name) is checked in validate() with a message; user is not an input.
        validators = []

    def validate(self, attrs):
        """Check the key with the model's own rules and refuse a second key of the same name."""
        user = self.context["request"].user
        key = SshPublicKey(user=user, **attrs)
        try:
            key.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"public_key": list(exc.messages)})
        if SshPublicKey.objects.filter(user=user, name=attrs["name"]).exists():
            raise serializers.ValidationError({"name": ["You already have a key with this name."]})
        attrs["public_key"] = key.public_key
        attrs["fingerprint"] = key.fingerprint
        return attrs

    def create(self, validated_data):
        """Create the key for the requester."""
        return SshPublicKey.objects.create(user=self.context["request"].user, **validated_data)
