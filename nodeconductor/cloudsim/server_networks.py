"""Nova's side of Neutron: the ports a server boots on, the addresses it shows, and its ports on delete."""

import ipaddress

from .core import ApiError
from .network_model import add_port, ensure_default_group, remove_port

ALLOCATION_FAILED = "Build of instance {} aborted: Failed to allocate the network(s), not rescheduling."


def auto_nics(state, req, networks):
    """Nova's choice for "auto" (or, below 2.37, no `networks`): the tenant's only network, else a refusal.

    Auto-allocation of a fresh topology needs an is_default external network, which mini-openstack (and this
    simulator) does not have, so with no network at all "auto" is a 400 there; below 2.37 the server then simply
    boots without a network.
    """
    nets = [n for n in state.networks.values() if not n["router:external"]
            and (n["project_id"] == req.project_id or n["shared"])]
    if len(nets) > 1:
        raise ApiError(409, "Multiple possible networks found, use a Network ID to be more specific.")
    if nets:
        return [{"network": nets[0]["id"], "fixed_ip": None, "own": True}]
    if networks == "auto":
        raise ApiError(400, f"Unable to automatically allocate a network for project {req.project_id}")
    return []


def plan_nics(state, req, networks):
    """Check a boot request's `networks` (port or network uuid, or "auto"); return what to bind at build."""
    if networks == "auto" or networks is None:
        return auto_nics(state, req, networks)
    if not isinstance(networks, list):
        return []
    nics = []
    for item in networks:
        item = item if isinstance(item, dict) else {}
        if item.get("port"):
            port = state.ports.get(item["port"])
            if port is None or (port["project_id"] != req.project_id and not req.is_admin):
                raise ApiError(400, f"Port id {item['port']} could not be found.")
            if port["device_id"]:
                raise ApiError(409, f"Port {port['id']} is still in use.")
            nics.append({"port": port["id"], "own": False})
        elif item.get("uuid"):
            net = state.networks.get(item["uuid"])
            if net is None or not (net["project_id"] == req.project_id or net["shared"] or net["router:external"]
                                   or req.is_admin):
                raise ApiError(400, f"Network {item['uuid']} could not be found.")
            nics.append({"network": net["id"], "fixed_ip": item.get("fixed_ip"), "own": True})
        else:
            raise ApiError(400, f"Invalid input for field/attribute networks. Value: {networks}. Each network needs "
                                "a 'port' or a 'uuid'.")
    return nics


def allocate(state, server, group_names):
    """Bind pre-made ports and make ports on networks, as nova-compute does; False when allocation failed."""
    project_id = server["project_id"]
    default = ensure_default_group(state, project_id)
    groups = [g["id"] for g in state.security_groups.values()
              if g["project_id"] == project_id and g["name"] in (group_names or ())] or [default["id"]]
    for nic in server["nics"]:
        if not nic["own"]:
            port = state.ports.get(nic["port"])
            if port is None:
                return False
            port.update(device_id=server["id"], device_owner="compute:nova")
            continue
        net = state.networks.get(nic["network"])
        # nova-compute logs ExternalNetworkAttachForbidden; the user only sees the allocation failure.
        if net is None or net["router:external"]:
            return False
        try:
            port = add_port(state, project_id, net, fixed_ips=[{"ip_address": nic["fixed_ip"]}]
                            if nic.get("fixed_ip") else None, security_groups=groups, device_id=server["id"],
                            device_owner="compute:nova")
        except ApiError:
            return False
        nic["port"] = port["id"]
    return True


def server_ports(state, server):
    """The ports bound to the server, in boot order."""
    ports = [state.ports.get(nic.get("port") or "") for nic in server.get("nics", ())]
    return [p for p in ports if p is not None and p["device_id"] == server["id"]]


def addresses(state, server):
    """Nova's `addresses`: fixed IPs per network name, then floating IPs once Nova has heard of them."""
    out = {}
    for port in server_ports(state, server):
        net = state.networks.get(port["network_id"]) or {"name": port["network_id"]}
        entries = out.setdefault(net["name"], [])
        for ip in port["fixed_ips"]:
            entries.append({"version": ipaddress.ip_address(ip["ip_address"]).version, "addr": ip["ip_address"],
                            "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        for fip in state.floatingips.values():
            if fip.get("nova_port") == port["id"]:
                entries.append({"version": 4, "addr": fip["floating_ip_address"], "OS-EXT-IPS:type": "floating",
                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    return out


def security_group_names(state, server):
    """Names of the groups on the server's ports, as Nova lists them."""
    names = []
    for port in server_ports(state, server):
        for gid in port["security_groups"]:
            group = state.security_groups.get(gid)
            if group is not None and {"name": group["name"]} not in names:
                names.append({"name": group["name"]})
    return names


def release(state, server):
    """On delete: ports Nova made go, ports the user made stay behind unbound (device_id "")."""
    for port in server_ports(state, server):
        nic = next(n for n in server["nics"] if n.get("port") == port["id"])
        if nic["own"]:
            remove_port(state, port["id"])
        else:
            port.update(device_id="", device_owner="")
