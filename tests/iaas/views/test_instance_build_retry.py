"""POST /api/instances/ when Nova fails the build with its transient "Exceeded maximum number of retries" fault
(on mini-openstack, a Neutron 500 during the port binding): one retry on the same volumes, shown in the plan and the
progress; a second failure ends Erred with both faults and leaves nothing in the cloud; any other fault is final."""

import time

import pytest
from neutronclient.v2_0 import client as neutron_client

from nodeconductor.events.models import Event
from nodeconductor.iaas.backend.networking import port_name
from nodeconductor.iaas.backend.session import get_session
from nodeconductor.iaas.engine import operations, poller
from nodeconductor.iaas.engine.operation_table import PROVISION
from nodeconductor.iaas.models import CloudProjectMembership, InstanceState
from tests.fixtures.iaas import build_iaas
from tests.fixtures.roles import check_matrix
from tests.iaas.steps import advance
from tests.iaas.test_instance_plans import assert_plan_matches, cloud_writes, dry
from tests.iaas.views.test_instances import create_body, provision, url

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState
TRANSIENT = "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance"
REBUILD, REBUILT = (PROVISION.phase_table()[name] for name in ("rebuild", "rebuilt"))


def fail_builds(sim, times=1):
    """Make the next `times` builds fail as Nova's does on mini-openstack when Neutron's transient 500 hits them."""
    sim.fail_next("compute.server_create", times=times, mode="retries_exhausted")


def calls(sim, operation):
    """The paths of the simulator's calls of `operation`, in order."""
    return [c["path"] for c in sim.call_log if c["operation"] == operation]


def last_id(path):
    """The last id of a call's path, e.g. the server of DELETE /servers/<id>."""
    return path.rstrip("/").rsplit("/", 1)[1]


@pytest.fixture
def tenant_iaas(roles, sim_env, settings):
    """A ready cloud and membership on the simulator, its instances on ports of the tenant network."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}
    return build_iaas(roles, sim_env)


@pytest.mark.parametrize("networking", ["none", "tenant"])
def test_one_transient_failure_is_built_again_on_the_same_volumes_and_ends_online(networking, roles, request):
    iaas = request.getfixturevalue("iaas" if networking == "none" else "tenant_iaas")
    sim = iaas.env.sim
    fail_builds(sim)
    instance = provision(iaas, roles)

    assert instance.state == S.ONLINE, instance.error_message
    assert len(calls(sim, "compute.server_create")) == 2 and len(calls(sim, "volume.create")) == 2
    (deleted,) = calls(sim, "compute.server_delete")
    first = deleted.split("/servers/")[1]
    assert first != instance.backend_id
    # The failed server's volumes were kept (2.85 attachment updates) before it was deleted, and are the new one's.
    updates = calls(sim, "compute.volume_attachment_update")
    assert [(p.split("/servers/")[1].split("/")[0], last_id(p)) for p in updates] == [
        (first, instance.system_volume_id), (first, instance.data_volume_id)]  # fmt: skip
    (server,) = sim.servers()
    assert (server["id"], server["status"]) == (instance.backend_id, "ACTIVE")
    assert {b["volume_id"]: b["delete_on_termination"] for b in server["bdms"]} == {
        instance.system_volume_id: True, instance.data_volume_id: True}  # fmt: skip
    volumes = {v["id"]: v for v in sim.volumes()}
    assert set(volumes) == {instance.system_volume_id, instance.data_volume_id}
    assert all(v["status"] == "in-use" and v["attachments"][0]["server_id"] == instance.backend_id
               for v in volumes.values())  # fmt: skip
    if networking == "tenant":
        (port,) = [p for p in sim.networking()["ports"] if p["name"] == port_name(instance)]
        assert (port["id"], port["device_id"]) == (instance.port_id, instance.backend_id)
    # The instance's history says that the build was retried, and why.
    steps = list(Event.objects.filter(resource_uuid=instance.uuid, event_type="instance_provision_step_done")
                 .order_by("created").values_list("context__step", flat=True))  # fmt: skip
    assert steps[-2:] == [REBUILD, REBUILT] and "Exceeded maximum number of retries" in REBUILD
    assert Event.objects.filter(resource_uuid=instance.uuid, event_type="instance_provision_succeeded").exists()


def test_a_second_failure_ends_erred_with_both_faults_and_leaves_nothing_in_the_cloud(tenant_iaas, roles):
    sim = tenant_iaas.env.sim
    fail_builds(sim, times=2)
    instance = provision(tenant_iaas, roles)

    assert instance.state == S.ERRED
    assert instance.error_message.count(TRANSIENT) == 2, instance.error_message
    assert instance.error_message.startswith("The server went to ERROR in the cloud again, after one retry: ")
    assert "(the first build failed with: Exceeded maximum number of retries." in instance.error_message
    first, second = (last_id(p) for p in calls(sim, "compute.server_delete"))
    assert f"for instance {second}." in instance.error_message.split("(the first build")[0]
    assert f"for instance {first}.)" in instance.error_message
    assert len(calls(sim, "compute.server_create")) == 2
    assert sim.servers() == [] and sim.volumes() == []
    assert [p for p in sim.networking()["ports"] if p["name"] == port_name(instance)] == []
    failed = Event.objects.get(resource_uuid=instance.uuid, event_type="instance_provision_failed")
    assert failed.message.count(TRANSIENT) == 2
    shown = roles.client_as("admin").get(url(instance)).json()
    assert (shown["operation"]["state"], shown["operation"]["step"]) == ("failed", REBUILT)
    assert shown["operation"]["failure"] == instance.error_message


@pytest.fixture
def unbindable(iaas_any, settings):
    """Builds that Nova fails twice with its retries exhausted. On the simulator, two faults armed; on the real cloud,
    the membership's network swapped for an admin-made flat network on a physical network that no host maps
    (physnet9): Nova cannot bind a port there, reschedules, and on mini-openstack's one host runs out of hosts."""
    env = iaas_any.env
    if env.sim is not None:
        fail_builds(env.sim, times=2)
        yield iaas_any
        return
    admin = neutron_client.Client(session=get_session(env.credentials))
    network = admin.create_network({"network": {"name": "nc-test-unbindable", "tenant_id": env.tenant_id,
                                                "provider:network_type": "flat",
                                                "provider:physical_network": "physnet9"}})["network"]  # fmt: skip
    try:
        admin.create_subnet({"subnet": {"network_id": network["id"], "ip_version": 4, "cidr": "10.99.0.0/24",
                                        "tenant_id": env.tenant_id}})  # fmt: skip
        settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}
        CloudProjectMembership.objects.filter(pk=iaas_any.membership.pk).update(
            networking="internal_only", network_id=network["id"])  # fmt: skip
        yield iaas_any
    finally:
        for port in admin.list_ports(network_id=network["id"])["ports"]:  # a failed test's port
            admin.delete_port(port["id"])
        admin.delete_network(network["id"])


