"""/api/security-groups/ and instances' groups: CRUD, rule validation per field, roles, tenancy, quotas, in use."""

import pytest
from django.urls import reverse

from nodeconductor.events.models import Event
from nodeconductor.iaas.models import (
    CloudProjectMembership,
    Instance,
    InstanceState,
    SecurityGroup,
    SecurityGroupState,
)
from nodeconductor.iaas.models.security_groups import set_instance_groups
from tests import factories
from tests.fixtures.roles import check_matrix, list_query_counts
from tests.iaas.views.test_instances import create_body, link, make_instance, run_tasks, url


@pytest.fixture(autouse=True)
def neutron_networking(settings):
    """Security groups live in Neutron: these tests run with the tenant network, as production does."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}


G = SecurityGroupState
LIST = "/api/security-groups/"
SSH = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0", "direction": "ingress"}
WEB = {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "10.0.0.0/8", "direction": "ingress"}
FIELDS = {"url", "uuid", "name", "description", "membership", "project", "project_name", "cloud", "cloud_name",
          "state", "error_message", "backend_id", "rules", "created", "modified", "operation"}  # fmt: skip
NOT_ADMIN = {"detail": "Only project administrators and staff manage security groups.", "code": "permission_denied"}
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def group_url(group):
    return reverse("securitygroup-detail", kwargs={"uuid": group.uuid})


def body(iaas, name="web", rules=(SSH,), **extra):
    return {"name": name, "membership": link("cloudprojectmembership", iaas.membership), "rules": list(rules), **extra}


def make_group(membership, name="g", rules=(SSH,), state=G.IN_SYNC, backend_id="sg-1"):
    """A group row in a state, without a push (tests that only check the API)."""
    group = SecurityGroup.objects.create(membership=membership, name=name)
    for rule in rules:
        group.rules.create(**rule)
    SecurityGroup.objects.filter(pk=group.pk).update(state=state, backend_id=backend_id)
    group.refresh_from_db()
    return group


@pytest.fixture
def foreign(iaas):
    """A membership of another customer's project in another cloud, with one group."""
    customer = factories.CustomerFactory()
    project = factories.ProjectFactory(customer=customer)
    cloud = iaas.cloud.__class__.objects.create(customer=customer, name="theirs", auth_url=iaas.cloud.auth_url)
    membership = CloudProjectMembership.objects.create(project=project, cloud=cloud, tenant_id="t2")
    return make_group(membership, name="theirs", backend_id="sg-theirs")


def rules_of(response):
    return [{k: r[k] for k in ("protocol", "from_port", "to_port", "cidr", "direction")} for r in response["rules"]]


# Defaults


def test_every_synced_membership_gets_the_default_groups(iaas):
    groups = {g.name: g for g in SecurityGroup.objects.filter(membership=iaas.membership)}
    assert set(groups) == {"ssh", "ping", "http", "https"}
    assert all(g.state == G.SYNC_SCHEDULED for g in groups.values())
    shape = {name: [(r.protocol, r.from_port, r.to_port, r.cidr) for r in g.rules.all()] for name, g in groups.items()}
    assert shape == {
        "ssh": [("tcp", 22, 22, "0.0.0.0/0")],
        "ping": [("icmp", None, None, "0.0.0.0/0")],
        "http": [("tcp", 80, 80, "0.0.0.0/0")],
        "https": [("tcp", 443, 443, "0.0.0.0/0")],
    }


def test_a_deleted_default_group_does_not_come_back_at_the_next_sync(iaas):
    from nodeconductor.iaas.models import SyncState
    from nodeconductor.iaas.tasks import sync_cloud_membership

    SecurityGroup.objects.filter(membership=iaas.membership, name="ssh").delete()
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(state=SyncState.SYNC_SCHEDULED)
    sync_cloud_membership(str(iaas.membership.uuid))
    iaas.membership.refresh_from_db()
    assert iaas.membership.state == SyncState.IN_SYNC
    assert sorted(g.name for g in iaas.membership.security_groups.all()) == ["http", "https", "ping"]


