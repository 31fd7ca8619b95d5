"""Contract: Neutron's quota refusals and floating IP pool exhaustion (both need an admin to set them up)."""

import contextlib

import pytest
from neutronclient.common import exceptions as neutron_exc


@pytest.fixture
def admin(netfresh):
    """Neutron as admin, or skip."""
    client = netfresh.admin_neutron()
    if client is None:
        pytest.skip("needs OS_ADMIN_USERNAME / OS_ADMIN_PASSWORD / OS_ADMIN_PROJECT_NAME")
    return client


@contextlib.contextmanager
def quota(cloud, admin, **limits):
    """Set the tenant's Neutron quota for the block, then put the defaults back."""
    admin.update_quota(cloud.project_id, {"quota": limits})
    try:
        yield
    finally:
        admin.delete_quota(cloud.project_id)


def used(cloud, key):
    """What the tenant holds of one quota resource."""
    return cloud.neutron.show_quota_details(cloud.project_id)["quota"][key]["used"]


def test_floatingip_quota_is_409_over_quota(netfresh, admin):
    c = netfresh
    c.make_floatingip()
    with quota(c, admin, floatingip=used(c, "floatingip")):
        with pytest.raises(neutron_exc.OverQuotaClient) as err:
            c.make_floatingip()
        assert err.value.status_code == 409
        assert str(err.value).split("\n")[0] == "Quota exceeded for resources: ['floatingip']."
    assert admin.show_quota(c.project_id)["quota"]["floatingip"] == 50
    c.make_floatingip()


def test_security_group_and_rule_quotas_are_409(netfresh, admin):
    c = netfresh
    sg = c.neutron.create_security_group({"security_group": {"name": f"{c.prefix}-quota-sg"}})["security_group"]
    c.track("security_group", sg["id"])
    rule = {"security_group_rule": {"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
                                    "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}}
    with quota(c, admin, security_group_rule=used(c, "security_group_rule"), security_group=used(c, "security_group")):
        with pytest.raises(neutron_exc.OverQuotaClient) as err:
            c.neutron.create_security_group_rule(rule)
        assert str(err.value).split("\n")[0] == "Quota exceeded for resources: ['security_group_rule']."
        with pytest.raises(neutron_exc.OverQuotaClient) as err:
            c.neutron.create_security_group({"security_group": {"name": f"{c.prefix}-quota-sg2"}})
        assert str(err.value).split("\n")[0] == "Quota exceeded for resources: ['security_group']."
    assert c.neutron.create_security_group_rule(rule)["security_group_rule"]["port_range_min"] == 80


def test_quota_below_usage_is_accepted(netfresh, admin):
    c = netfresh
    c.make_floatingip()
    with quota(c, admin, floatingip=0):
        details = c.neutron.show_quota_details(c.project_id)["quota"]["floatingip"]
        assert details["limit"] == 0 and details["used"] >= 1


def test_floating_ip_pool_exhaustion_is_409(netfresh, admin):
    c = netfresh
    # An extra external network with a pool of two addresses (geneve: `public` holds the only flat physnet).
    ext = admin.create_network({"network": {"name": f"{c.prefix}-tiny-ext", "router:external": True}})["network"]
    c.track("network", ext["id"], admin)
    sub = admin.create_subnet({"subnet": {"network_id": ext["id"], "ip_version": 4, "cidr": "198.51.100.0/24",
                                          "enable_dhcp": False, "allocation_pools": [
                                              {"start": "198.51.100.10", "end": "198.51.100.11"}]}})["subnet"]
    c.track("subnet", sub["id"], admin)
    got = {c.make_floatingip(ext["id"])["floating_ip_address"] for _ in range(2)}
    assert got == {"198.51.100.10", "198.51.100.11"}
    with pytest.raises(neutron_exc.IpAddressGenerationFailureClient) as err:
        c.make_floatingip(ext["id"])
    assert err.value.status_code == 409
    assert str(err.value).split("\n")[0] == f"No more IP addresses available on network {ext['id']}."
