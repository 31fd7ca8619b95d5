"""The only code that talks to OpenStack: takes our models or plain data, raises CloudBackendError."""

from .errors import CloudBackendError, CloudResourceNotFound
from .openstack import OpenStackBackend

__all__ = ("CloudBackendError", "CloudResourceNotFound", "OpenStackBackend")
