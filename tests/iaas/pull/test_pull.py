"""pull_cloud_account against the simulator over HTTP: minimal diffs, dry runs, faults and recovery."""

import socket

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.iaas.backend import CloudBackendError
from nodeconductor.iaas.backend.session import clear_sessions
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Flavor, Image, SyncState
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.tasks import pull_cloud_accounts
from tests import factories as base_factories
from tests.iaas import factories

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(ctx):
    """SQL statements of a capture that change data."""
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]


@pytest.fixture
def cloud(roles, sim_env):
    """A cloud of the roles' customer on the simulator, never pulled, with the demo tenant bound."""
    cloud = factories.CloudFactory(
        customer=roles.customer, auth_url=sim_env.credentials["auth_url"], state=SyncState.SYNC_SCHEDULED
    )
    factories.MembershipFactory(cloud=cloud, project=roles.project, tenant_id=sim_env.tenant_id)
    template = factories.TemplateFactory(name="CentOS 6")
    factories.TemplateMappingFactory(template=template, backend_image_id=sim_env.image_id)
    return cloud


def fresh(cloud):
    return Cloud.objects.get(pk=cloud.pk)


def catalogue(cloud):
    """The cloud's flavors and images as plain tuples, to compare before and after."""
    flavors = sorted(Flavor.objects.filter(cloud=cloud).values_list("backend_id", "name", "cores", "ram", "disk",
                                                                    "is_active"))
    images = sorted(Image.objects.filter(cloud=cloud).values_list("template__name", "backend_id", "min_disk",
                                                                  "min_ram"))
    return flavors, images


def test_pull_creates_flavors_images_and_quotas(cloud, sim_env, cloudsim):
    cloudsim.set_quota(sim_env.tenant_id, compute={"cores": 12, "ram": 8192, "instances": 6}, volume={"gigabytes": 9})
    diff = run_cloud_pull(cloud)
    cloud = fresh(cloud)
    assert (cloud.state, cloud.error_message) == (SyncState.IN_SYNC, "")
    assert cloud.last_pulled is not None
    flavors, images = catalogue(cloud)
    # Nova's disk is GiB, ours MiB
    assert flavors == [
        ("1", "m1.tiny", 1, 512, 1024, True),
        ("2", "m1.small", 1, 2048, 20 * 1024, True),
        ("3", "m1.medium", 2, 4096, 40 * 1024, True),
    ]
    assert images == [("CentOS 6", sim_env.image_id, 1024, 0)]
    membership = CloudProjectMembership.objects.get(cloud=cloud)
    assert (membership.quota_vcpu, membership.quota_ram, membership.quota_storage, membership.quota_max_instances) == (
        12,
        8192,
        9 * 1024,
        6,
    )
    lines = diff.lines()
    assert "+ flavor m1.tiny (1)" in lines
    assert any(line.startswith("+ image of template CentOS 6") for line in lines)
    assert any(line.startswith("~ quotas of ") for line in lines)


def test_repeat_pull_writes_nothing(cloud):
    run_cloud_pull(cloud)
    cloud = fresh(cloud)
    with CaptureQueriesContext(connection) as ctx:
        diff = cloud.get_backend().pull_cloud_account(cloud)
    assert writes(ctx) == []
    assert diff.lines() == ["no changes"]


def test_a_changed_quota_updates_only_that_membership_and_says_what_changed(cloud, sim_env, cloudsim):
    run_cloud_pull(cloud)
    membership = CloudProjectMembership.objects.select_related("project").get(cloud=cloud)
    cloudsim.set_quota(sim_env.tenant_id, compute={"cores": membership.quota_vcpu + 3})
    cloud = fresh(cloud)
    with CaptureQueriesContext(connection) as ctx:
        diff = cloud.get_backend().pull_cloud_account(cloud)
    assert diff.lines() == [f"~ quotas of {membership.project.name}: quota_vcpu"]
    updates = writes(ctx)
    assert len(updates) == 1 and CloudProjectMembership._meta.db_table in updates[0]
    stored = CloudProjectMembership.objects.get(pk=membership.pk)
    assert (stored.quota_vcpu, stored.quota_ram, stored.quota_storage, stored.quota_max_instances) == (
        membership.quota_vcpu + 3, membership.quota_ram, membership.quota_storage, membership.quota_max_instances)