def test_default_groups_come_from_settings(roles, sim_env, settings):
    from tests.fixtures.iaas import build_iaas

    only = {"name": "rdp", "description": "", "rules": [{"protocol": "tcp", "from_port": 3389, "to_port": 3389,
                                                          "cidr": "192.168.0.0/16"}]}  # fmt: skip
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "DEFAULT_SECURITY_GROUPS": [only]}
    iaas = build_iaas(roles, sim_env)
    assert [(g.name, [str(r) for r in g.rules.all()]) for g in iaas.membership.security_groups.all()] == [
        ("rdp", ["tcp 3389-3389 from 192.168.0.0/16"])
    ]


# Create


def test_create_matrix(iaas, roles):
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 201, "owner": 403, "staff": 201}
    responses = check_matrix(roles, expected, lambda c, r: c.post(LIST, body(iaas, name=f"g-{r}"), format="json"))
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    assert responses["stranger"].json() == {"membership": ["Invalid hyperlink - Object does not exist."],
                                            "code": "invalid"}  # fmt: skip
    assert set(SecurityGroup.objects.filter(name__startswith="g-").values_list("name", flat=True)) == {
        "g-admin", "g-staff"
    }  # fmt: skip


def test_create_answers_the_scheduled_group_and_the_worker_pushes_it(iaas, roles):
    client = roles.client_as("admin")
    with run_tasks():
        response = client.post(LIST, body(iaas, description="front", rules=[SSH, {**WEB, "cidr": "10.0.0.0/8"}]),
                               format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == FIELDS
    assert (data["name"], data["description"], data["state"], data["backend_id"]) == ("web", "front",
                                                                                       "Sync Scheduled", "")
    assert rules_of(data) == [SSH, WEB]
    assert data["membership"] == link("cloudprojectmembership", iaas.membership)
    assert data["project"] == link("project", roles.project) and data["cloud"] == link("cloud", iaas.cloud)
    assert data["operation"] == {"name": "push_security_group", "title": "push of the security group",
                                 "state": "queued", "started": None,
                     "waiting_for": ""}  # fmt: skip
    shown = client.get(data["url"]).json()
    assert shown["state"] == "In Sync" and shown["backend_id"], shown["error_message"]
    assert shown["operation"] is None
    in_cloud = iaas.cloud.get_backend().list_security_groups(iaas.membership.tenant_id)
    mine = next(g for g in in_cloud if g["id"] == shown["backend_id"])
    assert sorted((r["protocol"], r["port_range_min"], r["remote_ip_prefix"]) for r in mine["rules"]) == [
        ("tcp", 22, "0.0.0.0/0"), ("tcp", 80, "10.0.0.0/8")
    ]  # fmt: skip


@pytest.mark.parametrize(
    "rule,errors",
    [
        ({"protocol": "sctp"}, {"protocol": ['"sctp" is not a valid choice.']}),
        ({"from_port": 0}, {"from_port": ["Ports are 1 to 65535; 0 is not."]}),
        ({"to_port": 70000}, {"to_port": ["Ports are 1 to 65535; 70000 is not."]}),
        ({"from_port": 90, "to_port": 80}, {"to_port": ["Must be at least from_port (90)."]}),
        ({"from_port": None}, {"from_port": ["A TCP rule needs a port: 1 to 65535."]}),
        ({"protocol": "icmp", "from_port": 300, "to_port": None},
         {"from_port": ["The ICMP type must be 0 to 255, or empty for any type."]}),
        ({"protocol": "icmp", "from_port": 8, "to_port": 256},
         {"to_port": ["The ICMP code must be 0 to 255, or empty for any code."]}),
        ({"protocol": "icmp", "from_port": None, "to_port": 0}, {"to_port": ["An ICMP code needs an ICMP type in "
                                                                             "from_port."]}),
        ({"cidr": "10.0.0.1/8"}, {"cidr": ["'10.0.0.1/8' is not a valid IPv4 or IPv6 CIDR (10.0.0.1/8 has host bits "
                                           "set); use the network address, e.g. 10.0.0.0/24."]}),
        ({"cidr": "banana"}, {"cidr": ["'banana' is not a valid IPv4 or IPv6 CIDR ('banana' does not appear to be "
                                       "an IPv4 or IPv6 network)."]}),
        ({"direction": "egress"}, {"direction": ['"egress" is not a valid choice.']}),
        ({"from_port": "x"}, {"from_port": ["A valid integer is required."]}),
    ],
)  # fmt: skip
def test_an_invalid_rule_is_400_naming_the_field(iaas, roles, rule, errors):
    response = roles.client_as("admin").post(LIST, body(iaas, rules=[SSH, {**SSH, **rule}]), format="json")
    assert response.status_code == 400
    assert response.json() == {"rules": {"1": errors}, "code": "invalid"}  # keyed by the rule's index
    assert not SecurityGroup.objects.filter(name="web").exists()


def test_valid_rule_shapes(iaas, roles):
    rules = [{"protocol": "icmp", "from_port": 8, "to_port": 0, "cidr": "0.0.0.0/0"},
             {"protocol": "udp", "from_port": 1, "to_port": 65535, "cidr": "2001:db8::/32"},
             {"protocol": "icmp", "cidr": "::/0"}]  # fmt: skip
    response = roles.client_as("admin").post(LIST, body(iaas, rules=rules), format="json")
    assert response.status_code == 201, response.json()
    assert rules_of(response.json()) == [{"from_port": None, "to_port": None, "direction": "ingress", **r}
                                         for r in rules]  # fmt: skip


def test_duplicates_names_and_reserved_names_are_400(iaas, roles):
    client = roles.client_as("admin")
    response = client.post(LIST, body(iaas, rules=[SSH, WEB, SSH]), format="json")
    assert response.json() == {"rules": ["Rule 3 repeats rule 1; give each rule once."], "code": "invalid"}
    response = client.post(LIST, body(iaas, name="ssh"), format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["The membership already has a security group called ssh."], "code": "invalid"}
    response = client.post(LIST, body(iaas, name="default"), format="json")
    assert response.json() == {"name": ["'default' is the tenant's own group in Neutron; choose another name."],
                               "code": "invalid"}  # fmt: skip


# Read


def test_list_and_retrieve_matrix_and_tenancy(iaas, roles, foreign):
    mine = make_group(iaas.membership, name="mine")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(LIST + "?page_size=100"))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner"):
        assert sorted(g["name"] for g in responses[role].json()) == ["http", "https", "mine", "ping", "ssh"]
    assert "theirs" in [g["name"] for g in responses["staff"].json()]
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(group_url(mine)))
    assert responses["stranger"].json() == NOT_FOUND
    assert responses["owner"].json()["rules"] == [SSH]
    for role in ("manager", "admin", "owner"):  # another tenant's group does not exist for them
        client = roles.client_as(role)
        assert client.get(group_url(foreign)).json() == NOT_FOUND
        assert client.patch(group_url(foreign), {"name": "x"}, format="json").status_code == 404
        assert client.delete(group_url(foreign)).status_code == 404


