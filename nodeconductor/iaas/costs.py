"""What an instance costs a month, and what a project's or a customer's instances cost: one formula, in Python for
a row and in SQL for a sum, so a page of totals costs one query.

A month of an instance is its template's monthly fee, its template's licences' monthly fees, its flavor's monthly
fee, and its storage: both volumes in whole GiB (as Cinder allocates them) at its cloud's fee per GiB. Setting it up
costs the template's and its licences' setup fees, once. Every fee is in the one CURRENCY setting's currency.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import DecimalField, ExpressionWrapper, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .backend.units import MIB_PER_GIB, mib_to_gib
from .models import Instance, Template, TemplateLicense

CENT = Decimal("0.001")  # the fees' own precision (decimal_places=3)
MONEY = DecimalField(max_digits=15, decimal_places=4)
ZERO = Value(Decimal(0), output_field=MONEY)


def currency():
    """The ISO 4217 code every fee and cost is in."""
    return settings.NODECONDUCTOR.get("CURRENCY", "EUR")


def money(amount):
    """An amount as the API shows it: a Decimal at the fees' precision."""
    return Decimal(amount or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def license_fees(field, template="template"):
    """The sum of a template's licences' `field` (monthly_fee or setup_fee), as a subquery on the outer `template`."""
    rows = (TemplateLicense.templates.through.objects.filter(template=OuterRef(template)).order_by()
            .values("template").annotate(total=Sum(f"templatelicense__{field}")).values("total"))  # fmt: skip
    return Coalesce(Subquery(rows, output_field=MONEY), ZERO)


def storage_gib(system_mib, data_mib):
    """The GiB both volumes take in Cinder (each rounded up, as the backend asks for them)."""
    return mib_to_gib(system_mib) + mib_to_gib(data_mib)


def monthly_cost(template_fee, license_fee, flavor_fee, storage_fee, system_mib, data_mib):
    """A month of an instance: the one formula, on plain numbers."""
    total = Decimal(template_fee or 0) + Decimal(license_fee or 0) + Decimal(flavor_fee or 0)
    return money(total + Decimal(storage_fee or 0) * storage_gib(system_mib, data_mib))


def instance_monthly_cost(instance, flavor=None, data_volume_size=None):
    """A month of an instance whose template, flavor and cloud rows are loaded, or of it with another `flavor` or
    data volume size (a resize's plan); the licences' sum is read from the list's annotation
    (`license_monthly_fee`), or looked up for a single row."""
    if not instance.holds_quota():  # billed as it counts against the quotas
        return money(0)
    license_fee = getattr(instance, "license_monthly_fee", None)
    if license_fee is None:
        license_fee = template_license_fee(instance.template_id, "monthly_fee")
    flavor = flavor if flavor is not None else instance.flavor if instance.flavor_id else None
    cloud = instance.cloud_project_membership.cloud
    return monthly_cost(instance.template.monthly_fee, license_fee, flavor.monthly_fee if flavor else 0,
                        cloud.storage_monthly_fee, instance.system_volume_size,
                        data_volume_size or instance.data_volume_size)  # fmt: skip


def template_license_fee(template_id, field):
    """The sum of one template's licences' `field` (one query)."""
    row = Template.objects.filter(pk=template_id).annotate(total=license_fees(field, "pk")).values("total").first()
    return row["total"] if row else Decimal(0)


def setup_cost(template):
    """Setting an instance of the template up, once: its setup fee and its licences'."""
    return money(template.setup_fee + template_license_fee(template.pk, "setup_fee"))


def _gib(field):
    # Integer division of whole MiB rounds down in SQLite and PostgreSQL alike: + 1023 makes it round up.
    return (F(field) + (MIB_PER_GIB - 1)) / MIB_PER_GIB


# A month of each instance of a queryset of instances, in SQL: the same formula as monthly_cost.
MONTHLY_COST = ExpressionWrapper(
    F("template__monthly_fee") + license_fees("monthly_fee") + Coalesce(F("flavor__monthly_fee"), ZERO)
    + F("cloud_project_membership__cloud__storage_monthly_fee")
    * (_gib("system_volume_size") + _gib("data_volume_size")),
    output_field=MONEY,
)  # fmt: skip


def monthly_total(group, instances=None):
    """The monthly cost of the instances of each outer row (`group`: the instance's path to it, e.g.
    "cloud_project_membership__project"), as one subquery; `instances` narrows the instances counted."""
    rows = (instances if instances is not None else Instance.objects.all()).holding_quota()
    rows = rows.filter(**{group: OuterRef("pk")})
    rows = rows.order_by().values(group).annotate(total=Sum(MONTHLY_COST)).values("total")
    return Coalesce(Subquery(rows, output_field=MONEY), ZERO)
