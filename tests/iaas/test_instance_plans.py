"""Dry runs (?dry_run=true): checked as the real request, printed from the operation table, with no write.

The fidelity tests run each operation for real against the simulator and compare the cloud writes of its call
log with the calls its plan printed: the plan cannot drift from what the workers do.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.events.models import Event
from nodeconductor.iaas.models import Flavor, Instance, InstanceState
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import create_body, make_instance, provision, run_tasks, stop, url

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState

# Which simulator operation each client call of the operation table is (the test's knowledge of the sim).
SIM_OPERATION = {
    "cinder volumes.create": "volume.create",
    "cinder volumes.extend": "volume.extend",
    "cinder volumes.delete": "volume.delete",
    "nova keypairs.create": "compute.keypair_create",
    "nova servers.create": "compute.server_create",
    "nova servers.stop": "compute.server_stop",
    "nova servers.start": "compute.server_start",
    "nova servers.reboot": "compute.server_reboot",
    "nova servers.resize": "compute.server_resize",
    "nova servers.confirm_resize": "compute.server_confirm_resize",
    "nova servers.delete": "compute.server_delete",
    "nova volumes.delete_server_volume": "compute.volume_detach",
    "nova volumes.create_server_volume": "compute.volume_attach",
    "nova volumes.update_server_volume": "compute.volume_attachment_update",
    "neutron create_port": "network.port_create",
    "neutron add_tag": "network.tag_add",
    "neutron delete_port": "network.port_delete",
    "neutron create_floatingip": "network.floatingip_create",
    "neutron update_floatingip": "network.floatingip_update",
    "neutron replace_tag": "network.tag_replace",
    "neutron delete_floatingip": "network.floatingip_delete",
}
WRITES = ("POST", "PUT", "DELETE", "PATCH")


def cloud_writes(sim):
    """The writes the simulator saw, in order, as operation names (token requests are not work)."""
    return [c["operation"] for c in sim.call_log if c["method"] in WRITES and not c["operation"].startswith(
        ("identity.", "sim."))]  # fmt: skip


def planned_calls(plan):
    """(sim operation, optional) of every call of the plan, in order."""
    return [
        (SIM_OPERATION[item["call"].split(" ")[0] + " " + item["call"].split(" ")[1]], "if" in item)
        for step in plan["steps"]
        for item in step["actions"]
        if "call" in item
    ]


def assert_plan_matches(plan, writes):
    """Every call of the plan was made in its order, none other; an "if" call may be skipped."""
    remaining = list(writes)
    for operation, optional in planned_calls(plan):
        if remaining and remaining[0] == operation:
            remaining.pop(0)
        else:
            assert optional, f"the plan's call {operation} was not made; the cloud saw {writes}"
    assert not remaining, f"calls the plan did not list: {remaining} (plan {planned_calls(plan)})"


def dry(client, path, body=None, method="post"):
    """A dry-run request of `path`."""
    return getattr(client, method)(f"{path}?dry_run=true", body, format="json")


class NoWrites:
    """Asserts that the block wrote no row, logged no event, enqueued nothing and made no cloud call."""

    def __init__(self, sim, django_capture_on_commit_callbacks):
        self.sim, self.capture = sim, django_capture_on_commit_callbacks

    def __enter__(self):
        self.calls = len(self.sim.call_log)
        self.events, self.instances = Event.objects.count(), list(Instance.objects.values())
        self.queries = CaptureQueriesContext(connection).__enter__()
        self.callbacks = self.capture(execute=False).__enter__()
        return self

    def __exit__(self, *exc):
        self.queries.__exit__(*exc)
        written = [q["sql"] for q in self.queries.captured_queries
                   if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]  # fmt: skip
        assert written == []
        assert self.callbacks == [], "a dry run enqueued work"
        assert len(self.sim.call_log) == self.calls, "a dry run called the cloud"
        assert Event.objects.count() == self.events
        assert list(Instance.objects.values()) == self.instances


# Create -----------------------------------------------------------------------------------------------
def test_a_create_plan_prints_the_calls_waits_quota_and_states_and_does_nothing(
    iaas, roles, django_capture_on_commit_callbacks
):
    client = roles.client_as("admin")
    with NoWrites(iaas.env.sim, django_capture_on_commit_callbacks):
        response = dry(client, "/api/instances/", create_body(iaas))
    assert response.status_code == 200, response.json()
    plan = response.json()
    assert plan["operation"] == "provision" and plan["dry_run"] is True
    assert plan["state_path"] == ["Provisioning Scheduled", "Provisioning", "Online"]
    image = iaas.template.images.get(cloud=iaas.cloud)
    # Then the retry after Nova's transient build failure, which only that failure brings about
    # (test_instance_build_retry.py).
    first, second, third, *retry = plan["steps"]
    assert [step["phase"] for step in retry] == ["rebuild", "rebuilt"]
    assert first == {
        "step": 1, "phase": "", "does": "create the root volume from the image, the empty data volume and the port",
        "actions": [
            {"call": f"cinder volumes.create size=1 GiB imageRef={image.backend_id} name=nc-<new instance uuid>"
                     "-system"},
            {"call": "cinder volumes.create size=1 GiB name=nc-<new instance uuid>-data"},
        ],
    }  # fmt: skip
    assert second["actions"][0] == {"wait": "root volume and data volume → available"}
    assert second["actions"][1]["call"].startswith(f"nova keypairs.create nc-{iaas.key.uuid.hex}")
    assert second["actions"][2]["call"].startswith(f"nova servers.create name=web-1 flavor={iaas.flavor.backend_id}")
    assert third == {"step": 3, "phase": "server", "does": "wait for the server to be ACTIVE",
                     "actions": [{"wait": "server → ACTIVE"}]}  # fmt: skip
    assert [s["does"] for s in plan["on_failure"]["steps"]][0] == "delete the server"
    assert plan["on_failure"]["state_path"] == ["Provisioning", "Erred"]
    assert plan["quota"]["vcpu"] == {"limit": iaas.membership.quota_vcpu, "usage": 0, "change": iaas.flavor.cores,
                                     "after": iaas.flavor.cores, "unit": "cores"}  # fmt: skip
    assert plan["quota"]["storage"]["change"] == 2048 and plan["quota"]["storage"]["unit"] == "MiB"
    assert plan["quota"]["max_instances"]["after"] == 1


def test_the_create_plan_is_what_the_worker_then_does_in_the_cloud(iaas, roles):
    client = roles.client_as("admin")
    plan = dry(client, "/api/instances/", create_body(iaas)).json()
    iaas.env.sim.clear_call_log()
    instance = provision(iaas, roles)
    assert instance.state == S.ONLINE, instance.error_message
    assert_plan_matches(plan, cloud_writes(iaas.env.sim))
    # Its steps are the ones the instance's progress counted, but for the retry's, which did not happen.
    assert len([step for step in plan["steps"] if step["phase"] not in ("rebuild", "rebuilt")]) == 3


def test_a_create_dry_run_is_refused_exactly_as_the_create(iaas, roles):
    """Bad input, a reader's 403 and a quota's 400 answer the dry run and the real request alike."""
    cases = [
        ("admin", create_body(iaas, hostname="")),
        ("admin", create_body(iaas, data_volume_size=1)),
        ("admin", create_body(iaas, template="http://testserver/api/iaas-templates/00000000000000000000000000000000/")),
        ("manager", create_body(iaas)),
        ("stranger", create_body(iaas)),
    ]
    for role, body in cases:
        real = roles.client_as(role).post("/api/instances/", body, format="json")
        planned = dry(roles.client_as(role), "/api/instances/", body)
        assert (planned.status_code, planned.json()) == (real.status_code, real.json()), (role, body)
        assert real.status_code in (400, 403), real.json()
    assert Instance.objects.count() == 0


def test_a_create_dry_run_over_quota_is_the_same_400(iaas, roles):
    iaas.membership.quota_max_instances = 0
    iaas.membership.save()
    planned = dry(roles.client_as("admin"), "/api/instances/", create_body(iaas))
    real = roles.client_as("admin").post("/api/instances/", create_body(iaas), format="json")
    assert planned.status_code == real.status_code == 400
    assert planned.json() == real.json()
    assert planned.json()["code"] == "quota_exceeded"
    assert "instances: 0 in use + 1 requested > limit 0" in planned.json()["non_field_errors"][0]


def test_dry_run_takes_only_a_boolean(iaas, roles):
    response = roles.client_as("admin").post("/api/instances/?dry_run=maybe", create_body(iaas), format="json")
    assert response.status_code == 400
    assert response.json() == {"dry_run": ["Must be true or false, not 'maybe'."], "code": "invalid"}
    assert Instance.objects.count() == 0
    off = roles.client_as("admin").post("/api/instances/?dry_run=false", create_body(iaas), format="json")
    assert off.status_code == 201 and Instance.objects.filter(uuid=off.json()["uuid"]).exists()


def test_create_dry_run_matrix(iaas, roles):
    check_matrix(
        roles,
        {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 200, "owner": 403, "staff": 200},
        lambda client, role: dry(client, "/api/instances/", create_body(iaas)),
    )
    assert Instance.objects.count() == 0


# Actions ----------------------------------------------------------------------------------------------
def test_resize_plans_name_the_server_and_volume_and_change_only_what_they_say(
    iaas, roles, django_capture_on_commit_callbacks
):
    instance = stop(iaas, roles, provision(iaas, roles))
    bigger = Flavor.objects.filter(cloud=iaas.cloud, cores__gt=instance.cores).order_by("cores").first()
    client = roles.client_as("admin")
    with NoWrites(iaas.env.sim, django_capture_on_commit_callbacks):
        flavor_plan = dry(client, url(instance, "resize"), {"flavor": f"http://testserver/api/flavors/{bigger.uuid.hex}/"})
        disk_plan = dry(client, url(instance, "resize"), {"disk_size": 3000})
    assert flavor_plan.status_code == 200, flavor_plan.json()
    flavor_plan = flavor_plan.json()
    assert flavor_plan["operation"] == "resize_flavor"
    assert flavor_plan["state_path"] == ["Resizing Scheduled", "Resizing", "Offline"]
    assert flavor_plan["steps"][0]["actions"] == [
        {"call": f"nova servers.resize {instance.backend_id} flavor={bigger.backend_id}"}]
    assert flavor_plan["steps"][1]["actions"] == [
        {"wait": f"server {instance.backend_id} → VERIFY_RESIZE"},
        {"call": f"nova servers.confirm_resize {instance.backend_id}"}]  # fmt: skip
    assert flavor_plan["quota"]["vcpu"]["change"] == bigger.cores - instance.cores
    assert flavor_plan["quota"]["ram"]["after"] == bigger.ram
    assert flavor_plan["quota"]["storage"]["change"] == 0
    disk_plan = disk_plan.json()
    assert disk_plan["operation"] == "resize_disk"
    calls = [a["call"] for s in disk_plan["steps"] for a in s["actions"] if "call" in a]
    assert calls == [
        f"nova volumes.delete_server_volume {instance.backend_id} {instance.data_volume_id}",
        f"cinder volumes.extend {instance.data_volume_id} new_size=3 GiB",
        f"nova volumes.create_server_volume {instance.backend_id} {instance.data_volume_id}",
    ]
    assert disk_plan["quota"]["storage"] == {
        "limit": iaas.membership.quota_storage, "usage": 2048, "change": 3000 - 1024, "after": 2048 + 3000 - 1024,
        "unit": "MiB"}  # fmt: skip
    instance.refresh_from_db()
    assert (instance.state, instance.pending_cores, instance.pending_data_volume_size) == (S.OFFLINE, None, None)


@pytest.mark.parametrize("body", [{"disk_size": 3000}, "flavor"])
def test_each_resize_plan_is_what_the_worker_then_does(iaas, roles, body):
    instance = stop(iaas, roles, provision(iaas, roles))
    if body == "flavor":
        bigger = Flavor.objects.filter(cloud=iaas.cloud, cores__gt=instance.cores).order_by("cores").first()
        body = {"flavor": f"http://testserver/api/flavors/{bigger.uuid.hex}/"}
    client = roles.client_as("admin")
    plan = dry(client, url(instance, "resize"), body).json()
    iaas.env.sim.clear_call_log()
    with run_tasks():
        assert client.post(url(instance, "resize"), body, format="json").status_code == 202
    instance.refresh_from_db()
    assert instance.state == S.OFFLINE, instance.error_message
    assert_plan_matches(plan, cloud_writes(iaas.env.sim))


def test_power_and_delete_plans_are_what_the_worker_then_does(iaas, roles):
    instance = provision(iaas, roles)
    client = roles.client_as("admin")
    for action, end in (("stop", S.OFFLINE), ("start", S.ONLINE), ("restart", S.ONLINE), ("stop", S.OFFLINE)):
        plan = dry(client, url(instance, action)).json()
        assert plan["operation"] == action
        iaas.env.sim.clear_call_log()
        with run_tasks():
            assert client.post(url(instance, action)).status_code == 202
        instance.refresh_from_db()
        assert instance.state == end, instance.error_message
        assert_plan_matches(plan, cloud_writes(iaas.env.sim))
    plan = dry(client, url(instance), method="delete").json()
    assert plan["state_path"] == ["Deletion Scheduled", "Deleting", "(deleted)"]
    assert plan["quota"]["max_instances"] == {"limit": iaas.membership.quota_max_instances, "usage": 1,
                                              "change": -1, "after": 0, "unit": "instances"}  # fmt: skip
    iaas.env.sim.clear_call_log()
    with run_tasks():
        assert client.delete(url(instance)).status_code == 202
    assert not Instance.objects.filter(pk=instance.pk).exists()
    assert_plan_matches(plan, cloud_writes(iaas.env.sim))


def test_an_action_dry_run_answers_the_same_409_and_403(iaas, roles):
    online = make_instance(iaas, S.ONLINE)
    for role, method, path, body in (
        ("admin", "post", url(online, "resize"), {"disk_size": 4096}),
        ("admin", "delete", url(online), None),
        ("admin", "post", url(online, "start"), None),
        ("manager", "post", url(online, "stop"), None),
        ("owner", "post", url(online, "restart"), None),
        ("stranger", "post", url(online, "stop"), None),
    ):
        planned = dry(roles.client_as(role), path, body, method=method)
        real = getattr(roles.client_as(role), method)(path, body, format="json")
        assert (planned.status_code, planned.json()) == (real.status_code, real.json()), (role, path)
        assert real.status_code in (403, 404, 409)
    online.refresh_from_db()
    assert online.state == S.ONLINE


def test_a_resize_dry_run_over_quota_is_the_same_400(iaas, roles):
    offline = make_instance(iaas, S.OFFLINE)
    iaas.membership.quota_storage = 3000
    iaas.membership.save()
    planned = dry(roles.client_as("admin"), url(offline, "resize"), {"disk_size": 4096})
    real = roles.client_as("admin").post(url(offline, "resize"), {"disk_size": 4096}, format="json")
    assert planned.status_code == real.status_code == 400
    assert planned.json() == real.json() and planned.json()["code"] == "quota_exceeded"


@pytest.mark.parametrize("action", ["stop", "resize", "delete"])
def test_action_dry_run_matrix(iaas, roles, action):
    state = S.ONLINE if action == "stop" else S.OFFLINE
    instance = make_instance(iaas, state)
    method = "delete" if action == "delete" else "post"
    path = url(instance) if action == "delete" else url(instance, action)
    body = {"disk_size": 4096} if action == "resize" else None
    responses = check_matrix(
        roles,
        {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 200, "owner": 403, "staff": 200},
        lambda client, role: dry(client, path, body, method=method),
    )
    assert responses["admin"].json()["operation"] == {"stop": "stop", "resize": "resize_disk", "delete": "delete"}[
        action]  # fmt: skip
    assert responses["manager"].json()["code"] == "permission_denied"
    instance.refresh_from_db()
    assert instance.state == state
