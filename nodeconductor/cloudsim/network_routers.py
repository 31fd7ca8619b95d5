"""Neutron routers (external gateway, interfaces) and floating IPs, mixed into the Network service."""

import ipaddress

from .core import ApiError
from .http import Response
from .network_model import NeutronError, add_port, allocate_ip, check_quota, owned, remove_port, router_for, stamp

ROUTER_KEYS = {"name", "admin_state_up", "external_gateway_info", "description", "tenant_id", "project_id",
               "availability_zone_hints"}
FIP_KEYS = {"floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address", "description",
            "tenant_id", "project_id", "subnet_id", "qos_policy_id", "dns_name", "dns_domain"}


class RoutersMixin:
    """Routers with a gateway on an external network, their interfaces, and floating IPs through them."""

    def router_routes(self, v):
        """Register the router and floating IP routes under `v`."""
        r = self.route
        for path, short in (("/routers", "router"), ("/floatingips", "floatingip")):
            r("GET", v + path, f"network.{short}_list", getattr(self, f"{short}_list"))
            r("POST", v + path, f"network.{short}_create", getattr(self, f"{short}_create"))
            r("GET", v + path + "/(?P<id>[^/]+)", f"network.{short}_get", getattr(self, f"{short}_get"))
            r("PUT", v + path + "/(?P<id>[^/]+)", f"network.{short}_update", getattr(self, f"{short}_update"))
            r("DELETE", v + path + "/(?P<id>[^/]+)", f"network.{short}_delete", getattr(self, f"{short}_delete"))
        r("PUT", v + "/routers/(?P<id>[^/]+)/add_router_interface", "network.router_add_interface",
          self.router_add_interface)
        r("PUT", v + "/routers/(?P<id>[^/]+)/remove_router_interface", "network.router_remove_interface",
          self.router_remove_interface)

    # -- routers -------------------------------------------------------------------------------------

    def get_router(self, req, router_id):
        """A visible router or 404 RouterNotFound (no final period, as Neutron words it)."""
        return self.find(req, "routers", router_id, "RouterNotFound", f"Router {router_id} could not be found")

    def router_list(self, req):
        """GET /v2.0/routers."""
        routers = [r for r in self.state.routers.values() if self.visible(req, r)]
        return self.listing(req, routers, "routers", self.plain)

    def router_get(self, req):
        """GET /v2.0/routers/{id}."""
        return Response(200, {"router": self.plain(req, self.get_router(req, req.match["id"]))})

    def _set_gateway(self, req, router, info):
        st = self.state
        old = router.get("external_gateway_info")
        if old:
            gateway = next((p for p in st.ports.values() if p["device_id"] == router["id"]
                            and p["device_owner"] == "network:router_gateway"), None)
            if gateway is not None:
                remove_port(st, gateway["id"])
            router["external_gateway_info"] = None
        if not info or not info.get("network_id"):
            return
        net = self.get_network(req, info["network_id"])
        if not net["router:external"]:
            raise NeutronError(400, "BadRequest", f"Bad router request: Network {net['id']} is not an external "
                                                  "network.")
        # The gateway port belongs to no project, as in Neutron: tenants never see it in their port lists.
        port = add_port(st, "", net, device_id=router["id"], device_owner="network:router_gateway")
        router["external_gateway_info"] = {"network_id": net["id"], "external_fixed_ips": [dict(ip) for ip in
                                                                                          port["fixed_ips"]],
                                           "enable_snat": bool(info.get("enable_snat", True))}

    def router_create(self, req):
        """POST /v2.0/routers: ACTIVE at once; a gateway takes an address of the external network."""
        st = self.state
        spec = self.spec(req, "router")
        self.check_keys(spec, ROUTER_KEYS)
        project_id = self.project_for(req, spec)
        check_quota(st, project_id, "router")
        router = owned(project_id, name=spec.get("name", ""), admin_state_up=bool(spec.get("admin_state_up", True)),
                       status="ACTIVE", external_gateway_info=None, description=spec.get("description", ""),
                       availability_zones=[], availability_zone_hints=[], routes=[])
        self._set_gateway(req, router, spec.get("external_gateway_info"))
        st.routers[router["id"]] = router
        return Response(201, {"router": self.plain(req, router)})

    def router_update(self, req):
        """PUT /v2.0/routers/{id}: name, description, external gateway (set or clear)."""
        router = self.get_router(req, req.match["id"])
        spec = self.spec(req, "router")
        self.check_keys(spec, ROUTER_KEYS)
        if "external_gateway_info" in spec:
            self._set_gateway(req, router, spec["external_gateway_info"])
        for key in ("name", "description", "admin_state_up"):
            if key in spec:
                router[key] = spec[key]
        stamp(router, created=False)
        return Response(200, {"router": self.plain(req, router)})

    def _interfaces(self, router):
        return [p for p in self.state.ports.values()
                if p["device_id"] == router["id"] and p["device_owner"] == "network:router_interface"]

    def router_delete(self, req):
        """DELETE /v2.0/routers/{id}: refused while interfaces remain; the gateway goes with it."""
        router = self.get_router(req, req.match["id"])
        ports = self._interfaces(router)
        if ports:
            raise NeutronError(409, "RouterInUse", f"Router {router['id']} has ports still attached: "
                                                   f"{','.join(sorted(p['id'] for p in ports))}")
        self._set_gateway(req, router, None)
        del self.state.routers[router["id"]]
        return Response(204)

    def _interface_body(self, router, port):
        sub_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
        return {"id": router["id"], "tenant_id": router["project_id"], "port_id": port["id"],
                "network_id": port["network_id"], "subnet_id": sub_ids[0] if sub_ids else None,
                "subnet_ids": sub_ids}

    def router_add_interface(self, req):
        """PUT /v2.0/routers/{id}/add_router_interface {subnet_id}: a port on the subnet's gateway address."""
        st = self.state
        router = self.get_router(req, req.match["id"])
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("port_id"):
            port = self.get_port(req, body["port_id"])
            if port["device_id"]:
                raise NeutronError(409, "PortInUse", f"Unable to complete operation on port {port['id']} for "
                                                     f"network {port['network_id']}. Port already has an attached "
                                                     f"device {port['device_id']}.")
            subnet = self.get_subnet(req, port["fixed_ips"][0]["subnet_id"]) if port["fixed_ips"] else None
        elif body.get("subnet_id"):
            subnet, port = self.get_subnet(req, body["subnet_id"]), None
        else:
            raise NeutronError(400, "BadRequest", "Bad router request: Either subnet_id or port_id must be "
                                                  "specified.")
        if subnet is not None:
            cidr = ipaddress.ip_network(subnet["cidr"])
            for other in self._interfaces(router):
                for ip in other["fixed_ips"]:
                    mine = st.subnets.get(ip["subnet_id"])
                    if mine is None:
                        continue
                    if mine["id"] == subnet["id"]:
                        raise NeutronError(400, "BadRequest", "Bad router request: Router already has a port on "
                                                              f"subnet {subnet['id']}.")
                    if cidr.overlaps(ipaddress.ip_network(mine["cidr"])):
                        raise NeutronError(400, "BadRequest", f"Bad router request: Cidr {subnet['cidr']} of "
                                                              f"subnet {subnet['id']} overlaps with cidr "
                                                              f"{mine['cidr']} of subnet {mine['id']}.")
        if port is None:
            net = st.networks[subnet["network_id"]]
            port = add_port(st, router["project_id"], net, security_groups=[],
                            fixed_ips=[{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}])
        port.update(device_id=router["id"], device_owner="network:router_interface")
        stamp(router, created=False)
        return Response(200, self._interface_body(router, port))

    def router_remove_interface(self, req):
        """PUT /v2.0/routers/{id}/remove_router_interface {subnet_id}: refused while floating IPs need it."""
        st = self.state
        router = self.get_router(req, req.match["id"])
        body = req.body if isinstance(req.body, dict) else {}
        subnet_id = body.get("subnet_id")
        ports = self._interfaces(router)
        if body.get("port_id"):
            port = next((p for p in ports if p["id"] == body["port_id"]), None)
            if port is None:
                raise NeutronError(404, "RouterInterfaceNotFound", f"Router {router['id']} does not have an "
                                                                   f"interface with id {body['port_id']}")
            subnet_id = port["fixed_ips"][0]["subnet_id"] if port["fixed_ips"] else None
        else:
            port = next((p for p in ports if any(ip["subnet_id"] == subnet_id for ip in p["fixed_ips"])), None)
            if port is None:
                raise NeutronError(404, "RouterInterfaceNotFoundForSubnet",
                                   f"Router {router['id']} has no interface on subnet {subnet_id}")
        for fip in st.floatingips.values():
            fixed = st.ports.get(fip["port_id"] or "")
            if fip["router_id"] == router["id"] and fixed and any(
                    ip["subnet_id"] == subnet_id for ip in fixed["fixed_ips"]):
                raise NeutronError(409, "RouterInterfaceInUseByFloatingIP",
                                   f"Router interface for subnet {subnet_id} on router {router['id']} cannot be "
                                   "deleted, as it is required by one or more floating IPs.")
        body = self._interface_body(router, port)
        remove_port(st, port["id"])
        stamp(router, created=False)
        return Response(200, body)

    # -- floating IPs --------------------------------------------------------------------------------

    def get_fip(self, req, fip_id):
        """A visible floating IP or 404 FloatingIPNotFound (Neutron's text has no final period)."""
        return self.find(req, "floatingips", fip_id, "FloatingIPNotFound", f"Floating IP {fip_id} could not be found")

    def fip_view(self, req, fip):
        """A floating IP with the port_details Neutron adds."""
        out = self.plain(req, fip)
        port = self.state.ports.get(fip["port_id"] or "")
        out["port_details"] = None if port is None else {
            k: port[k] for k in ("name", "network_id", "mac_address", "admin_state_up", "status", "device_id",
                                 "device_owner")}
        return out

    def floatingip_list(self, req):
        """GET /v2.0/floatingips."""
        fips = [f for f in self.state.floatingips.values() if self.visible(req, f)]
        return self.listing(req, fips, "floatingips", self.fip_view)

    def floatingip_get(self, req):
        """GET /v2.0/floatingips/{id}."""
        return Response(200, {"floatingip": self.fip_view(req, self.get_fip(req, req.match["id"]))})

    def _associate(self, req, fip, port_id, fixed_ip=None):
        """Point the floating IP at a port; the status (and Nova's view) follow a moment later, as on OVN."""
        st = self.state
        if port_id is None:
            fip.update(port_id=None, fixed_ip_address=None, router_id=None)
            st.later("floatingip_status", self._settle_fip, fip["id"], None)
            return
        port = self.get_port(req, port_id)
        if not port["fixed_ips"]:
            raise NeutronError(400, "BadRequest", f"Bad floatingip request: Port {port['id']} does not have any "
                                                  "fixed IPs.")
        ip = next((i for i in port["fixed_ips"] if fixed_ip in (None, i["ip_address"])), None)
        if ip is None:
            raise NeutronError(400, "BadRequest", f"Bad floatingip request: Port {port['id']} does not have fixed "
                                                  f"ip {fixed_ip}.")
        router = router_for(st, ip["subnet_id"], fip["floating_network_id"])
        if router is None:
            raise NeutronError(404, "ExternalGatewayForFloatingIPNotFound",
                               f"External network {fip['floating_network_id']} is not reachable from subnet "
                               f"{ip['subnet_id']}.  Therefore, cannot associate Port {port['id']} with a "
                               "Floating IP.")
        for other in st.floatingips.values():
            if other is not fip and other["port_id"] == port["id"] and other["fixed_ip_address"] == ip["ip_address"]:
                raise NeutronError(409, "FloatingIPPortAlreadyAssociated",
                                   f"Cannot associate floating IP {fip['floating_ip_address']} ({fip['id']}) with "
                                   f"port {port['id']} using fixed IP {ip['ip_address']}, as that fixed IP already "
                                   f"has a floating IP on external network {fip['floating_network_id']}.")
        fip.update(port_id=port["id"], fixed_ip_address=ip["ip_address"], router_id=router["id"])
        st.later("floatingip_status", self._settle_fip, fip["id"], port["id"])

    def _settle_fip(self, fip_id, port_id):
        fip = self.state.floatingips.get(fip_id)
        if fip is None or fip["port_id"] != port_id:
            return
        fip["status"] = "ACTIVE" if port_id else "DOWN"
        fip["nova_port"] = port_id

    def floatingip_create(self, req):
        """POST /v2.0/floatingips: an address of the external network's pool, optionally on a port at once."""
        st = self.state
        spec = self.spec(req, "floatingip")
        self.check_keys(spec, FIP_KEYS)
        if not spec.get("floating_network_id"):
            raise ApiError(400, "Failed to parse request. Required attribute 'floating_network_id' not specified")
        net = self.get_network(req, spec["floating_network_id"])
        if not net["router:external"]:
            raise NeutronError(400, "BadRequest", f"Bad floatingip request: Network {net['id']} is not a valid "
                                                  "external network.")
        project_id = self.project_for(req, spec)
        check_quota(st, project_id, "floatingip")
        wanted = spec.get("floating_ip_address")
        if wanted and not req.is_admin:
            raise ApiError(403, "(rule:create_floatingip and rule:create_floatingip:floating_ip_address) is "
                                "disallowed by policy")
        ip = allocate_ip(st, net, spec.get("subnet_id"), wanted)
        fip = owned(project_id, floating_ip_address=ip["ip_address"], floating_network_id=net["id"], router_id=None,
                    port_id=None, fixed_ip_address=None, status="DOWN", qos_policy_id=None, dns_domain="",
                    dns_name="", port_forwardings=[], description=spec.get("description", ""), nova_port=None)
        # The address is held by a port of the external network, so pools and subnets see it as used.
        holder = add_port(st, "", net, fixed_ips=[ip], device_id=fip["id"], device_owner="network:floatingip")
        fip["nova_holder"] = holder["id"]
        if spec.get("port_id"):
            try:
                self._associate(req, fip, spec["port_id"], spec.get("fixed_ip_address"))
            except ApiError:
                remove_port(st, holder["id"])
                raise
        st.floatingips[fip["id"]] = fip
        return Response(201, {"floatingip": self.fip_view(req, fip)})

    def floatingip_update(self, req):
        """PUT /v2.0/floatingips/{id} {port_id}: associate (port id) or disassociate (null)."""
        fip = self.get_fip(req, req.match["id"])
        spec = self.spec(req, "floatingip")
        self.check_keys(spec, FIP_KEYS)
        shown = self.fip_view(req, fip)
        if "port_id" in spec:
            self._associate(req, fip, spec["port_id"], spec.get("fixed_ip_address"))
        if "description" in spec:
            fip["description"] = spec["description"]
        stamp(fip, created=False)
        # Neutron answers before OVN reports back: the status in the answer is the one before the change.
        return Response(200, {"floatingip": {**self.fip_view(req, fip), "status": shown["status"]}})

    def floatingip_delete(self, req):
        """DELETE /v2.0/floatingips/{id}: the address goes back to the pool."""
        fip = self.get_fip(req, req.match["id"])
        remove_port(self.state, fip.get("nova_holder") or "")
        del self.state.floatingips[fip["id"]]
        return Response(204)
