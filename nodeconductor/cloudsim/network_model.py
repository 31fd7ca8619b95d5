"""Neutron records shared by the Neutron API and Nova (ports of servers): IPs, default groups, quotas, routes."""

import ipaddress
import random

from .core import ApiError, isotime, new_id

NEUTRON_DEFAULT_QUOTAS = {
    "network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10, "floatingip": 50,
    "rbac_policy": 10, "security_group": 10, "security_group_rule": 100, "trunk": -1,
}
# Which state table each quota key counts.
QUOTA_TABLES = {"network": "networks", "subnet": "subnets", "port": "ports", "router": "routers",
                "floatingip": "floatingips", "security_group": "security_groups",
                "security_group_rule": "sg_rules"}
PUBLIC_CIDR, PUBLIC_POOL = "203.0.113.0/24", ("203.0.113.10", "203.0.113.250")
TENANT_MTU = 1442  # geneve on mini-openstack (max_header_size 38)


class NeutronError(ApiError):
    """A Neutron refusal: besides status and message it carries the exception type neutronclient maps."""

    def __init__(self, status, kind, message):
        super().__init__(status, message)
        self.kind = kind


def stamp(record, created=True):
    """Set Neutron's timestamps (seconds, Z) and bump the revision number."""
    now = isotime()
    if created:
        record["created_at"] = now
        record["revision_number"] = 0
    else:
        record["revision_number"] = record.get("revision_number", 0) + 1
    record["updated_at"] = now
    return record


def owned(project_id, **fields):
    """A new record with id, tenant_id/project_id, description, tags and timestamps."""
    return stamp({"id": new_id(), "tenant_id": project_id, "project_id": project_id, "description": "",
                  "tags": [], **fields})


def add_network(state, project_id, name, external=False, shared=False, description="", network_type="geneve",
                physical_network=None):
    """Create a network record (ACTIVE at once, as ML2/OVN answers); flat ones sit on a physnet, MTU 1500."""
    mtu = 1500 if network_type == "flat" else TENANT_MTU
    net = owned(project_id, name=name, admin_state_up=True, mtu=mtu, status="ACTIVE", subnets=[], shared=shared,
                port_security_enabled=True, qos_policy_id=None, is_default=False, availability_zone_hints=[],
                availability_zones=[], ipv4_address_scope=None, ipv6_address_scope=None, description=description)
    net["router:external"] = external
    net.update({"provider:network_type": network_type, "provider:physical_network": physical_network,
                "provider:segmentation_id": None if network_type == "flat" else random.randint(1, 65536)})
    state.networks[net["id"]] = net
    return net


def add_subnet(state, project_id, network, cidr, name="", gateway_ip=None, pools=None, enable_dhcp=True):
    """Create an IPv4 subnet record; gateway defaults to the first host, the pool to the rest."""
    net = ipaddress.ip_network(cidr)
    hosts = list(net.hosts())
    gateway = gateway_ip or str(hosts[0])
    if pools is None:
        pools = [{"start": str(hosts[1]), "end": str(hosts[-1])}]
    sub = owned(project_id, name=name, network_id=network["id"], ip_version=4, subnetpool_id=None,
                enable_dhcp=enable_dhcp, ipv6_ra_mode=None, ipv6_address_mode=None, gateway_ip=gateway,
                cidr=str(net), allocation_pools=pools, host_routes=[], dns_nameservers=[], service_types=[])
    state.subnets[sub["id"]] = sub
    network["subnets"].append(sub["id"])
    return sub


def add_public_network(state, admin_project_id):
    """The admin's external network `public` (flat, router:external) with 203.0.113.0/24, pool .10-.250."""
    net = add_network(state, admin_project_id, "public", external=True, network_type="flat",
                      physical_network="physnet1", description="external network for router gateways and "
                                                               "floating IPs (documentation range, no traffic)")
    add_subnet(state, admin_project_id, net, PUBLIC_CIDR, name="public-subnet", gateway_ip="203.0.113.1",
               pools=[{"start": PUBLIC_POOL[0], "end": PUBLIC_POOL[1]}], enable_dhcp=False)
    return net


# -- addresses ---------------------------------------------------------------------------------------

def used_ips(state, subnet_id):
    """Addresses of the subnet held by ports (the gateway is held by the router interface, when there is one)."""
    return {ip["ip_address"] for p in state.ports.values() for ip in p["fixed_ips"] if ip["subnet_id"] == subnet_id}


def pool_addresses(subnet):
    """Every address of the subnet's allocation pools, in order."""
    out = []
    for pool in subnet["allocation_pools"]:
        start, end = int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))
        out.extend(str(ipaddress.ip_address(i)) for i in range(start, end + 1))
    return out


def allocate_ip(state, network, subnet_id=None, ip_address=None):
    """Pick a free address (random, like Neutron's IPAM) or take the asked one; return a fixed_ips entry."""
    subnets = [state.subnets[s] for s in network["subnets"] if subnet_id in (None, s)]
    if ip_address is not None:
        addr = ipaddress.ip_address(ip_address)
        for sub in subnets:
            if addr in ipaddress.ip_network(sub["cidr"]):
                if ip_address in used_ips(state, sub["id"]):
                    raise NeutronError(409, "IpAddressAlreadyAllocated",
                                       f"IP address {ip_address} already allocated in subnet {sub['id']}")
                return {"subnet_id": sub["id"], "ip_address": ip_address}
        raise NeutronError(400, "InvalidIpForNetwork",
                           f"IP address {ip_address} is not a valid IP for any of the subnets on the specified "
                           "network.")
    for sub in subnets:
        used = used_ips(state, sub["id"])
        free = [a for a in pool_addresses(sub) if a not in used]
        if free:
            return {"subnet_id": sub["id"], "ip_address": random.choice(free)}
    raise NeutronError(409, "IpAddressGenerationFailure", f"No more IP addresses available on network "
                                                          f"{network['id']}.")


