"""A worker killed with SIGKILL in the middle of a step loses nothing and runs nothing twice.

Real worker processes (the development settings: SQLite, and the filesystem broker or Redis) are killed while
the simulator holds one of their cloud calls open, and a new worker is started at once, as an operator or a
supervisor would. The call still lands in the cloud after its caller died, as on a real cloud. Each operation
must then end as if nothing had happened: one server, two volumes, and each cloud action asked for once.
"""


import uuid as uuidlib

import pytest

from tests.iaas.livestack import LiveStack
from tests.iaas.services.test_broker_outage import redis_server  # noqa: F401 - the fixture


def kill_mid_call(stack, operation, schedule):
    """Arm a hang on `operation`, schedule the work, kill the worker inside that call, start a new one."""
    stack.hang_next(operation, seconds=3)
    schedule()
    stack.wait_for(lambda: stack.hang_started(operation), 60, f"no worker reached {operation}")
    stack.kill_worker()
    stack.start_worker()


def state(stack):
    row = stack.instance()
    return row and row["state"]


def run_lifecycle_with_kills(stack):
    stack.start_worker()
    uuid = None

    def create():
        nonlocal uuid
        uuid = stack.create_instance()

    kill_mid_call(stack, "compute.server_create", create)
    stack.wait_for(lambda: state(stack) == "online", 90, "the provision did not end Online")
    row = stack.instance()
    assert row["uuid"].replace("-", "") == uuid.replace("-", "")
    assert row["error_message"] == "" and row["backend_id"] and row["operation_token"] == ""
    assert [s["id"] for s in stack.servers()] == [row["backend_id"]]
    assert {v["id"] for v in stack.volumes()} == {row["system_volume_id"], row["data_volume_id"]}
    assert stack.call_count("compute.server_create") == 1
    assert stack.call_count("volume.create") == 2

    kill_mid_call(stack, "compute.server_stop", lambda: stack.schedule("stop"))
    stack.wait_for(lambda: state(stack) == "offline", 90, "the stop did not end Offline")
    assert stack.call_count("compute.server_stop") == 1
    assert stack.servers()[0]["status"] == "SHUTOFF"

    kill_mid_call(stack, "volume.extend", lambda: stack.schedule("resize_disk", 2048))
    stack.wait_for(lambda: state(stack) == "offline" and stack.instance()["data_volume_size"] == 2048, 90,
                   "the disk resize did not end Offline at 2048 MiB")  # fmt: skip
    assert stack.call_count("volume.extend") == 1
    data = next(v for v in stack.volumes() if v["id"] == row["data_volume_id"])
    assert data["size"] == 2 and data["status"] == "in-use"

    kill_mid_call(stack, "compute.server_delete", lambda: stack.schedule("delete"))
    stack.wait_for(lambda: stack.instance() is None, 90, "the delete did not remove the instance")
    assert stack.call_count("compute.server_delete") == 1
    assert stack.servers() == [] and stack.volumes() == []
    assert stack.workers_started == 5


def test_a_killed_worker_loses_nothing_on_the_filesystem_broker(tmp_path):
    stack = LiveStack(tmp_path).start()
    try:
        run_lifecycle_with_kills(stack)
    finally:
        stack.stop()


def test_a_killed_worker_loses_nothing_on_redis(tmp_path, redis_server):  # noqa: F811
    stack = LiveStack(tmp_path, broker_url=redis_server.url).start()
    try:
        run_lifecycle_with_kills(stack)
    finally:
        stack.stop()


@pytest.fixture
def real_env(settings):
    from tests.fixtures.iaas import REAL_CLOUD_HINT, _real_credentials, _real_env

    if _real_credentials() is None:
        pytest.skip(REAL_CLOUD_HINT)
    return _real_env(settings)


def ours(backend, tenant_id, instance_uuid):
    """Servers and volumes in the tenant that carry the instance's uuid in their metadata."""
    from nodeconductor.iaas.backend.instances import META_KEY

    servers = [s for s in backend.nova(tenant_id).servers.list() if (s.metadata or {}).get(META_KEY) == instance_uuid]
    volumes = [v for v in backend.cinder(tenant_id).volumes.list() if (v.metadata or {}).get(META_KEY) == instance_uuid]
    return servers, volumes


@pytest.mark.realcloud
def test_a_worker_killed_mid_provision_on_the_real_cloud_builds_the_vm_once(tmp_path, real_env):
    """Against the mini OpenStack: the worker is killed while a provision step holds its claim, at once restarted."""
    from nodeconductor.iaas.backend import OpenStackBackend
    from nodeconductor.iaas.backend_specs import cloud_access
    from nodeconductor.iaas.models import Cloud

    stack = LiveStack(tmp_path, credentials=real_env.credentials, image_id=real_env.image_id,
                      tenant_id=real_env.tenant_id).start()  # fmt: skip
    backend = OpenStackBackend(cloud_access(Cloud(auth_url=real_env.credentials["auth_url"], name="probe")))
    uuid = None
    try:
        stack.start_worker()
        uuid = stack.create_instance()

        def mid_step():
            row = stack.instance()
            return row["state"] == "provisioning" and row["operation_lease_until"] and row["system_volume_id"]

        stack.wait_for(mid_step, 60, "the provision never had a step under way with its volumes asked for")
        stack.kill_worker()
        stack.start_worker()
        stack.wait_for(lambda: state(stack) in ("online", "erred"), 180, "the provision did not end")
        row = stack.instance()
        assert row["state"] == "online", row["error_message"]
        servers, volumes = ours(backend, real_env.tenant_id, str(uuidlib.UUID(uuid)))
        assert [s.id for s in servers] == [row["backend_id"]]
        assert {v.id for v in volumes} == {row["system_volume_id"], row["data_volume_id"]}
        stack.schedule("stop")
        stack.wait_for(lambda: state(stack) == "offline", 120, "the stop did not end Offline")
        stack.schedule("delete")
        stack.wait_for(lambda: stack.instance() is None, 180, "the delete did not remove the instance")
        assert ours(backend, real_env.tenant_id, str(uuidlib.UUID(uuid))) == ([], [])
    finally:
        stack.stop()
