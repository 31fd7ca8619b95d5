"""/api/floating-ips/ and the instance actions assign_floating_ip / unassign_floating_ip: roles, tenancy, 400/409,
queries per page, the create flag; nothing here reaches a cloud (the worker side is test_floating_ips_worker.py)."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nodeconductor.events.models import Event
from nodeconductor.iaas import tasks
from nodeconductor.iaas.models import CloudProjectMembership, FloatingIP, Instance, InstanceState
from tests import factories
from tests.fixtures.roles import check_matrix, list_query_counts
from tests.iaas.views.test_instances import create_body, link, make_instance, run_tasks, url

S = InstanceState
LIST = "/api/floating-ips/"
FIELDS = ["url", "uuid", "address", "status", "instance", "instance_uuid", "instance_hostname",
          "cloud_project_membership", "project", "project_name", "backend_id"]  # fmt: skip
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
NOT_OPERATOR = {"detail": "Only project administrators and staff operate instances.", "code": "permission_denied"}
ROLE_MATRIX = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}


@pytest.fixture(autouse=True)
def neutron_networking(settings):
    """Floating IPs live in Neutron: these tests run with the tenant network, as production does."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}


@pytest.fixture
def routed(iaas):
    """The membership as a sync with a router to the external network leaves it (no cloud call here)."""
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(
        networking="routed", network_id="net-1", subnet_id="sub-1", router_id="r-1", external_network_id="ext-1")
    iaas.membership.refresh_from_db()
    return iaas


def fip(membership, address="203.0.113.10", instance=None, **kw):
    """A floating IP row as the pull records it."""
    return FloatingIP.objects.create(membership=membership, backend_id=kw.pop("backend_id", f"fip-{address}"),
                                     address=address, status=kw.pop("status", "DOWN"), instance=instance, **kw)


def vm(iaas, state=S.ONLINE, **kw):
    """An instance row on a port of the tenant network."""
    return make_instance(iaas, state, port_id=kw.pop("port_id", f"port-{kw.get('hostname', 'row')}"), **kw)


@pytest.fixture
def foreign(iaas):
    """Another customer's membership with one free IP."""
    customer = factories.CustomerFactory()
    project = factories.ProjectFactory(customer=customer)
    cloud = iaas.cloud.__class__.objects.create(customer=customer, name="theirs", auth_url=iaas.cloud.auth_url)
    membership = CloudProjectMembership.objects.create(project=project, cloud=cloud, tenant_id="t2",
                                                       external_network_id="ext-2")  # fmt: skip
    return fip(membership, "203.0.113.99")


def fip_url(row):
    return reverse("floatingip-detail", kwargs={"uuid": row.uuid})


# The list and detail


@pytest.mark.django_db
def test_list_and_detail_matrix_fields_and_tenancy(routed, roles, foreign):
    instance = vm(routed, hostname="web")
    used = fip(routed.membership, "203.0.113.10", instance, status="ACTIVE")
    free = fip(routed.membership, "203.0.113.11")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(LIST))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner"):
        assert [f["address"] for f in responses[role].json()] == ["203.0.113.10", "203.0.113.11"]
    assert [f["address"] for f in responses["staff"].json()] == ["203.0.113.10", "203.0.113.11", "203.0.113.99"]
    body = responses["manager"].json()
    assert list(body[0]) == FIELDS
    assert body[0] == {
        "url": "http://testserver" + fip_url(used), "uuid": str(used.uuid), "address": "203.0.113.10",
        "status": "ACTIVE", "instance": link("instance", instance), "instance_uuid": str(instance.uuid),
        "instance_hostname": "web", "cloud_project_membership": link("cloudprojectmembership", routed.membership),
        "project": link("project", routed.membership.project), "project_name": routed.membership.project.name,
        "backend_id": "fip-203.0.113.10",
    }  # fmt: skip
    assert (body[1]["instance"], body[1]["instance_uuid"], body[1]["instance_hostname"]) == (None, None, "")
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(fip_url(free)))
    assert responses["stranger"].json() == NOT_FOUND and responses["owner"].json()["address"] == "203.0.113.11"
    for role in ("manager", "admin", "owner"):
        assert roles.client_as(role).get(fip_url(foreign)).json() == NOT_FOUND
    assert roles.client_as("admin").post(LIST, {}, format="json").status_code == 405