def test_quota_lines_come_in_project_name_order(roles, sim_env, cloudsim):
    """Not in the rows' creation order: the diff reads as the memberships' listing does (by project name)."""
    cloud = factories.CloudFactory(customer=roles.customer, auth_url=sim_env.credentials["auth_url"])
    for name, tenant in (("zeta", cloudsim.project_id("admin")), ("alpha", sim_env.tenant_id)):
        project = base_factories.ProjectFactory(customer=roles.customer, name=name)
        factories.MembershipFactory(cloud=cloud, project=project, tenant_id=tenant)
    cloud.get_backend().pull_cloud_account(cloud)
    for tenant in (cloudsim.project_id("admin"), sim_env.tenant_id):
        cloudsim.set_quota(tenant, compute={"instances": 33})
    diff = fresh(cloud).get_backend().pull_cloud_account(fresh(cloud))
    assert diff.lines() == ["~ quotas of alpha: quota_max_instances", "~ quotas of zeta: quota_max_instances"]


def test_pull_with_a_new_session_sends_one_auth_and_the_catalogue_reads_only(cloud, sim_env, cloudsim):
    # A /v3 auth_url names its version: a new session authenticates without a discovery GET first.
    assert sim_env.credentials["auth_url"].rstrip("/").endswith("/v3")
    cloudsim.set_quota(sim_env.tenant_id, volume={"gigabytes": -1})
    clear_sessions()
    cloudsim.clear_call_log()
    diff = cloud.get_backend().pull_cloud_account(cloud)
    ops = [x["operation"] for x in cloudsim.call_log if not x["operation"].startswith("sim.")]
    assert ops == ["identity.auth", "compute.flavor_list", "image.list", "compute.quota_get", "volume.quota_get"]
    assert "+ flavor m1.tiny (1)" in diff.lines()
    assert CloudProjectMembership.objects.get(cloud=cloud).quota_storage == -1, "unlimited volume quota stays -1"


def test_changed_flavor_is_updated_and_vanished_one_deleted(cloud, cloudsim):
    run_cloud_pull(cloud)
    cloudsim.remove_flavor("2")
    cloudsim.add_flavor("m1.small", vcpus=2, ram=3072, disk=25, flavor_id="2")
    cloudsim.remove_flavor("3")
    cloudsim.add_flavor("m1.large", vcpus=4, ram=8192, disk=80, flavor_id="4")
    small = Flavor.objects.get(cloud=cloud, backend_id="2")
    diff = run_cloud_pull(fresh(cloud))
    flavors, _ = catalogue(cloud)
    assert flavors == [
        ("1", "m1.tiny", 1, 512, 1024, True),
        ("2", "m1.small", 2, 3072, 25 * 1024, True),
        ("4", "m1.large", 4, 8192, 80 * 1024, True),
    ]
    # updated in place: instances referring to it keep their row
    assert Flavor.objects.get(cloud=cloud, backend_id="2").pk == small.pk
    assert "~ flavor m1.small (2): cores, ram, disk" in diff.lines()
    assert "- flavor m1.medium (3)" in diff.lines()


def test_vanished_flavor_in_use_is_kept_inactive_and_revived(cloud, cloudsim):
    run_cloud_pull(cloud)
    medium = Flavor.objects.get(cloud=cloud, backend_id="3")
    factories.InstanceFactory(cloud_project_membership=cloud.memberships.get(), flavor=medium)
    cloudsim.remove_flavor("3")
    diff = run_cloud_pull(fresh(cloud))
    medium.refresh_from_db()
    assert medium.is_active is False
    assert any(line.startswith("! flavor m1.medium (3) vanished but is in use") for line in diff.lines())
    # a further pull changes nothing; the flavor coming back makes it active again
    assert run_cloud_pull(fresh(cloud)).lines() == ["no changes"]
    cloudsim.add_flavor("m1.medium", vcpus=2, ram=4096, disk=40, flavor_id="3")
    run_cloud_pull(fresh(cloud))
    medium.refresh_from_db()
    assert medium.is_active is True


def test_mapped_image_gets_min_disk_and_min_ram_in_mib(cloud, cloudsim):
    image = cloudsim.add_image("centos-7", min_disk=3, min_ram=768)
    template = factories.TemplateFactory(name="CentOS 7")
    factories.TemplateMappingFactory(template=template, backend_image_id=image["id"])
    factories.TemplateMappingFactory(template=factories.TemplateFactory(name="Unmapped"), backend_image_id="nope")
    run_cloud_pull(cloud)
    row = Image.objects.get(cloud=cloud, template=template)
    assert (row.backend_id, row.min_disk, row.min_ram) == (image["id"], 3 * 1024, 768)
    assert not Image.objects.filter(template__name="Unmapped").exists()
    # the image vanishing removes the row
    cloudsim.remove_image(image["id"])
    run_cloud_pull(fresh(cloud))
    assert not Image.objects.filter(cloud=cloud, template=template).exists()