def test_a_build_that_nova_fails_twice_ends_erred_with_both_faults_on_each_cloud(unbindable, roles):
    instance = provision(unbindable, roles)

    assert instance.state == S.ERRED
    assert instance.error_message.count(TRANSIENT) == 2, instance.error_message
    assert "(the first build failed with: Exceeded maximum number of retries." in instance.error_message
    backend = unbindable.cloud.get_backend()
    tenant = unbindable.membership.tenant_id
    ours = backend.list_ours(tenant)
    assert [r for r in ours["servers"] + ours["volumes"] if r["owner"] == str(instance.uuid)] == []
    assert backend.find_port_ids(tenant, port_name(instance)) == []
    assert not any(v.name.startswith(f"nc-{instance.uuid.hex}") for v in backend.cinder(tenant).volumes.list())


def test_another_error_fault_is_final_with_no_retry(iaas, roles):
    sim = iaas.env.sim
    sim.fail_next("compute.server_create", mode="error_state")
    instance = provision(iaas, roles)

    assert instance.state == S.ERRED
    assert instance.error_message.startswith("The server went to ERROR in the cloud: Build of instance")
    assert "Exceeded maximum number of retries" not in instance.error_message
    assert len(calls(sim, "compute.server_create")) == 1
    assert calls(sim, "compute.volume_attachment_update") == []
    assert sim.servers() == [] and sim.volumes() == []
    shown = roles.client_as("admin").get(url(instance)).json()
    assert shown["operation"]["step"] == "wait for the server to be ACTIVE"
    assert shown["operation"]["steps_total"] == 3  # the retry's phases never happened


def test_a_refused_volume_update_fails_with_novas_fault_and_cleans_up(iaas, roles):
    """A cloud that cannot keep the volumes (no 2.85) says so after Nova's own fault; nothing is left."""
    sim = iaas.env.sim
    fail_builds(sim)
    sim.fail_next("compute.volume_attachment_update", status=406, message="Version 2.85 is not supported by the API.")
    instance = provision(iaas, roles)

    assert instance.state == S.ERRED
    assert instance.error_message.startswith(f"The server went to ERROR in the cloud: {TRANSIENT}")
    assert "It was not built again: keep volume" in instance.error_message
    assert "Version 2.85 is not supported by the API." in instance.error_message
    assert len(calls(sim, "compute.server_create")) == 1
    assert sim.servers() == [] and sim.volumes() == []


