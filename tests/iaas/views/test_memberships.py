"""/api/project-cloud-memberships/: role matrices, tenants in the simulator, quotas and usage, delete rules."""

import pytest

from nodeconductor.iaas.models import CloudProjectMembership, InstanceState, SyncState
from tests import factories as base
from tests.fixtures.roles import check_matrix
from tests.iaas import factories

FIELDS = {
    "url",
    "uuid",
    "project",
    "project_name",
    "cloud",
    "cloud_name",
    "tenant_id",
    "state",
    "network_quotas",
    "backup_quotas",
    "quota_alerts",
    "error_message",
    "quotas",
    "usage",
    "networking",
    "network_id",
    "subnet_id",
    "internal_cidr",
    "router_id",
    "external_network_id",
    "operation",
}
LIST = "/api/project-cloud-memberships/"


def cloud_url(cloud):
    return f"http://testserver/api/clouds/{cloud.uuid}/"


def project_url(project):
    return f"http://testserver/api/projects/{project.uuid}/"


def sim_roles(cloudsim, project_id):
    """Role names the simulator's admin user holds on a project."""
    admin = cloudsim.state.user_named("admin")
    return {r["name"] for r in cloudsim.state.roles_of(admin["id"], project_id)}


@pytest.fixture
def membership(roles):
    return factories.MembershipFactory(
        cloud=factories.CloudFactory(customer=roles.customer),
        project=roles.project,
        quota_vcpu=10,
        quota_ram=20480,
        quota_storage=512000,
        quota_max_instances=5,
    )


@pytest.fixture
def sim_cloud(roles, sim_env):
    """A cloud of the roles' customer on the simulator, linked to roles.project so members see it."""
    cloud = factories.CloudFactory(customer=roles.customer, auth_url=sim_env.credentials["auth_url"])
    factories.MembershipFactory(cloud=cloud, project=roles.project, tenant_id=sim_env.tenant_id)
    return cloud


def test_list_matrix(roles, membership):
    factories.MembershipFactory()
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(LIST))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner"):
        assert [m["uuid"] for m in responses[role].json()] == [str(membership.uuid)]
    assert len(responses["staff"].json()) == 2


def test_retrieve_matrix_body_quotas_and_usage(roles, membership):
    factories.InstanceFactory(cloud_project_membership=membership, cores=2, ram=1024)
    factories.InstanceFactory(
        cloud_project_membership=membership, cores=4, ram=2048, system_volume_size=1000, data_volume_size=3000
    )
    # an erred instance that left nothing in the cloud holds no quota
    factories.InstanceFactory(
        cloud_project_membership=membership, state=InstanceState.ERRED, backend_id="", cores=16
    )
    url = roles.url("cloudprojectmembership", membership)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url))
    body = responses["manager"].json()
    assert set(body) == FIELDS
    assert body["project"] == project_url(roles.project)
    assert body["cloud"] == cloud_url(membership.cloud)
    assert (body["project_name"], body["cloud_name"]) == (roles.project.name, membership.cloud.name)
    assert body["tenant_id"] == membership.tenant_id
    assert body["state"] == "In Sync"
    assert body["quotas"] == {"vcpu": 10, "ram": 20480, "storage": 512000, "max_instances": 5}
    assert body["usage"] == {"vcpu": 6, "ram": 3072, "storage": 10240 + 20480 + 1000 + 3000, "max_instances": 2}
    assert body["network_quotas"] == {"security_groups": -1, "security_group_rules": -1, "floating_ips": -1}
    assert body["backup_quotas"] == {"snapshots": {"limit": -1, "usage": 0},
                                     "snapshot_storage": {"limit": -1, "usage": 0}}  # fmt: skip
    assert body["networking"] == "Not set up yet (the membership was not synced)"
    network_fields = ("network_id", "subnet_id", "internal_cidr", "router_id", "external_network_id")
    assert [body[k] for k in network_fields] == [""] * 5


