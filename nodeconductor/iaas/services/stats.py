"""Numbers for dashboards, as NodeConductor's /api/stats/ gave them: quota limits and usage summed per customer or
project, instances by state per cloud, and instances created per day.

They read the database only (never a cloud), each in a fixed number of queries whatever the number of rows: one
grouped query per kind of number, over the page of customers, projects or clouds being answered.

Visibility is the models' `for_user()`, the same as every list of the API: a row sums only what the requester
sees. A project administrator's row of his customer covers his own projects, not the customer's others, and
nothing of another customer ever enters a sum.
"""

import datetime

from django.db.models import Count, Min, Sum
from django.db.models.functions import TruncDate

from nodeconductor.structure.models import Customer, Project

from ..models import Backup, Cloud, CloudProjectMembership, Instance, InstanceState
from ..models.instance import quota_expressions
from . import backups as backup_services
from . import instances as instance_services

# API key -> the membership's limit field: the instances' quotas and the backups' snapshot quotas, from the one
# table each of them is checked against.
QUOTA_FIELDS = {
    key: field
    for key, (field, _) in {**instance_services.QUOTA_LABELS, **backup_services.SNAPSHOT_QUOTAS}.items()
}
UNLIMITED = -1
# The lookup from a membership to what a row of the quota totals sums over.
SCOPE_PATHS = {"customer": "project__customer", "project": "project"}
AGGREGATES = tuple(SCOPE_PATHS)
# instances-created: the days answered when the query names none, and the longest range it answers (a leap year).
DEFAULT_DAYS = 30
MAX_DAYS = 366


def summed_limit(smallest, total):
    """The limit of a sum of memberships: unlimited (-1) if any member is, else the total (0 for no members).

    -1 means "no limit", so adding it as a number would make a sum that is too small; no finite number bounds a
    customer that has one unlimited tenant. A customer or project without memberships can hold nothing: 0.
    """
    if smallest is not None and smallest < 0:
        return UNLIMITED
    return int(total or 0)


def _by_key(queryset, path, keys, **aggregates):
    """{key: {aggregate: value}} of `queryset` grouped by `path`, for the keys in `keys` only: one query."""
    grouped = queryset.filter(**{f"{path}__in": keys}).order_by().values(path).annotate(**aggregates)
    return {row.pop(path): row for row in grouped}


def visible_scopes(user, aggregate):
    """The customers or projects the user sees, in a stable order to page through: the rows of quota_totals."""
    if aggregate == "customer":
        return Customer.objects.for_user(user).order_by("name", "pk")
    return Project.objects.for_user(user).select_related("customer").order_by("customer__name", "name", "pk")


def quota_totals(user, aggregate, scopes):
    """One row per customer or project of `scopes` (a page of visible_scopes): each quota's summed limit and usage.

    Three queries whatever the number of rows: the memberships' limits, the instances' usage and the backups'
    usage, each grouped by customer or project. Usage counts what holds quota (`holding_quota()`, the
    instances' `quota_expressions()`), as the quota check of a create does.
    """
    path = SCOPE_PATHS[aggregate]
    keys = [scope.pk for scope in scopes]
    limits = _by_key(
        CloudProjectMembership.objects.for_user(user), path, keys,
        **{f"min_{key}": Min(field) for key, field in QUOTA_FIELDS.items()},
        **{f"sum_{key}": Sum(field) for key, field in QUOTA_FIELDS.items()},
    )  # fmt: skip
    usage = _by_key(
        Instance.objects.for_user(user).holding_quota(), f"cloud_project_membership__{path}", keys,
        **{key: Sum(expression) for key, expression in quota_expressions().items()}, max_instances=Count("pk"),
    )  # fmt: skip
    backups = _by_key(
        Backup.objects.for_user(user).holding_quota(), f"membership__{path}", keys, count=Count("pk"), size=Sum("size")
    )
    rows = []
    for scope in scopes:
        held = {key: int(value or 0) for key, value in usage.get(scope.pk, {}).items()}
        backup = backups.get(scope.pk, {})
        held["snapshots"] = (backup.get("count") or 0) * backup_services.SNAPSHOTS_PER_BACKUP
        held["snapshot_storage"] = int(backup.get("size") or 0)
        limit = limits.get(scope.pk, {})
        quotas = {
            key: {"limit": summed_limit(limit.get(f"min_{key}"), limit.get(f"sum_{key}")), "usage": held.get(key, 0)}
            for key in QUOTA_FIELDS
        }
        customer, project = (scope, None) if aggregate == "customer" else (scope.customer, scope)
        rows.append({"customer": customer, "project": project, "quotas": quotas})
    return rows


def visible_clouds(user):
    """The clouds the user sees, in a stable order to page through: the rows of instance_states."""
    return Cloud.objects.for_user(user).select_related("customer").order_by("customer__name", "name", "pk")


def instance_states(user, clouds):
    """One row per cloud of `clouds` (a page of visible_clouds): how many of the instances the user sees there are
    in each state, keyed by the state's display string, every state present (0 included). One query."""
    counts = {}
    grouped = (
        Instance.objects.for_user(user)
        .filter(cloud_project_membership__cloud__in=[cloud.pk for cloud in clouds])
        .order_by()
        .values_list("cloud_project_membership__cloud", "state")
        .annotate(count=Count("pk"))
    )
    for cloud_id, state, count in grouped:
        counts.setdefault(cloud_id, {})[state] = count
    rows = []
    for cloud in clouds:
        states = {label: counts.get(cloud.pk, {}).get(value, 0) for value, label in InstanceState.choices}
        rows.append({"cloud": cloud, "customer": cloud.customer, "total": sum(states.values()), "states": states})
    return rows


def default_range(first, last, today):
    """The days answered when the query leaves an end out: `to` is today, `from` DEFAULT_DAYS days up to `to`."""
    last = last or today
    if first is None:
        # Never before the first day a date can hold (a `to` in year 1 would overflow).
        first = last - datetime.timedelta(days=min(DEFAULT_DAYS - 1, (last - datetime.date.min).days))
    return first, last


def instances_created(user, first, last):
    """Instances the user sees created on each day from `first` to `last`, both included, a day with none as 0,
    and their total: {"from", "to", "total", "days": [{"date", "count"}]}.

    Days are those of the server's time zone (TIME_ZONE). An instance that was deleted is no longer counted: its
    row is gone (the event log keeps its history). One query.
    """
    per_day = dict(
        Instance.objects.for_user(user)
        .filter(created__date__gte=first, created__date__lte=last)
        .order_by()
        .annotate(day=TruncDate("created"))
        .values_list("day")
        .annotate(count=Count("pk"))
    )
    days = (first + datetime.timedelta(days=n) for n in range((last - first).days + 1))
    counts = [{"date": day, "count": per_day.get(day, 0)} for day in days]
    return {"from": first, "to": last, "total": sum(per_day.values()), "days": counts}
