"""IaaS models: cloud accounts and tenants, the catalogue, and instances."""

from .backup_schedules import BackupSchedule
from .backups import Backup, BackupState
from .catalogue import Flavor, Image, Template, TemplateLicense, TemplateMapping
from .cloud import Cloud, CloudProjectMembership, SyncState
from .cloud_reads import CloudRead
from .floating_ips import FloatingIP, FloatingIPStatus
from .importable import ImportableServer
from .instance import Instance, InstanceState
from .poller import TenantPoller
from .security_groups import InstanceSecurityGroup, SecurityGroup, SecurityGroupRule, SecurityGroupState

__all__ = (
    "Backup",
    "BackupSchedule",
    "BackupState",
    "Cloud",
    "CloudProjectMembership",
    "CloudRead",
    "Flavor",
    "FloatingIP",
    "FloatingIPStatus",
    "Image",
    "ImportableServer",
    "Instance",
    "InstanceSecurityGroup",
    "InstanceState",
    "SecurityGroup",
    "SecurityGroupRule",
    "SecurityGroupState",
    "SyncState",
    "Template",
    "TemplateLicense",
    "TemplateMapping",
    "TenantPoller",
)