def test_usage_of_a_membership_without_instances_is_zero(roles, membership):
    body = roles.client_as("owner").get(roles.url("cloudprojectmembership", membership)).json()
    assert body["usage"] == {"vcpu": 0, "ram": 0, "storage": 0, "max_instances": 0}


def test_create_matrix_creates_tenants(roles, sim_cloud, cloudsim, django_capture_on_commit_callbacks):
    projects = {}

    def create(client, role):
        project = base.ProjectFactory(customer=roles.customer, name=f"P {role}")
        if role in ("manager", "admin"):
            base.ProjectPermissionFactory(project=project, user=roles.users[role], role=role)
        projects[role] = project
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(LIST, {"project": project_url(project), "cloud": cloud_url(sim_cloud)})

    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 403, "owner": 201, "staff": 201}
    responses = check_matrix(roles, expected, create)
    assert responses["stranger"].json() == {
        "project": ["Invalid hyperlink - Object does not exist."],
        "cloud": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }
    body = responses["owner"].json()
    assert set(body) == FIELDS
    assert (body["state"], body["tenant_id"]) == ("Sync Scheduled", "")
    for role in ("owner", "staff"):
        membership = CloudProjectMembership.objects.get(project=projects[role])
        assert membership.state == SyncState.IN_SYNC, membership.error_message
        # a Keystone project named after our project's uuid, where the admin user can work
        tenant = next(p for p in cloudsim.projects() if p["id"] == membership.tenant_id)
        assert tenant["name"] == projects[role].uuid.hex
        assert "admin" in sim_roles(cloudsim, membership.tenant_id)
        assert membership.quota_max_instances > 0
    assert not CloudProjectMembership.objects.filter(project__in=[projects["manager"], projects["admin"]]).exists()


def test_create_with_existing_tenant_grants_admin_role(roles, sim_cloud, sim_env, cloudsim, settings,
                                                        django_capture_on_commit_callbacks):
    project = base.ProjectFactory(customer=roles.customer)
    assert sim_roles(cloudsim, sim_env.tenant_id) == set()
    cloudsim.set_quota(sim_env.tenant_id, compute={"cores": 7, "instances": 3, "ram": 7168}, volume={"gigabytes": 50})
    with django_capture_on_commit_callbacks(execute=True):
        response = roles.client_as("staff").post(
            LIST, {"project": project_url(project), "cloud": cloud_url(sim_cloud), "tenant_id": sim_env.tenant_id}
        )
    assert response.status_code == 201, response.content
    body = roles.client_as("owner").get(response.json()["url"]).json()
    assert (body["state"], body["tenant_id"], body["error_message"]) == ("In Sync", sim_env.tenant_id, "")
    assert body["quotas"] == {"vcpu": 7, "ram": 7168, "storage": 50 * 1024, "max_instances": 3}
    assert sim_roles(cloudsim, sim_env.tenant_id) == {"admin"}
    assert cloudsim.call_counts()["identity.project_create"] == 0