@pytest.mark.django_db
def test_filters(routed, roles):
    instance = vm(routed, hostname="web")
    fip(routed.membership, "203.0.113.10", instance, status="ACTIVE")
    fip(routed.membership, "203.0.113.11")
    client = roles.client_as("admin")

    def addresses(query):
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return [f["address"] for f in response.json()]

    both = ["203.0.113.10", "203.0.113.11"]
    assert addresses(f"project={routed.membership.project.uuid}") == both
    assert addresses(f"cloud_project_membership={routed.membership.uuid}") == both
    assert addresses(f"instance={instance.uuid}") == ["203.0.113.10"]
    assert addresses("status=ACTIVE") == ["203.0.113.10"]
    assert addresses("free=true") == ["203.0.113.11"] and addresses("free=false") == ["203.0.113.10"]
    response = client.get(f"{LIST}?status=UP")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_list_query_count_is_constant(routed, roles):
    for n in range(30):
        instance = vm(routed, hostname=f"h{n}") if n % 2 else None
        fip(routed.membership, f"203.0.113.{n + 10}", instance)
    counts = list_query_counts(roles, LIST)
    # COUNT, then the page with membership, project and instance joined in.
    assert counts == {(r, s): 2 for r in ("staff", "admin") for s in (1, 30)}, counts


# The actions


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["assign_floating_ip", "unassign_floating_ip"])
def test_action_matrix(routed, roles, action):
    instances = {role: vm(routed, hostname=role) for role in ("admin", "staff", "manager")}
    if action == "unassign_floating_ip":
        for n, instance in enumerate(instances.values()):
            fip(routed.membership, f"203.0.113.{n + 10}", instance)
            Instance.objects.filter(pk=instance.pk).update(external_ips=f"203.0.113.{n + 10}")
    responses = check_matrix(roles, ROLE_MATRIX, lambda c, r: c.post(
        url(instances.get(r, instances["manager"]), action), {}, format="json"))  # fmt: skip
    assert responses["admin"].json() == responses["staff"].json() == {"status": f"{action} was scheduled"}
    assert responses["manager"].json() == responses["owner"].json() == NOT_OPERATOR
    assert responses["stranger"].json() == NOT_FOUND
    scheduled = Event.objects.filter(event_type=f"instance_{action}_scheduled")
    assert sorted(scheduled.values_list("context__instance_hostname", flat=True)) == ["admin", "staff"]
    operations = {i.hostname: i.operation_name for i in Instance.objects.all()}
    assert operations == {"admin": action, "staff": action, "manager": ""}
    assert {i.state for i in Instance.objects.all()} == {S.ONLINE}, "the instance stays in its state"


@pytest.mark.django_db
@pytest.mark.parametrize("state", [S.ERRED, S.PROVISIONING, S.STOPPING_SCHEDULED])
@pytest.mark.parametrize("action", ["assign_floating_ip", "unassign_floating_ip"])
def test_actions_need_online_or_offline(routed, roles, state, action):
    instance = vm(routed, state)
    response = roles.client_as("admin").post(url(instance, action), {}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "Only an Online or Offline instance can change its floating IPs; the "
                               f"instance is {S(state).label}.", "code": "invalid_state"}  # fmt: skip
    shown = roles.client_as("admin").get(url(instance)).json()["actions"][action]
    assert shown == {"enabled": False, "reason": response.json()["detail"]}


PORTLESS = "The instance has no port on its tenant network (it boots without Neutron networking), so it cannot " \
    "have a floating IP."  # fmt: skip
NO_ROUTER = "The project's tenant has no router to an external network (internal networking only), so no " \
    "floating IP can reach the instance."  # fmt: skip


@pytest.mark.django_db
def test_why_an_assign_is_409(routed, roles, iaas):
    client = roles.client_as("admin")
    cases = []
    cases.append((make_instance(routed, S.OFFLINE, hostname="portless"), PORTLESS))
    has_one = vm(routed, hostname="has-one", external_ips="203.0.113.7")
    cases.append((has_one, "The instance has a floating IP already (203.0.113.7); unassign it first."))
    busy = vm(routed, hostname="busy")
    Instance.objects.filter(pk=busy.pk).update(operation_name="assign_floating_ip", operation_token="t")
    cases.append((busy, "A floating IP assignment of the instance is under way; retry once it is done."))
    for instance, reason in cases:
        response = client.post(url(instance, "assign_floating_ip"), {}, format="json")
        assert (response.status_code, response.json()) == (409, {"detail": reason, "code": "invalid_state"})
        assert client.get(url(instance)).json()["actions"]["assign_floating_ip"] == {"enabled": False,
                                                                                   "reason": reason}
        options = client.options(url(instance, "assign_floating_ip")).json()["actions"]["assign_floating_ip"]
        assert options == {"enabled": False, "reason": reason}
    response = client.post(url(has_one, "unassign_floating_ip"), {}, format="json")
    assert response.status_code == 202, response.json()
    CloudProjectMembership.objects.filter(pk=routed.membership.pk).update(external_network_id="", router_id="",
                                                                          networking="internal_only")  # fmt: skip
    response = client.post(url(vm(routed, hostname="internal"), "assign_floating_ip"), {}, format="json")
    assert (response.status_code, response.json()) == (409, {"detail": NO_ROUTER, "code": "invalid_state"})


