"""REST API of instance actions: start, stop, restart and resize (flavor, disk), and a quota leak scenario."""

import pytest
from django.urls import reverse

from nodeconductor.iaas.models import CloudProjectMembership, Instance, InstanceState
from nodeconductor.iaas.services import instances as instance_services
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import (
    instance_ids,
    link,
    make_instance,
    other_membership,
    provision,
    run_tasks,
    sim_ids,
    stop,
    url,
)

S = InstanceState
NOT_ADMIN = {"detail": "Only project administrators and staff operate instances.", "code": "permission_denied"}

# action -> (state it needs, state it schedules, 409 message prefix)
POWER = {
    "start": (S.OFFLINE, S.STARTING_SCHEDULED, "Only an Offline instance can be started"),
    "stop": (S.ONLINE, S.STOPPING_SCHEDULED, "Only an Online instance can be stopped"),
    "restart": (S.ONLINE, S.RESTARTING_SCHEDULED, "Only an Online instance can be restarted"),
}


@pytest.mark.parametrize("action", POWER)
def test_power_action_matrix(iaas, roles, action):
    needed, scheduled, _ = POWER[action]
    instances = {role: make_instance(iaas, needed, hostname=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(
        roles, expected, lambda c, r: c.post(url(instances.get(r, instances["manager"]), action))
    )
    assert responses["admin"].json() == responses["staff"].json() == {"status": f"{action} was scheduled"}
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    assert responses["stranger"].json() == {"detail": "Not found.", "code": "not_found"}
    states = {i.hostname: i.state for i in Instance.objects.all()}
    assert states == {"admin": scheduled, "staff": scheduled, "manager": needed}
    shown = roles.client_as("manager").get(url(instances["admin"])).json()["state"]
    assert shown == S(scheduled).label


@pytest.mark.parametrize(
    "action,state",
    [
        (action, state)
        for action in POWER
        for state in (S.ONLINE, S.OFFLINE, S.ERRED, S.PROVISIONING_SCHEDULED, S.RESIZING)
        if state != POWER[action][0]
    ],
)
def test_power_action_from_a_wrong_state_is_409(iaas, roles, action, state):
    _, _, message = POWER[action]
    instance = make_instance(iaas, state)
    response = roles.client_as("admin").post(url(instance, action))
    assert response.status_code == 409
    assert response.json() == {"detail": f"{message}; the instance is {S(state).label}.", "code": "invalid_state"}
    instance.refresh_from_db()
    assert instance.state == state


def test_power_actions_run_against_the_cloud(iaas, roles):
    instance = provision(iaas, roles)
    sim = iaas.env.sim
    client = roles.client_as("admin")

    def act(action, end):
        with run_tasks():
            response = client.post(url(instance, action))
        assert response.status_code == 202 and response.json() == {"status": f"{action} was scheduled"}
        instance.refresh_from_db()
        assert instance.state == end, instance.error_message
        assert client.get(url(instance)).json()["state"] == S(end).label
        return sim.servers()[0]["status"]

    assert act("stop", S.OFFLINE) == "SHUTOFF"
    assert act("start", S.ONLINE) == "ACTIVE"
    before = sim.call_counts().get("compute.server_reboot", 0)
    assert act("restart", S.ONLINE) == "ACTIVE"
    assert sim.call_counts()["compute.server_reboot"] == before + 1
    assert act("stop", S.OFFLINE) == "SHUTOFF"


def test_failed_stop_ends_erred_with_the_clouds_message(iaas, roles):
    instance = provision(iaas, roles)
    iaas.env.sim.fail_next("compute.server_stop", status=409, message="Cannot 'stop' instance while it is locked")
    with run_tasks():
        assert roles.client_as("admin").post(url(instance, "stop")).status_code == 202
    body = roles.client_as("admin").get(url(instance)).json()
    assert body["state"] == "Erred" and "locked" in body["error_message"]


# Resize


def test_resize_matrix(iaas, roles):
    bigger = iaas.cloud.flavors.get(name="m1.small")
    instances = {role: make_instance(iaas, S.OFFLINE, hostname=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(
        roles,
        expected,
        lambda c, r: c.post(
            url(instances.get(r, instances["manager"]), "resize"), {"flavor": link("flavor", bigger)}, format="json"
        ),
    )
    assert responses["admin"].json() == {"status": "resize was scheduled"}
    assert responses["owner"].json() == NOT_ADMIN
    states = {i.hostname: (i.state, i.cores, i.ram) for i in Instance.objects.all()}
    # nothing changes before the cloud applied the new flavor
    assert states == {h: (S.RESIZING_SCHEDULED if h != "manager" else S.OFFLINE, 1, 512) for h in instances}


@pytest.mark.parametrize("state", [S.ONLINE, S.ERRED, S.STOPPING, S.RESIZING_SCHEDULED])
@pytest.mark.parametrize("change", ["flavor", "disk_size"])
def test_resize_needs_a_stopped_instance(iaas, roles, state, change):
    instance = make_instance(iaas, state)
    body = {"flavor": link("flavor", iaas.cloud.flavors.get(name="m1.small"))} if change == "flavor" else {
        "disk_size": 4096
    }
    response = roles.client_as("admin").post(url(instance, "resize"), body, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"The instance must be stopped (Offline) to be resized; the instance is {S(state).label}.",
        "code": "invalid_state",
    }


def _resize_400(iaas, roles, body, instance=None):
    """POST a resize expected to be refused with 400 and return its body; the instance stays Offline."""
    instance = instance or make_instance(iaas, S.OFFLINE)
    response = roles.client_as("admin").post(url(instance, "resize"), body, format="json")
    assert response.status_code == 400, response.content
    instance.refresh_from_db()
    assert instance.state == S.OFFLINE
    return response.json()


def _fields(body):
    """The fields a 400 body names, and its code."""
    return [key for key in body if key != "code"], body["code"]


EXACTLY_ONE = {"non_field_errors": ["Give exactly one of flavor or disk_size."], "code": "invalid"}


def test_resize_needs_exactly_one_change(iaas, roles):
    small = link("flavor", iaas.cloud.flavors.get(name="m1.small"))
    assert _resize_400(iaas, roles, {}) == EXACTLY_ONE
    assert _resize_400(iaas, roles, {"flavor": small, "disk_size": 4096}) == EXACTLY_ONE


def test_resize_rejects_bad_values(iaas, roles):
    missing = {"flavor": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}
    assert _resize_400(iaas, roles, {"flavor": "http://testserver/api/flavors/00000000000000000000000000000000/"}) == (
        missing
    )
    assert _fields(_resize_400(iaas, roles, {"flavor": 7})) == (["flavor"], "invalid")
    assert _fields(_resize_400(iaas, roles, {"disk_size": "lots"})) == (["disk_size"], "invalid")
    assert _fields(_resize_400(iaas, roles, {"disk_size": 0})) == (["disk_size"], "invalid")
    assert _fields(_resize_400(iaas, roles, {"disk_size": 10**15})) == (["disk_size"], "invalid")


def test_resize_to_a_flavor_of_another_cloud(iaas, roles):
    _, flavor = other_membership(iaas)
    assert _resize_400(iaas, roles, {"flavor": link("flavor", flavor)}) == {
        "flavor": ["The flavor belongs to another cloud than the instance."],
        "code": "invalid",
    }


def test_resize_to_the_same_flavor(iaas, roles):
    assert _resize_400(iaas, roles, {"flavor": link("flavor", iaas.flavor)}) == {
        "flavor": ["The instance already has this flavor."],
        "code": "invalid",
    }


@pytest.mark.parametrize("size", [1024, 1000])
def test_resize_disk_must_grow(iaas, roles, size):
    assert _resize_400(iaas, roles, {"disk_size": size}) == {
        "disk_size": ["Must be larger than the current data volume: 1024 MiB."],
        "code": "invalid",
    }


def test_resize_over_quota(iaas, roles):
    instance = make_instance(iaas, S.OFFLINE)
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_ram=1024, quota_storage=4096)
    bigger = link("flavor", iaas.cloud.flavors.get(name="m1.small"))
    assert _resize_400(iaas, roles, {"flavor": bigger}, instance) == {
        "non_field_errors": ["Quota exceeded in the project's tenant: MiB of RAM: 512 in use + 1536 requested > "
                             "limit 1024"],
        "code": "quota_exceeded",
    }  # fmt: skip
    assert _resize_400(iaas, roles, {"disk_size": 4096}, instance) == {
        "non_field_errors": ["Quota exceeded in the project's tenant: MiB of storage: 2048 in use + 3072 "
                             "requested > limit 4096"],
        "code": "quota_exceeded",
    }  # fmt: skip


def test_flavor_resize_runs_against_the_cloud(iaas, roles):
    instance = stop(iaas, roles, provision(iaas, roles))
    medium = iaas.cloud.flavors.get(name="m1.medium")
    volumes_before = sorted((v["id"], v["size"]) for v in iaas.env.sim.volumes())
    with run_tasks():
        response = roles.client_as("admin").post(url(instance, "resize"), {"flavor": link("flavor", medium)})
    assert response.status_code == 202, response.json()
    body = roles.client_as("admin").get(url(instance)).json()
    assert body["state"] == "Offline", body["error_message"]
    assert (body["cores"], body["ram"], body["flavor"]) == (2, 4096, link("flavor", medium))
    (server,) = iaas.env.sim.servers()
    assert server["flavor"]["id"] == medium.backend_id and server["status"] == "SHUTOFF"
    assert sorted((v["id"], v["size"]) for v in iaas.env.sim.volumes()) == volumes_before  # disks untouched
    assert instance_services.membership_usage(iaas.membership)["vcpu"] == 2


def test_failed_flavor_resize_keeps_the_old_flavor(iaas, roles):
    instance = stop(iaas, roles, provision(iaas, roles))
    iaas.env.sim.fail_next("compute.server_resize", status=400, message="No valid host for the new flavor")
    with run_tasks():
        response = roles.client_as("admin").post(
            url(instance, "resize"), {"flavor": link("flavor", iaas.cloud.flavors.get(name="m1.medium"))}
        )
    assert response.status_code == 202
    instance.refresh_from_db()
    assert instance.state == S.ERRED and "No valid host" in instance.error_message
    assert (instance.cores, instance.ram, instance.flavor) == (1, 512, iaas.flavor)
    assert iaas.env.sim.servers()[0]["flavor"]["id"] == iaas.flavor.backend_id


def test_disk_resize_runs_against_the_cloud(iaas, roles):
    instance = stop(iaas, roles, provision(iaas, roles))
    with run_tasks():
        response = roles.client_as("admin").post(url(instance, "resize"), {"disk_size": 3000}, format="json")
    assert response.status_code == 202 and response.json() == {"status": "resize was scheduled"}
    body = roles.client_as("admin").get(url(instance)).json()
    assert body["state"] == "Offline", body["error_message"]
    assert (body["data_volume_size"], body["system_volume_size"], body["cores"]) == (3000, 1024, 1)
    volumes = {v["id"]: v for v in iaas.env.sim.volumes()}
    assert volumes[instance.data_volume_id]["size"] == 3  # 3000 MiB rounds up to 3 GiB
    assert volumes[instance.data_volume_id]["status"] == "in-use"
    assert volumes[instance.system_volume_id]["size"] == 1


def test_failed_disk_extend_keeps_the_size_and_reattaches(iaas, roles):
    instance = stop(iaas, roles, provision(iaas, roles))
    iaas.env.sim.fail_next("volume.extend", status=413, message="VolumeSizeExceedsAvailableQuota")
    with run_tasks():
        assert roles.client_as("admin").post(url(instance, "resize"), {"disk_size": 4096}).status_code == 202
    instance.refresh_from_db()
    assert instance.state == S.ERRED and "VolumeSizeExceedsAvailableQuota" in instance.error_message
    assert instance.data_volume_size == 1024
    data = next(v for v in iaas.env.sim.volumes() if v["id"] == instance.data_volume_id)
    assert (data["size"], data["status"]) == (1, "in-use")


# Quotas never leak


def test_usage_equals_what_exists_after_a_busy_life(iaas, roles):
    sim = iaas.env.sim
    client = roles.client_as("admin")
    vms = [provision(iaas, roles, hostname=f"vm-{n}") for n in range(4)]
    sim.fail_next("compute.server_create", status=500, message="No valid host was found.")
    failed_http = provision(iaas, roles, hostname="fail-http")
    sim.fail_next("compute.server_create", mode="error_state")
    failed_state = provision(iaas, roles, hostname="fail-state")
    sim.fail_next("volume.create", mode="error_state")
    failed_volume = provision(iaas, roles, hostname="fail-volume")
    assert [vm.state for vm in vms] == [S.ONLINE] * 4
    assert {failed_http.state, failed_state.state, failed_volume.state} == {S.ERRED}

    for vm in vms[:3]:
        stop(iaas, roles, vm)
    medium = link("flavor", iaas.cloud.flavors.get(name="m1.medium"))

    def act(method, instance, data=None, fault=None):
        """One request with its task run; the fault (if any) hits that task, not an earlier one."""
        if fault:
            sim.fail_next(fault, status=500, message=f"{fault} broke")
        with run_tasks():
            response = getattr(client, method)(url(instance, "resize" if data else None), data)
        assert response.status_code == 202, response.json()

    act("post", vms[0], {"flavor": medium})
    act("post", vms[1], {"disk_size": 5000})
    act("post", vms[2], {"disk_size": 6000}, fault="volume.extend")
    act("delete", failed_http)
    act("delete", failed_state)
    for vm in vms:
        vm.refresh_from_db()
    assert [vm.state for vm in vms] == [S.OFFLINE, S.OFFLINE, S.ERRED, S.ONLINE]
    act("delete", vms[1])
    act("delete", vms[2])

    remaining = Instance.objects.filter(cloud_project_membership=iaas.membership)
    assert sorted(remaining.values_list("hostname", flat=True)) == ["fail-volume", "vm-0", "vm-3"]
    holding = [i for i in remaining if i.backend_id or i.system_volume_id or i.data_volume_id]
    expected = {
        "vcpu": sum(i.cores for i in holding),
        "ram": sum(i.ram for i in holding),
        "storage": sum(i.system_volume_size + i.data_volume_size for i in holding),
        "max_instances": len(holding),
    }
    assert instance_services.membership_usage(iaas.membership) == expected == {
        "vcpu": 3, "ram": 4608, "storage": 4096, "max_instances": 2,
    }  # fmt: skip
    assert sim_ids(sim) == instance_ids(remaining)
    assert len(sim.servers()) == 2 and len(sim.volumes()) == 4


def test_scheduled_resizes_reserve_their_growth(iaas, roles):
    first, second = make_instance(iaas, S.OFFLINE, hostname="a"), make_instance(iaas, S.OFFLINE, hostname="b")
    # 4096 in use; 2048 more allowed: one of the two +2048 growths fits, not both
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_storage=6144)
    client = roles.client_as("admin")
    assert client.post(url(first, "resize"), {"disk_size": 3072}).status_code == 202
    assert client.post(url(second, "resize"), {"disk_size": 3072}).status_code == 400


def test_a_resize_reservation_is_released_when_the_resize_ends(iaas, roles, django_capture_on_commit_callbacks):
    first, second = make_instance(iaas, S.OFFLINE, hostname="a"), make_instance(iaas, S.OFFLINE, hostname="b")
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_storage=6144)
    client = roles.client_as("admin")
    assert client.post(url(first, "resize"), {"disk_size": 3072}).status_code == 202
    assert instance_services.membership_usage(iaas.membership)["storage"] == 4096 + 2048
    # The first resize fails in the worker (its instance is a bare row here): the reservation goes with it.
    from nodeconductor.iaas.engine import operations

    operations.run_blocking(operations.RESIZE_DISK, first.uuid, {"new_size_mib": 3072})
    first.refresh_from_db()
    assert first.state == S.ERRED and first.pending_data_volume_size is None
    # Neither the reservation nor the first row (Erred, nothing of it in the cloud) holds storage any more.
    assert instance_services.membership_usage(iaas.membership)["storage"] == 2048
    assert client.post(url(second, "resize"), {"disk_size": 3072}).status_code == 202


def test_a_flavor_resize_reserves_its_cores_and_ram(iaas, roles):
    first, second = make_instance(iaas, S.OFFLINE, hostname="a"), make_instance(iaas, S.OFFLINE, hostname="b")
    bigger = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    used = instance_services.membership_usage(iaas.membership)["ram"]
    growth = bigger.ram - iaas.flavor.ram
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_ram=used + growth)
    client = roles.client_as("admin")
    flavor_url = reverse("flavor-detail", kwargs={"uuid": bigger.uuid})
    assert client.post(url(first, "resize"), {"flavor": flavor_url}).status_code == 202
    response = client.post(url(second, "resize"), {"flavor": flavor_url})
    assert response.status_code == 400 and "MiB of RAM" in str(response.data)