# The plan and the progress


def test_the_create_plan_shows_the_retry_and_a_retried_build_does_what_it_says(iaas, roles):
    plan = dry(roles.client_as("admin"), "/api/instances/", create_body(iaas)).json()
    retry, retried = plan["steps"][3:]
    assert (retry["step"], retry["phase"], retry["does"]) == (4, "rebuild", REBUILD)
    assert REBUILD.startswith("only when Nova failed the build with 'Exceeded maximum number of retries'")
    condition = "Nova failed the build with 'Exceeded maximum number of retries' (the first time only)"
    assert retry["actions"][:5] == [
        {"call": "nova volumes.update_server_volume (the failed server) (new root volume) "
                 "delete_on_termination=False (microversion 2.85)", "if": condition},
        {"call": "nova volumes.update_server_volume (the failed server) (new data volume) "
                 "delete_on_termination=False (microversion 2.85)", "if": condition},
        {"call": "nova servers.delete (the failed server)", "if": condition},
        {"wait": "the failed server → gone"},
        {"wait": "root volume and data volume → available"},
    ]  # fmt: skip
    assert retry["actions"][-1]["call"] == plan["steps"][1]["actions"][-1]["call"]  # the same boot
    assert retry["actions"][-1]["if"] == condition
    assert (retried["phase"], retried["does"]) == ("rebuilt", REBUILT)
    assert retried["actions"] == [{"wait": "server → ACTIVE"}]
    assert plan["on_failure"]["steps"][0]["does"] == "delete the server"

    fail_builds(iaas.env.sim)
    iaas.env.sim.clear_call_log()
    instance = provision(iaas, roles)
    assert instance.state == S.ONLINE, instance.error_message
    assert_plan_matches(plan, cloud_writes(iaas.env.sim))


@pytest.mark.django_db(transaction=False)  # the create's task is not run on commit: the test runs its steps
def test_the_progress_shows_the_retry_to_everyone_who_sees_the_instance(iaas, roles):
    fail_builds(iaas.env.sim)
    client = roles.client_as("admin")
    body = client.post("/api/instances/", create_body(iaas), format="json").json()
    shown, deadline = [], time.monotonic() + 60
    while True:
        outcome = advance(operations.PROVISION, body["uuid"])
        operation = client.get(f"/api/instances/{body['uuid']}/").json()["operation"]
        if operation is None:
            break
        shown.append(operation)
        if operation["step"] == REBUILD:
            matrix = check_matrix(
                roles, {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200},
                lambda c, r: c.get(f"/api/instances/{body['uuid']}/"))  # fmt: skip
            assert all(matrix[r].json()["operation"]["step"] == REBUILD for r in ("manager", "owner", "staff"))
        assert time.monotonic() < deadline, shown[-3:]
        time.sleep(outcome.retry_after)
    assert client.get(f"/api/instances/{body['uuid']}/").json()["state"] == "Online"
    before = [o for o in shown if o["steps_total"] == 3]
    during = [o for o in shown if o["steps_total"] == 5]
    assert before and during and shown.index(during[0]) == len(before), "the retry's phases appear once it began"
    assert [o["steps_done"] for o in shown] == sorted(o["steps_done"] for o in shown)
    rebuild = [o for o in during if o["step"] == REBUILD]
    assert rebuild[0]["steps_done"] == 3 and TRANSIENT in rebuild[0]["waiting_for"]
    assert any(o["waiting_for"].startswith("the failed server ") for o in rebuild)
    assert during[-1]["step"] == REBUILT and during[-1]["steps_done"] == 4


@pytest.mark.django_db(transaction=False)  # the test is the worker and the poller
def test_the_tenant_poller_retries_the_build_from_its_listing(iaas, roles):
    fail_builds(iaas.env.sim)
    client = roles.client_as("admin")
    uuid = client.post("/api/instances/", create_body(iaas), format="json").json()["uuid"]
    assert not advance(operations.PROVISION, uuid).finished  # the worker asks for the volumes; the rest polls
    deadline = time.monotonic() + 60
    while (result := poller.tick(iaas.membership.pk)).remaining:
        assert time.monotonic() < deadline
        time.sleep(result.next_in)
    shown = client.get(f"/api/instances/{uuid}/").json()
    assert shown["state"] == "Online", shown["error_message"]
    assert len(calls(iaas.env.sim, "compute.server_create")) == 2
    assert [s["id"] for s in iaas.env.sim.servers()] == [shown["backend_id"]]
    assert {v["id"] for v in iaas.env.sim.volumes()} == {shown["system_volume_id"], shown["data_volume_id"]}
