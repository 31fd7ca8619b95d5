"""Structure operations with rules beyond a plain save: deletions that must say what blocks them."""

from collections import Counter

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError

from nodeconductor.core.exceptions import InUse


def _describe_blockers(objects):
    """'2 projects, 1 cloud' from the objects that protect a row from deletion."""
    counts = Counter()
    for obj in objects:
        meta = obj._meta
        counts[(meta.verbose_name, meta.verbose_name_plural)] += 1
    return ", ".join(f"{n} {singular if n == 1 else plural}" for (singular, plural), n in sorted(counts.items()))


def _delete_or_conflict(obj, what):
    """Delete `obj` atomically, or raise 409 naming what still refers to it."""
    try:
        with transaction.atomic():
            result = obj.delete()
    except (ProtectedError, RestrictedError) as exc:
        blockers = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        raise InUse(f"The {what} still has {_describe_blockers(blockers)}; delete them first.") from None
    return result


def customer_delete(customer):
    """Delete a customer that has no projects or clouds left; its project groups go with it.

    The 409 names everything that still blocks it (e.g. "1 cloud, 2 projects"), so one answer says all.
    """
    with transaction.atomic():
        # Groups are only labels over this customer's projects; if anything else blocks, this rolls back.
        customer.project_groups.all().delete()
        return _delete_or_conflict(customer, "customer")


def project_delete(project):
    """Delete a project that holds no resources (cloud memberships, instances); its roles go with it."""
    return _delete_or_conflict(project, "project")


def project_group_delete(project_group):
    """Delete a project group; its projects stay, only the grouping goes."""
    return _delete_or_conflict(project_group, "project group")
