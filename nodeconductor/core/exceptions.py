"""One error shape for every API failure: field-keyed 400s, and {"detail": ...} for the rest."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, DataError, IntegrityError, InterfaceError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """The object is in a state that does not allow the request (409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this request."
    default_code = "conflict"


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


class IncorrectStateException(Conflict):
    """Raised by services when a transition's source state does not match."""


def _django_validation_detail(exc):
    """Turn Django's ValidationError into DRF's field-keyed shape."""
    if hasattr(exc, "error_dict"):
        return {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


def _without_secrets(text):
    """The text with the database and OpenStack passwords of the settings masked, fit for a log."""
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
        exc = Conflict("The object still holds resources; remove them first.")
    elif isinstance(exc, DataError):
        logger.info("Data error answered as 400: %s", exc)
        exc = exceptions.ValidationError({"detail": "A value is out of the range the database accepts."})
    elif isinstance(exc, IntegrityError):
        logger.info("Integrity error answered as 409: %s", exc)
        exc = Conflict("The request conflicts with existing data (a duplicate or a missing reference).")
    elif isinstance(exc, (DatabaseError, InterfaceError)):
        # Locked, restarted, unreachable or out of connections: the request may succeed when retried.
        view = context.get("view")
        logger.warning(
            "Database error answered as 503 (%s): %s: %s",
            type(view).__name__ if view is not None else "?",
            type(exc).__name__,
            _without_secrets(str(exc)),
        )
        exc = ServiceUnavailable(DATABASE_UNAVAILABLE, retry_after=DATABASE_RETRY_AFTER)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if isinstance(exc, ServiceUnavailable) and response is not None:
        response["Retry-After"] = str(int(exc.retry_after))
    return response


def error_response(detail, status_code):
    """Build a response in the common error shape outside DRF views."""
    return Response({"detail": detail}, status=status_code)