@pytest.mark.django_db
def test_unassign_without_an_ip_is_409(routed, roles):
    instance = vm(routed)
    response = roles.client_as("admin").post(url(instance, "unassign_floating_ip"), {}, format="json")
    assert response.json() == {"detail": "The instance has no floating IP.", "code": "invalid_state"}
    assert response.status_code == 409


@pytest.mark.django_db
def test_options_answers_the_flag_for_each_role(routed, roles):
    instance = vm(routed)
    for role, enabled in (("admin", True), ("manager", False)):
        client = roles.client_as(role)
        response = client.options(url(instance, "assign_floating_ip"))
        assert response.status_code == 200
        flag = response.json()["actions"]["assign_floating_ip"]
        assert flag == client.get(url(instance)).json()["actions"]["assign_floating_ip"]
        assert flag["enabled"] is enabled


@pytest.mark.django_db
def test_the_chosen_ip_must_be_a_free_one_of_the_same_membership(routed, roles, foreign):
    instance = vm(routed, hostname="a")
    other = vm(routed, hostname="b", external_ips="203.0.113.20")
    taken = fip(routed.membership, "203.0.113.20", other)
    free = fip(routed.membership, "203.0.113.21")
    client = roles.client_as("admin")

    def post(value, action="assign_floating_ip", target=instance):
        return client.post(url(target, action), {"floating_ip": value}, format="json")

    response = post(str(foreign.uuid))
    assert (response.status_code, response.json()) == (
        400, {"floating_ip": [f"No floating IP {str(foreign.uuid)!r} is visible to you."], "code": "invalid"})
    response = post("http://testserver" + fip_url(taken))
    assert (response.status_code, response.json()) == (
        400, {"floating_ip": ["The floating IP 203.0.113.20 is in use by instance b."], "code": "invalid"})
    response = post(str(taken.uuid), "unassign_floating_ip")
    assert response.json() == {"floating_ip": ["The floating IP 203.0.113.20 is in use by instance b."],
                               "code": "invalid"}  # fmt: skip
    response = post(str(free.uuid), "unassign_floating_ip", other)
    assert response.json() == {"floating_ip": ["The floating IP 203.0.113.21 is not on this instance."],
                               "code": "invalid"}  # fmt: skip
    response = post("not-an-ip")
    assert response.json() == {"floating_ip": ["No floating IP 'not-an-ip' is visible to you."], "code": "invalid"}
    assert Instance.objects.get(pk=instance.pk).operation_token == ""
    response = post("http://testserver" + fip_url(free))
    assert response.status_code == 202, response.json()
    assert Instance.objects.get(pk=instance.pk).operation_params["floating_ip_id"] == "fip-203.0.113.21"


@pytest.mark.django_db
def test_assign_over_the_quota_is_400(routed, roles):
    CloudProjectMembership.objects.filter(pk=routed.membership.pk).update(quota_floating_ip_count=1)
    fip(routed.membership, "203.0.113.10", vm(routed, hostname="holder"))
    instance = vm(routed)
    response = roles.client_as("admin").post(url(instance, "assign_floating_ip"), {}, format="json")
    assert (response.status_code, response.json()) == (400, {"non_field_errors": [
        "Quota exceeded in the project's tenant: floating IPs: 1 in use + 1 requested > limit 1"],
        "code": "quota_exceeded"})  # fmt: skip
    assert Instance.objects.get(pk=instance.pk).operation_token == ""
    # A free IP of ours is reused, so it needs no quota.
    fip(routed.membership, "203.0.113.11", allocated_for="ab" * 16)
    CloudProjectMembership.objects.filter(pk=routed.membership.pk).update(quota_floating_ip_count=2)
    response = roles.client_as("admin").post(url(instance, "assign_floating_ip"), {}, format="json")
    assert response.status_code == 202, response.json()


@pytest.mark.django_db(transaction=True)
def test_a_refusing_broker_is_503_and_undoes_the_operation(routed, roles):
    instance = vm(routed)
    with mock.patch.object(tasks, "send_operation_step", side_effect=ConnectionRefusedError()):
        with run_tasks():
            response = roles.client_as("admin").post(url(instance, "assign_floating_ip"), {}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert "floating IP assignment was not scheduled and nothing was changed" in response.json()["detail"]
    instance.refresh_from_db()
    assert (instance.operation_token, instance.operation_name, instance.state) == ("", "", S.ONLINE)
    assert list(Event.objects.filter(event_type__startswith="instance_assign_floating_ip").order_by("created")
                .values_list("event_type", flat=True)) == ["instance_assign_floating_ip_scheduled",
                                                           "instance_assign_floating_ip_failed"]  # fmt: skip
    shown = roles.client_as("admin").get(url(instance)).json()["actions"]["assign_floating_ip"]
    assert shown == {"enabled": True, "reason": ""}, "nothing is left under way"


# The create flag


@pytest.mark.django_db
def test_create_flag_matrix(routed, roles):
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 201, "owner": 403, "staff": 201}
    responses = check_matrix(roles, expected, lambda c, r: c.post(
        "/api/instances/", create_body(routed, hostname=f"h-{r}", assign_floating_ip=True, ssh_public_key=None),
        format="json"))  # fmt: skip
    assert responses["manager"].json() == responses["owner"].json() == NOT_OPERATOR
    assert "assign_floating_ip" not in responses["admin"].json()
    params = {i.hostname: i.operation_params.get("assign_floating_ip") for i in Instance.objects.all()}
    assert params == {"h-admin": True, "h-staff": True}


