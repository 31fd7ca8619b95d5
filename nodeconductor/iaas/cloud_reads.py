"""The worker's side of the reads a request waits for (services/cloud_reads.py): read, write the answer back.

A read changes nothing in the cloud, so a redelivered message reading again is harmless; an answer is written
only while the row still asks for that read (its token), so a late worker never overwrites a newer answer.
"""

import logging

from django.utils import timezone

from . import failures
from .backend import CloudBackendError
from .backend_specs import instance_spec
from .importable import refresh_importable
from .models import CloudProjectMembership, CloudRead, Instance

logger = logging.getLogger(__name__)


def _importable(params):
    """The tenant's untracked servers, read now: the membership's importable rows are rewritten from the cloud."""
    membership = CloudProjectMembership.objects.select_related("cloud", "project").get(uuid=params["membership"])
    return {"changes": refresh_importable(membership.cloud.get_backend(), membership)}


def _console_log(params):
    """The last lines of an instance's server console, as Nova gives them."""
    instance = Instance.objects.select_related("cloud_project_membership__cloud").get(uuid=params["instance"])
    adapter = instance.cloud_project_membership.cloud.get_backend().adapter
    text = adapter.console_output(instance_spec(instance), params["length"])
    return {"lines": text.splitlines()[-params["length"]:] if text else []}


KINDS = {"importable": _importable, "console_log": _console_log}


def run(read_id, token):
    """Do the read the row asks for under `token`, and write its answer or the cloud's refusal back."""
    row = CloudRead.objects.filter(pk=read_id, token=token).first()
    if row is None:
        return  # a newer read was asked for since: its own message answers it
    result, error = {}, ""
    try:
        result = KINDS[row.kind](row.params)
    except CloudBackendError as exc:
        error = str(exc)
    except (CloudProjectMembership.DoesNotExist, Instance.DoesNotExist):
        error = "It was deleted while the cloud was being read."
    except Exception as exc:
        if not failures.unexpected(exc):
            raise  # the database went away: the waiting request answers 503, its next ask sends another read
        failures.log(exc, f"Read {row.key}")
        error = failures.reason(exc)
    CloudRead.objects.filter(pk=read_id, token=token).update(result=result, error=error, answered=timezone.now())
