"""A cloud's pull, a membership's sync, a group's push and its deletion are operations of the one engine.

Each is recorded on its row by the request, claimed by exactly one step, resumed by the sweeper after its worker
died, refused with 409 while it runs, and printed by ?dry_run=true: against the simulator over HTTP.
"""

import dataclasses
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from nodeconductor.events.models import Event
from nodeconductor.iaas import resource_operations, tasks
from nodeconductor.iaas.engine import leases, resources
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, SecurityGroup
from nodeconductor.iaas.serializers.operations import RESOURCE_OPERATION_SCHEMA
from nodeconductor.iaas.services import backups as backup_services
from nodeconductor.iaas.services import clouds
from nodeconductor.iaas.services import security_groups as group_services
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import run_tasks

SSH = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}


@pytest.fixture(autouse=True)
def neutron_networking(settings):
    """Security groups live in Neutron: these tests run with the tenant network, as production does."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}


@dataclasses.dataclass
class Case:
    """One operation as a client asks for it: the row, the request, who may make it, and where it ends."""

    op: object
    row: object
    method: str
    path: str
    body: dict | None
    role: str
    answer: int
    answer_body: dict | None  # None: the row as the serializer shows it
    end_state: str | None  # None: the row is gone
    busy: dict  # the 409 while the operation runs


def _group(iaas, name="web"):
    """A group pushed to the simulator's Neutron, In Sync and idle."""
    group = group_services.group_create(iaas.membership, name, [SSH], in_request=False)  # its message is not sent
    resource_operations.run_in_process(resource_operations.PUSH_SECURITY_GROUP, group)
    group.refresh_from_db()
    assert group.state == "in_sync" and group.backend_id and not group.busy, group.error_message
    return group


def _case(name, iaas, roles):
    """The Case of an operation by its name in resource_operations.TABLE."""
    if name == "pull_cloud":
        return Case(resource_operations.PULL_CLOUD, iaas.cloud, "post", roles.url("cloud", iaas.cloud) + "sync/", None,
                    "owner", 202, {"status": "sync was scheduled"}, "in_sync",
                    {"detail": "A pull of this cloud is already syncing; wait for it.", "code": "invalid_state"})
    if name == "sync_membership":
        membership = iaas.membership
        return Case(resource_operations.SYNC_MEMBERSHIP, membership, "post",
                    roles.url("cloudprojectmembership", membership) + "sync/", None, "owner", 202,
                    {"status": "sync was scheduled"}, "in_sync",
                    {"detail": "The membership is syncing; wait for it to finish.", "code": "invalid_state"})
    group = _group(iaas)
    path = roles.url("securitygroup", group)
    if name == "push_security_group":
        return Case(resource_operations.PUSH_SECURITY_GROUP, group, "patch", path, {"description": "the web tier"},
                    "admin", 202, None, "in_sync",
                    {"detail": "The security group is Syncing; wait for it to finish before changing it.",
                     "code": "invalid_state"})
    return Case(resource_operations.DELETE_SECURITY_GROUP, group, "delete", path, None, "admin", 202,
                {"status": "deletion was scheduled"}, None,
                {"detail": "The security group is Deleting; wait for it to finish before deleting it.",
                 "code": "invalid_state"})  # fmt: skip


def _ask(case, roles, role=None, query=""):
    client = roles.client_as(role or case.role)
    return getattr(client, case.method)(case.path + query, case.body, format="json")


def _detail(case):
    """The row's own page in the API."""
    view = {"cloud": "cloud", "membership": "cloudprojectmembership", "security_group": "securitygroup"}[case.op.kind]
    return reverse(f"{view}-detail", kwargs={"uuid": case.row.uuid})


def _fresh(case):
    return type(case.row).objects.filter(pk=case.row.pk).first()


# The one-step operations; a backup's, which wait on the cloud, have their own tests (test_backup_operations.py).
OPERATIONS = sorted(set(resource_operations.TABLE) - {backup_services.BACKUP, backup_services.DELETE})


def test_the_table_holds_the_operations_the_services_record():
    assert OPERATIONS == ["delete_security_group", "pull_cloud", "push_security_group", "sync_membership"]
    assert {clouds.PULL, clouds.SYNC, group_services.PUSH, group_services.DELETE} == set(OPERATIONS)
    assert sorted(resource_operations.TABLE) == sorted([*OPERATIONS, "backup", "delete_backup"])


