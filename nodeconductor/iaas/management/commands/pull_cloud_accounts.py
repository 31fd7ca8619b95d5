"""Pull cloud accounts synchronously and print what changed: for operators, cron jobs and debugging."""

import uuid as uuid_module

from django.core.management.base import BaseCommand, CommandError
from django_fsm import TransitionNotAllowed

from nodeconductor.iaas.backend import CloudBackendError
from nodeconductor.iaas.models import Cloud
from nodeconductor.iaas.resource_operations import run_cloud_pull


def _parse_uuid(value):
    """A uuid from the command line (hex with or without dashes), or a CommandError naming it."""
    try:
        return uuid_module.UUID(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a cloud uuid.")


class Command(BaseCommand):
    """Pulls the named clouds (or all) in this process, through their sync states, and prints each diff."""

    help = (
        "Pull flavors, images and quotas of the given clouds (all when none is named) now, in this process, "
        "and print what changed. With --dry-run nothing is written and the clouds' states stay as they are. "
        "Exits non-zero when any pull failed."
    )

    def add_arguments(self, parser):
        """Cloud uuids and --dry-run."""
        parser.add_argument("uuids", nargs="*", metavar="uuid", help="Clouds to pull; all clouds when none given.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what a pull would change without writing anything."
        )

    def _clouds(self, uuids):
        """The named clouds in the order given (all, by name, when none), or an error naming unknown uuids."""
        if not uuids:
            return list(Cloud.objects.select_related("customer").order_by("name"))
        wanted = [_parse_uuid(u) for u in uuids]
        found = {c.uuid: c for c in Cloud.objects.select_related("customer").filter(uuid__in=wanted)}
        missing = [str(u) for u in wanted if u not in found]
        if missing:
            raise CommandError(f"No cloud with uuid {', '.join(missing)}.")
        return [found[u] for u in dict.fromkeys(wanted)]

    def _pull(self, cloud, dry_run):
        """Pull one cloud and return its diff; raises CloudBackendError or TransitionNotAllowed."""
        if dry_run:
            return cloud.get_backend().pull_cloud_account(cloud, dry_run=True)
        return run_cloud_pull(cloud)

    def handle(self, *args, uuids=(), dry_run=False, **options):
        """Pull each cloud, print its diff lines, and fail at the end listing every failed pull."""
        clouds = self._clouds(uuids)
        if not clouds:
            self.stdout.write("No clouds to pull.")
            return
        failures = []
        for cloud in clouds:
            title = f"{cloud.name} ({cloud.customer.name}, {cloud.uuid.hex})"
            self.stdout.write(f"{title}{' [dry run]' if dry_run else ''}:")
            try:
                diff = self._pull(cloud, dry_run)
            except CloudBackendError as exc:
                failures.append(f"{cloud.name}: {exc}")
                self.stderr.write(f"  pull failed: {exc}")
                continue
            except TransitionNotAllowed:
                failures.append(f"{cloud.name}: a worker is pulling it right now; try again later")
                self.stderr.write("  skipped: a worker is pulling it right now")
                continue
            for line in diff.lines():
                self.stdout.write(f"  {line}")
        if failures:
            raise CommandError(f"{len(failures)} of {len(clouds)} pull(s) failed: " + "; ".join(failures))