def test_owner_sees_the_groups_of_every_project_of_the_customer(iaas, roles):
    other = factories.ProjectFactory(customer=roles.customer)
    membership = CloudProjectMembership.objects.create(project=other, cloud=iaas.cloud, tenant_id="t3")
    make_group(membership, name="elsewhere")
    assert "elsewhere" in [g["name"] for g in roles.client_as("owner").get(LIST + "?page_size=100").json()]
    assert "elsewhere" not in [g["name"] for g in roles.client_as("admin").get(LIST + "?page_size=100").json()]


def test_filters(iaas, roles):
    group = make_group(iaas.membership, name="db-access")
    instance = make_instance(iaas)
    set_instance_groups(instance, [group])
    client = roles.client_as("admin")

    def names(query):
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return sorted(g["name"] for g in response.json())

    assert names("name=DB") == ["db-access"]
    assert names(f"instance={instance.uuid}") == ["db-access"]
    assert names(f"membership={iaas.membership.uuid}&state=in_sync") == ["db-access"]
    assert names(f"project={roles.project.uuid}&o=-name&name=http") == ["http", "https"]
    assert names(f"cloud={factories.CustomerFactory().uuid}") == []


def test_list_query_count_is_constant(iaas, roles):
    for n in range(30):
        make_group(iaas.membership, name=f"g{n}", rules=(SSH, WEB))
    counts = list_query_counts(roles, LIST)
    # COUNT, the page with its membership, project and cloud joined in, and the page's rules.
    assert counts == {(r, s): 3 for r in ("staff", "admin") for s in (1, 30)}, counts


# Update


