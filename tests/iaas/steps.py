"""Run an instance operation's steps one at a time in the test's process, as one worker message each would."""

from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance


def advance(op, instance_uuid, params=None):
    """Run the next step of `op` on the instance, recording the operation first when the row has none."""
    row = Instance.objects.filter(uuid=instance_uuid).values("operation_name", "operation_token").first()
    if row is None:
        return operations.Outcome(finished=True)
    if row["operation_name"] == op.name and row["operation_token"]:
        token = row["operation_token"]
        if params:
            Instance.objects.filter(uuid=instance_uuid, operation_token=token).update(operation_params=params)
    else:
        token = operations.start_in_place(op, instance_uuid, params)
    seq = Instance.objects.filter(uuid=instance_uuid).values_list("operation_seq", flat=True).get()
    return operations.run_step(instance_uuid, token, seq)
