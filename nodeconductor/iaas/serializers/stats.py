"""Serializers of the statistics: the query values they take (checked, with a 400 for a person) and the rows and
totals they answer."""

from django.utils import timezone
from rest_framework import serializers

from nodeconductor.core.serializers import UuidHyperlinkedRelatedField

from ..models import InstanceState
from ..services import stats as services
from .cloud import LimitAndUsageSerializer

DATE_FORMAT_MESSAGE = "Give a date as YYYY-MM-DD, e.g. 2025-01-31 (a day that exists)."


class _FromToFieldsMixin:
    """Names the field `from_` `from` in the API: the query says `?from=`, and `from` is a Python keyword."""

    def get_fields(self):
        """The declared fields, `from_` renamed `from` in place (so the order stays the declared one)."""
        return {("from" if name == "from_" else name): field for name, field in super().get_fields().items()}


class QuotasQuerySerializer(serializers.Serializer):
    """`?aggregate=` of the quota totals: a row per customer or a row per project."""

    aggregate = serializers.ChoiceField(
        choices=services.AGGREGATES,
        default="customer",
        error_messages={"invalid_choice": 'Give "customer" or "project", not "{input}".'},
        help_text="customer (the default): a row per customer, summing the projects you see in it; project: a row "
        "per project.",
    )


class InstancesCreatedQuerySerializer(_FromToFieldsMixin, serializers.Serializer):
    """`?from=&to=` of instances-created: dates, both ends included, at most services.MAX_DAYS days apart."""

    from_ = serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_FORMAT_MESSAGE},
        help_text=f"First day, YYYY-MM-DD; default {services.DEFAULT_DAYS - 1} days before `to`.",
    )
    to = serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_FORMAT_MESSAGE},
        help_text="Last day, YYYY-MM-DD, included; default today (the server's time zone).",
    )

    def validate(self, attrs):
        """Fill in the ends left out; refuse a range that runs backwards or is longer than services.MAX_DAYS."""
        first, last = services.default_range(attrs.get("from"), attrs.get("to"), timezone.localdate())
        if first > last:
            raise serializers.ValidationError({"from": [f"{first} is after to ({last}): give from on or before to."]})
        days = (last - first).days + 1
        if days > services.MAX_DAYS:
            raise serializers.ValidationError({"from": [
                f"The range is at most {services.MAX_DAYS} days, both ends included; {first} to {last} is {days} "
                f"days. Give a later from or an earlier to."
            ]})  # fmt: skip
        return {"from": first, "to": last}


class QuotaTotalsSerializer(serializers.Serializer):
    """Each quota of the memberships summed: limit -1 when any membership is unlimited, else the sum of their
    limits (0 without memberships); usage is what their instances and backups hold now."""

    vcpu = LimitAndUsageSerializer(help_text="Cores.")
    ram = LimitAndUsageSerializer(help_text="RAM, MiB.")
    storage = LimitAndUsageSerializer(help_text="System and data volumes of the instances, MiB.")
    max_instances = LimitAndUsageSerializer(help_text="Instances.")
    snapshots = LimitAndUsageSerializer(help_text="Snapshots: two per backup.")
    snapshot_storage = LimitAndUsageSerializer(help_text="Both volumes of each backup, MiB.")


class QuotaRowSerializer(serializers.Serializer):
    """The quota totals of one customer (project null) or one project, over what the requester sees of it."""

    customer = UuidHyperlinkedRelatedField(view_name="customer-detail", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    project = UuidHyperlinkedRelatedField(
        view_name="project-detail", read_only=True, allow_null=True, help_text="null in a row of a customer."
    )
    project_name = serializers.CharField(
        source="project.name", read_only=True, allow_null=True, help_text="null in a row of a customer."
    )
    quotas = QuotaTotalsSerializer(read_only=True)


def _state_counts_serializer():
    """A serializer with one integer per instance state, named by its display string as the API shows states."""
    fields = {
        label: serializers.IntegerField(help_text=f"Instances in {label}.") for label in InstanceState.labels
    }
    doc = "How many instances are in each state, every state present (0 included), keyed by its display string."
    return type("InstanceStateCountsSerializer", (serializers.Serializer,), {"__doc__": doc, "__module__": __name__,
                                                                            **fields})  # fmt: skip


InstanceStateCountsSerializer = _state_counts_serializer()


class CloudStatesSerializer(serializers.Serializer):
    """The instances of one cloud by state, counting only those of projects the requester sees."""

    cloud = UuidHyperlinkedRelatedField(view_name="cloud-detail", read_only=True)
    cloud_name = serializers.CharField(source="cloud.name", read_only=True)
    customer = UuidHyperlinkedRelatedField(view_name="customer-detail", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    total = serializers.IntegerField(read_only=True, help_text="Instances in the cloud, all states.")
    states = InstanceStateCountsSerializer(read_only=True)


class DayCountSerializer(serializers.Serializer):
    """Instances created on one day."""

    date = serializers.DateField(read_only=True)
    count = serializers.IntegerField(read_only=True)


class InstancesCreatedSerializer(_FromToFieldsMixin, serializers.Serializer):
    """Instances created per day over a range: every day of it, in order, a day without any as 0."""

    from_ = serializers.DateField(read_only=True, help_text="First day answered.")
    to = serializers.DateField(read_only=True, help_text="Last day answered, included.")
    total = serializers.IntegerField(read_only=True, help_text="Instances created over the whole range.")
    days = DayCountSerializer(many=True, read_only=True)