@pytest.mark.parametrize("name", OPERATIONS)
def test_the_request_records_the_operation_and_sends_its_first_step(iaas, roles, sent, name):
    case = _case(name, iaas, roles)
    with run_tasks():
        response = _ask(case, roles)
    assert response.status_code == case.answer, response.content
    if case.answer_body is not None:
        assert response.json() == case.answer_body
    else:
        assert response.json()["state"] == "Sync Scheduled" and response.json()["description"] == "the web tier"
    row = _fresh(case)
    assert (row.operation_name, row.operation_seq, len(row.operation_token)) == (name, 0, 32)
    assert row.state == case.op.scheduled_state and row.operation_due is not None
    assert sent == [(case.op.kind, str(row.uuid), row.operation_token, 0)]
    shown = roles.client_as("staff").get(_detail(case)).json()["operation"]
    assert shown == {"name": name, "title": case.op.title, "state": "queued", "started": None,
                     "waiting_for": ""}


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_step_is_claimed_once(iaas, roles, sent, name):
    case = _case(name, iaas, roles)
    with run_tasks():
        assert _ask(case, roles).status_code == case.answer
    ((kind, uuid, token, seq),) = sent
    # A worker on another host holds the step: a duplicate message does nothing.
    held = timezone.now() + timedelta(seconds=60)
    type(case.row).objects.filter(pk=case.row.pk).update(operation_lease_until=held, operation_holder="elsewhere:1")
    assert not resource_operations.run_step(kind, uuid, token, seq).ran
    assert _fresh(case).state == case.op.scheduled_state
    type(case.row).objects.filter(pk=case.row.pk).update(operation_lease_until=None, operation_holder="")
    first = resource_operations.run_step(kind, uuid, token, seq)
    assert first.ran and first.error is None, first.error
    assert not resource_operations.run_step(kind, uuid, token, seq).ran  # redelivered: the operation ended
    row = _fresh(case)
    if case.end_state is None:
        assert row is None
    else:
        assert (row.state, row.error_message, row.operation_token) == (case.end_state, "", "")
        assert roles.client_as("staff").get(_detail(case)).json()["operation"] is None


