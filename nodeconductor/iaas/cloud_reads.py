"""The worker's side of the reads a request waits for (services/cloud_reads.py): read, write the answer back.

A read changes nothing in the cloud, so a redelivered message reading again is harmless; an answer is written
only while the row still asks for that read (its token), so a late worker never overwrites a newer answer.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from . import failures
from .backend import CloudBackendError
from .backend_specs import instance_spec
from .importable import refresh_importable
from .models import CloudProjectMembership, CloudRead, Instance, SyncState

logger = logging.getLogger(__name__)


def _importable(params):
    """The tenant's untracked servers, read now: the membership's importable rows are rewritten from the cloud.

    Checked again here, as the pull checks it: the message may have waited while the binding changed."""
    membership = CloudProjectMembership.objects.select_related("cloud", "project").get(uuid=params["membership"])
    if membership.state != SyncState.IN_SYNC or membership.tenant_taken():
        raise CloudBackendError(f"The membership is {membership.get_state_display()}, or its tenant is bound by "
                                "another customer first: its servers are not read.")  # fmt: skip
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
    now = timezone.now()
    CloudRead.objects.filter(pk=read_id, token=token).update(result=result, error=error, answered=now,
                                                             answered_token=token)  # fmt: skip
    # One row per read and its parameters (a console's length): those nobody asked for in a day go.
    CloudRead.objects.filter(requested__lt=now - timedelta(days=1)).delete()