def test_create_with_missing_tenant_ends_erred_with_the_clouds_message(
    roles, sim_cloud, django_capture_on_commit_callbacks
):
    project = base.ProjectFactory(customer=roles.customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = roles.client_as("staff").post(
            LIST, {"project": project_url(project), "cloud": cloud_url(sim_cloud), "tenant_id": "f" * 32}
        )
    body = roles.client_as("owner").get(response.json()["url"]).json()
    assert body["state"] == "Erred"
    assert f"get tenant {'f' * 32} failed" in body["error_message"]
    assert "Could not find project" in body["error_message"]


def test_retried_sync_does_not_create_a_second_tenant(roles, sim_cloud, cloudsim, django_capture_on_commit_callbacks):
    project = base.ProjectFactory(customer=roles.customer)
    cloudsim.fail_next("compute.quota_get", status=503, message="nova is down")
    client = roles.client_as("owner")
    with django_capture_on_commit_callbacks(execute=True):
        url = client.post(LIST, {"project": project_url(project), "cloud": cloud_url(sim_cloud)}).json()["url"]
    body = client.get(url).json()
    assert body["state"] == "Erred" and "nova is down" in body["error_message"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url + "sync/").status_code == 202
    body = client.get(url).json()
    assert body["state"] == "In Sync", body["error_message"]
    assert [p["name"] for p in cloudsim.projects()].count(project.uuid.hex) == 1
    assert cloudsim.call_counts()["identity.project_create"] == 1


def test_sync_finds_a_tenant_an_interrupted_run_created(roles, sim_cloud, cloudsim):
    from nodeconductor.iaas.tasks import sync_cloud_membership

    project = base.ProjectFactory(customer=roles.customer)
    earlier = sim_cloud.get_backend().create_tenant(project.uuid.hex)
    membership = CloudProjectMembership.objects.create(project=project, cloud=sim_cloud)
    sync_cloud_membership(str(membership.uuid))
    membership = CloudProjectMembership.objects.get(pk=membership.pk)
    assert (membership.state, membership.tenant_id) == (SyncState.IN_SYNC, earlier)
    assert [p["name"] for p in cloudsim.projects()].count(project.uuid.hex) == 1


def test_create_rejects_cross_customer_and_duplicates(roles, sim_cloud):
    other_cloud = factories.CloudFactory(customer=base.CustomerFactory())
    client = roles.client_as("staff")
    response = client.post(LIST, {"project": project_url(roles.project), "cloud": cloud_url(other_cloud)})
    assert response.status_code == 400
    assert response.json() == {"cloud": ["The cloud belongs to another customer than the project."], "code": "invalid"}
    response = client.post(LIST, {"project": project_url(roles.project), "cloud": cloud_url(sim_cloud)})
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["The project is already a member of this cloud."],
        "code": "invalid",
    }
    assert client.post(LIST, {}).status_code == 400


def test_memberships_are_not_edited(roles, membership):
    url = roles.url("cloudprojectmembership", membership)
    assert roles.client_as("staff").patch(url, {"tenant_id": "x"}, format="json").status_code == 405


def test_delete_matrix(roles):
    deleted = {}

    def delete(client, role):
        membership = factories.MembershipFactory(cloud=factories.CloudFactory(customer=roles.customer),
                                                 project=roles.project)
        deleted[role] = membership
        return client.delete(roles.url("cloudprojectmembership", membership))

    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 204, "staff": 204}
    check_matrix(roles, expected, delete)
    gone = {r for r, m in deleted.items() if not CloudProjectMembership.objects.filter(pk=m.pk).exists()}
    assert gone == {"owner", "staff"}


def test_delete_with_instances_is_409(roles, membership):
    factories.InstanceFactory(cloud_project_membership=membership)
    response = roles.client_as("owner").delete(roles.url("cloudprojectmembership", membership))
    assert response.status_code == 409
    assert "instances" in response.json()["detail"]
    assert CloudProjectMembership.objects.filter(pk=membership.pk).exists()


def test_set_quotas_matrix_pushes_to_the_cloud(roles, sim_cloud, sim_env, cloudsim,
                                               django_capture_on_commit_callbacks):
    membership = sim_cloud.memberships.get()
    url = roles.url("cloudprojectmembership", membership) + "set_quotas/"
    quotas = {"vcpu": 8, "ram": 16384, "storage": 100 * 1024, "max_instances": 4}

    def set_quotas(client, role):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, quotas, format="json")

    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 403, "staff": 202}
    responses = check_matrix(roles, expected, set_quotas)
    assert responses["staff"].json() == {"status": "quota update was scheduled", "quotas": quotas}
    body = roles.client_as("owner").get(roles.url("cloudprojectmembership", membership)).json()
    assert body["state"] == "In Sync", body["error_message"]
    assert body["quotas"] == quotas
    # pushed to the simulator's Nova and Cinder (GiB), then pulled back
    assert cloudsim.state.nova_quotas[sim_env.tenant_id] == {"cores": 8, "ram": 16384, "instances": 4}
    assert cloudsim.state.cinder_quotas[sim_env.tenant_id] == {"gigabytes": 100}


