"""Instance events over the API: what each action logs, who sees it, filters, and constant query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.events.models import Event, log_event
from nodeconductor.iaas.models import CloudProjectMembership, InstanceState
from tests import factories
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import link, make_instance, provision, run_tasks, url

S = InstanceState
FIELDS = {"uuid", "created", "event_type", "level", "message", "user_username", "resource_type", "resource_uuid",
          "context"}  # fmt: skip


def types(instance):
    """Event types of an instance, oldest first."""
    return list(Event.objects.filter(resource_uuid=instance.uuid).order_by("id").values_list("event_type", flat=True))


def test_every_action_logs_scheduled_and_outcome(iaas, roles):
    client = roles.client_as("admin")
    instance = provision(iaas, roles)
    medium = link("flavor", iaas.cloud.flavors.get(name="m1.medium"))
    for method, action, data in [
        ("post", "stop", None),
        ("post", "start", None),
        ("post", "restart", None),
        ("post", "stop", None),
        ("post", "resize", {"flavor": medium}),
        ("post", "resize", {"disk_size": 2048}),
        ("delete", None, None),
    ]:
        with run_tasks():
            response = getattr(client, method)(url(instance, action), data)
        assert response.status_code == 202, response.json()
    assert [t for t in types(instance) if not t.endswith("_step_done")] == [
        f"instance_{action}_{stage}"
        for action in ("provision", "stop", "start", "restart", "stop", "resize_flavor", "resize_disk", "delete")
        for stage in ("scheduled", "succeeded")
    ]
    # Each step of each operation, with its timing, before the operation's outcome.
    steps = Event.objects.filter(resource_uuid=instance.uuid, event_type="instance_provision_step_done").order_by("id")
    assert [e.context["step"] for e in steps] == [
        "create the root volume from the image, the empty data volume and the port",
        "wait for both volumes to be available, then boot the server from the root volume",
        "wait for the server to be ACTIVE",
    ]
    assert all(e.context["seconds"] >= 0 and " s: " in e.message for e in steps)
    assert types(instance).index("instance_provision_succeeded") == 4
    user, project, customer = roles.users["admin"], roles.project, roles.customer
    for event in Event.objects.filter(resource_uuid=instance.uuid):
        assert event.context["user_uuid"] == str(user.uuid), event
        assert event.context["instance_uuid"] == str(instance.uuid)
        assert event.context["project_uuid"] == str(project.uuid)
        assert event.context["customer_uuid"] == str(customer.uuid)
        assert (event.user, event.project, event.customer, event.level) == (user, project, customer, "info")
    # the history of a deleted instance stays readable through the common endpoint
    body = client.get(f"/api/events/?resource_uuid={instance.uuid}&page_size=100").json()
    total = Event.objects.filter(resource_uuid=instance.uuid).count()
    assert len(body) == total > 16 and body[0]["event_type"] == "instance_delete_succeeded"
    assert body[0]["message"] == "Instance web-1: deletion succeeded"
    assert body[0]["user_username"] == "admin" and body[0]["resource_type"] == "instance"


def test_failures_log_failed_with_the_reason(iaas, roles):
    iaas.env.sim.fail_next("compute.server_create", status=500, message="No valid host was found.")
    instance = provision(iaas, roles)
    assert [t for t in types(instance) if not t.endswith("_step_done")] == [
        "instance_provision_scheduled", "instance_provision_failed"
    ]
    steps = [e.context["step"] for e in Event.objects.filter(event_type="instance_provision_step_done").order_by("id")]
    # The volumes were made, the boot failed, and the cleanup's own steps removed what was made.
    assert steps[0] == "create the root volume from the image, the empty data volume and the port"
    assert len(steps) == 4, steps
    assert steps[-1] == "clean up: delete both volumes, wait for them to be gone, then the port"
    body = roles.client_as("manager").get(url(instance, "events")).json()
    assert body[0]["event_type"] == "instance_provision_failed" and body[0]["level"] == "error"
    assert "No valid host was found." in body[0]["message"]
    assert body[0]["context"]["user_uuid"] == str(roles.users["admin"].uuid)


def test_refused_requests_log_nothing(iaas, roles):
    instance = make_instance(iaas, S.ONLINE)
    assert roles.client_as("admin").post(url(instance, "start")).status_code == 409
    assert roles.client_as("manager").post(url(instance, "stop")).status_code == 403
    assert types(instance) == []


@pytest.fixture
def logged(iaas, roles):
    """An instance of roles.project with two events, and an event of another customer's project."""
    # The membership's sync made by the iaas fixture is an event of the project too (test_resource_operations).
    assert list(Event.objects.values_list("event_type", flat=True)) == ["sync_membership_succeeded"]
    Event.objects.all().delete()
    instance = make_instance(iaas)
    admin = roles.users["admin"]
    # scheduled only: the task is not run, as the row has nothing in the cloud
    assert roles.client_as("admin").post(url(instance, "stop")).status_code == 202
    log_event("instance_stop_succeeded", "stopped", user=admin, customer=roles.customer, project=roles.project,
              resource=instance)  # fmt: skip
    other = factories.ProjectFactory()
    log_event("instance_start_scheduled", "elsewhere", customer=other.customer, project=other)
    return instance


def test_events_list_matrix(logged, roles):
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get("/api/events/"))
    assert responses["anonymous"].json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner"):
        body = responses[role].json()
        assert [e["event_type"] for e in body] == ["instance_stop_succeeded", "instance_stop_scheduled"], role
        assert set(body[0]) == FIELDS
    assert len(responses["staff"].json()) == 3


