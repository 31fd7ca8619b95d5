"""Apply a pulled cloud account to the database as a minimal diff, in one transaction."""

import dataclasses
import logging

from django.db import transaction

from ..models import CloudProjectMembership, Flavor, Image, TemplateMapping

logger = logging.getLogger(__name__)

FLAVOR_FIELDS = ("name", "cores", "ram", "disk")
IMAGE_FIELDS = ("backend_id", "min_disk", "min_ram")
QUOTA_FIELDS = ("quota_vcpu", "quota_ram", "quota_storage", "quota_max_instances", "quota_snapshot_count")


@dataclasses.dataclass
class PullDiff:
    """What a pull changed (or, on a dry run, would change), as readable lines per kind."""

    created: list = dataclasses.field(default_factory=list)
    updated: list = dataclasses.field(default_factory=list)
    deleted: list = dataclasses.field(default_factory=list)
    kept: list = dataclasses.field(default_factory=list)

    def __bool__(self):
        return bool(self.created or self.updated or self.deleted or self.kept)

    def lines(self):
        """Human-readable lines, one per change, for commands and logs."""
        out = [f"+ {x}" for x in self.created] + [f"~ {x}" for x in self.updated]
        out += [f"- {x}" for x in self.deleted] + [f"! {x}" for x in self.kept]
        return out or ["no changes"]


def _changed(stored, values, fields):
    """Names of fields whose stored value (a tuple in `fields` order) differs from the pulled one."""
    return [f for f, old in zip(fields, stored, strict=True) if old != values[f]]


# The stored rows are read as tuples, not model instances, and ordering is dropped (the models' default ordering
# joins the cloud and template tables): a pull mostly finds nothing changed, and building thousands of model
# instances to compare would cost more than the reads. Instances are made only for the rows that are written.


def _apply_flavors(cloud, pulled, diff, dry_run):
    """Create new flavors, update changed ones, delete vanished ones unless instances use them."""
    rows = Flavor.objects.filter(cloud=cloud).order_by().values_list("backend_id", "pk", "is_active", *FLAVOR_FIELDS)
    # backend_id -> (pk, is_active, {field: stored value})
    existing = {bid: (pk, active, dict(zip(FLAVOR_FIELDS, old, strict=True))) for bid, pk, active, *old in rows}
    pulled_by_id = {f["backend_id"]: f for f in pulled}

    def row(backend_id, pk, fields, is_active):
        return Flavor(pk=pk, cloud=cloud, backend_id=backend_id, is_active=is_active, **fields)

    to_create, to_update = [], []
    for backend_id, values in pulled_by_id.items():
        fields = {k: values[k] for k in FLAVOR_FIELDS}
        if backend_id not in existing:
            to_create.append(row(backend_id, None, fields, True))
            diff.created.append(f"flavor {values['name']} ({backend_id})")
            continue
        pk, is_active, old = existing[backend_id]
        changed = [f for f in FLAVOR_FIELDS if old[f] != fields[f]]
        if changed or not is_active:
            to_update.append(row(backend_id, pk, fields, True))
            diff.updated.append(f"flavor {old['name']} ({backend_id}): {', '.join(changed) or 'available again'}")
    # In the models' order (cores, ram, name), so the diff lines read as before.
    vanished = sorted(
        ((bid, stored) for bid, stored in existing.items() if bid not in pulled_by_id),
        key=lambda item: (item[1][2]["cores"], item[1][2]["ram"], item[1][2]["name"]),
    )
    vanished_pks = [pk for _, (pk, _, _) in vanished]
    used = set()
    if vanished_pks:  # a repeat pull mostly finds none: no query to build
        used = set(Flavor.objects.filter(pk__in=vanished_pks, instances__isnull=False).values_list("pk", flat=True))
    to_delete = [pk for pk in vanished_pks if pk not in used]
    for backend_id, (pk, is_active, old) in vanished:
        if pk not in used:
            diff.deleted.append(f"flavor {old['name']} ({backend_id})")
        elif is_active:
            to_update.append(row(backend_id, pk, old, False))
            diff.kept.append(f"flavor {old['name']} ({backend_id}) vanished but is in use: kept, inactive")
    if not dry_run:
        Flavor.objects.bulk_create(to_create)
        if to_update:
            Flavor.objects.bulk_update(to_update, FLAVOR_FIELDS + ("is_active",))
        if to_delete:
            Flavor.objects.filter(pk__in=to_delete).delete()