@pytest.mark.django_db
def test_create_flag_needs_a_router_and_neutron(routed, roles, settings):
    client = roles.client_as("admin")
    CloudProjectMembership.objects.filter(pk=routed.membership.pk).update(external_network_id="", router_id="",
                                                                          networking="internal_only")  # fmt: skip
    response = client.post("/api/instances/", create_body(routed, assign_floating_ip=True), format="json")
    assert (response.status_code, response.json()) == (400, {"assign_floating_ip": [NO_ROUTER], "code": "invalid"})
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "none"}
    response = client.post("/api/instances/", create_body(routed, assign_floating_ip=True), format="json")
    assert response.status_code == 400
    assert response.json()["assign_floating_ip"][0].startswith("The instance would boot without Neutron networking")
    response = client.post("/api/instances/", create_body(routed, assign_floating_ip="maybe"), format="json")
    assert response.json() == {"assign_floating_ip": ["Must be a valid boolean."], "code": "invalid"}
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_create_flag_counts_against_the_quota(routed, roles):
    CloudProjectMembership.objects.filter(pk=routed.membership.pk).update(quota_floating_ip_count=1)
    client = roles.client_as("admin")
    response = client.post("/api/instances/", create_body(routed, hostname="a", assign_floating_ip=True),
                           format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    response = client.post("/api/instances/", create_body(routed, hostname="b", assign_floating_ip=True),
                           format="json")  # fmt: skip
    assert (response.status_code, response.json()) == (400, {"non_field_errors": [
        "Quota exceeded in the project's tenant: floating IPs: 1 in use + 1 requested > limit 1"],
        "code": "quota_exceeded"})  # fmt: skip
    response = client.post("/api/instances/", create_body(routed, hostname="c"), format="json")
    assert response.status_code == 201, "without the flag no floating IP quota is needed"


@pytest.mark.django_db
@pytest.mark.parametrize("state", list(S))
def test_every_floating_ip_flag_is_the_real_answer(routed, roles, state):
    """As test_instance_availability does for the other actions: the flag shown is what the request answers."""
    mismatches = []
    for role in ("admin", "manager", "owner", "staff"):
        client = roles.client_as(role)
        for action, ips in (("assign_floating_ip", ""), ("unassign_floating_ip", "203.0.113.5"),
                            ("unassign_floating_ip", "")):  # fmt: skip
            instance = vm(routed, state, hostname=f"{role}-{action}", external_ips=ips)
            shown = client.get(url(instance)).json()["actions"][action]
            response = client.post(url(instance, action), {}, format="json")
            codes = {403: "permission_denied", 409: "invalid_state"}
            ok = response.status_code == 202 if shown["enabled"] else (
                response.status_code in codes
                and response.json() == {"detail": shown["reason"], "code": codes[response.status_code]})
            if not ok:
                mismatches.append((role, action, ips, shown, response.status_code, response.content[:200]))
            Instance.objects.filter(pk=instance.pk).delete()
    assert not mismatches, mismatches


@pytest.mark.django_db
def test_the_quota_counts_pending_assigns_in_two_queries_whatever_the_tenant_holds(routed):
    """Only assigns that may allocate count: not those naming an IP, not unassigns, not other operations."""
    from nodeconductor.iaas.services.floating_ips import _pending_new

    recorded = [
        ("assign_floating_ip", {}),  # counts
        ("assign_floating_ip", {"user_uuid": None}),  # counts: no IP named
        ("assign_floating_ip", {"floating_ip_id": "fip-1"}),  # reuses a named IP
        ("unassign_floating_ip", {}),  # frees one
        ("stop", {}),
        ("", {}),
    ]
    for n in range(30):
        instance = vm(routed, hostname=f"h{n}")
        name, params = recorded[n % len(recorded)]
        Instance.objects.filter(pk=instance.pk).update(operation_name=name, operation_token="t" if name else "",
                                                       operation_params=params)  # fmt: skip
    with CaptureQueriesContext(connection) as ctx:
        pending = _pending_new(routed.membership)
    assert (pending, len(ctx)) == (10, 2)
