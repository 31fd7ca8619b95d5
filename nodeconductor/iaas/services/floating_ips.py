"""Cross-model rules of floating IPs: quota, which IP an instance may take, scheduling the actions, the rows.

An assign or unassign is a job recorded on the instance (`floating_ip_job`), answered 202 and sent on commit;
the instance stays in its state. A refusing task queue undoes the job and answers 503. The worker side is
floating_ip_sync.py; the rows follow Neutron (the pull), and our workers record what they changed at once.
"""

import logging
import time
import uuid as uuidlib

from django.db import transaction
from django.db.models import Q

from nodeconductor.core.exceptions import QuotaExceeded, ServiceUnavailable

from .. import events, instance_policy
from ..instance_policy import job_stale_after
from ..models import CloudProjectMembership, FloatingIP, Instance, InstanceState

logger = logging.getLogger(__name__)
S = InstanceState
QUEUE_DOWN = "The task queue is unavailable, so the {what} was not scheduled and nothing was changed; retry shortly."


# ---------------------------------------------------------------------------------------------- quota
def _pending_new(membership):
    """IPs that scheduled work may still allocate: creates with the flag not built yet, and assigns asked."""
    creating = Instance.objects.filter(
        cloud_project_membership=membership, state__in=[S.PROVISIONING_SCHEDULED, S.PROVISIONING],
        operation_params__assign_floating_ip=True,
    ).count()  # fmt: skip
    # Counted in the database: a tenant may hold thousands of instances, and only a few have a job.
    assigning = Instance.objects.filter(
        Q(floating_ip_job__floating_ip="") | Q(floating_ip_job__floating_ip__isnull=True),
        cloud_project_membership=membership, floating_ip_job__action="assign",
        floating_ip_job__since__gt=time.time() - job_stale_after(),
    ).count()  # fmt: skip
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
    from ..backend.instances import uses_port

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


# ---------------------------------------------------------------------------------------------- scheduling
def _schedule(instance, action, user, floating_ip=None):
    """Record the job under a lock (403/409 by the policy, 400 quota), log, and send it on commit."""
    from .. import tasks

    name = f"{action}_floating_ip"
    with transaction.atomic():
        membership = CloudProjectMembership.objects.select_for_update(of=("self",)).get(
            pk=instance.cloud_project_membership_id)  # fmt: skip
        locked = Instance.objects.select_for_update().select_related("cloud_project_membership").get(pk=instance.pk)
        instance_policy.require(user, locked, name)
        if action == "assign" and floating_ip is None:
            check_quota(membership)
        locked.schedule_floating_ip_change()
        token = uuidlib.uuid4().hex
        locked.floating_ip_job = {"token": token, "action": action, "since": time.time(),
                                  "floating_ip": floating_ip.backend_id if floating_ip else "",
                                  "user_uuid": str(user.uuid) if user is not None and user.is_authenticated else None}
        locked.save(update_fields=["floating_ip_job", "modified"])
        events.instance_event(locked, name, "scheduled", user=user)

        def send():
            try:
                tasks.change_floating_ip.delay(str(locked.uuid), token)
            except Exception as exc:  # noqa: BLE001 - any refusal by the broker
                logger.warning("The task queue refused the %s of %s: %s", name, locked.uuid, type(exc).__name__)
                Instance.objects.filter(pk=locked.pk, floating_ip_job__token=token).update(floating_ip_job={})
                events.instance_event(locked, name, "failed", user=user, error="the task queue is unavailable")
                raise ServiceUnavailable(QUEUE_DOWN.format(what=name.replace("_", " "))) from None

        transaction.on_commit(send)
    return locked


def instance_assign_floating_ip(instance, user=None, floating_ip=None):
    """Schedule giving the instance a floating IP: `floating_ip` (a free one of its membership) or any."""
    return _schedule(instance, "assign", user, floating_ip)


def instance_unassign_floating_ip(instance, user=None, floating_ip=None):
    """Schedule taking the instance's floating IP (or only `floating_ip`) off it; the IP stays the tenant's."""
    return _schedule(instance, "unassign", user, floating_ip)


# ---------------------------------------------------------------------------------------------- rows
def record(membership, data, instance=None):
    """Upsert the row of one IP as the cloud answered it (fip_data), on `instance` or free."""
    row, _ = FloatingIP.objects.update_or_create(
        membership=membership, backend_id=data["id"],
        defaults={"address": data["address"], "status": data["status"], "instance": instance,
                  "allocated_for": data.get("allocated_for", "")},
    )  # fmt: skip
    return row


def external_ips_of(instance):
    """The addresses of the instance's floating IPs as `external_ips` shows them."""
    return ",".join(FloatingIP.objects.filter(instance=instance).order_by("address").values_list("address", flat=True))


def forget_released(instance):
    """Drop the rows of the IPs the delete released (ours, allocated for this instance)."""
    FloatingIP.objects.filter(membership=instance.cloud_project_membership_id,
                              allocated_for=instance.uuid.hex).delete()  # fmt: skip