def new_mac():
    """A MAC in OpenStack's fa:16:3e prefix."""
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


def add_port(state, project_id, network, fixed_ips=None, security_groups=None, name="", device_id="",
             device_owner=""):
    """Create a port with fixed IPs from the network; status DOWN forever (no ovn-controller binds it)."""
    ips = []
    wanted = fixed_ips if fixed_ips is not None else ([{}] if network["subnets"] else [])
    for spec in wanted:
        ips.append(allocate_ip(state, network, spec.get("subnet_id"), spec.get("ip_address")))
    port = owned(project_id, name=name, network_id=network["id"], mac_address=new_mac(), admin_state_up=True,
                 status="DOWN", device_id=device_id, device_owner=device_owner, fixed_ips=ips,
                 port_security_enabled=True, qos_policy_id=None, allowed_address_pairs=[], extra_dhcp_opts=[],
                 qos_network_policy_id=None, security_groups=list(security_groups or []))
    port["binding:vnic_type"] = "normal"
    state.ports[port["id"]] = port
    return port


def remove_port(state, port_id):
    """Delete a port; floating IPs on it lose their association, as Neutron does."""
    port = state.ports.pop(port_id, None)
    for fip in state.floatingips.values():
        if fip["port_id"] == port_id:
            fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN", nova_port=None)
    return port


# -- security groups ---------------------------------------------------------------------------------

def add_rule(state, group, direction, ethertype="IPv4", protocol=None, port_range_min=None, port_range_max=None,
             remote_ip_prefix=None, remote_group_id=None, description=""):
    """Add a rule record to a security group."""
    normalized = str(ipaddress.ip_network(remote_ip_prefix, strict=False)) if remote_ip_prefix else None
    rule = owned(group["project_id"], security_group_id=group["id"], ethertype=ethertype, direction=direction,
                 protocol=protocol, port_range_min=port_range_min, port_range_max=port_range_max,
                 remote_ip_prefix=remote_ip_prefix, remote_address_group_id=None, normalized_cidr=normalized,
                 remote_group_id=remote_group_id, standard_attr_id=state.scheduler_seq())
    # Neutron 21 shows no description on rules unless one was given.
    if description:
        rule["description"] = description
    else:
        del rule["description"]
    state.sg_rules[rule["id"]] = rule
    return rule


def add_security_group(state, project_id, name, description=""):
    """A new group with Neutron's two egress rules (IPv4, IPv6, any)."""
    group = owned(project_id, name=name, stateful=True, description=description, shared=False)
    state.security_groups[group["id"]] = group
    for ethertype in ("IPv4", "IPv6"):
        add_rule(state, group, "egress", ethertype)
    return group


def ensure_default_group(state, project_id):
    """The project's `default` group, made on first use with ingress from itself and egress anywhere."""
    if not project_id:
        return None
    group = next((g for g in state.security_groups.values()
                  if g["project_id"] == project_id and g["name"] == "default"), None)
    if group is None:
        group = owned(project_id, name="default", stateful=True, description="Default security group",
                      shared=False)
        state.security_groups[group["id"]] = group
        for ethertype in ("IPv4", "IPv6"):
            add_rule(state, group, "ingress", ethertype, remote_group_id=group["id"])
            add_rule(state, group, "egress", ethertype)
    return group


# -- quotas and routes -------------------------------------------------------------------------------

def neutron_quota(state, project_id):
    """The effective Neutron quota of a project."""
    return {**NEUTRON_DEFAULT_QUOTAS, **state.neutron_quotas.get(project_id, {})}


def neutron_usage(state, project_id):
    """What a project holds, per quota key."""
    used = {key: 0 for key in NEUTRON_DEFAULT_QUOTAS}
    for key, table in QUOTA_TABLES.items():
        used[key] = sum(1 for item in getattr(state, table).values() if item["project_id"] == project_id)
    return used


def check_quota(state, project_id, key, wanted=1):
    """Refuse like Neutron's quota engine: 409 OverQuota naming the resource."""
    limit = neutron_quota(state, project_id)[key]
    if limit >= 0 and neutron_usage(state, project_id)[key] + wanted > limit:
        raise NeutronError(409, "OverQuota", f"Quota exceeded for resources: ['{key}'].")


def router_for(state, subnet_id, external_network_id):
    """The router with an interface on the subnet and its gateway on the external network, or None."""
    for port in state.ports.values():
        if port["device_owner"] != "network:router_interface":
            continue
        if not any(ip["subnet_id"] == subnet_id for ip in port["fixed_ips"]):
            continue
        router = state.routers.get(port["device_id"])
        gateway = (router or {}).get("external_gateway_info") or {}
        if gateway.get("network_id") == external_network_id:
            return router
    return None
