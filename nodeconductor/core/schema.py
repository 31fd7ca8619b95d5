"""drf-spectacular extensions for the API's own conventions.

Token auth needs no extension of ours: drf-spectacular ships `TokenScheme` for DRF's TokenAuthentication
(`Authorization: Token <key>`, named `tokenAuth`). What we add is `AutoSchema`, which documents the error
answers every endpoint can give (400/401/403/404/409/429 in the one error shape of core.exceptions) and
the pagination headers of lists, so clients and the fuzzer know every status code the code has.
"""

from drf_spectacular import openapi
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import permissions, serializers

ERROR_DETAIL = inline_serializer("Error", {"detail": serializers.CharField(help_text="What went wrong.")})

# 400s are field-keyed ({"name": ["..."]}), or {"detail": "..."} for unparsable bodies.
VALIDATION_ERROR = {
    "type": "object",
    "description": 'Messages keyed by field name ("non_field_errors" for the whole object), '
    'or {"detail": "..."} when the body cannot be parsed.',
    "additionalProperties": {},
}

LIST_HEADERS = {
    "Link": {
        "description": 'RFC 8288 links to the first, prev, next and last pages (rel="first" etc.).',
        "schema": build_basic_type(OpenApiTypes.STR),
    },
    "X-Result-Count": {
        "description": "Number of objects over all pages.",
        "schema": build_basic_type(OpenApiTypes.INT),
    },
}


def conflict(description):
    """A 409 response whose description says which state or dependants block the request."""
    return OpenApiResponse(ERROR_DETAIL, description=description)


# One component per name: a serializer built per call would be a new identity each time (a warning).
ACCEPTED = inline_serializer("Accepted", {"status": serializers.CharField(help_text='e.g. "stop was scheduled".')})


def accepted(description):
    """A 202 response: the action was scheduled and a worker will carry it out."""
    return OpenApiResponse(ACCEPTED, description=description)


class AutoSchema(openapi.AutoSchema):
    """Adds the error answers and list headers that the conventions of design.md section 5 promise."""

    def get_tags(self):
        """Group operations by collection (`/api/<collection>/...`) rather than one `api` tag."""
        tags = super().get_tags()
        parts = [p for p in self.path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api" and tags == ["api"]:
            return [parts[1]]
        return tags

    def _requires_auth(self):
        """False for endpoints open to anonymous users (token login, schema)."""
        return not any(issubclass(p, permissions.AllowAny) for p in getattr(self.view, "permission_classes", ()))

    def _is_throttled(self):
        """True for views with a throttle, which may answer 429."""
        return bool(getattr(self.view, "throttle_scope", None) or getattr(self.view, "throttle_classes", None))

    def _error_responses(self):
        """Status code -> response of the errors this operation can produce."""
        errors = {}
        safe = self.method in ("GET", "HEAD", "OPTIONS")
        if not safe or self._is_list_view():
            errors["400"] = OpenApiResponse(VALIDATION_ERROR, description="Invalid input or filter values.")
        if self._requires_auth():
            errors["401"] = OpenApiResponse(ERROR_DETAIL, description="No or invalid credentials.")
            # Reads too: some collections are staff-only, and session auth can fail CSRF checks.
            errors["403"] = OpenApiResponse(ERROR_DETAIL, description="Visible, but the requester may not do this.")
            errors["404"] = OpenApiResponse(
                ERROR_DETAIL, description="Not found or not visible to the requester (or no such page)."
            )
            if not safe:
                errors["409"] = conflict("The object's state or dependants do not allow this request.")
        if self._is_throttled():
            errors["429"] = OpenApiResponse(ERROR_DETAIL, description="Too many requests; retry later.")
        return errors

    def _get_response_bodies(self, direction="response"):
        """The documented responses plus every error not already described by extend_schema."""
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        """Document Link and X-Result-Count on paginated lists."""
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "200" and self._is_list_view() and getattr(self.view, "pagination_class", None):
            headers = {**LIST_HEADERS, **headers}
        return headers
