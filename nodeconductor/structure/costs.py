"""Monthly totals of customers and projects, from the apps that bill for what they hold.

Structure knows nothing of what is billed (iaas sits above it): an app whose AppConfig has
`monthly_cost_expression(kind, visible_projects)` gives an SQL expression per customer or project row, so a page
of totals costs no query of its own.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.apps import apps
from django.conf import settings
from django.db.models import DecimalField, Value

MONEY = DecimalField(max_digits=15, decimal_places=4)


def monthly_cost_annotation(kind, visible_projects):
    """The monthly cost of each row of a customer (`kind` "customer") or project ("project") queryset: the sum of
    what each billing app says, counting only the `visible_projects` of a customer."""
    total = None
    for config in apps.get_app_configs():
        expression = getattr(config, "monthly_cost_expression", None)
        if expression is not None:
            part = expression(kind, visible_projects)
            total = part if total is None else total + part
    return total if total is not None else Value(Decimal(0), output_field=MONEY)


def shown(row):
    """A row's monthly cost as the API writes it (a just-created row has none yet: nothing is billed)."""
    amount = getattr(row, "monthly_cost", None) or Decimal(0)
    return str(Decimal(amount).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def currency():
    """The ISO 4217 code of every cost (the CURRENCY setting)."""
    return settings.NODECONDUCTOR.get("CURRENCY", "EUR")