def test_update_matrix(iaas, roles):
    groups = {role: make_group(iaas.membership, name=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(roles, expected, lambda c, r: c.patch(
        group_url(groups.get(r, groups["manager"])), {"rules": [WEB]}, format="json"))  # fmt: skip
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    assert responses["admin"].json()["state"] == "Sync Scheduled" and rules_of(responses["admin"].json()) == [WEB]
    assert [str(r) for r in groups["manager"].rules.all()] == ["tcp 22-22 from 0.0.0.0/0"]


def test_update_keeps_the_rows_of_unchanged_rules(iaas, roles):
    group = make_group(iaas.membership, name="g", rules=(SSH, WEB))
    kept = group.rules.get(from_port=22)
    SecurityGroup.objects.filter(pk=group.pk).update()
    group.rules.filter(pk=kept.pk).update(backend_id="rule-22")
    https = {**SSH, "from_port": 443, "to_port": 443}
    response = roles.client_as("admin").put(group_url(group), body(iaas, name="g2", rules=[SSH, https]),
                                            format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    assert response.json()["name"] == "g2" and rules_of(response.json()) == [SSH, https]
    assert group.rules.get(from_port=22).backend_id == "rule-22"  # the push keeps its Neutron rule
    group.refresh_from_db()
    assert group.state == G.SYNC_SCHEDULED


def test_a_group_cannot_move_and_busy_groups_are_409(iaas, roles, foreign):
    group = make_group(iaas.membership)
    client = roles.client_as("staff")
    response = client.patch(group_url(group), {"membership": link("cloudprojectmembership", foreign.membership)},
                            format="json")  # fmt: skip
    assert response.json() == {"membership": ["A group cannot move to another membership."], "code": "invalid"}
    SecurityGroup.objects.filter(pk=group.pk).update(state=G.SYNCING)
    response = client.patch(group_url(group), {"rules": []}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "The security group is Syncing; wait for it to finish before changing it.",
                               "code": "invalid_state"}  # fmt: skip


# Quotas


def test_quotas_cover_groups_and_rules(iaas, roles):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(
        quota_security_group_count=5, quota_security_group_rule_count=6
    )
    client = roles.client_as("admin")
    assert client.post(LIST, body(iaas, name="fifth", rules=[SSH]), format="json").status_code == 201
    response = client.post(LIST, body(iaas, name="sixth", rules=[]), format="json")
    assert response.status_code == 400
    message = "Quota exceeded in the project's tenant: security groups: 5 in use + 1 requested > limit 5"
    assert response.json() == {"non_field_errors": [message], "code": "quota_exceeded"}
    fifth = SecurityGroup.objects.get(name="fifth")
    response = client.patch(group_url(fifth), {"rules": [SSH, WEB, {**WEB, "cidr": "0.0.0.0/0"}]}, format="json")
    message = "Quota exceeded in the project's tenant: security group rules: 5 in use + 2 requested > limit 6"
    assert response.json() == {"non_field_errors": [message], "code": "quota_exceeded"}
    assert client.patch(group_url(fifth), {"rules": [SSH, WEB]}, format="json").status_code == 202


# Delete


def test_delete_matrix_and_the_worker_removes_it(iaas, roles):
    groups = {role: make_group(iaas.membership, name=role, backend_id="") for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    with run_tasks():
        responses = check_matrix(roles, expected, lambda c, r: c.delete(group_url(groups.get(r, groups["manager"]))))
    assert responses["admin"].json() == {"status": "deletion was scheduled"}
    assert responses["manager"].json() == NOT_ADMIN
    assert not SecurityGroup.objects.filter(name__in=["admin", "staff"]).exists()
    assert SecurityGroup.objects.filter(name="manager").exists()


def test_deleting_a_group_in_use_is_409_naming_the_instances(iaas, roles):
    group = make_group(iaas.membership)
    set_instance_groups(make_instance(iaas, hostname="web-1"), [group])
    set_instance_groups(make_instance(iaas, hostname="db-1"), [group])
    response = roles.client_as("admin").delete(group_url(group))
    assert response.status_code == 409
    assert response.json() == {"detail": "The security group is used by instances db-1, web-1; remove it from them "
                                         "first.", "code": "in_use"}  # fmt: skip
    group.refresh_from_db()
    assert group.state == G.IN_SYNC


# Instances


def test_instance_create_takes_groups_and_passes_their_ids_to_provisioning(iaas, roles):
    ssh, web = make_group(iaas.membership, "a", backend_id="sg-a"), make_group(iaas.membership, "b", backend_id="sg-b")
    groups = [link("securitygroup", web), link("securitygroup", ssh)]
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, security_groups=groups),
                                             format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    instance = Instance.objects.get(uuid=response.json()["uuid"])
    assert instance.operation_params["security_group_ids"] == ["sg-a", "sg-b"]
    assert sorted(g.name for g in instance.security_groups.all()) == ["a", "b"]
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname="plain"), format="json")
    assert "security_group_ids" not in Instance.objects.get(uuid=response.json()["uuid"]).operation_params


def test_instance_create_refuses_groups_of_another_tenant_or_not_pushed(iaas, roles, foreign):
    client = roles.client_as("admin")
    response = client.post("/api/instances/", create_body(iaas, security_groups=[link("securitygroup", foreign)]),
                           format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {"security_groups": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}
    pending = SecurityGroup.objects.get(membership=iaas.membership, name="ssh")
    response = client.post("/api/instances/", create_body(iaas, security_groups=[link("securitygroup", pending)]),
                           format="json")  # fmt: skip
    assert response.json() == {"security_groups": ["The security group ssh is not in the cloud yet (Sync Scheduled); "
                                                   "retry once it is In Sync."], "code": "invalid"}  # fmt: skip
    staff = roles.client_as("staff")  # staff sees the foreign group: it is still another membership's
    response = staff.post("/api/instances/", create_body(iaas, security_groups=[link("securitygroup", foreign)],
                                                         ssh_public_key=None), format="json")  # fmt: skip
    assert response.json() == {"security_groups": ["The security group theirs belongs to another project or cloud "
                                                   "than the instance."], "code": "invalid"}  # fmt: skip
    assert not Instance.objects.exists()


def test_update_security_groups_matrix(iaas, roles):
    group = make_group(iaas.membership)
    instances = {role: make_instance(iaas, hostname=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    payload = {"security_groups": [link("securitygroup", group)]}
    responses = check_matrix(roles, expected, lambda c, r: c.post(
        url(instances.get(r, instances["manager"]), "update_security_groups"), payload, format="json"))  # fmt: skip
    assert responses["admin"].json() == {"status": "update_security_groups was scheduled"}
    assert responses["manager"].json() == {"detail": "Only project administrators and staff operate instances.",
                                           "code": "permission_denied"}  # fmt: skip
    scheduled = Instance.objects.filter(operation_name="update_security_groups")  # no worker has run here
    assert {i.hostname: i.operation_params["security_group_uuids"] for i in scheduled} == {
        "admin": [str(group.uuid)], "staff": [str(group.uuid)]}
    assert Event.objects.filter(event_type="instance_update_security_groups_scheduled").count() == 2


@pytest.mark.parametrize("state", [InstanceState.OFFLINE, InstanceState.ERRED, InstanceState.PROVISIONING])
def test_update_security_groups_needs_an_online_instance(iaas, roles, state):
    instance = make_instance(iaas, state)
    response = roles.client_as("admin").post(url(instance, "update_security_groups"), {"security_groups": []},
                                             format="json")  # fmt: skip
    assert response.status_code == 409
    assert response.json() == {"detail": f"Only an Online instance can change its security groups; the instance is "
                                         f"{InstanceState(state).label}.", "code": "invalid_state"}  # fmt: skip
    shown = roles.client_as("admin").get(url(instance)).json()["actions"]["update_security_groups"]
    assert shown == {"enabled": False, "reason": response.json()["detail"]}


def test_options_on_update_security_groups_answers_the_instances_flag(iaas, roles):
    instance = make_instance(iaas, InstanceState.OFFLINE)
    for role in ("admin", "manager"):
        client = roles.client_as(role)
        response = client.options(url(instance, "update_security_groups"))
        assert response.status_code == 200
        flag = response.json()["actions"]["update_security_groups"]
        assert flag == client.get(url(instance)).json()["actions"]["update_security_groups"]
        assert flag["enabled"] is False and flag["reason"]


def test_update_security_groups_refuses_another_tenants_group(iaas, roles, foreign):
    instance = make_instance(iaas)
    response = roles.client_as("admin").post(url(instance, "update_security_groups"),
                                             {"security_groups": [link("securitygroup", foreign)]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"security_groups": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}
    assert not instance.security_groups.exists()
