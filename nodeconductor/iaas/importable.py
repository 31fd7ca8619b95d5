"""Which untracked servers of a tenant can be imported, and why not; the pull's refresh and the worker's steps.

The pull (a worker) describes the tenant's servers, keeps those that no instance tracks and stores them with
their reasons (ImportableServer rows), so the API lists them from the database. An import is an instance
operation (operation_table.IMPORT): its step looks at the server again and applies the same rules, because the
cloud may have changed since the pull.
"""

import logging

from django.db import transaction
from django.utils import timezone

from .backend import CloudBackendError
from .backend.instances import Step
from .models import Flavor, ImportableServer, Instance, TemplateMapping

logger = logging.getLogger(__name__)
IMPORTABLE_STATUSES = ("ACTIVE", "SHUTOFF")


def catalogue(cloud):
    """The cloud's active flavors by backend id and the templates by mapped image id (first by name)."""
    flavors = {f.backend_id: f for f in Flavor.objects.filter(cloud=cloud, is_active=True)}
    templates = {}
    for mapping in TemplateMapping.objects.select_related("template").order_by("template__name"):
        templates.setdefault(mapping.backend_image_id, mapping.template)
    return flavors, templates


def assess(server, flavors, templates):
    """(fields, reasons) of one described server: what an instance of it would hold, and what stands in the way.

    `fields` are ImportableServer/Instance field values; `reasons` are sentences, empty when it can be imported.
    """
    reasons = []
    if server["owner"]:
        reasons.append(f"it was made by NodeConductor for instance {server['owner']}, which no longer tracks it "
                       "(the pull deletes such leftovers)")  # fmt: skip
    if server["status"] not in IMPORTABLE_STATUSES:
        reasons.append(f"it is {server['status']}; only ACTIVE or SHUTOFF servers can be imported")
    elif server["task_state"]:
        reasons.append(f"it is busy ({server['task_state']}); retry once the cloud is done")
    volumes = server["volumes"]
    root = volumes[0] if volumes and volumes[0]["bootable"] else None
    if server["image_id"] or root is None:
        what = f"it runs from image {server['image_id']} on the hypervisor's disk" if server["image_id"] else (
            "no bootable volume is attached")  # fmt: skip
        reasons.append(f"it is not booted from a volume ({what}); an instance boots from its root volume")
    extras = volumes[1:] if root is not None else volumes
    if root is not None and len(extras) == 0:
        reasons.append("it has no data volume; an instance has a root volume and exactly one data volume")
    elif len(extras) > 1:
        reasons.append(f"it has {len(extras)} extra volumes; an instance has exactly one data volume")
    data = extras[0] if len(extras) == 1 else None
    for role, volume in (("root", root), ("data", data)):
        if volume is not None and volume["status"] != "in-use":
            reasons.append(f"its {role} volume {volume['id']} is {volume['status']}, not in-use")
    flavor = flavors.get(server["flavor_id"])
    if flavor is None:
        reasons.append(f"its flavor {server['flavor_id'] or '(none)'} is unknown to the last pull of the cloud")
    image_id = root["image_id"] if root is not None else ""
    template = templates.get(image_id) if image_id else None
    if root is not None and not image_id:
        reasons.append("its root volume was not made from an image, so no template matches it")
    elif image_id and template is None:
        reasons.append(f"the image {image_id} of its root volume has no template mapping")
    fields = {
        "backend_id": server["id"],
        "flavor": flavor,
        "template": template,
        "system_volume_id": root["id"] if root else "",
        "system_volume_size": root["size"] if root else None,
        "data_volume_id": data["id"] if data else "",
        "data_volume_size": data["size"] if data else None,
        "internal_ips": server["internal_ips"][:255],
        "external_ips": server["external_ips"][:255],
    }
    return fields, reasons, image_id


def _tenant_instances(membership):
    """Instances of every membership bound to the same tenant on the same OpenStack, under any Cloud row."""
    return Instance.objects.on_tenant(membership.cloud.auth_url, membership.tenant_id)


