"""Token login: `POST /api-auth/password/` trades a username and password for an API token."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, throttling
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from nodeconductor.core.exceptions import LoginFailed
from nodeconductor.core.schema import ERRORS, AutoSchema, validation_error

INVALID_CREDENTIALS = LoginFailed.default_detail


class PasswordLoginThrottle(throttling.ScopedRateThrottle):
    """Limits login attempts per client address (scope `password_login`) to slow down password guessing.

    The rate is read at each request rather than at import, so settings overrides (tests) take effect.
    """

    def get_rate(self):
        """The current `password_login` rate from REST_FRAMEWORK settings."""
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope not in rates:
            raise exceptions.APIException(f"No throttle rate set for scope '{self.scope}'.")
        return rates[self.scope]


class PasswordLoginSerializer(serializers.Serializer):
    """Credentials of a token login."""

    username = serializers.CharField(max_length=128)
    password = serializers.CharField(max_length=128, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    """The answer of a successful login."""

    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


class PasswordLoginView(APIView):
    """Exchanges a username and password for the user's API token."""

    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)
    throttle_classes = (PasswordLoginThrottle,)
    throttle_scope = "password_login"
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
            429: OpenApiResponse(ERRORS[429], description="Too many login attempts from this address."),
        },
        auth=[],
    )
    def post(self, request):
        """Return the token of an active user whose credentials match; one message for any wrong part."""
        serializer = PasswordLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise LoginFailed()
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
