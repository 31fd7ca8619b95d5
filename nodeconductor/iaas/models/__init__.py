"""IaaS models: cloud accounts and tenants, the catalogue, and instances."""

from .catalogue import Flavor, Image, Template, TemplateLicense, TemplateMapping
from .cloud import Cloud, CloudProjectMembership, SyncState
from .instance import Instance, InstanceState
from .poller import TenantPoller

__all__ = (
    "Cloud",
    "CloudProjectMembership",
    "Flavor",
    "Image",
    "Instance",
    "InstanceState",
    "SyncState",
    "Template",
    "TemplateLicense",
    "TemplateMapping",
    "TenantPoller",
)
