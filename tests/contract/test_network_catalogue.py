"""Contract: what a new tenant finds in Neutron: the external network, its default group, quotas, error shapes."""

import uuid

import pytest
from neutronclient.common import exceptions as neutron_exc

DEFAULT_QUOTAS = {"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10, "floatingip": 50,
                  "rbac_policy": 10, "security_group": 10, "security_group_rule": 100, "trunk": -1}


def test_network_endpoint_in_catalog(cloud):
    access = cloud.session.auth.get_access(cloud.session)
    catalog = {entry["type"]: entry for entry in access.service_catalog.catalog}
    assert "network" in catalog, sorted(catalog)
    versions = cloud.session.get("/", endpoint_filter={"service_type": "network"}).json()["versions"]
    assert [v["id"] for v in versions] == ["v2.0"]


def test_public_is_external_and_its_subnet_hidden_from_tenants(cloud):
    pub = cloud.public_network()
    assert (pub["name"], pub["router:external"], pub["shared"], pub["status"]) == ("public", True, False, "ACTIVE")
    assert pub["project_id"] != cloud.project_id and len(pub["subnets"]) == 1
    assert "provider:network_type" not in pub, "provider attributes are for admins only"
    assert cloud.neutron.list_subnets(id=pub["subnets"][0])["subnets"] == []
    admin = cloud.admin_neutron()
    if admin is None:
        pytest.skip("the external subnet is only visible with admin credentials")
    sub = admin.show_subnet(pub["subnets"][0])["subnet"]
    assert (sub["cidr"], sub["gateway_ip"], sub["enable_dhcp"]) == ("203.0.113.0/24", "203.0.113.1", False)
    assert sub["allocation_pools"] == [{"start": "203.0.113.10", "end": "203.0.113.250"}]


def test_new_tenant_default_security_group(cloud):
    groups = cloud.neutron.list_security_groups(name="default")["security_groups"]
    assert len(groups) == 1
    group = groups[0]
    assert (group["description"], group["project_id"], group["stateful"]) == (
        "Default security group", cloud.project_id, True)
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"], r["protocol"], r["remote_ip_prefix"])
             for r in group["security_group_rules"]}
    assert rules == {("ingress", "IPv4", group["id"], None, None), ("ingress", "IPv6", group["id"], None, None),
                     ("egress", "IPv4", None, None, None), ("egress", "IPv6", None, None, None)}
    assert cloud.neutron.list_security_groups(name="default")["security_groups"][0]["id"] == group["id"]


def test_default_quotas_readable_by_the_tenant(cloud):
    # The tenant's first look at its groups makes its default group (whatever ran before this test, or not).
    assert "default" in [g["name"] for g in cloud.neutron.list_security_groups(project_id=cloud.project_id)[
        "security_groups"]]
    assert dict(cloud.neutron.show_quota(cloud.project_id)["quota"]) == DEFAULT_QUOTAS
    details = cloud.neutron.show_quota_details(cloud.project_id)["quota"]
    assert set(details) == set(DEFAULT_QUOTAS)
    assert details["security_group"]["used"] >= 1 and details["floatingip"]["limit"] == 50


def test_tenant_may_not_change_quotas(cloud):
    with pytest.raises(neutron_exc.Forbidden) as err:
        cloud.neutron.update_quota(cloud.project_id, {"quota": {"floatingip": 5}})
    assert err.value.status_code == 403 and "rule:update_quota is disallowed by policy" in str(err.value)


def test_not_found_shapes(cloud):
    missing = str(uuid.uuid4())
    cases = ((cloud.neutron.show_network, f"Network {missing} could not be found."),
             (cloud.neutron.show_subnet, f"Subnet {missing} could not be found."),
             (cloud.neutron.show_port, f"Port {missing} could not be found."),
             (cloud.neutron.show_router, f"Router {missing} could not be found"),
             (cloud.neutron.show_floatingip, f"Floating IP {missing} could not be found"))
    for show, text in cases:
        with pytest.raises(neutron_exc.NotFound) as err:
            show(missing)
        assert err.value.status_code == 404 and str(err.value).split("\n")[0] == text, "exact text"
    network = cloud.session.get(f"/v2.0/networks/{missing}", endpoint_filter={"service_type": "network"},
                                raise_exc=False)
    assert network.status_code == 404
    assert network.json() == {"NeutronError": {"type": "NetworkNotFound", "detail": "",
                                               "message": f"Network {missing} could not be found."}}


def test_unknown_attribute_is_400(cloud):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_network({"network": {"name": f"{cloud.prefix}-bogus", "bogus": 1}})
    assert "Unrecognized attribute(s) 'bogus'" in str(err.value)


def test_a_brand_new_project_gets_its_default_group_on_first_use(cloud):
    """Scoped to a new project, the first list of groups shows `default`, made there and then."""
    admin_session = cloud.admin_session()
    if admin_session is None:
        pytest.skip("needs admin credentials to make a project")
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3
    from keystoneclient.v3 import client as keystone_client
    from neutronclient.v2_0 import client as neutron_client

    keystone = keystone_client.Client(session=admin_session)
    project = keystone.projects.create(name=f"{cloud.prefix}-fresh", domain="default")
    admin_neutron = cloud.admin_neutron()
    try:
        role = next(r for r in keystone.roles.list() if r.name == "admin")
        keystone.roles.grant(role, user=admin_session.get_user_id(), project=project.id)
        creds = cloud.admin_creds
        scoped = ks_session.Session(auth=v3.Password(
            auth_url=creds.auth_url, username=creds.username, password=creds.password, project_id=project.id,
            user_domain_name=creds.user_domain))
        groups = neutron_client.Client(session=scoped).list_security_groups(project_id=project.id)["security_groups"]
        assert [(g["name"], g["project_id"], len(g["security_group_rules"])) for g in groups] == [
            ("default", project.id, 4)]
        # An admin listing with a project filter makes that project's default group too (and only one).
        listed = admin_neutron.list_security_groups(project_id=project.id)["security_groups"]
        assert [g["id"] for g in listed] == [groups[0]["id"]]
    finally:
        for group in admin_neutron.list_security_groups(project_id=project.id)["security_groups"]:
            admin_neutron.delete_security_group(group["id"])
        keystone.projects.delete(project.id)
