"""Views shared by the whole API (JSON 404/500, the uuid-lookup base viewsets) and core's users and keys."""

import django_filters
from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import decorators, mixins, response, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError

from nodeconductor.core import filters, permissions, serializers
from nodeconductor.core.authentication import keeping
from nodeconductor.core.models import SshPublicKey, User
from nodeconductor.core.schema import AutoSchema
from nodeconductor.core.throttling import PasswordChangeThrottle

# Hex with or without dashes; anything else never reaches a view (404 from the URL resolver).
UUID_REGEX = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def bad_request(request, exception=None):
    """Answer requests Django refuses before any view (a bad Host header, a suspicious request) in the common shape."""
    return JsonResponse({"detail": "Bad request.", "code": "invalid"}, status=400)


def not_found(request, exception=None):
    """Answer unknown URLs with the common error shape instead of an HTML page."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def server_error(request):
    """Answer unexpected failures with the common error shape and no traceback."""
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)


def scheduled(action, **extra):
    """The one 202 body of every scheduled action: {"status": "<action> was scheduled"} plus what it echoes."""
    return response.Response({"status": f"{action} was scheduled", **extra}, status=status.HTTP_202_ACCEPTED)


class UuidViewSetMixin:
    """Looks objects up by uuid and shows each user only what `queryset.for_user(user)` lets him see.

    Anything outside the visible queryset is a 404, never a 403; subclasses add select/prefetch_related.
    """

    lookup_field = "uuid"
    lookup_value_regex = UUID_REGEX
    schema = AutoSchema()

    def get_queryset(self):
        """The view's queryset narrowed to what the requester may see."""
        queryset = super().get_queryset()
        if hasattr(queryset, "for_user"):
            queryset = queryset.for_user(self.request.user)
        return queryset


class UuidModelViewSet(UuidViewSetMixin, viewsets.ModelViewSet):
    """Full CRUD by uuid over the requester's visible objects."""


class UuidReadOnlyViewSet(UuidViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """List and retrieve by uuid over the requester's visible objects."""


class UserFilter(django_filters.FilterSet):
    """Filters of `/api/users/`: text fields match case-insensitively anywhere."""

    username = django_filters.CharFilter(lookup_expr="icontains")
    full_name = django_filters.CharFilter(lookup_expr="icontains")
    email = django_filters.CharFilter(lookup_expr="icontains")
    organization = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = User
        fields = ("username", "full_name", "email", "organization", "is_staff", "is_active")


@extend_schema_view(
    list=extend_schema(summary="List users", description="Staff see every user; anyone else only himself."),
    retrieve=extend_schema(summary="Show a user", description="Other users are 404 to non-staff."),
    create=extend_schema(summary="Create a user (staff)", description="Set the password with the password action."),
    update=extend_schema(summary="Replace a user", description="Self or staff; only staff change is_staff/is_active."),
    partial_update=extend_schema(summary="Change a user", description="Self or staff; only staff change flags."),
    destroy=extend_schema(summary="Delete a user (staff)"),
)
class UserViewSet(UuidModelViewSet):
    """Staff manage every account; a user sees and edits only his own."""

    queryset = User.objects.all()
    serializer_class = serializers.UserSerializer
    permission_classes = (permissions.CanManageObject,)
    filterset_class = UserFilter
    ordering_fields = ("username", "full_name", "email", "organization", "date_joined")

    def get_queryset(self):
        """Staff see everyone, others only themselves."""
        user = self.request.user
        queryset = User.objects.all()
        if not permissions.is_staff(user):
            queryset = queryset.filter(pk=user.pk) if user.is_authenticated else queryset.none()
        return queryset

    def can_manage(self, user, obj):
        """Staff change anyone; a user changes himself but may not delete himself."""
        if permissions.is_staff(user):
            return True
        return obj.pk == user.pk and self.action != "destroy"

    def create(self, request, *args, **kwargs):
        """Only staff create accounts; others get 403 before their input is even validated."""
        permissions.deny_unless(permissions.is_staff(request.user), "Only staff may create users.")
        return super().create(request, *args, **kwargs)

    @extend_schema(
        summary="Set a user's password",
        description="A user changing his own gives `current_password`; his other API tokens are revoked and his "
        "other sessions end, the token or session of this request stays valid. Staff setting another user's "
        "password need not give it; all of that user's tokens are revoked. A wrong `current_password` counts "
        "against the requester's login throttle (`password_login_user`).",
        request=serializers.PasswordSerializer,
        responses={200: OpenApiResponse(description="The password was set.")},
    )
    @decorators.action(
        detail=True,
        methods=["post"],
        serializer_class=serializers.PasswordSerializer,
        throttle_classes=(PasswordChangeThrottle,),
    )
    def password(self, request, uuid=None):
        """Set the password of the user himself (or anyone, for staff), and revoke the credentials it replaces."""
        user = self.get_object()
        serializer = serializers.PasswordSerializer(data=request.data, context={"request": request, "user": user})
        if not serializer.is_valid():
            if "current_password" in serializer.errors:
                PasswordChangeThrottle().record_failure(request)  # a wrong current password is a guess
            raise ValidationError(serializer.errors)
        own = user.pk == request.user.pk
        with transaction.atomic(), keeping(request.auth if own else None):
            user.set_password(serializer.validated_data["password"])
            user.save(update_fields=["password"])  # revokes the user's tokens (but this one, for his own)
        # Other sessions end by themselves (their stored password hash no longer matches); this one is renewed.
        if own and isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request, user)
        return response.Response({"detail": "Password has been set."})


class SshPublicKeyFilter(filters.NameFilterSet):
    """Filters of `/api/keys/`: `?user=<uuid>` and `?name=`."""

    user = filters.UUIDFilter("user")

    class Meta:
        model = SshPublicKey
        fields = ("name", "user", "fingerprint")


@extend_schema_view(
    list=extend_schema(summary="List SSH keys", description="Own keys; staff see all."),
    retrieve=extend_schema(summary="Show an SSH key"),
    create=extend_schema(summary="Add an SSH key", description="The key belongs to the requester."),
    destroy=extend_schema(summary="Delete an SSH key"),
)
class SshPublicKeyViewSet(
    UuidViewSetMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A user's SSH keys; immutable once added (delete and add again), as in the original."""

    queryset = SshPublicKey.objects.select_related("user")
    serializer_class = serializers.SshPublicKeySerializer
    permission_classes = (permissions.CanManageObject,)
    filterset_class = SshPublicKeyFilter
    ordering_fields = ("name", "fingerprint")

    def get_queryset(self):
        """Own keys; staff see all."""
        user = self.request.user
        queryset = super().get_queryset()
        if permissions.is_staff(user):
            return queryset
        return queryset.filter(user=user) if user.is_authenticated else queryset.none()

    def can_manage(self, user, obj):
        """The owner or staff may delete a key."""
        return permissions.is_staff(user) or obj.user_id == user.pk
