"""The one error type the backend raises, and the translation of client exceptions into it."""

import contextlib
import logging

logger = logging.getLogger(__name__)


class CloudBackendError(Exception):
    """A cloud call failed; the message says which call and what the cloud said, never a secret."""


class CloudResourceNotFound(CloudBackendError):
    """The cloud answered 404 for a resource we asked about."""


def _client_exception_types():
    """Exception bases of every OpenStack client library, imported lazily to keep imports cheap."""
    from cinderclient import exceptions as cinder_exc
    from glanceclient import exc as glance_exc
    from keystoneauth1 import exceptions as ks_exc
    from novaclient import exceptions as nova_exc

    return (
        ks_exc.ClientException,
        nova_exc.ClientException,
        nova_exc.ResourceInErrorState,
        cinder_exc.ClientException,
        glance_exc.BaseException,
        glance_exc.ClientException,
    )


def _is_not_found(exc):
    """True when a client exception is a 404."""
    return getattr(exc, "code", None) == 404 or getattr(exc, "http_status", None) == 404


def scrub(text, secrets):
    """Replace every secret occurring in text, so cloud messages can be shown and logged safely."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@contextlib.contextmanager
def translate_errors(call, secrets=()):
    """Turn any client exception raised inside into CloudBackendError('<call> failed: <cloud message>')."""
    try:
        yield
    except CloudBackendError:
        raise
    except _client_exception_types() as exc:
        message = scrub(f"{call} failed: {exc}".strip(), secrets)
        error_class = CloudResourceNotFound if _is_not_found(exc) else CloudBackendError
        # A 404 is how a step learns that something is gone: routine, not worth a warning.
        logger.log(logging.DEBUG if error_class is CloudResourceNotFound else logging.WARNING, "%s", message)
        raise error_class(message) from None
