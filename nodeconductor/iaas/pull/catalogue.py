"""Apply a pulled cloud account to the database as a minimal diff, in one transaction."""

import dataclasses
import logging

from django.db import transaction

from ..models import CloudProjectMembership, Flavor, Image, TemplateMapping

logger = logging.getLogger(__name__)

FLAVOR_FIELDS = ("name", "cores", "ram", "disk")
IMAGE_FIELDS = ("backend_id", "min_disk", "min_ram")
QUOTA_FIELDS = ("quota_vcpu", "quota_ram", "quota_storage", "quota_max_instances")


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


def _diff_fields(obj, values, fields):
    """Names of fields whose value differs from the pulled one."""
    return [f for f in fields if getattr(obj, f) != values[f]]


def _apply_flavors(cloud, pulled, diff, dry_run):
    """Create new flavors, update changed ones, delete vanished ones unless instances use them."""
    existing = {f.backend_id: f for f in cloud.flavors.all()}
    pulled_by_id = {f["backend_id"]: f for f in pulled}
    to_create, to_update = [], []
    for backend_id, values in pulled_by_id.items():
        flavor = existing.get(backend_id)
        if flavor is None:
            to_create.append(Flavor(cloud=cloud, backend_id=backend_id, **{k: values[k] for k in FLAVOR_FIELDS}))
            diff.created.append(f"flavor {values['name']} ({backend_id})")
            continue
        changed = _diff_fields(flavor, values, FLAVOR_FIELDS)
        if changed or not flavor.is_active:
            for f in changed:
                setattr(flavor, f, values[f])
            flavor.is_active = True
            to_update.append(flavor)
            diff.updated.append(f"flavor {flavor.name} ({backend_id}): {', '.join(changed) or 'available again'}")
    vanished = [f for bid, f in existing.items() if bid not in pulled_by_id]
    used = set(
        Flavor.objects.filter(pk__in=[f.pk for f in vanished], instances__isnull=False).values_list("pk", flat=True)
    )
    to_delete = [f.pk for f in vanished if f.pk not in used]
    for flavor in vanished:
        if flavor.pk in used:
            if flavor.is_active:
                flavor.is_active = False
                to_update.append(flavor)
                diff.kept.append(f"flavor {flavor.name} ({flavor.backend_id}) vanished but is in use: kept, inactive")
        else:
            diff.deleted.append(f"flavor {flavor.name} ({flavor.backend_id})")
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
    mappings = [m for m in TemplateMapping.objects.select_related("template") if m.backend_image_id in pulled_by_id]
    for mapping in sorted(mappings, key=lambda m: (m.template_id, m.backend_image_id)):
        if mapping.template_id not in wanted:
            image = pulled_by_id[mapping.backend_image_id]
            wanted[mapping.template_id] = (mapping.template, {f: image[f] for f in IMAGE_FIELDS})
    existing = {i.template_id: i for i in cloud.images.all()}
    to_create, to_update = [], []
    for template_id, (template, values) in wanted.items():
        image = existing.get(template_id)
        if image is None:
            to_create.append(Image(cloud=cloud, template=template, **values))
            diff.created.append(f"image of template {template.name} ({values['backend_id']})")
            continue
        changed = _diff_fields(image, values, IMAGE_FIELDS)
        if changed:
            for f in changed:
                setattr(image, f, values[f])
            to_update.append(image)
            diff.updated.append(f"image of template {template.name} ({values['backend_id']}): {', '.join(changed)}")
    to_delete = [i for tid, i in existing.items() if tid not in wanted]
    for image in to_delete:
        diff.deleted.append(f"image {image.backend_id} of template id {image.template_id}")
    if not dry_run:
        Image.objects.bulk_create(to_create)
        if to_update:
            Image.objects.bulk_update(to_update, IMAGE_FIELDS)
        if to_delete:
            Image.objects.filter(pk__in=[i.pk for i in to_delete]).delete()


def _apply_quotas(cloud, pulled, diff, dry_run):
    """Store each membership's limits where they changed."""
    to_update = []
    for membership in cloud.memberships.exclude(tenant_id="").select_related("project"):
        values = pulled.get(membership.tenant_id)
        if not values:
            continue
        changed = _diff_fields(membership, values, QUOTA_FIELDS)
        if changed:
            for f in changed:
                setattr(membership, f, values[f])
            to_update.append(membership)
            diff.updated.append(f"quotas of {membership.project.name}: {', '.join(changed)}")
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
