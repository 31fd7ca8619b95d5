"""Contract of the backend's catalogue, quota and tenant methods, on the simulator and (when set) a real cloud."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.iaas.backend import CloudBackendError, CloudResourceNotFound, OpenStackBackend
from nodeconductor.iaas.backend_specs import cloud_access
from nodeconductor.iaas.models import Cloud, SyncState
from nodeconductor.iaas.resource_operations import run_cloud_pull
from tests.iaas import factories

QUOTA_KEYS = {"quota_vcpu", "quota_ram", "quota_storage", "quota_max_instances", "quota_snapshot_count"}


@pytest.fixture
def backend(db, cloud_env):
    cloud = factories.CloudFactory(auth_url=cloud_env.credentials["auth_url"])
    return OpenStackBackend(cloud_access(cloud))


def test_list_flavors_gives_sizes_in_mib(backend):
    flavors = backend.list_flavors()
    assert flavors, "the cloud has no flavors"
    for flavor in flavors:
        assert set(flavor) == {"backend_id", "name", "cores", "ram", "disk"}
        assert flavor["cores"] >= 1 and flavor["ram"] >= 1
        assert flavor["disk"] % 1024 == 0
    tiny = [f for f in flavors if f["name"] == "m1.tiny"]
    if tiny:
        assert (tiny[0]["cores"], tiny[0]["ram"], tiny[0]["disk"]) == (1, 512, 1024)


def test_list_images_gives_active_images_in_mib(backend, cloud_env):
    images = {i["backend_id"]: i for i in backend.list_images()}
    assert cloud_env.image_id in images
    for image in images.values():
        assert set(image) == {"backend_id", "name", "min_disk", "min_ram"}
        assert image["min_disk"] % 1024 == 0 and image["min_ram"] >= 0


def test_get_quotas(backend, cloud_env):
    quotas = backend.get_quotas(cloud_env.tenant_id)
    assert set(quotas) == QUOTA_KEYS
    assert all(isinstance(v, int) and v >= -1 for v in quotas.values())


def test_set_compute_quotas_round_trip(backend, cloud_env):
    before = backend.get_quotas(cloud_env.tenant_id)
    wanted = {"quota_vcpu": 17, "quota_ram": 17 * 1024, "quota_max_instances": 7}
    try:
        backend.set_quotas(cloud_env.tenant_id, wanted)
        after = backend.get_quotas(cloud_env.tenant_id)
        assert {k: after[k] for k in wanted} == wanted
        assert after["quota_storage"] == before["quota_storage"]
    finally:
        backend.set_quotas(cloud_env.tenant_id, {k: before[k] for k in wanted})


def test_set_storage_quota_round_trip(backend, cloud_env):
    before = backend.get_quotas(cloud_env.tenant_id)
    try:
        backend.set_quotas(cloud_env.tenant_id, {"quota_storage": 123 * 1024})
        assert backend.get_quotas(cloud_env.tenant_id)["quota_storage"] == 123 * 1024
    finally:
        backend.set_quotas(cloud_env.tenant_id, {"quota_storage": before["quota_storage"]})


def test_verify_missing_tenant_is_not_found(backend):
    with pytest.raises(CloudResourceNotFound) as info:
        backend.verify_tenant(uuid.uuid4().hex)
    assert "get tenant" in str(info.value)


def test_verify_existing_tenant(backend, cloud_env):
    assert backend.verify_tenant(cloud_env.tenant_id) == cloud_env.tenant_id
    # the admin can work there now: his tenant-scoped session reads the tenant's quotas
    assert set(backend.get_quotas(cloud_env.tenant_id)) == QUOTA_KEYS


def test_create_tenant_is_idempotent(backend):
    name = f"nc-test-{uuid.uuid4().hex}"
    tenant_id = backend.create_tenant(name, description="nodeconductor test")
    try:
        assert backend.create_tenant(name) == tenant_id
        assert [p.id for p in backend.keystone().projects.list(name=name)] == [tenant_id]
        assert backend.verify_tenant(tenant_id) == tenant_id
    finally:
        backend.keystone().projects.delete(tenant_id)


def test_unconfigured_auth_url_is_refused_clearly(db):
    with pytest.raises(CloudBackendError) as info:
        OpenStackBackend(cloud_access(Cloud(name="x", auth_url="http://nowhere.example.com/v3")))
    assert "No credentials are configured" in str(info.value)


def test_pull_then_repeat_pull_writes_nothing(iaas_any):
    cloud = Cloud.objects.get(pk=iaas_any.cloud.pk)
    assert cloud.state == SyncState.IN_SYNC
    assert cloud.flavors.exists()
    assert cloud.images.filter(template=iaas_any.template).exists()
    with CaptureQueriesContext(connection) as ctx:
        diff = cloud.get_backend().pull_cloud_account(cloud)
    assert diff.lines() == ["no changes"]
    assert [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")] == []
    run_cloud_pull(cloud)
    assert Cloud.objects.get(pk=cloud.pk).state == SyncState.IN_SYNC
