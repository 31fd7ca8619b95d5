"""Events: instance_<action>_{scheduled,succeeded,failed}, and <operation>_{succeeded,failed} of the operations on
clouds, memberships and security groups, with the uuids of user, project, customer."""

from nodeconductor.events.models import log_event

VERBS = {
    "provision": "provisioning",
    "start": "start",
    "stop": "stop",
    "restart": "restart",
    "resize_flavor": "flavor resize",
    "resize_disk": "disk resize",
    "delete": "deletion",
    "recover": "recovery",
    "update_security_groups": "security groups update",
    "assign_floating_ip": "floating IP assignment",
    "unassign_floating_ip": "floating IP removal",
    # Operations on other resources (resource_operations.py), as the messages about them name them.
    "pull_cloud": "pull of the cloud",
    "sync_membership": "sync of the membership",
    "push_security_group": "push of the security group",
    "delete_security_group": "deletion of the security group",
    "backup": "backup",
    "delete_backup": "deletion of the backup",
    "restore": "restore from a backup",
}


def instance_event(instance, action, stage, user=None, error=""):
    """Log one stage of an action on an instance."""
    project = instance.cloud_project_membership.project
    message = f"Instance {instance.hostname}: {VERBS.get(action, action)} {stage}"
    if error:
        message += f": {error}"
    return log_event(
        f"instance_{action}_{stage}",
        message,
        level="error" if stage == "failed" else "info",
        user=user,
        customer=project.customer,
        project=project,
        resource=instance,
        instance_hostname=instance.hostname,
    )


def instance_step_event(instance, action, step, seconds, user=None, **times):
    """Log that one step of an operation on an instance ended, with how long it took (and when it began/ended)."""
    project = instance.cloud_project_membership.project
    return log_event(
        f"instance_{action}_step_done",
        f"Instance {instance.hostname}: {VERBS.get(action, action)} step done in {seconds:.1f} s: {step}",
        user=user,
        customer=project.customer,
        project=project,
        resource=instance,
        instance_hostname=instance.hostname,
        step=step,
        seconds=round(seconds, 3),
        **times,
    )


def resource_event(row, operation, stage, error=""):
    """Log how an operation on a cloud, a membership, a security group or a backup ended (e.g. pull_cloud_failed).

    A cloud's event is its customer's (its owners see it); a membership's and a group's are their project's.
    """
    project = getattr(row, "project", None) or getattr(getattr(row, "membership", None), "project", None)
    customer = project.customer if project is not None else row.customer
    what = {"cloud": "Cloud", "cloudprojectmembership": "Membership", "securitygroup": "Security group",
            "backup": "Backup"}  # fmt: skip
    message = f"{what[row._meta.model_name]} {row}: {VERBS.get(operation, operation)} {stage}"
    if error:
        message += f": {error}"
    return log_event(f"{operation}_{stage}", message, level="error" if stage == "failed" else "info",
                     customer=customer, project=project, resource=row)  # fmt: skip
