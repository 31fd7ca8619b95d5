"""One error shape for every API failure: field-keyed 400s, {"detail": ...} for the rest, and a `code` in each.

The `code` is machine-readable, so a client can branch without parsing the human message: `invalid`,
`quota_exceeded`, `invalid_state`, `in_use`, `not_found`, ... (the list is in docs/api/conventions.rst and
in ERROR_CODES below; tests check that every code answered is listed).
"""

import logging
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError, InterfaceError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


# Every top-level code an error body may carry, with what it means; docs/api/conventions.rst lists the same.
ERROR_CODES = {
    "invalid": "The input is invalid; the field-keyed messages say what to fix (400).",
    "parse_error": "The body is not valid JSON (or form data), or nests deeper than 64 levels (400).",
    "quota_exceeded": "The request would take the tenant over a quota (400).",
    "not_found_in_cloud": "A resource named in the request does not exist in the cloud (400).",
    "not_importable": "The server cannot be brought under NodeConductor; the message says why (400).",
    "not_authenticated": "No credentials were sent (401).",
    "authentication_failed": "The credentials or the token are wrong (401; 400 from the token login).",
    "permission_denied": "The object is visible, but the requester may not do this (403).",
    "not_found": "The object does not exist or is not visible to the requester (404).",
    "method_not_allowed": "The endpoint does not take this HTTP method (405).",
    "not_acceptable": "The Accept header asks for a format the API does not serve (406).",
    "invalid_state": "The object's state does not allow the request; the message names the state needed (409).",
    "in_use": "The object still has dependants or users; remove them first (409).",
    "conflict": "The request conflicts with existing data, such as a duplicate (409).",
    "unsupported_media_type": "The body's Content-Type is not JSON or form data (415).",
    "throttled": "Too many requests; retry after the time given (429).",
    "service_unavailable": "The database or the task queue refused the request; nothing was changed (503).",
    "cloud_error": "The cloud failed a read the request needed; the message is the cloud's own (502).",
    "server_error": "An unexpected failure on the server, logged for the operators; nothing secret is shown (500).",
}


def codes_for_status(status_code):
    """The codes an error of this HTTP status may carry, as their meanings in ERROR_CODES state (sorted)."""
    return sorted(code for code, meaning in ERROR_CODES.items() if str(status_code) in _statuses(meaning))


def _statuses(meaning):
    """The statuses named in a meaning's closing parenthesis: "(401; 400 from the token login)" -> 401, 400."""
    return re.findall(r"\b[1-5]\d\d\b", meaning[meaning.rindex("(") :])


# The code of an error whose exception names none that ERROR_CODES lists, by its status.
STATUS_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    415: "unsupported_media_type",
    429: "throttled",
    503: "service_unavailable",
}


class Conflict(exceptions.APIException):
    """The object is in a state that does not allow the request (409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this request."
    default_code = "invalid_state"


class InUse(Conflict):
    """The object still has dependants or users, so it cannot be deleted or changed yet (409)."""

    default_detail = "The object is still in use; remove what uses it first."
    default_code = "in_use"


class QuotaExceeded(exceptions.ValidationError):
    """The request would take a tenant over a quota (400, field-keyed like every 400)."""

    default_code = "quota_exceeded"


class LoginFailed(exceptions.APIException):
    """A token login whose username and password match no active user (400, as DRF's own token login)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid username or password."
    default_code = "authentication_failed"


class ServiceUnavailable(exceptions.APIException):
    """A service the request needs (the task queue, the database) refused it for now; nothing was changed (503)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service NodeConductor depends on is unavailable; nothing was changed. Retry shortly."
    default_code = "service_unavailable"
    retry_after = 30

    def __init__(self, detail=None, code=None, retry_after=None):
        super().__init__(detail, code)
        if retry_after is not None:
            self.retry_after = retry_after


# A locked SQLite file or a PostgreSQL restart usually clears within seconds.
DATABASE_RETRY_AFTER = 5
DATABASE_UNAVAILABLE = "The database is busy or unavailable and could not complete the request; retry in a few seconds."


def _django_validation_detail(exc):
    """Turn Django's ValidationError into DRF's field-keyed shape."""
    if hasattr(exc, "error_dict"):
        return {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


def without_secrets(text):
    """The text with the database and OpenStack passwords of the settings masked, fit for a log or a row."""
    secrets = [db.get("PASSWORD") for db in settings.DATABASES.values()]
    secrets += [c.get("password") for c in settings.NODECONDUCTOR.get("OPENSTACK_CREDENTIALS", ()) if hasattr(c, "get")]
    for secret in secrets:
        if isinstance(secret, str) and secret:
            text = text.replace(secret, "***")
    return text


def exception_handler(exc, context):
    """Map model, FSM and database errors to 4xx answers (503 for a database that fails) so nothing yields a 500."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, TransitionNotAllowed):
        exc = Conflict(str(exc))
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = InUse("The object still holds resources; remove them first.")
    elif isinstance(exc, DataError):
        logger.info("Data error answered as 400: %s", exc)
        exc = exceptions.ValidationError({"detail": "A value is out of the range the database accepts."})
    elif isinstance(exc, IntegrityError):
        logger.info("Integrity error answered as 409: %s", exc)
        exc = Conflict("The request conflicts with existing data (a duplicate or a missing reference).", "conflict")
    elif isinstance(exc, (DatabaseError, InterfaceError)):
        # Locked, restarted, unreachable or out of connections: the request may succeed when retried.
        view = context.get("view")
        logger.warning(
            "Database error answered as 503 (%s): %s: %s",
            type(view).__name__ if view is not None else "?",
            type(exc).__name__,
            without_secrets(str(exc)),
        )
        exc = ServiceUnavailable(DATABASE_UNAVAILABLE, retry_after=DATABASE_RETRY_AFTER)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(int(exc.retry_after))
    response.data = with_code(response.data, error_code(exc))
    return response


def error_code(exc):
    """The machine-readable code of an API exception: its own code if ERROR_CODES lists it for its status.

    A field error is `invalid` unless one of its messages carries a 400 code (`quota_exceeded`, ...); any other
    exception without a listed code gets its status's usual one, and a 5xx other than 503 is `server_error`.
    """
    status_code = getattr(exc, "status_code", 500)
    allowed = set(codes_for_status(status_code))
    if isinstance(exc, exceptions.ValidationError):
        named = sorted(set(_leaf_codes(exc.get_codes())) & allowed - {"invalid"})
        return named[0] if named else "invalid"
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if isinstance(code, str) and code in allowed:
        return code
    return STATUS_CODES.get(status_code, "server_error" if status_code >= 500 else "invalid")


def _leaf_codes(codes):
    if isinstance(codes, dict):
        for value in codes.values():
            yield from _leaf_codes(value)
    elif isinstance(codes, list):
        for value in codes:
            yield from _leaf_codes(value)
    else:
        yield codes


def with_code(data, code):
    """An error body with its `code`: a list of messages becomes {"non_field_errors": [...]} to hold it."""
    if isinstance(data, list):
        data = {"non_field_errors": data}
    elif not isinstance(data, dict):
        data = {"detail": data}
    return {**data, "code": code}
