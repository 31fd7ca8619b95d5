"""Tenant networking on Neutron: external network, network + subnet + router, ports, group rules, floating IPs.

Every method takes and returns plain data and raises CloudBackendError, and each is idempotent: a second call
adopts what the first made (found by name inside the tenant, the one tagged ``nodeconductor`` first) instead of
making a second set. What is made or adopted gets that tag, so our resources can be told from the tenant's own;
only tagged free floating IPs are reused. The backend works with admin credentials scoped to the tenant, and
Neutron shows an admin every project's resources, so every lookup filters on the tenant's project_id.

Settings (``NODECONDUCTOR``): ``OPENSTACK_TENANT_SUBNET_POOL`` (default ``10.20.0.0/16``) and
``OPENSTACK_TENANT_SUBNET_PREFIX`` (default 24): a new tenant subnet is the first block of that size in the pool
that overlaps no subnet of the tenant. A credentials entry may name its cloud's external network with
``external_network``; without it the cloud must have exactly one (or one marked ``is_default``).
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


class NetworkingMixin:
    """Leaf Neutron operations for one tenant; mixed into OpenStackBackend, wired into provisioning later."""

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
        found = self._read(f"list {kind} of tenant {tenant_id}", getattr(neutron, f"list_{kind}"),
                           project_id=tenant_id, **filters)[kind]
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
    def find_external_network(self, name=None):
        """The external network for gateways and floating IPs: {id, name, subnet_ids}."""
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
        if (router.get("external_gateway_info") or {}).get("network_id") != external_id:
            with self._neutron_call(f"set the gateway of router {router['id']}"):
                router = neutron.update_router(router["id"], {"router": {"external_gateway_info": gateway}})["router"]
        return router, False

    def _ensure_interface(self, tenant_id, router_id, subnet_id):
        """An interface of the router on the subnet; True when it had to be added."""
        ports = self._list(tenant_id, "ports", device_id=router_id, device_owner="network:router_interface")
        if any(ip["subnet_id"] == subnet_id for p in ports for ip in p.get("fixed_ips", ())):
            return False
        with self._neutron_call(f"add an interface on subnet {subnet_id} to router {router_id}"):
            self.neutron(tenant_id).add_interface_router(router_id, {"subnet_id": subnet_id})
        return True

    def ensure_tenant_network(self, tenant_id, name, cidr=None, external_network=None):
        """Network + subnet + router (gateway on the external network) + interface, adopted when they exist.

        Returns {network_id, subnet_id, cidr, router_id, external_network_id, created} where created lists
        what this call made ("network", "subnet", "router", "interface"): empty on a second call.
        """
        external = self.find_external_network(external_network)
        created = []
        nets = self._list(tenant_id, "networks", name=name)
        if nets:
            network = nets[0]
        else:
            with self._neutron_call(f"create network {name} in tenant {tenant_id}"):
                network = self.neutron(tenant_id).create_network({"network": {"name": name}})["network"]
            created.append("network")
        network = self._tag(tenant_id, "networks", network)
        subnet, made = self._ensure_subnet(tenant_id, network, name, cidr)
        created += ["subnet"] if made else []
        router, made = self._ensure_router(tenant_id, f"{name}-router", external["id"])
        created += ["router"] if made else []
        if self._ensure_interface(tenant_id, router["id"], subnet["id"]):
            created.append("interface")
        return {"network_id": network["id"], "subnet_id": subnet["id"], "cidr": subnet["cidr"],
                "router_id": router["id"], "external_network_id": external["id"], "created": created}

    def delete_tenant_network(self, tenant_id, name):
        """Undo ensure_tenant_network: interfaces, router, then network (subnets go with it); absent is fine."""
        neutron = self.neutron(tenant_id)
        for router in self._list(tenant_id, "routers", name=f"{name}-router"):
            for port in self._list(tenant_id, "ports", device_id=router["id"],
                                   device_owner="network:router_interface"):
                for ip in port.get("fixed_ips", ()):
                    self._delete(f"remove the interface on subnet {ip['subnet_id']} from router {router['id']}",
                                 neutron.remove_interface_router, router["id"], {"subnet_id": ip["subnet_id"]})
            self._delete(f"delete router {router['id']}", neutron.delete_router, router["id"])
        for network in self._list(tenant_id, "networks", name=name):
            self._delete(f"delete network {network['id']}", neutron.delete_network, network["id"])

    # Ports --------------------------------------------------------------------------------------------
    @staticmethod
    def _port_data(port):
        return {"id": port["id"], "network_id": port["network_id"], "mac_address": port["mac_address"],
                "fixed_ips": [ip["ip_address"] for ip in port.get("fixed_ips", ())],
                "security_group_ids": list(port.get("security_groups", ())), "device_id": port.get("device_id", ""),
                "status": port.get("status")}

    def ensure_port(self, tenant_id, network_id, name, security_group_ids=()):
        """The port called `name` on the network with exactly these groups: {id, fixed_ips, mac_address, ...}.

        Ports stay DOWN on clouds without a running OVN controller, so nothing here waits for the port.
        """
        neutron = self.neutron(tenant_id)
        wanted = list(security_group_ids)
        ports = self._list(tenant_id, "ports", network_id=network_id, name=name)
        if not ports:
            with self._neutron_call(f"create port {name} on network {network_id}"):
                port = neutron.create_port({"port": {"network_id": network_id, "name": name,
                                                     "security_groups": wanted}})["port"]
            self._tag(tenant_id, "ports", port)
            return self._port_data(port)
        port = ports[0]
        self._tag(tenant_id, "ports", port)
        if sorted(port.get("security_groups", ())) != sorted(wanted):
            with self._neutron_call(f"set the security groups of port {port['id']}"):
                port = neutron.update_port(port["id"], {"port": {"security_groups": wanted}})["port"]
        return self._port_data(port)

    def delete_port(self, tenant_id, port_id):
        """Delete a port (its floating IPs lose their association); True when it existed."""
        return self._delete(f"delete port {port_id}", self.neutron(tenant_id).delete_port, port_id)

    # Security groups ----------------------------------------------------------------------------------
    def ensure_security_group(self, tenant_id, name, rules, description="", directions=("ingress",)):
        """The group called `name` with exactly `rules` in `directions`, changed rule by rule.

        Rules are dicts with Neutron's keys (direction, ethertype, protocol, port_range_min, port_range_max,
        remote_ip_prefix). Only the missing ones are added and only the surplus ones removed: the group is never
        deleted and made again, so ports using it keep it. Returns {id, added, removed}.
        """
        wanted = {}
        for rule in rules:
            if rule.get("remote_group_id"):
                raise CloudBackendError(f"Rule {rule} names a remote group; only rules by address prefix are "
                                        "managed.")
            try:
                key = rule_key(rule)
            except (TypeError, ValueError) as exc:
                raise CloudBackendError(f"Rule {rule} is not valid: {exc}.") from None
            if key[0] not in directions:
                raise CloudBackendError(f"Rule {rule} has direction {key[0]}, but only {directions} are managed.")
            wanted[key] = rule
        neutron = self.neutron(tenant_id)
        groups = self._list(tenant_id, "security_groups", name=name)
        if groups:
            group = groups[0]
        else:
            with self._neutron_call(f"create security group {name} in tenant {tenant_id}"):
                group = neutron.create_security_group({"security_group": {"name": name,
                                                                          "description": description}})
                group = group["security_group"]
        self._tag(tenant_id, "security_groups", group)
        present = {}
        for rule in group.get("security_group_rules", ()):
            if rule["direction"] in directions and not rule.get("remote_group_id"):
                present.setdefault(rule_key(rule), rule["id"])
        added, removed = 0, 0
        for key in sorted(set(present) - set(wanted), key=str):
            self._delete(f"delete rule {present[key]} of security group {group['id']}",
                         neutron.delete_security_group_rule, present[key])
            removed += 1
        for key in sorted(set(wanted) - set(present), key=str):
            body = {"security_group_id": group["id"], **dict(zip(RULE_KEYS, key, strict=True))}
            with self._neutron_call(f"add a rule to security group {group['id']}"):
                neutron.create_security_group_rule({"security_group_rule": body})
            added += 1
        return {"id": group["id"], "added": added, "removed": removed}

    # Floating IPs -------------------------------------------------------------------------------------
    def ensure_floating_ip(self, tenant_id, port_id, external_network_id=None):
        """A floating IP on the port: the one it has, else a free one of the tenant, else a new one.

        Returns {id, address, port_id, fixed_ip}. Needs a router from the port's subnet to the external network
        (ensure_tenant_network), or Neutron refuses with a 404 that becomes CloudResourceNotFound.
        """
        external_network_id = external_network_id or self.find_external_network()["id"]
        neutron = self.neutron(tenant_id)
        fips = self._list(tenant_id, "floatingips", floating_network_id=external_network_id)
        fip = next((f for f in fips if f.get("port_id") == port_id), None)
        if fip is None:
            # Only our own spare addresses: an untagged free one may be an address the tenant keeps on purpose.
            free = next((f for f in fips if not f.get("port_id") and TAG in f.get("tags", ())), None)
            if free is not None:
                with self._neutron_call(f"associate floating IP {free['floating_ip_address']} with port {port_id}"):
                    fip = neutron.update_floatingip(free["id"], {"floatingip": {"port_id": port_id}})["floatingip"]
            else:
                body = {"floatingip": {"floating_network_id": external_network_id, "port_id": port_id}}
                with self._neutron_call(f"allocate a floating IP for port {port_id}"):
                    fip = neutron.create_floatingip(body)["floatingip"]
                self._tag(tenant_id, "floatingips", fip)
        return {"id": fip["id"], "address": fip["floating_ip_address"], "port_id": fip.get("port_id"),
                "fixed_ip": fip.get("fixed_ip_address")}

    def release_floating_ips(self, tenant_id, port_id):
        """Disassociate and release every floating IP on the port; returns the addresses released."""
        neutron = self.neutron(tenant_id)
        released = []
        for fip in self._list(tenant_id, "floatingips", port_id=port_id):
            self._delete(f"release floating IP {fip['floating_ip_address']}", neutron.delete_floatingip, fip["id"])
            released.append(fip["floating_ip_address"])
        return released
