"""Worker side of floating IPs: run an instance's assign/unassign job, and make the rows follow the cloud.

A job is claimed by one UPDATE on its token, so a duplicate or redelivered message does nothing; the backend
finds before it makes (the port's IP first), so even a job run twice never gives one request two IPs. The
instance stays in its state either way; the outcome is an event, a failure carrying the cloud's message.
"""

import logging
import time
import uuid as uuidlib

from django.db import transaction

from . import events, failures
from .backend import CloudBackendError
from .models import FloatingIP, Instance, SyncState
from .models.instance import STABLE_STATES
from .services.floating_ips import external_ips_of, record

logger = logging.getLogger(__name__)


def _claim(instance_uuid, token):
    """The job's params when this caller takes it (exactly one does), else None."""
    row = Instance.objects.filter(uuid=instance_uuid, floating_ip_job__token=token).values_list(
        "floating_ip_job", flat=True).first()  # fmt: skip
    if row is None:
        return None
    claimed = {**row, "token": f"claimed:{token}", "since": time.time()}
    if not Instance.objects.filter(uuid=instance_uuid, floating_ip_job__token=token).update(floating_ip_job=claimed):
        return None
    return claimed


def run_job(instance_uuid, token):
    """Assign or unassign as the job says; record the rows and external_ips; log succeeded or failed."""
    from nodeconductor.core.models import User

    job = _claim(instance_uuid, token)
    if job is None:
        logger.info("Floating IP job %s of instance %s is not ours to run: skipped", token, instance_uuid)
        return
    related = ("cloud_project_membership__cloud", "cloud_project_membership__project__customer")
    instance = Instance.objects.select_related(*related).get(uuid=instance_uuid)
    user = User.objects.filter(uuid=job["user_uuid"]).first() if job.get("user_uuid") else None
    name = f"{job['action']}_floating_ip"
    try:
        _run(instance, job, user, name)
    except Exception as exc:
        if not failures.unexpected(exc):
            raise  # the database went away: the sweeper runs the job again once its lease passes
        # Closed with a failed event as a refusal is; left claimed, the sweeper would rerun it after every lease.
        failures.log(exc, f"Floating IP job of instance {instance.uuid}")
        _close(instance, job, name, user, failures.reason(exc))


def _close(instance, job, name, user, error):
    """End a failed job: the instance has none any more, and its history says why it failed."""
    Instance.objects.filter(pk=instance.pk, floating_ip_job__token=job["token"]).update(floating_ip_job={})
    events.instance_event(instance, name, "failed", user=user, error=error)


def _run(instance, job, user, name):
    """Make the cloud call of a claimed job, then record the rows and the outcome."""
    membership = instance.cloud_project_membership
    try:
        backend = membership.cloud.get_backend()
        if job["action"] == "assign":
            done = [backend.assign_floating_ip(membership.tenant_id, instance.port_id, membership.external_network_id,
                                               instance.uuid.hex, job.get("floating_ip", ""))]  # fmt: skip
        else:
            done = backend.unassign_floating_ips(membership.tenant_id, instance.port_id, job.get("floating_ip", ""))
    except CloudBackendError as exc:
        _close(instance, job, name, user, str(exc))
        return
    with transaction.atomic():
        for data in done:
            record(membership, data, instance if job["action"] == "assign" else None)
        Instance.objects.filter(pk=instance.pk).update(external_ips=external_ips_of(instance), floating_ip_job={})
    events.instance_event(instance, name, "succeeded", user=user)


def reconcile_membership(backend, membership):
    """Make the membership's rows what Neutron lists (new, changed, gone) and external_ips follow them."""
    found = {f["id"]: f for f in backend.list_floating_ips(membership.tenant_id)}
    instances = Instance.objects.filter(cloud_project_membership=membership)
    by_port = {i.port_id: i for i in instances.exclude(port_id="")}
    rows = {r.backend_id: r for r in FloatingIP.objects.filter(membership=membership)}
    lines = []
    where = f"floating IP {{}} of {membership.project.name}"
    with transaction.atomic():
        gone = [r for backend_id, r in rows.items() if backend_id not in found]
        if gone:
            FloatingIP.objects.filter(pk__in=[r.pk for r in gone]).delete()
            lines += [f"{where.format(r.address)} is gone from the cloud: forgotten" for r in gone]
        for backend_id, data in found.items():
            holder = by_port.get(data["port_id"])
            row = rows.get(backend_id)
            seen = (data["address"], data["status"], holder.pk if holder else None, data["allocated_for"])
            if row is None or (row.address, row.status, row.instance_id, row.allocated_for) != seen:
                record(membership, data, holder)
                lines.append(f"{where.format(data['address'])} " + ("found" if row is None else "changed"))
        for instance in instances.filter(state__in=STABLE_STATES):
            ips = external_ips_of(instance)
            if instance.external_ips != ips:
                Instance.objects.filter(pk=instance.pk).update(external_ips=ips)
                lines.append(f"external IPs of instance {instance.hostname}: {ips or 'none'}")
    return lines


def reconcile_cloud(cloud):
    """The pull's part for floating IPs: every In Sync membership with an external network; failures logged."""
    backend = cloud.get_backend()
    lines = []
    memberships = cloud.memberships.filter(state=SyncState.IN_SYNC).exclude(tenant_id="").exclude(
        external_network_id="").select_related("project")  # fmt: skip
    for membership in memberships:
        try:
            lines += reconcile_membership(backend, membership)
        except CloudBackendError as exc:
            logger.warning("Pull of floating IPs in %s failed: %s", membership, exc)
    return lines


def sweep(picked_up_before, lease_start, send):
    """Send again the jobs no message will run: one whose message was lost, one whose worker died.

    A job still unclaimed since before `picked_up_before` lost its message; a claimed one untouched since before
    `lease_start` lost its worker. Either gets a fresh token (so a late message of the old one does nothing)
    and is sent again; the backend finds the port's IP before it allocates, so the rerun never gives a second.
    """
    resumed = 0
    for pk, uuid, job in Instance.objects.exclude(floating_ip_job={}).values_list("pk", "uuid", "floating_ip_job"):
        token, since = job.get("token", ""), float(job.get("since", 0))
        limit = lease_start if token.startswith("claimed:") else picked_up_before
        if since >= limit.timestamp():
            continue
        fresh = {**job, "token": uuidlib.uuid4().hex, "since": time.time()}
        if Instance.objects.filter(pk=pk, floating_ip_job__token=token).update(floating_ip_job=fresh):
            logger.info("Floating IP job of instance %s had no worker: sent again", uuid)
            send(str(uuid), fresh["token"])
            resumed += 1
    return resumed
