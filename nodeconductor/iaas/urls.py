"""Routes of iaas: each views module registers its own viewsets."""

from .views import backup_schedules, backups, catalogue, cloud, floating_ips, instance, security_groups, stats


def register_in(router):
    """Register iaas's viewsets on the one router."""
    cloud.register_in(router)
    catalogue.register_in(router)
    instance.register_in(router)
    security_groups.register_in(router)
    floating_ips.register_in(router)
    backups.register_in(router)
    backup_schedules.register_in(router)
    stats.register_in(router)
