"""Tenant networking on Neutron: external network, network + subnet + router, ports, group rules.

Every method takes and returns plain data and raises CloudBackendError, and each is idempotent: a second call
adopts what the first made (found by name inside the tenant, the one tagged ``nodeconductor`` first) instead of
making a second set. What is made or adopted gets that tag, so our resources can be told from the tenant's own;
floating IPs are in floating_ips.py. The backend works with admin credentials scoped to the tenant, and
Neutron shows an admin every project's resources, so every lookup filters on the tenant's project_id.

Settings (``NODECONDUCTOR``): ``OPENSTACK_TENANT_SUBNET_POOL`` (default ``10.20.0.0/16``) and
``OPENSTACK_TENANT_SUBNET_PREFIX`` (default 24): a new tenant subnet is the first block of that size in the pool
that overlaps no subnet of the tenant. A credentials entry may name its cloud's external network with
``external_network``; without it the cloud must have exactly one (or one marked ``is_default``). A cloud with
none gets internal networking only: network and subnet, no router.
"""

import contextlib
import ipaddress
import logging
import time

from django.conf import settings

from . import clients
from .errors import CloudBackendError, CloudResourceNotFound, scrub

logger = logging.getLogger(__name__)

DEFAULT_SUBNET_POOL = "10.20.0.0/16"
DEFAULT_SUBNET_PREFIX = 24
# Neutron 21 sometimes answers a call with a 500 while it races a port binding update (mini-openstack NOTES.md);
# the next one works, so reads and deletes (both safe to repeat) are retried a few times before the error counts.
READ_ATTEMPTS = 4
READ_RETRY_PAUSE = 0.5
TAG = "nodeconductor"
# The tenant network of a membership: one per tenant, found by this name, or by TENANT_TAG when it was renamed.
TENANT_NETWORK = "nodeconductor"
TENANT_TAG = "nodeconductor-tenant-network"
# Tag API collection names of the list kinds.
TAG_COLLECTIONS = {"networks": "networks", "subnets": "subnets", "routers": "routers", "ports": "ports",
                   "security_groups": "security-groups", "floatingips": "floatingips"}
RULE_KEYS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix")


def rule_key(rule):
    """A rule's identity for the diff: the fields Neutron compares, the prefix normalised ("0.0.0.0/0")."""
    prefix = rule.get("remote_ip_prefix")
    if prefix:
        prefix = str(ipaddress.ip_network(prefix, strict=False))
    protocol = rule.get("protocol")
    return (rule.get("direction", "ingress"), rule.get("ethertype", "IPv4"),
            str(protocol).lower() if protocol is not None else None,
            None if rule.get("port_range_min") is None else int(rule["port_range_min"]),
            None if rule.get("port_range_max") is None else int(rule["port_range_max"]), prefix)


def free_subnet(taken, pool=None, prefix=None):
    """The first block of the pool that overlaps none of the `taken` CIDRs, or CloudBackendError."""
    conf = settings.NODECONDUCTOR
    pool = ipaddress.ip_network(pool or conf.get("OPENSTACK_TENANT_SUBNET_POOL", DEFAULT_SUBNET_POOL))
    prefix = int(prefix or conf.get("OPENSTACK_TENANT_SUBNET_PREFIX", DEFAULT_SUBNET_PREFIX))
    used = [ipaddress.ip_network(c) for c in taken]
    for block in pool.subnets(new_prefix=prefix):
        if not any(block.overlaps(u) for u in used):
            return str(block)
    raise CloudBackendError(f"No free /{prefix} is left in {pool} for a tenant subnet: every block overlaps one of "
                            f"the tenant's subnets ({', '.join(sorted(taken))}).")


def networks_mode():
    """OPENSTACK_NETWORKS: "tenant" (a port on the membership's network), "none", "auto" or a list of nics."""
    return settings.NODECONDUCTOR.get("OPENSTACK_NETWORKS", "tenant")


def port_name(instance):
    """Name of an instance's port in Neutron; carries our uuid so a retried step finds it (like volume_name)."""
    return f"nc-{instance.uuid.hex}-port"