def _apply_images(cloud, pulled, diff, dry_run):
    """Keep one Image per template that has a mapped image in this cloud, with its min_disk and min_ram."""
    pulled_by_id = {i["backend_id"]: i for i in pulled}
    wanted = {}
    # Mappings are few (one or two per template) while images may be thousands: match them here, not in SQL.
    mappings = TemplateMapping.objects.order_by().values_list("template_id", "backend_image_id", "template__name")
    for template_id, backend_image_id, name in sorted(m for m in mappings if m[1] in pulled_by_id):
        if template_id not in wanted:
            image = pulled_by_id[backend_image_id]
            wanted[template_id] = (name, {f: image[f] for f in IMAGE_FIELDS})
    existing = {
        row[0]: row[1:]
        for row in Image.objects.filter(cloud=cloud).order_by().values_list("template_id", "pk", *IMAGE_FIELDS)
    }
    to_create, to_update = [], []
    for template_id, (name, values) in wanted.items():
        stored = existing.get(template_id)
        if stored is None:
            to_create.append(Image(cloud=cloud, template_id=template_id, **values))
            diff.created.append(f"image of template {name} ({values['backend_id']})")
            continue
        pk, *old = stored
        changed = _changed(old, values, IMAGE_FIELDS)
        if changed:
            to_update.append(Image(pk=pk, cloud=cloud, template_id=template_id, **values))
            diff.updated.append(f"image of template {name} ({values['backend_id']}): {', '.join(changed)}")
    to_delete = sorted((tid, row) for tid, row in existing.items() if tid not in wanted)
    for template_id, (_, backend_id, *_) in to_delete:
        diff.deleted.append(f"image {backend_id} of template id {template_id}")
    if not dry_run:
        Image.objects.bulk_create(to_create)
        if to_update:
            Image.objects.bulk_update(to_update, IMAGE_FIELDS)
        if to_delete:
            Image.objects.filter(pk__in=[row[0] for _, row in to_delete]).delete()


def _apply_quotas(cloud, pulled, diff, dry_run):
    """Store each membership's limits where they changed."""
    to_update = []
    rows = cloud.memberships.exclude(tenant_id="").order_by().values_list("pk", "tenant_id", "project__name",
                                                                         *QUOTA_FIELDS)  # fmt: skip
    for pk, tenant_id, project_name, *stored in sorted(rows, key=lambda row: (row[2], row[0])):  # by project
        values = pulled.get(tenant_id)
        if not values:
            continue
        changed = _changed(stored, values, QUOTA_FIELDS)
        if changed:
            to_update.append(CloudProjectMembership(pk=pk, **{f: values[f] for f in QUOTA_FIELDS}))
            diff.updated.append(f"quotas of {project_name}: {', '.join(changed)}")
    if to_update and not dry_run:
        CloudProjectMembership.objects.bulk_update(to_update, QUOTA_FIELDS)


def apply_cloud_account(cloud, data, dry_run=False):
    """Apply pulled flavors, images and quotas to the cloud's rows; write nothing when nothing changed."""
    diff = PullDiff()
    with transaction.atomic():
        _apply_flavors(cloud, data["flavors"], diff, dry_run)
        _apply_images(cloud, data["images"], diff, dry_run)
        _apply_quotas(cloud, data.get("quotas", {}), diff, dry_run)
    for line in diff.lines():
        logger.info("pull of cloud %s: %s", cloud.name, line)
    return diff
