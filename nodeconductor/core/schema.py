"""drf-spectacular extensions for the API's own conventions.

`TokenScheme` documents the API token (django-rest-knox behind `Authorization: Token <token>`) under the name
`tokenAuth` that clients knew when it was DRF's token. `AutoSchema` documents the error
answers every endpoint can give (400/401/403/404/406/409/415/429/503 in the one error shape of
core.exceptions, each `code` an enum of the codes that status carries) and the pagination headers of lists,
so clients and the fuzzer know every status code and error code the code has.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_basic_type, build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field, inline_serializer
from rest_framework import permissions, serializers

from nodeconductor.core.exceptions import ERROR_CODES, codes_for_status

CODE_DESCRIPTION = "Machine-readable; branch on it, not on the message (the API conventions page lists the codes)."


def code_schema(codes):
    """The schema of an error body's `code`: a string out of `codes`."""
    return {"type": "string", "enum": list(codes), "description": CODE_DESCRIPTION}


def error_serializer(name, codes):
    """A {"detail": ..., "code": ...} component whose code is one of `codes`."""
    # drf-spectacular reads a field's schema override from its class, not from an instance.
    code_field = extend_schema_field(code_schema(codes))(type(f"{name}Code", (serializers.CharField,), {}))
    detail = serializers.CharField(help_text="What went wrong.")
    return inline_serializer(name, {"detail": detail, "code": code_field()})


# One component per name: a serializer built per call would be a new identity each time (a warning).
# ERROR_DETAIL takes any code, for an answer documented without its status; ERRORS[status] is precise.
ERROR_DETAIL = error_serializer("Error", sorted(ERROR_CODES))
ERRORS = {
    status: error_serializer(f"Error{status}", codes_for_status(status))
    for status in (401, 403, 404, 406, 409, 415, 429, 502, 503)
}
# A token login's wrong credentials are a 400, as in DRF's own token view; no other 400 carries this code.
FIELD_CODES = [code for code in codes_for_status(400) if code != "authentication_failed"]


def validation_error(codes=FIELD_CODES):
    """A 400 body: messages keyed by field name plus `code`, or {"detail": ..., "code": ...}."""
    return {
        "type": "object",
        "description": 'Messages keyed by field name ("non_field_errors" for the whole object), '
        'or {"detail": "..."} when the body cannot be parsed; always with `code`.',
        "properties": {"code": code_schema(codes)},
        "required": ["code"],
        "additionalProperties": {},
    }


# 400s are field-keyed ({"name": ["..."], "code": "invalid"}), or {"detail": "...", "code": "parse_error"}.
VALIDATION_ERROR = validation_error()
# Reads take no body: their 400s are about filters and query values only.
QUERY_ERROR = validation_error(["invalid"])

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": build_basic_type(OpenApiTypes.INT),
        "required": True,
    }
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
    return OpenApiResponse(ERRORS[409], description=description)


ACCEPTED = inline_serializer("Accepted", {"status": serializers.CharField(help_text='e.g. "stop was scheduled".')})


def accepted(description):
    """A 202 response: the action was scheduled and a worker will carry it out."""
    return OpenApiResponse(ACCEPTED, description=description)


class TokenScheme(OpenApiAuthenticationExtension):
    """Names our knox token authentication `tokenAuth`, as the schema called the token before knox."""

    target_class = "nodeconductor.core.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        """`Authorization: Token <token>`, an API key in a header."""
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")


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
        if not safe:
            errors["400"] = OpenApiResponse(VALIDATION_ERROR, description="Invalid input; `code` says what kind.")
        elif self._is_list_view():
            errors["400"] = OpenApiResponse(QUERY_ERROR, description="Invalid filter values.")
        if self._requires_auth():
            errors["401"] = OpenApiResponse(ERRORS[401], description="No or invalid credentials.")
            # Reads too: some collections are staff-only, and session auth can fail CSRF checks.
            errors["403"] = OpenApiResponse(ERRORS[403], description="Visible, but the requester may not do this.")
            errors["404"] = OpenApiResponse(
                ERRORS[404], description="Not found or not visible to the requester (or no such page)."
            )
            if not safe:
                errors["409"] = conflict("The object's state or dependants do not allow this request.")
        errors["406"] = OpenApiResponse(ERRORS[406], description="The Accept header asks for a format not served.")
        if self.method in ("POST", "PUT", "PATCH"):
            errors["415"] = OpenApiResponse(ERRORS[415], description="The body is not JSON or form data.")
        if self._is_throttled():
            errors["429"] = OpenApiResponse(ERRORS[429], description="Too many requests; retry later.")
        # The database can fail any request; the task queue, those that schedule work. Neither changed anything.
        errors["503"] = OpenApiResponse(
            ERRORS[503], description="The database or the task queue is unavailable; nothing was changed."
        )
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
        """Document Link and X-Result-Count on paginated lists, and Retry-After on 429s and 503s."""
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "200" and self._is_list_view() and getattr(self.view, "pagination_class", None):
            headers = {**LIST_HEADERS, **headers}
        if status_code in ("429", "503"):
            headers = {**RETRY_AFTER, **headers}
        return headers