class NetworkingMixin:
    """Neutron operations for one tenant (mixed into OpenStackBackend): the membership sync and provisioning."""

    def neutron(self, tenant_id=None):
        """Neutron client in the admin's or a tenant's scope."""
        return self._client("neutron", clients.neutron, tenant_id)

    @contextlib.contextmanager
    def _neutron_call(self, what):
        """self._call for keystoneauth errors, plus neutronclient's own exceptions, which it does not know."""
        from neutronclient.common import exceptions as neutron_exc

        try:
            with self._call(what):
                yield
        except neutron_exc.NeutronClientException as exc:
            # neutronclient appends the request ids to every message; they help nobody reading the error.
            text = str(exc).split("\nNeutron server returns request_ids")[0]
            message = scrub(f"{what} failed: {text}", (self.credentials.get("password"),))
            error_class = CloudResourceNotFound if exc.status_code == 404 else CloudBackendError
            logger.log(logging.DEBUG if error_class is CloudResourceNotFound else logging.WARNING, "%s", message)
            raise error_class(message) from None

    def _read(self, what, fn, *args, **kwargs):
        """A Neutron read or delete, retried while it fails with a 500 (the transient race), then translated."""
        from neutronclient.common import exceptions as neutron_exc

        for attempt in range(READ_ATTEMPTS):
            with self._neutron_call(what):
                try:
                    return fn(*args, **kwargs)
                except neutron_exc.InternalServerError:
                    if attempt == READ_ATTEMPTS - 1:
                        raise
                    logger.info("%s: transient 500, reading again", what)
            time.sleep(READ_RETRY_PAUSE)

    def _delete(self, what, fn, *args):
        """A Neutron delete (or interface removal) through _read's retries; False when it was already gone."""
        try:
            self._read(what, fn, *args)
        except CloudResourceNotFound:
            return False
        return True

    def _list(self, tenant_id, kind, **filters):
        """The tenant's resources of one kind (plural, e.g. "networks") matching filters."""
        neutron = self.neutron(tenant_id)
        lists = {"networks": neutron.list_networks, "subnets": neutron.list_subnets, "routers": neutron.list_routers,
                 "ports": neutron.list_ports, "floatingips": neutron.list_floatingips,
                 "security_groups": neutron.list_security_groups}  # fmt: skip
        found = self._read(f"list {kind} of tenant {tenant_id}", lists[kind], project_id=tenant_id, **filters)[kind]
        return sorted(found, key=lambda item: (TAG not in item.get("tags", ()), item.get("created_at") or "",
                                               item["id"]))

    def _tag(self, tenant_id, kind, item):
        """Mark a resource as ours (Neutron takes tags only after creation); returns the item."""
        if TAG not in item.get("tags", ()):
            with self._neutron_call(f"tag {kind} {item['id']}"):
                self.neutron(tenant_id).add_tag(TAG_COLLECTIONS[kind], item["id"], TAG)
            item = {**item, "tags": [*item.get("tags", ()), TAG]}
        return item

    # External network -------------------------------------------------------------------------------
    def find_external_network(self, name=None, required=True):
        """The external network for gateways and floating IPs: {id, name, subnet_ids}.

        With required=False a cloud that has none answers None (internal networking only); a name that is
        configured but absent, or several networks with none chosen, are errors either way.
        """
        name = name or self.credentials.get("external_network")
        filters = {"router:external": True, **({"name": name} if name else {})}
        nets = self._read("list external networks", self.neutron().list_networks, **filters)["networks"]
        if name and not nets:
            raise CloudBackendError(f"The cloud has no external network named {name!r}; fix 'external_network' in "
                                    "its credentials.")
        if len(nets) > 1:
            defaults = [n for n in nets if n.get("is_default")]
            if len(defaults) != 1:
                names = ", ".join(sorted(n["name"] for n in nets))
                raise CloudBackendError(f"The cloud has several external networks ({names}); name one with "
                                        "'external_network' in its credentials.")
            nets = defaults
        if not nets and not required:
            return None
        if not nets:
            raise CloudBackendError("The cloud has no external network (router:external) for routers and floating "
                                    "IPs.")
        return {"id": nets[0]["id"], "name": nets[0]["name"], "subnet_ids": list(nets[0].get("subnets", ()))}

    # Network, subnet, router --------------------------------------------------------------------------
    def _ensure_subnet(self, tenant_id, network, name, cidr):
        """The network's IPv4 subnet, or a new one on a CIDR that overlaps nothing else of the tenant."""
        subnets = self._list(tenant_id, "subnets", network_id=network["id"])
        subnets = [s for s in subnets if s.get("ip_version") == 4]
        if subnets:
            return self._tag(tenant_id, "subnets", subnets[0]), False
        taken = [s["cidr"] for s in self._list(tenant_id, "subnets")]
        if cidr is None:
            cidr = free_subnet(taken)
        elif any(ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(t)) for t in taken):
            raise CloudBackendError(f"Subnet {cidr} overlaps a subnet the tenant {tenant_id} already has "
                                    f"({', '.join(sorted(taken))}); choose another CIDR.")
        body = {"subnet": {"name": f"{name}-subnet", "network_id": network["id"], "ip_version": 4, "cidr": cidr}}
        with self._neutron_call(f"create subnet {cidr} in tenant {tenant_id}"):
            subnet = self.neutron(tenant_id).create_subnet(body)["subnet"]
        return self._tag(tenant_id, "subnets", subnet), True

    def _ensure_router(self, tenant_id, name, external_id):
        """The tenant's router called `name` with its gateway on the external network (set when missing)."""
        neutron = self.neutron(tenant_id)
        routers = self._list(tenant_id, "routers", name=name)
        gateway = {"network_id": external_id}
        if not routers:
            with self._neutron_call(f"create router {name} in tenant {tenant_id}"):
                router = neutron.create_router({"router": {"name": name, "external_gateway_info": gateway}})["router"]
            return self._tag(tenant_id, "routers", router), True
        router = self._tag(tenant_id, "routers", routers[0])
        return self._set_gateway(tenant_id, router, external_id), False

    def _attached_router(self, tenant_id, network_id, subnet_id):
        """The router that has an interface on the subnet already (whatever its name), or None."""
        ports = self._list(tenant_id, "ports", network_id=network_id, device_owner="network:router_interface")
        for port in ports:
            if any(ip["subnet_id"] == subnet_id for ip in port.get("fixed_ips", ())):
                router = self._read(f"get router {port['device_id']}", self.neutron(tenant_id).show_router,
                                    port["device_id"])["router"]
                return self._tag(tenant_id, "routers", router)
        return None

    def _set_gateway(self, tenant_id, router, external_id):
        """Put the router's gateway on the external network unless it is there already."""
        if (router.get("external_gateway_info") or {}).get("network_id") == external_id:
            return router
        with self._neutron_call(f"set the gateway of router {router['id']}"):
            body = {"router": {"external_gateway_info": {"network_id": external_id}}}
            return self.neutron(tenant_id).update_router(router["id"], body)["router"]

    def _find_network(self, tenant_id, name, tag):
        """The tenant's network called `name`, else (when a tag is given) the one carrying that tag, or None."""
        nets = self._list(tenant_id, "networks", name=name)
        if not nets and tag:
            nets = [n for n in self._list(tenant_id, "networks", tags=tag) if not n.get("router:external")]
        return nets[0] if nets else None

    def ensure_tenant_network(self, tenant_id, name, cidr=None, external_network=None, require_external=True,
                              tag=None):
        """Network + subnet + router (gateway on the external network) + interface, adopted when they exist.

        The network is found by name (or by `tag`, so a renamed one is still ours), the router by its interface
        on the subnet, else by name. Without an external network (require_external=False) there is no router.
        Returns {network_id, subnet_id, cidr, router_id, external_network_id, created} where created lists
        what this call made ("network", "subnet", "router", "interface"): empty on a second call.
        """
        external = self.find_external_network(external_network, required=require_external)
        created = []
        network = self._find_network(tenant_id, name, tag)
        if network is None:
            with self._neutron_call(f"create network {name} in tenant {tenant_id}"):
                network = self.neutron(tenant_id).create_network({"network": {"name": name}})["network"]
            created.append("network")
        network = self._tag(tenant_id, "networks", network)
        if tag and tag not in network.get("tags", ()):
            with self._neutron_call(f"tag networks {network['id']}"):
                self.neutron(tenant_id).add_tag("networks", network["id"], tag)
        subnet, made = self._ensure_subnet(tenant_id, network, network["name"], cidr)
        created += ["subnet"] if made else []
        result = {"network_id": network["id"], "subnet_id": subnet["id"], "cidr": subnet["cidr"], "router_id": "",
                  "external_network_id": "", "created": created}
        if external is None:
            return result
        router = self._attached_router(tenant_id, network["id"], subnet["id"])
        if router is None:
            router, made = self._ensure_router(tenant_id, f"{network['name']}-router", external["id"])
            created += ["router"] if made else []
            with self._neutron_call(f"add an interface on subnet {subnet['id']} to router {router['id']}"):
                self.neutron(tenant_id).add_interface_router(router["id"], {"subnet_id": subnet["id"]})
            created.append("interface")
        else:
            router = self._set_gateway(tenant_id, router, external["id"])
        return {**result, "router_id": router["id"], "external_network_id": external["id"]}

    def has_neutron(self):
        """Whether the cloud's catalogue has a network service (clouds without Neutron boot with no network)."""
        from keystoneauth1 import exceptions as ks_exc

        try:
            with self._call("look up the network service"):
                return bool(self.admin_session().get_endpoint(service_type="network", interface="public"))
        except ks_exc.EndpointNotFound:
            return False

    def ensure_membership_network(self, tenant_id):
        """The tenant's one network set as the membership stores it: {networking, network_id, subnet_id, ...}.

        networking is "none" when OPENSTACK_NETWORKS is "none" or the cloud has no Neutron (nothing is made),
        "internal_only" when the cloud has no external network (network and subnet, no router), else "routed".
        """
        empty = {"network_id": "", "subnet_id": "", "internal_cidr": "", "router_id": "", "external_network_id": ""}
        if networks_mode() != "tenant" or not self.has_neutron():
            return {"networking": "none", **empty}
        made = self.ensure_tenant_network(tenant_id, TENANT_NETWORK, require_external=False, tag=TENANT_TAG)
        if made["created"]:
            logger.info("Tenant %s network set: made %s", tenant_id, ", ".join(made["created"]))
        return {"networking": "routed" if made["router_id"] else "internal_only", "network_id": made["network_id"],
                "subnet_id": made["subnet_id"], "internal_cidr": made["cidr"], "router_id": made["router_id"],
                "external_network_id": made["external_network_id"]}

    # Ports --------------------------------------------------------------------------------------------
    @staticmethod
    def _port_data(port):
        return {"id": port["id"], "network_id": port["network_id"], "mac_address": port["mac_address"],
                "fixed_ips": [ip["ip_address"] for ip in port.get("fixed_ips", ())],
                "security_group_ids": list(port.get("security_groups", ())), "device_id": port.get("device_id", ""),
                "status": port.get("status")}

    def ensure_port(self, tenant_id, network_id, name, security_group_ids=()):
        """The port called `name` on the network with exactly these groups: {id, fixed_ips, mac_address, ...}.

        security_group_ids None leaves the groups to Neutron: the tenant's default group on a new port, and
        whatever an adopted port has. Ports stay DOWN on clouds without a running OVN controller, so nothing
        here waits for the port.
        """
        neutron = self.neutron(tenant_id)
        wanted = None if security_group_ids is None else list(security_group_ids)
        ports = self._list(tenant_id, "ports", network_id=network_id, name=name)
        if not ports:
            body = {"network_id": network_id, "name": name, **({} if wanted is None else {"security_groups": wanted})}
            with self._neutron_call(f"create port {name} on network {network_id}"):
                port = neutron.create_port({"port": body})["port"]
            self._tag(tenant_id, "ports", port)
            return self._port_data(port)
        port = ports[0]
        self._tag(tenant_id, "ports", port)
        if wanted is not None and sorted(port.get("security_groups", ())) != sorted(wanted):
            with self._neutron_call(f"set the security groups of port {port['id']}"):
                port = neutron.update_port(port["id"], {"port": {"security_groups": wanted}})["port"]
        return self._port_data(port)

    def delete_port(self, tenant_id, port_id):
        """Delete a port (its floating IPs lose their association); True when it existed."""
        return self._delete(f"delete port {port_id}", self.neutron(tenant_id).delete_port, port_id)

    def find_port_ids(self, tenant_id, name):
        """Ids of the tenant's ports called `name` (an instance's port whose id was never stored)."""
        return [p["id"] for p in self._list(tenant_id, "ports", name=name)]
