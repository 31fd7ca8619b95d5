"""Finding 1 of the security review: customer A's owner bound his project to customer B's tenant, and his own
cloud's pull then deleted B's servers. Replayed step by step on the simulator and, marked realcloud, on the
mini OpenStack: refused at step 2, and B's VM stays Online through every pull of A's, even of a binding that
the database holds from before the fix.
"""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, InstanceState, SyncState
from nodeconductor.iaas.models.cloud import TENANT_OF_ANOTHER_CUSTOMER, TENANT_TAKEN
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.tasks import sync_cloud_membership
from nodeconductor.iaas.views.cloud import EXISTING_TENANT_STAFF_ONLY
from tests import factories
from tests.iaas.views.test_instances import link, provision, run_tasks

MEMBERSHIPS = "/api/project-cloud-memberships/"


@dataclass
class Attacker:
    """Customer A: its owner, a project of its own, and his API client."""

    customer: object
    project: object
    client: APIClient


@pytest.fixture
def attacker():
    customer = factories.CustomerFactory(name="Attacker Corp")
    project = factories.ProjectFactory(customer=customer, name="Attacker Project")
    owner = factories.UserFactory(username="attacker")
    factories.CustomerPermissionFactory(customer=customer, user=owner)
    client = APIClient()
    client.force_authenticate(owner)
    return Attacker(customer, project, client)


@pytest.fixture
def victim(iaas_any, roles):
    """Customer B's Online instance in B's tenant; deleted from the cloud afterwards, whatever the test did."""
    instance = provision(iaas_any, roles, hostname="victim-vm")
    assert instance.state == InstanceState.ONLINE, instance.error_message
    yield instance
    backend = iaas_any.cloud.get_backend()
    tenant = iaas_any.membership.tenant_id
    if instance.backend_id in backend.list_servers(tenant):
        backend.nova(tenant).servers.delete(instance.backend_id)


def server_of(iaas, instance):
    """The instance's server as the cloud lists it in its tenant (None when gone)."""
    return iaas.cloud.get_backend().list_servers(iaas.membership.tenant_id).get(instance.backend_id)


def assert_untouched(iaas, instance):
    """B's instance is Online in our database and its server ACTIVE in the cloud, with both volumes."""
    server = server_of(iaas, instance)
    assert (server["status"], server["task_state"]) == ("ACTIVE", None)  # not even being deleted
    # B's own pull finds it as it was.
    run_cloud_pull(iaas.cloud)
    instance.refresh_from_db()
    assert (instance.state, instance.error_message) == (InstanceState.ONLINE, "")
    volumes = {v.id for v in iaas.cloud.get_backend().cinder(iaas.membership.tenant_id).volumes.list()}
    assert {instance.system_volume_id, instance.data_volume_id} <= volumes