def refresh_importable(backend, membership):
    """Rewrite the membership's ImportableServer rows from the cloud; return lines for servers found or gone."""
    servers = backend.describe_tenant_servers(membership.tenant_id)
    tracked = list(_tenant_instances(membership).values_list("uuid", "backend_id"))
    tracked_uuids = {str(uuid) for uuid, _ in tracked}
    tracked_ids = {backend_id for _, backend_id in tracked if backend_id}
    # Made by us for an instance of another tenant (its metadata copied or forged): not this tenant's to list.
    tracked_uuids |= Instance.objects.known_uuids({s["owner"] for s in servers if s["owner"]})
    flavors, templates = catalogue(membership.cloud)
    now = timezone.now()
    rows = []
    for server in servers:
        if server["id"] in tracked_ids or server["owner"] in tracked_uuids:
            continue  # ours: tracked by an instance, or one being provisioned before its id was saved
        fields, reasons, image_id = assess(server, flavors, templates)
        rows.append(ImportableServer(
            membership=membership, name=server["name"][:255], status=server["status"],
            flavor_backend_id=server["flavor_id"], image_backend_id=image_id,
            created_in_cloud=server["created"], launched_at=server["launched_at"], reasons=reasons, pulled=now,
            **fields,
        ))  # fmt: skip
    with transaction.atomic():
        existing = {r.backend_id: r for r in membership.importable_servers.all()}
        wanted = {r.backend_id: r for r in rows}
        changed = [r for i, r in wanted.items() if i in existing and _facts(existing[i]) != _facts(r)]
        for fresh in changed:
            fresh.pk = existing[fresh.backend_id].pk
        # A minimal diff, like the rest of the pull: an unchanged tenant writes nothing.
        gone = [existing[i].pk for i in existing if i not in wanted]
        if gone:
            ImportableServer.objects.filter(pk__in=gone).delete()
        # A pull, a sync and a read of the list may refresh one tenant at once: the first row written stands.
        ImportableServer.objects.bulk_create([r for i, r in wanted.items() if i not in existing], ignore_conflicts=True)
        if changed:
            ImportableServer.objects.bulk_update(changed, [*FACTS, "pulled"])
    found = [
        f"untracked server {wanted[i].name} ({i}) found in {membership}" for i in sorted(set(wanted) - set(existing))
    ]
    lost = [
        f"untracked server {existing[i].name} ({i}) gone from {membership}" for i in sorted(set(existing) - set(wanted))
    ]
    return found + lost


FACTS = ("name", "status", "flavor_backend_id", "flavor_id", "image_backend_id", "template_id", "system_volume_id",
         "system_volume_size", "data_volume_id", "data_volume_size", "internal_ips", "external_ips",
         "created_in_cloud", "launched_at", "reasons")  # fmt: skip


def _facts(row):
    """What a pull learns of a server, to tell whether a row changed."""
    return tuple(getattr(row, f) for f in FACTS)


# ---------------------------------------------------------------------------------------------- the operation
NOT_FOUND = "not_found_in_cloud: server {server_id} is not in tenant {tenant} (any more)."


def import_step(backend, instance, server_id, phase=""):
    """Verify the server in the cloud with the pull's rules and learn everything the instance holds of it."""
    tenant = instance.cloud_project_membership.tenant_id
    server = backend.describe_tenant_server(tenant, server_id)
    if server is None:
        raise CloudBackendError(NOT_FOUND.format(server_id=server_id, tenant=tenant))
    if server["status"] in IMPORTABLE_STATUSES and server["task_state"]:
        return Step(phase="idle", waiting_for=f"the server to be idle (now {server['task_state']})")
    tracked = _tenant_instances(instance.cloud_project_membership).filter(backend_id=server_id).exclude(pk=instance.pk)
    if tracked.exists():
        raise CloudBackendError(f"not_importable: server {server_id} is already managed as instance {tracked[0]}.")
    flavors, templates = catalogue(instance.cloud)
    fields, reasons, _ = assess(server, flavors, templates)
    if reasons:
        raise CloudBackendError(f"not_importable: server {server_id} cannot be imported: {'; '.join(reasons)}.")
    flavor, template = fields.pop("flavor"), fields.pop("template")
    active = server["status"] == "ACTIVE"
    # An Offline instance has no start time, as after a stop; a running one started when the cloud launched it.
    start_time = (server["launched_at"] or timezone.now()) if active else None
    changes = {**fields, "flavor_id": flavor.pk, "cores": flavor.cores, "ram": flavor.ram,
               "template_id": template.pk, "start_time": start_time}  # fmt: skip
    return Step(done=True, changes=changes)


def release_step(backend, instance, phase=""):
    """The compensation of a failed import: the server is not ours, so nothing in the cloud is touched.

    The engine then clears the instance's ids: the Erred instance holds nothing, counts against no quota, and
    deleting it cannot delete the server.
    """
    return Step(done=True)


def import_succeeded(instance):
    """Online for a running server, Offline for a stopped one (the step left start_time unset for those)."""
    if instance.start_time is not None:
        instance.set_online()
    else:
        instance.set_offline()
