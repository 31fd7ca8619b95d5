"""IaaS models: cloud accounts and tenants, the catalogue, and instances."""

from .catalogue import Flavor, Image, Template, TemplateLicense, TemplateMapping
from .cloud import Cloud, CloudProjectMembership, SyncState
from .importable import ImportableServer
from .instance import Instance, InstanceState
from .poller import TenantPoller

__all__ = (
    "Cloud",
    "CloudProjectMembership",
    "Flavor",
    "Image",
    "ImportableServer",
    "Instance",
    "InstanceState",
    "SyncState",
    "Template",
    "TemplateLicense",
    "TemplateMapping",
    "TenantPoller",
)
