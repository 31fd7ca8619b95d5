"""The only code that talks to OpenStack: takes plain data (ids, specs.py's dataclasses), raises CloudBackendError."""

from .errors import CloudBackendError, CloudResourceNotFound
from .openstack import OpenStackBackend
from .specs import CloudAccess, InstanceSpec

__all__ = ("CloudAccess", "CloudBackendError", "CloudResourceNotFound", "InstanceSpec", "OpenStackBackend")