def _dead_pid():
    """The pid of a process that ran on this host and exited: a worker that was killed."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_step_whose_worker_died_is_resumed_by_the_sweeper(iaas, roles, sent, name, monkeypatch):
    case = _case(name, iaas, roles)
    with run_tasks():
        assert _ask(case, roles).status_code == case.answer
    ((kind, uuid, token, seq),) = sent
    # The worker began the operation and was killed in its step, longer ago than a call may still land.
    claimed = timezone.now() - timedelta(seconds=leases.in_flight_window() + 1)
    holder = f"{socket.gethostname()}:{_dead_pid()}"
    type(case.row).objects.filter(pk=case.row.pk).update(
        state=case.op.working_state, operation_started=claimed, operation_holder=holder,
        operation_lease_until=claimed + timedelta(seconds=leases.step_lease()))  # fmt: skip
    monkeypatch.undo()  # the sweeper's message runs the step (eager in tests)
    assert tasks.resume_stalled_work() == 1
    row = _fresh(case)
    if case.end_state is None:
        assert row is None
    else:
        assert (row.state, row.error_message, row.operation_token) == (case.end_state, "", "")
    assert tasks.resume_stalled_work() == 0


@pytest.mark.parametrize("name", OPERATIONS)
def test_while_the_operation_runs_the_same_request_is_409(iaas, roles, sent, name):
    case = _case(name, iaas, roles)
    with run_tasks():
        assert _ask(case, roles).status_code == case.answer
    ((kind, uuid, token, seq),) = sent
    row = _fresh(case)
    case.op.begin(row)  # as the worker that claimed it does
    row.operation_started = timezone.now()
    row.save()
    shown = roles.client_as("staff").get(_detail(case)).json()["operation"]
    assert (shown["name"], shown["state"]) == (name, "running") and shown["started"].endswith("Z")
    response = _ask(case, roles)
    assert response.status_code == 409 and response.json() == case.busy
    assert _ask(case, roles, query="?dry_run=true").json() == case.busy  # the plan makes the same checks
    assert len(sent) == 1 and _fresh(case).operation_token == token


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_dry_run_prints_the_plan_and_changes_nothing(iaas, roles, sent, name):
    case = _case(name, iaas, roles)
    before = _fresh(case)
    response = _ask(case, roles, query="?dry_run=true")
    assert response.status_code == 200, response.content
    body = response.json()
    scheduled, working = {"pull_cloud": ("Sync Scheduled", "Syncing"), "sync_membership": ("Sync Scheduled", "Syncing"),
                          "push_security_group": ("Sync Scheduled", "Syncing"),
                          "delete_security_group": ("Deletion Scheduled", "Deleting")}[name]  # fmt: skip
    assert body["operation"] == name and body["dry_run"] is True
    assert body["state_path"] == [scheduled, working, "(deleted)" if case.end_state is None else "In Sync"]
    assert body["on_failure"] == {"state_path": [working, "Erred"], "steps": []}
    assert [s["does"] for s in body["steps"]] == [p.does for p in case.op.phases]
    assert all(s["actions"] for s in body["steps"])
    after = _fresh(case)
    assert (after.state, after.operation_token, after.modified) == (before.state, "", before.modified)
    assert sent == []


def test_the_plan_names_the_group_it_would_delete(iaas, roles):
    case = _case("delete_security_group", iaas, roles)
    body = _ask(case, roles, query="?dry_run=true").json()
    assert body["steps"][0]["actions"] == [{"call": f"neutron delete_security_group {case.row.backend_id}",
                                            "if": "the group is still there"}]  # fmt: skip


# Who may ask for each plan: the same roles as the request itself.
PLAN_MATRIX = {
    "pull_cloud": {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 200, "staff": 200},
    "sync_membership": {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 200, "staff": 200},
    "push_security_group": {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 200, "owner": 403,
                            "staff": 200},
    "delete_security_group": {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 200, "owner": 403,
                              "staff": 200},
}  # fmt: skip


@pytest.mark.parametrize("name", OPERATIONS)
def test_dry_run_role_matrix(iaas, roles, sent, name):
    case = _case(name, iaas, roles)
    responses = check_matrix(roles, PLAN_MATRIX[name], lambda client, role: _ask(case, roles, role, "?dry_run=true"))
    for role, status in PLAN_MATRIX[name].items():
        if status == 200:
            assert responses[role].json()["operation"] == name
        elif status == 404:
            assert responses[role].json() == {"detail": "Not found.", "code": "not_found"}
    assert sent == [] and not _fresh(case).busy


def test_rows_the_shell_left_scheduled_get_their_operation(roles, sim_env, sent, monkeypatch):
    cloud = Cloud.objects.create(customer=roles.customer, name="shell", auth_url=sim_env.credentials["auth_url"])
    membership = CloudProjectMembership.objects.create(project=roles.project, cloud=cloud, tenant_id=sim_env.tenant_id)
    group = SecurityGroup.objects.create(membership=membership, name="made-in-the-shell")
    assert not (cloud.busy or membership.busy or group.busy)
    assert tasks.resume_stalled_work() == 0  # fresh rows: a message may still be on its way
    long_ago = timezone.now() - timedelta(minutes=1)
    for row in (cloud, membership, group):
        type(row).objects.filter(pk=row.pk).update(modified=long_ago)
    assert tasks.resume_stalled_work() == 3
    recorded = {(kind, uuid) for kind, uuid, token, seq in sent}
    assert recorded == {("cloud", str(cloud.uuid)), ("membership", str(membership.uuid)),
                        ("security_group", str(group.uuid))}  # fmt: skip
    names = {type(r).objects.get(pk=r.pk).operation_name for r in (cloud, membership, group)}
    assert names == {"pull_cloud", "sync_membership", "push_security_group"}
    assert tasks.resume_stalled_work() == 0  # recorded and sent: the sweeper waits for its due time


def test_the_schema_names_every_operation_the_field_shows():
    assert RESOURCE_OPERATION_SCHEMA["properties"]["name"]["enum"] == list(resource_operations.TABLE)


@pytest.mark.parametrize("name", OPERATIONS)
def test_each_outcome_is_an_event_of_the_rows_customer_or_project(iaas, roles, name):
    case = _case(name, iaas, roles)
    before = set(Event.objects.values_list("pk", flat=True))  # the fixture's sync, the group's push
    with run_tasks():
        assert _ask(case, roles).status_code == case.answer
    (event,) = Event.objects.exclude(pk__in=before)
    project = None if name == "pull_cloud" else iaas.membership.project  # a cloud's is its customer's
    assert (event.event_type, event.level, event.resource_uuid, event.customer_id, event.project) == (
        f"{name}_succeeded", "info", case.row.uuid, roles.customer.pk, project)
    assert event.message.endswith(f"{case.op.title} succeeded") and str(case.row) in event.message
    seen = roles.client_as("owner").get("/api/events/", {"event_type": f"{name}_"}).json()
    assert event.message in [e["message"] for e in seen]


def test_the_periodic_pull_is_no_event_unless_it_fails(iaas, roles, cloudsim):
    before = set(Event.objects.values_list("pk", flat=True))
    with run_tasks():
        tasks.pull_cloud_accounts()
    assert Cloud.objects.get(pk=iaas.cloud.pk).state == "in_sync"
    assert not Event.objects.exclude(pk__in=before).exists(), "an hourly success is no event"
    cloudsim.fail_next("compute.flavor_list", status=500, message="nova-api exploded")
    with run_tasks():
        tasks.pull_cloud_accounts()
    (event,) = Event.objects.exclude(pk__in=before)
    assert event.event_type == "pull_cloud_failed" and "nova-api exploded" in event.message


def test_a_refused_operation_is_an_error_event_with_the_clouds_message(iaas, roles, cloudsim):
    cloudsim.fail_next("compute.flavor_list", status=500, message="nova-api exploded")
    with pytest.raises(Exception, match="nova-api exploded"):
        resource_operations.run_cloud_pull(iaas.cloud)
    (event,) = Event.objects.filter(event_type="pull_cloud_failed")
    assert event.level == "error" and "nova-api exploded" in event.message
    assert event.message.startswith(f"Cloud {iaas.cloud.name}: pull of the cloud failed: list flavors failed")


def test_a_push_that_a_deletion_replaced_after_its_claim_is_not_run(iaas, roles, sent, monkeypatch):
    case = _case("push_security_group", iaas, roles)
    with run_tasks():
        assert _ask(case, roles).status_code == 202
    ((kind, uuid, token, seq),) = sent
    real_load = resources.load

    def deleted_meanwhile(kind, uuid):  # the worker claimed the push; then the user deleted the group
        monkeypatch.setattr(resources, "load", real_load)
        with run_tasks():
            group_services.group_delete(SecurityGroup.objects.get(uuid=uuid))
        return real_load(kind, uuid)

    monkeypatch.setattr(resources, "load", deleted_meanwhile)
    assert not resource_operations.run_step(kind, uuid, token, seq).ran
    group = _fresh(case)
    assert (group.state, group.operation_name, group.operation_lease_until) == (
        "deletion_scheduled", "delete_security_group", None)
    (deletion,) = sent[1:]
    assert resource_operations.run_step(*deletion).ran and _fresh(case) is None
    assert Event.objects.filter(event_type="delete_security_group_succeeded").count() == 1


def test_an_edit_that_joins_a_scheduled_push_is_pushed_not_undone(iaas, roles, sent, monkeypatch):
    case = _case("push_security_group", iaas, roles)
    with run_tasks():
        assert _ask(case, roles).status_code == 202
    ((kind, uuid, token, seq),) = sent
    real_load = resources.load

    def renamed_meanwhile(kind, uuid):  # the worker read the group; then the user renamed it, before the begin
        row = real_load(kind, uuid)
        monkeypatch.setattr(resources, "load", real_load)
        response = roles.client_as("admin").patch(case.path, {"name": "web-2"}, format="json")
        assert response.status_code == 202 and response.json()["name"] == "web-2"
        return row

    monkeypatch.setattr(resources, "load", renamed_meanwhile)
    assert resource_operations.run_step(kind, uuid, token, seq).ran
    group = _fresh(case)
    assert (group.name, group.description, group.state) == ("web-2", "the web tier", "in_sync")
    in_neutron = {g["id"]: g["name"] for g in iaas.cloud.get_backend().list_security_groups(iaas.membership.tenant_id)}
    assert in_neutron[group.backend_id] == "web-2"
    assert len(sent) == 1, "the edit joined the push: no second message"
