"""The attacker role matrix: the people of another customer (its owner, a project administrator, a project
manager) and a user with no role try every endpoint and action of the schema with the ids of a victim customer
they should not hold: uuids, tenant ids, server ids. Every object is 404, every list leaves the victim out
whatever its filters say, and every create or action that names a victim's object is refused with nothing made.
"""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from nodeconductor.iaas.models import Backup, BackupSchedule, CloudProjectMembership, Instance, SecurityGroup, SyncState
from nodeconductor.iaas.tasks import sync_cloud_membership
from nodeconductor.iaas.views.cloud import EXISTING_TENANT_STAFF_ONLY
from nodeconductor.structure.models import CustomerPermission, Project, ProjectPermission
from tests import factories
from tests.iaas import factories as iaas_factories
from tests.iaas.views.test_instances import create_body, link, run_tasks

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
NO_OBJECT = ["Invalid hyperlink - Object does not exist."]
ATTACKERS = ("owner", "admin", "manager", "stranger")
# Shared by every customer: the catalogue staff keep. Not a customer's to hide.
SHARED = {"iaas-templates", "template-licenses"}


@dataclass
class Attacker:
    """Customer A with a cloud on the same OpenStack, a tenant of its own and an Online instance there."""

    customer: object
    project: object
    membership: object
    instance: object
    key: object
    users: dict

    def client(self, role):
        client = APIClient()
        client.force_authenticate(self.users[role])
        return client


@pytest.fixture
def attacker(iaas, victim):
    customer = factories.CustomerFactory(name="Attacker Corp")
    project = factories.ProjectFactory(customer=customer, name="Attacker Project")
    users = {role: factories.UserFactory(username=f"attacker-{role}") for role in ATTACKERS}
    factories.CustomerPermissionFactory(customer=customer, user=users["owner"])
    factories.ProjectPermissionFactory(project=project, user=users["admin"], role="admin")
    factories.ProjectPermissionFactory(project=project, user=users["manager"], role="manager")
    cloud = iaas_factories.CloudFactory(customer=customer, name="Attacker Cloud", auth_url=iaas.cloud.auth_url)
    cloud.flavors.create(name=iaas.flavor.name, backend_id=iaas.flavor.backend_id, cores=iaas.flavor.cores,
                         ram=iaas.flavor.ram, disk=iaas.flavor.disk)  # fmt: skip
    membership = CloudProjectMembership.objects.create(project=project, cloud=cloud)
    sync_cloud_membership(str(membership.uuid))
    membership.refresh_from_db()
    assert membership.state == SyncState.IN_SYNC and membership.tenant_id != iaas.membership.tenant_id
    instance = iaas_factories.InstanceFactory(cloud_project_membership=membership, hostname="attacker-vm",
                                              template=iaas.template, flavor=cloud.flavors.get())  # fmt: skip
    key = factories.SshPublicKeyFactory(user=users["admin"])
    return Attacker(customer, project, membership, instance, key, users)


def collection(path):
    """The collection a schema path belongs to: /api/<collection>/..."""
    return path.split("/")[2]


def test_every_object_of_the_victim_is_404_to_every_attacker_on_every_method(victim, attacker, paths):
    detail = {p: methods for p, methods in paths.items() if "{uuid}" in p and collection(p) not in SHARED}
    unmapped = {collection(p) for p in detail} - set(victim.objects)
    assert not unmapped, f"a new collection needs a victim object here: {unmapped}"
    tried, wrong = 0, []
    for path, methods in sorted(detail.items()):
        url = path.replace("{uuid}", victim.objects[collection(path)].uuid.hex)
        for method in methods:
            for role in ATTACKERS:
                with run_tasks():
                    response = getattr(attacker.client(role), method)(url, {}, format="json")
                tried += 1
                if (response.status_code, response.json()) != (404, NOT_FOUND):
                    wrong.append((role, method.upper(), path, response.status_code, response.content[:200]))
    assert not wrong, wrong
    assert tried >= 4 * 40  # every role, about fifty method-paths: nothing was skipped by accident


def test_no_list_shows_the_victim_whatever_its_filters_say(victim, attacker, paths):
    lists = [p for p, ms in paths.items() if "{uuid}" not in p and "get" in ms and collection(p) not in SHARED]
    # Filters naming the victim's objects and cloud ids, as an attacker would guess them.
    objects = victim.objects
    filters = {
        "customer": objects["customers"].uuid.hex, "project": objects["projects"].uuid.hex,
        "cloud": objects["clouds"].uuid.hex, "membership": objects["project-cloud-memberships"].uuid.hex,
        "instance": objects["instances"].uuid.hex, "resource_uuid": objects["instances"].uuid.hex,
        "user": objects["users"].uuid.hex, "backend_id": objects["instances"].backend_id,
        "tenant_id": objects["project-cloud-memberships"].tenant_id, "page_size": 200,
    }  # fmt: skip
    wrong = []
    for path in lists:
        for query in ({"page_size": 200}, filters):
            for role in ATTACKERS:
                response = attacker.client(role).get(path, query)
                text = response.content.decode()
                leaked = sorted(s for s in victim.secrets if s and s in text)
                if response.status_code != 200 or leaked:
                    wrong.append((role, path, query is filters, response.status_code, leaked))
    assert not wrong, wrong
    # The attacker's own instance is listed: the lists answered with data, not empty by accident.
    body = attacker.client("admin").get("/api/instances/").json()
    assert [i["hostname"] for i in body] == ["attacker-vm"]