def test_set_storage_quota_pushes_to_cinder(roles, sim_cloud, sim_env, cloudsim, django_capture_on_commit_callbacks):
    membership = sim_cloud.memberships.get()
    url = roles.url("cloudprojectmembership", membership) + "set_quotas/"
    with django_capture_on_commit_callbacks(execute=True):
        response = roles.client_as("staff").post(url, {"storage": 100 * 1024}, format="json")
    assert response.status_code == 202
    body = roles.client_as("staff").get(roles.url("cloudprojectmembership", membership)).json()
    assert body["state"] == "In Sync", body["error_message"]
    assert body["quotas"]["storage"] == 100 * 1024
    assert cloudsim.state.cinder_quotas[sim_env.tenant_id]["gigabytes"] == 100


def test_set_quotas_validates_and_refuses_while_syncing(roles, membership):
    client = roles.client_as("staff")
    url = roles.url("cloudprojectmembership", membership) + "set_quotas/"
    assert client.post(url, {}, format="json").status_code == 400
    response = client.post(url, {"vcpu": -5, "ram": "lots"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"vcpu", "ram", "code"} and response.json()["code"] == "invalid"
    CloudProjectMembership.objects.filter(pk=membership.pk).update(state=SyncState.SYNCING)
    response = client.post(url, {"vcpu": 1}, format="json")
    assert response.status_code == 409
    assert "syncing" in response.json()["detail"]


def test_sync_matrix(roles, sim_cloud, django_capture_on_commit_callbacks):
    membership = sim_cloud.memberships.get()
    url = roles.url("cloudprojectmembership", membership) + "sync/"

    def sync(client, role):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url)

    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 202, "staff": 202}
    responses = check_matrix(roles, expected, sync)
    assert responses["owner"].json() == {"status": "sync was scheduled"}
    assert CloudProjectMembership.objects.get(pk=membership.pk).state == SyncState.IN_SYNC


def test_filters(roles, membership):
    other = factories.MembershipFactory(
        cloud=membership.cloud, project=base.ProjectFactory(customer=roles.customer), state=SyncState.ERRED
    )
    client = roles.client_as("owner")
    assert [m["uuid"] for m in client.get(LIST, {"state": "erred"}).json()] == [str(other.uuid)]
    assert [m["uuid"] for m in client.get(LIST, {"project": roles.project.uuid.hex}).json()] == [str(membership.uuid)]
    assert len(client.get(LIST, {"cloud": membership.cloud.uuid.hex}).json()) == 2


@pytest.mark.parametrize("role", ["staff", "owner", "manager"])
def test_list_query_count_is_constant(roles, role):
    for _ in range(3):
        membership = factories.MembershipFactory(cloud=factories.CloudFactory(customer=roles.customer),
                                                 project=roles.project)
        factories.InstanceFactory.create_batch(2, cloud_project_membership=membership)
    small, large = factories.list_query_counts(roles.client_as(role), LIST)
    # COUNT, then the page with project, customer, cloud and usage subqueries in one query
    assert small == large == 2


def test_network_quotas_show_what_the_api_holds_the_tenant_to(roles, membership):
    """The limits staff set on groups, rules and floating IPs are what members read on the membership."""
    membership.quota_security_group_count, membership.quota_security_group_rule_count = 6, 40
    membership.quota_floating_ip_count = 2
    membership.save()
    body = roles.client_as("manager").get(roles.url("cloudprojectmembership", membership)).json()
    assert body["network_quotas"] == {"security_groups": 6, "security_group_rules": 40, "floating_ips": 2}