def attacker_cloud(iaas, attacker):
    """Step 1: A's owner registers a cloud of his own on the shared auth_url (allowed)."""
    with run_tasks():
        response = attacker.client.post("/api/clouds/", {
            "customer": link("customer", attacker.customer), "name": "Mine", "auth_url": iaas.cloud.auth_url,
        }, format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    assert (response.json()["name"], response.json()["state"]) == ("Mine", "Sync Scheduled")
    return Cloud.objects.get(uuid=response.json()["uuid"])


def test_the_takeover_is_refused_at_step_two_and_the_victim_stays_online(iaas_any, roles, attacker, victim):
    iaas = iaas_any
    cloud = attacker_cloud(iaas, attacker)
    # Step 2: binding B's tenant. Refused to the owner before the tenant is even looked up ...
    body = {"project": link("project", attacker.project), "cloud": link("cloud", cloud),
            "tenant_id": iaas.membership.tenant_id}  # fmt: skip
    response = attacker.client.post(MEMBERSHIPS, body, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": EXISTING_TENANT_STAFF_ONLY, "code": "permission_denied"}
    # ... and to staff too, since the tenant is another customer's on this OpenStack, whatever the Cloud row.
    response = roles.client_as("staff").post(MEMBERSHIPS, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"tenant_id": [TENANT_OF_ANOTHER_CUSTOMER], "code": "invalid"}
    assert not CloudProjectMembership.objects.filter(project=attacker.project).exists()
    # Step 3: B's untracked servers are not A's to list.
    response = attacker.client.get(f"{MEMBERSHIPS}{iaas.membership.uuid.hex}/importable_instances/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    # Step 4: A's pull leaves B alone.
    with run_tasks():
        response = attacker.client.post(f"/api/clouds/{cloud.uuid.hex}/sync/")
    assert (response.status_code, response.json()) == (202, {"status": "sync was scheduled"})
    assert_untouched(iaas, victim)


def test_a_binding_from_before_the_fix_sweeps_nothing_of_the_other_customer(iaas_any, roles, attacker, victim):
    iaas = iaas_any
    # As a database may hold it from before the fix: A's project on B's tenant, under another spelling of the
    # same auth_url, so another Cloud row.
    cloud = Cloud.objects.create(customer=attacker.customer, name="Mine", auth_url=iaas.cloud.auth_url + "/")
    legacy = CloudProjectMembership.objects.create(
        project=attacker.project, cloud=cloud, tenant_id=iaas.membership.tenant_id
    )
    CloudProjectMembership.objects.filter(pk=legacy.pk).update(state=SyncState.IN_SYNC)
    Cloud.objects.filter(pk=cloud.pk).update(state=SyncState.IN_SYNC)
    for _ in range(2):
        with run_tasks():
            response = attacker.client.post(f"/api/clouds/{cloud.uuid.hex}/sync/")
        assert (response.status_code, response.json()) == (202, {"status": "sync was scheduled"})
        cloud.refresh_from_db()
        assert cloud.state == SyncState.IN_SYNC, cloud.error_message
        assert_untouched(iaas, victim)
    # B bound the tenant first: A's binding was not pulled but synced, and the sync made it Erred, so A lists
    # nothing of the tenant, imports nothing from it and creates nothing in it.
    legacy.refresh_from_db()
    assert (legacy.state, legacy.error_message) == (SyncState.ERRED, TENANT_TAKEN.format(tenant=legacy.tenant_id))
    response = attacker.client.get(f"{MEMBERSHIPS}{legacy.uuid.hex}/importable_instances/", {"page_size": 200})
    assert (response.status_code, response.json()) == (200, [])
    victim.refresh_from_db()
    assert victim.cloud_project_membership.state == SyncState.IN_SYNC  # B's own binding is untouched


def test_the_admin_credentials_project_is_never_a_customers_tenant(iaas_any, roles):
    iaas = iaas_any
    admin_project = iaas.cloud.get_backend().admin_session().get_project_id()
    assert admin_project != iaas.membership.tenant_id
    project = factories.ProjectFactory(customer=roles.customer, name="Second")
    with run_tasks():
        response = roles.client_as("staff").post(MEMBERSHIPS, {
            "project": link("project", project), "cloud": link("cloud", iaas.cloud), "tenant_id": admin_project,
        }, format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    assert (response.json()["tenant_id"], response.json()["state"]) == (admin_project, "Sync Scheduled")
    membership = CloudProjectMembership.objects.get(project=project)
    assert membership.state == SyncState.ERRED
    assert membership.error_message == (
        f"verify tenant {admin_project} failed: it is the project of the cloud's admin credentials, which is never "
        "a customer's tenant."
    )


def test_binding_an_existing_tenant_is_for_staff_alone(iaas, roles, cloudsim):
    tenant = next(p["id"] for p in cloudsim.projects() if p["name"] == "demo")
    made = {}

    def bind(client, role):
        project = factories.ProjectFactory(customer=roles.customer, name=f"P {role}")
        made[role] = project
        body = {"project": link("project", project), "cloud": link("cloud", iaas.cloud), "tenant_id": tenant}
        with run_tasks():
            return client.post(MEMBERSHIPS, body, format="json")

    from tests.fixtures.roles import check_matrix

    expected = {"anonymous": 401, "stranger": 403, "manager": 403, "admin": 403, "owner": 403, "staff": 201}
    responses = check_matrix(roles, expected, bind)
    for role in ("stranger", "manager", "admin", "owner"):
        assert responses[role].json() == {"detail": EXISTING_TENANT_STAFF_ONLY, "code": "permission_denied"}
    assert responses["staff"].json()["tenant_id"] == tenant
    # Of one customer, two projects may share a tenant (staff's call); nothing was made for the refused.
    assert CloudProjectMembership.objects.get(project=made["staff"]).state == SyncState.IN_SYNC
    names = set(CloudProjectMembership.objects.values_list("project__name", flat=True))
    assert names == {"P staff", roles.project.name}
    # Without tenant_id the owner binds, and a tenant is made for the project.
    project = factories.ProjectFactory(customer=roles.customer, name="Own")
    with run_tasks():
        response = roles.client_as("owner").post(
            MEMBERSHIPS, {"project": link("project", project), "cloud": link("cloud", iaas.cloud)}, format="json"
        )
    assert response.status_code == 201, response.json()
    membership = CloudProjectMembership.objects.get(project=project)
    assert membership.state == SyncState.IN_SYNC and membership.tenant_id not in ("", tenant)


def test_of_two_bindings_that_passed_the_check_at_once_the_later_one_ends_erred(iaas, roles, attacker):
    # Two binds at the same moment, or a project moved to another customer: both rows exist. The tenant stays
    # with the customer who bound it first; the sync of the later binding refuses it.
    tenant = iaas.membership.tenant_id
    cloud = Cloud.objects.create(customer=attacker.customer, name="Mine", auth_url=iaas.cloud.auth_url)
    later = CloudProjectMembership.objects.create(project=attacker.project, cloud=cloud, tenant_id=tenant)
    sync_cloud_membership(str(later.uuid))
    later.refresh_from_db()
    assert (later.state, later.error_message) == (SyncState.ERRED, TENANT_TAKEN.format(tenant=tenant))
    with run_tasks():
        response = attacker.client.post(f"{MEMBERSHIPS}{later.uuid.hex}/sync/")
    assert (response.status_code, response.json()) == (202, {"status": "sync was scheduled"})
    later.refresh_from_db()
    assert later.state == SyncState.ERRED  # and so it stays, whoever asks
    # The customer who bound it first keeps it: his sync still ends In Sync.
    with run_tasks():
        response = roles.client_as("owner").post(f"{MEMBERSHIPS}{iaas.membership.uuid.hex}/sync/")
    assert (response.status_code, response.json()) == (202, {"status": "sync was scheduled"})
    first = CloudProjectMembership.objects.get(pk=iaas.membership.pk)
    assert (first.state, first.error_message) == (SyncState.IN_SYNC, "")


@pytest.mark.parametrize("tenant_id", [0, 0.0, " 0 ", ["x"]])
def test_an_owner_cannot_name_a_tenant_in_any_shape(iaas, roles, tenant_id):
    project = factories.ProjectFactory(customer=roles.customer, name="Shapes")
    body = {"project": link("project", project), "cloud": link("cloud", iaas.cloud), "tenant_id": tenant_id}
    response = roles.client_as("owner").post(MEMBERSHIPS, body, format="json")
    assert (response.status_code, response.json()) == (
        403, {"detail": EXISTING_TENANT_STAFF_ONLY, "code": "permission_denied"}
    )
    assert not CloudProjectMembership.objects.filter(project=project).exists()