def test_dry_run_writes_nothing(cloud, cloudsim):
    with CaptureQueriesContext(connection) as ctx:
        diff = cloud.get_backend().pull_cloud_account(cloud, dry_run=True)
    assert writes(ctx) == []
    assert "+ flavor m1.tiny (1)" in diff.lines()
    assert not Flavor.objects.exists() and not Image.objects.exists()
    assert fresh(cloud).state == SyncState.SYNC_SCHEDULED


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _erred_with_intact_catalogue(cloud, before, *needles):
    cloud = fresh(cloud)
    assert cloud.state == SyncState.ERRED
    for needle in needles:
        assert needle in cloud.error_message, cloud.error_message
    assert catalogue(cloud) == before
    return cloud


def test_flavor_list_failure_keeps_catalogue_and_next_pull_recovers(cloud, cloudsim):
    run_cloud_pull(cloud)
    before = catalogue(cloud)
    cloudsim.remove_flavor("1")
    cloudsim.fail_next("compute.flavor_list", status=500, message="nova-api exploded")
    with pytest.raises(CloudBackendError):
        run_cloud_pull(fresh(cloud))
    _erred_with_intact_catalogue(cloud, before, "list flavors failed", "nova-api exploded")
    run_cloud_pull(fresh(cloud))
    assert (fresh(cloud).state, fresh(cloud).error_message) == (SyncState.IN_SYNC, "")
    assert [f[0] for f in catalogue(cloud)[0]] == ["2", "3"]


def test_failure_after_flavors_were_read_writes_nothing(cloud, cloudsim):
    run_cloud_pull(cloud)
    before = catalogue(cloud)
    cloudsim.remove_flavor("1")
    cloudsim.fail_next("image.list", status=503, message="glance unavailable")
    with pytest.raises(CloudBackendError):
        run_cloud_pull(fresh(cloud))
    _erred_with_intact_catalogue(cloud, before, "list images failed")


def test_hanging_cloud_times_out_to_erred(cloud, cloudsim, settings):
    run_cloud_pull(cloud)
    before = catalogue(cloud)
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_READ_TIMEOUT": 0.5}
    clear_sessions()
    cloudsim.fail_next("compute.flavor_list", mode="hang", seconds=2)
    with pytest.raises(CloudBackendError):
        run_cloud_pull(fresh(cloud))
    erred = _erred_with_intact_catalogue(cloud, before, "list flavors failed")
    assert "timed out" in erred.error_message.lower()
    run_cloud_pull(erred)
    assert fresh(cloud).state == SyncState.IN_SYNC


def test_cloud_that_does_not_answer_ends_erred_then_recovers(cloud, sim_env, settings):
    run_cloud_pull(cloud)
    before = catalogue(cloud)
    dead = {**sim_env.credentials, "auth_url": f"http://127.0.0.1:{_free_port()}/v3"}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (sim_env.credentials, dead)}
    Cloud.objects.filter(pk=cloud.pk).update(auth_url=dead["auth_url"])
    clear_sessions()
    with pytest.raises(CloudBackendError):
        run_cloud_pull(fresh(cloud))
    erred = _erred_with_intact_catalogue(cloud, before, "list flavors failed")
    assert "Unable to establish connection" in erred.error_message or "refused" in erred.error_message.lower()
    Cloud.objects.filter(pk=cloud.pk).update(auth_url=sim_env.credentials["auth_url"])
    run_cloud_pull(fresh(cloud))
    assert fresh(cloud).state == SyncState.IN_SYNC


def test_wrong_credentials_end_erred_without_the_password(cloud, sim_env, settings):
    run_cloud_pull(cloud)
    before = catalogue(cloud)
    wrong = {**sim_env.credentials, "password": "Wr0ng-Passw0rd-xyz"}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (wrong,)}
    clear_sessions()
    with pytest.raises(CloudBackendError):
        run_cloud_pull(fresh(cloud))
    erred = _erred_with_intact_catalogue(cloud, before, "failed")
    assert "Wr0ng-Passw0rd-xyz" not in erred.error_message
    assert "401" in erred.error_message or "authenticat" in erred.error_message.lower()
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (sim_env.credentials,)}
    clear_sessions()
    run_cloud_pull(fresh(cloud))
    assert fresh(cloud).state == SyncState.IN_SYNC


def test_periodic_task_pulls_every_idle_cloud(cloud, roles, sim_env, django_capture_on_commit_callbacks):
    run_cloud_pull(cloud)
    erred = factories.CloudFactory(
        customer=roles.customer, auth_url=sim_env.credentials["auth_url"], state=SyncState.ERRED
    )
    busy = factories.CloudFactory(customer=roles.customer, auth_url=sim_env.credentials["auth_url"],
                                  state=SyncState.SYNCING)
    with django_capture_on_commit_callbacks(execute=True):
        pull_cloud_accounts()
    assert fresh(erred).state == SyncState.IN_SYNC and erred.flavors.count() == 3
    assert fresh(cloud).state == SyncState.IN_SYNC
    assert fresh(busy).state == SyncState.SYNCING and not busy.flavors.exists()
