"""The shape of a dry run's answer (a plan), for the OpenAPI schema; plans.py builds the body itself."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

# One item of a phase: a cloud call with its arguments, or a wait for a resource's status ("if" is a keyword,
# so the shape is declared as a dict).
PLAN_ACTION = inline_serializer("PlanAction", {
    "call": serializers.CharField(required=False, help_text='e.g. "cinder volumes.create size=1 GiB imageRef=...".'),
    "if": serializers.CharField(required=False, help_text="Set when the call is made only if the cloud's state at "
                                "run time asks for it, e.g. a keypair the cloud does not have yet."),
    "wait": serializers.CharField(required=False, help_text='e.g. "root volume and data volume → available".'),
}, many=True)  # fmt: skip


class PlanStepSerializer(serializers.Serializer):
    """One phase of the operation, as the worker runs it."""

    step = serializers.IntegerField(help_text="1-based position; the instance's operation.steps_done counts these.")
    phase = serializers.CharField(help_text="The phase's name in the operation table.")
    does = serializers.CharField(help_text="What the phase does; the instance's operation.step shows the same text.")
    actions = PLAN_ACTION


class PlanQuotaSerializer(serializers.Serializer):
    """One quota of the tenant: its limit, what is in use, the request's change and the use after it."""

    limit = serializers.IntegerField(help_text="-1 is unlimited. MiB for ram and storage.")
    usage = serializers.IntegerField(help_text="In use now. MiB for ram and storage.")
    change = serializers.IntegerField(help_text="What the request adds (negative: frees). MiB for ram and storage.")
    after = serializers.IntegerField(help_text="In use once the request is done. MiB for ram and storage.")
    unit = serializers.CharField(help_text='"cores", "MiB", or "instances".')


class PlanQuotasSerializer(serializers.Serializer):
    """The tenant's quotas the plan touches."""

    vcpu = PlanQuotaSerializer()
    ram = PlanQuotaSerializer()
    storage = PlanQuotaSerializer()
    max_instances = PlanQuotaSerializer()


class PlanFailureSerializer(serializers.Serializer):
    """What happens when a step fails: the cleanup steps, then Erred with the cloud's message."""

    state_path = serializers.ListField(child=serializers.CharField())
    steps = PlanStepSerializer(many=True)


class ResourcePlanSerializer(serializers.Serializer):
    """A dry run's answer: nothing was written and no cloud call was made (a cloud's pull, a membership's sync, a
    security group's push or deletion; an instance's plan adds its quotas)."""

    operation = serializers.CharField(help_text="The operation the request would schedule, e.g. provision.")
    dry_run = serializers.BooleanField(help_text="Always true.")
    state_path = serializers.ListField(
        child=serializers.CharField(), help_text='The states on success, e.g. ["Resizing Scheduled", "Resizing", '
        '"Offline"]; "(deleted)" when the row goes.'
    )  # fmt: skip
    steps = PlanStepSerializer(many=True)
    on_failure = PlanFailureSerializer()


class PlanCostSerializer(serializers.Serializer):
    """What the request costs, in the CURRENCY setting's currency: once, and a month before and after it."""

    currency = serializers.CharField(help_text='ISO 4217, e.g. "EUR".')
    setup_fee = serializers.DecimalField(max_digits=15, decimal_places=3,
                                         help_text="Paid once: a new instance's template and licence setup fees.")
    monthly_before = serializers.DecimalField(max_digits=15, decimal_places=3, help_text="A month of it now.")
    monthly_after = serializers.DecimalField(max_digits=15, decimal_places=3, help_text="A month of it once done.")
    monthly_change = serializers.DecimalField(max_digits=15, decimal_places=3, help_text="after - before.")


class PlanSerializer(ResourcePlanSerializer):
    """An instance's dry run: the plan with the tenant's quotas it would change, and what it costs."""

    quota = PlanQuotasSerializer()
    cost = PlanCostSerializer()