def refused(response, status, body):
    """The answer has exactly the status and the body."""
    assert (response.status_code, response.json()) == (status, body)


def test_creates_and_actions_naming_the_victims_objects_are_refused_and_make_nothing(iaas, victim, attacker):
    o = victim.objects
    owner = attacker.users["owner"]
    counts = lambda: (Project.objects.count(), CloudProjectMembership.objects.count(), Instance.objects.count(),  # noqa: E731
                      CustomerPermission.objects.count(), ProjectPermission.objects.count(),
                      SecurityGroup.objects.count(), Backup.objects.count(),
                      BackupSchedule.objects.count())  # fmt: skip
    before = counts()
    invalid = lambda **fields: {**{k: NO_OBJECT for k in fields}, "code": "invalid"}  # noqa: E731
    mine = {**create_body(iaas), "project": link("project", attacker.project),
            "flavor": link("flavor", attacker.instance.flavor), "ssh_public_key": link("sshpublickey", attacker.key)}
    tenant = attacker.membership.tenant_id
    cases = [
        ("/api/projects/", {"customer": link("customer", o["customers"]), "name": "Mine now"},
         400, invalid(customer=1)),
        ("/api/project-groups/", {"customer": link("customer", o["customers"]), "name": "Mine now"},
         400, invalid(customer=1)),
        ("/api/customer-permissions/", {"customer": link("customer", o["customers"]), "user": link("user", owner),
                                        "role": "owner"}, 400, invalid(customer=1)),
        ("/api/project-permissions/", {"project": link("project", o["projects"]), "user": link("user", owner),
                                       "role": "admin"}, 400, invalid(project=1)),
        ("/api/project-cloud-memberships/", {"project": link("project", attacker.project),
                                             "cloud": link("cloud", o["clouds"])}, 400, invalid(cloud=1)),
        ("/api/project-cloud-memberships/", {"project": link("project", attacker.project),
                                             "cloud": link("cloud", attacker.membership.cloud),
                                             "tenant_id": o["project-cloud-memberships"].tenant_id},
         403, {"detail": EXISTING_TENANT_STAFF_ONLY, "code": "permission_denied"}),
        ("/api/security-groups/", {"membership": link("cloudprojectmembership", o["project-cloud-memberships"]),
                                   "name": "open", "rules": []}, 400, invalid(membership=1)),
        ("/api/instances/", {**mine, "project": link("project", o["projects"])}, 400, invalid(project=1)),
        ("/api/instances/", {**mine, "flavor": link("flavor", o["flavors"])}, 400, invalid(flavor=1)),
        ("/api/instances/", {**mine, "ssh_public_key": link("sshpublickey", o["keys"])}, 400,
         invalid(ssh_public_key=1)),
        ("/api/instances/", {**mine, "security_groups": [link("securitygroup", o["security-groups"])]}, 400,
         invalid(security_groups=1)),
        # A server id of the victim's tenant, imported into the attacker's own tenant.
        (f"/api/project-cloud-memberships/{attacker.membership.uuid.hex}/import_instance/",
         {"backend_id": o["instances"].backend_id}, 400,
         {"backend_id": [f"Server {o['instances'].backend_id} is not among the untracked servers of tenant {tenant}; "
                         "list importable_instances to see them."],
          "code": "not_found_in_cloud"}),
        (f"/api/instances/{attacker.instance.uuid.hex}/update_security_groups/",
         {"security_groups": [link("securitygroup", o["security-groups"])]}, 400, invalid(security_groups=1)),
        (f"/api/instances/{attacker.instance.uuid.hex}/resize/", {"flavor": link("flavor", o["flavors"])}, 400,
         invalid(flavor=1)),
        # Backing up the victim's instance, or restoring the victim's backup into one's own project.
        ("/api/backups/", {"backup_source": link("instance", o["instances"])}, 400, invalid(backup_source=1)),
        ("/api/backup-schedules/", {"backup_source": link("instance", o["instances"]), "schedule": "0 2 * * *"}, 400,
         invalid(backup_source=1)),
        (f"/api/backups/{o['backups'].uuid.hex}/restore/", {"flavor": link("flavor", attacker.instance.flavor)},
         404, {"detail": "Not found.", "code": "not_found"}),
    ]  # fmt: skip
    for path, body, status, expected in cases:
        # Instances are operated by project administrators; everything else is the owner's.
        role = "admin" if "instances" in path or "import_instance" in path or "backups" in path else "owner"
        with run_tasks():
            response = attacker.client(role).post(path, body, format="json")
        refused(response, status, expected)
    assert counts() == before
    # Nothing reached the victim's tenant: its instance is as it was.
    instance = Instance.objects.get(pk=o["instances"].pk)
    assert (instance.state, instance.error_message) == ("online", "")
