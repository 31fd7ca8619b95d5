"""Cross-model rules of floating IPs: quota, which IP an instance may take, and the rows.

An assign or unassign is an operation of the engine (operation_table.py), scheduled by services/instances.py;
the instance stays in its state. The rows follow Neutron (the pull), and the operation records what it changed.
"""

from nodeconductor.core.exceptions import QuotaExceeded

from ..backend.instances import uses_port
from ..models import FloatingIP, Instance, InstanceState

S = InstanceState


# ---------------------------------------------------------------------------------------------- quota
def _pending_new(membership):
    """IPs that scheduled work may still allocate: creates with the flag not built yet, and assigns asked."""
    creating = Instance.objects.filter(
        cloud_project_membership=membership, state__in=[S.PROVISIONING_SCHEDULED, S.PROVISIONING],
        operation_params__assign_floating_ip=True,
    ).count()  # fmt: skip
    # Counted in the database: a tenant may hold thousands of instances, and only a few assign. One that names
    # its IP allocates nothing.
    assigning = Instance.objects.filter(
        cloud_project_membership=membership, operation_name="assign_floating_ip",
    ).exclude(operation_params__has_key="floating_ip_id").count()  # fmt: skip
    return creating + assigning


def check_quota(membership, extra=1):
    """Refuse (400 quota_exceeded) when the tenant would hold more floating IPs than its quota.

    What counts: every IP the tenant holds (free or in use) plus those scheduled work may allocate. An assign
    that can reuse a free IP of ours allocates nothing, so it does not count.
    """
    limit = membership.quota_floating_ip_count
    if limit < 0 or extra <= 0:
        return
    held = FloatingIP.objects.filter(membership=membership)
    spare = held.filter(instance__isnull=True).exclude(allocated_for="").count()
    pending = _pending_new(membership)
    if spare > pending:
        return  # a free IP of ours will be reused
    used = held.count() + pending
    if used + extra > limit:
        raise QuotaExceeded({"non_field_errors": [
            f"Quota exceeded in the project's tenant: floating IPs: {used} in use + {extra} requested > limit {limit}"
        ]})  # fmt: skip


def floating_ip_create_error(membership):
    """Why an instance of the membership cannot be created with a floating IP (a 400 message), or ""."""
    if not uses_port(membership):
        return "The instance would boot without Neutron networking (the cloud has none, or OPENSTACK_NETWORKS " \
            "is not \"tenant\"), so it cannot have a floating IP."  # fmt: skip
    if not membership.external_network_id:
        return "The project's tenant has no router to an external network (internal networking only), so no " \
            "floating IP can reach the instance."  # fmt: skip
    return ""


def usable_floating_ip_error(instance, fip):
    """Why this IP cannot go on the instance (a 400 message), or "" when it can."""
    if fip.membership_id != instance.cloud_project_membership_id:
        return f"The floating IP {fip.address} belongs to another project or cloud than the instance."
    if fip.instance_id is not None and fip.instance_id != instance.pk:
        return f"The floating IP {fip.address} is in use by instance {fip.instance.hostname}."
    return ""
