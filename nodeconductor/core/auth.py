"""Token auth: `POST /api-auth/password/` trades a username and password for an API token that expires,
`POST /api-auth/logout/` revokes it.

Tokens are django-rest-knox's: the database holds a digest only, a token expires REST_KNOX["TOKEN_TTL"] after
its last use (knox moves the expiry forward at most once per MIN_REFRESH_INTERVAL), and a password change
revokes the user's other tokens (`revoke_tokens`).
"""

from django.contrib.auth import authenticate, logout, user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from nodeconductor.core.exceptions import LoginFailed
from nodeconductor.core.schema import ERRORS, AutoSchema, validation_error
from nodeconductor.core.throttling import PasswordLoginThrottle, UsernameLoginThrottle

INVALID_CREDENTIALS = LoginFailed.default_detail


class PasswordLoginSerializer(serializers.Serializer):
    """Credentials of a token login."""

    username = serializers.CharField(max_length=128)
    password = serializers.CharField(max_length=128, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    """The answer of a successful login."""

    token = serializers.CharField(
        help_text="Send it as `Authorization: Token <token>`. Shown once: the server keeps only a digest."
    )
    expiry = serializers.DateTimeField(
        help_text="When the token expires if it is not used; each use moves this to the token lifetime from then."
    )


class PasswordLoginView(APIView):
    """Exchanges a username and password for a new API token of the user."""

    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)
    throttle_classes = (PasswordLoginThrottle, UsernameLoginThrottle)
    schema = AutoSchema()

    @extend_schema(
        operation_id="auth_password",
        tags=["auth"],
        request=PasswordLoginSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(
                validation_error(["authentication_failed", "invalid", "parse_error"]),
                description="Missing fields (field-keyed, `invalid`), or wrong credentials: "
                f'{{"detail": "{INVALID_CREDENTIALS}", "code": "authentication_failed"}}.',
            ),
            429: OpenApiResponse(
                ERRORS[429], description="Too many login attempts from this address, or at this username."
            ),
        },
        auth=[],
    )
    def post(self, request):
        """Return a new token of an active user whose credentials match; one message for any wrong part."""
        serializer = PasswordLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            UsernameLoginThrottle().record_failure(request)
            raise LoginFailed()
        instance, token = AuthToken.objects.create(user=user)
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data)


class LogoutView(APIView):
    """Revokes the token the request is made with; a browsable-API session is ended instead."""

    permission_classes = (permissions.IsAuthenticated,)
    schema = AutoSchema()

    @extend_schema(
        operation_id="auth_logout",
        summary="Log out: revoke this token",
        tags=["auth"],
        request=None,
        responses={
            204: OpenApiResponse(
                description="The token of this request is revoked: it answers 401 from now on. The user's other "
                "tokens stay valid. Sent with a session instead of a token, the session ends."
            ),
        },
    )
    def post(self, request):
        """Delete the request's token (or end its session); nothing else of the user changes."""
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        else:
            logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)