def test_instance_events_matrix(logged, roles):
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url(logged, "events")))
    assert responses["stranger"].json() == {"detail": "Not found.", "code": "not_found"}
    for role in ("manager", "admin", "owner", "staff"):
        body = responses[role].json()
        assert [e["event_type"] for e in body] == ["instance_stop_succeeded", "instance_stop_scheduled"], role
        assert {e["resource_uuid"] for e in body} == {str(logged.uuid)}
    assert responses["manager"]["X-Result-Count"] == "2"


def test_event_retrieve_matrix(logged, roles):
    event = Event.objects.get(event_type="instance_stop_succeeded")
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(f"/api/events/{event.uuid}/"))
    assert responses["owner"].json()["context"]["instance_uuid"] == str(logged.uuid)


def test_events_are_read_only(logged, roles):
    event = Event.objects.first()
    client = roles.client_as("staff")
    assert client.post("/api/events/", {"event_type": "x", "message": "y"}).status_code == 405
    assert client.delete(f"/api/events/{event.uuid}/").status_code == 405
    assert client.post(url(logged, "events")).status_code == 405


def test_events_filters(logged, roles, iaas):
    client = roles.client_as("staff")

    def event_types(query):
        response = client.get(f"/api/events/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(e["event_type"] for e in response.json())

    mine = ["instance_stop_scheduled", "instance_stop_succeeded"]
    assert event_types(f"resource_uuid={logged.uuid}") == mine
    assert event_types(f"project={roles.project.uuid}") == mine
    assert event_types(f"customer={roles.customer.uuid.hex}") == mine
    assert event_types("event_type=instance_stop") == mine
    assert event_types("event_type=instance_stop_succeeded") == ["instance_stop_succeeded"]
    assert event_types("event_type=instance_start") == ["instance_start_scheduled"]
    assert event_types("resource_type=instance") == mine
    assert event_types(f"project={factories.ProjectFactory().uuid}") == []
    assert client.get("/api/events/?resource_uuid=junk").status_code == 400
    assert client.get("/api/events/?customer=junk").status_code == 400
    # the per-instance history filters and orders like the common list
    path = url(logged, "events")
    assert [e["event_type"] for e in client.get(f"{path}?event_type=instance_stop_succ").json()] == [
        "instance_stop_succeeded"
    ]
    assert [e["event_type"] for e in client.get(f"{path}?o=created").json()] == [
        "instance_stop_scheduled", "instance_stop_succeeded"
    ]  # fmt: skip
    assert client.get(f"{path}?level=error").json() == []
    assert client.get(f"{path}?created_after=junk").status_code == 400
    assert client.get(f"{path}?o=hostname").status_code == 200  # unknown orderings are ignored, never a 500


def test_filters_never_widen_visibility(logged, roles):
    other = Event.objects.get(message="elsewhere")
    client = roles.client_as("owner")
    assert client.get(f"/api/events/?project={other.project.uuid}").json() == []
    assert client.get(f"/api/events/?customer={other.customer.uuid}").json() == []
    assert client.get(f"/api/events/{other.uuid}/").status_code == 404


def test_revoked_member_stops_seeing_events(logged, roles):
    roles.users["manager"].project_permissions.all().delete()
    assert roles.client_as("manager").get("/api/events/").json() == []
    assert roles.client_as("manager").get(url(logged, "events")).status_code == 404


def _count(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.json()
    return len(ctx), len(response.json())


def test_events_query_counts_are_constant(iaas, roles):
    instance = make_instance(iaas)
    other = make_instance(iaas, cloud_project_membership=CloudProjectMembership.objects.create(
        project=factories.ProjectFactory(customer=roles.customer), cloud=iaas.cloud, tenant_id="x"))  # fmt: skip
    for n in range(105):
        for vm in (instance, other):
            project = vm.cloud_project_membership.project
            user = roles.users["admin"] if n % 2 else None
            log_event(f"instance_e{n}", "m", user=user, customer=roles.customer, project=project, resource=vm)
    counts = {}
    for role in ("staff", "owner", "admin"):
        client = roles.client_as(role)
        for path in ("/api/events/", url(instance, "events")):
            for size in (1, 100):
                queries, length = _count(client, f"{path}?page_size={size}")
                assert length == size
                counts[role, path.split("/")[2], size] = queries
    # COUNT and the page (users joined); the per-instance list first looks the instance up.
    expected = {}
    for role in ("staff", "owner", "admin"):
        for size in (1, 100):
            expected[role, "events", size] = 2
            expected[role, "instances", size] = 3
    assert counts == expected, counts


@pytest.mark.parametrize("value", ["0998-07-18T09:23:52+18:02", "2026-01-01T00:00:00-15:00"])
def test_time_filters_accept_any_iso_offset(roles, value):
    response = roles.client_as("staff").get("/api/events/", {"created_after": value, "created_before": value})
    assert response.status_code == 200 and response.data == []


def test_a_date_that_overflows_in_utc_is_a_400(roles):
    response = roles.client_as("staff").get("/api/events/", {"created_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400 and "created_after" in response.data


@pytest.mark.parametrize("order, expected", [
    ("event_type", ["instance_stop_scheduled", "instance_stop_succeeded"]),
    ("-event_type", ["instance_stop_succeeded", "instance_stop_scheduled"]),
])  # fmt: skip
def test_instance_events_order_by_an_event_field(logged, roles, order, expected):
    """?o= orders the events; it is no instance field, so it must not touch the instance's own lookup (a 500)."""
    response = roles.client_as("admin").get(url(logged, "events"), {"o": order})
    assert response.status_code == 200, response.content
    assert [e["event_type"] for e in response.json()] == expected


def test_instance_events_of_a_malformed_uuid_are_a_404(roles):
    response = roles.client_as("admin").get("/api/instances/not-a-uuid/events/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found.", "code": "not_found"}
