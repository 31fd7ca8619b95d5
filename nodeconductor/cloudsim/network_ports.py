"""Neutron ports, security groups and security group rules, mixed into the Network service."""

import ipaddress

from .core import ApiError
from .http import Response
from .network_model import (
    NeutronError,
    add_port,
    add_rule,
    add_security_group,
    check_quota,
    ensure_default_group,
    remove_port,
    stamp,
)

PORT_KEYS = {"name", "network_id", "fixed_ips", "security_groups", "device_id", "device_owner", "admin_state_up",
             "description", "mac_address", "port_security_enabled", "binding:vnic_type", "binding:host_id",
             "allowed_address_pairs", "tenant_id", "project_id", "qos_policy_id"}
GROUP_KEYS = {"name", "description", "stateful", "tenant_id", "project_id"}
RULE_KEYS = {"security_group_id", "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
             "remote_ip_prefix", "remote_group_id", "description", "tenant_id", "project_id"}
# Neutron 21's protocol names, in the order its refusal lists them.
PROTOCOLS = ("ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "igmp", "ip", "ipip", "ipv6-encap", "ipv6-frag",
             "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "ospf", "pgm", "rsvp", "sctp", "tcp",
             "udp", "udplite", "vrrp")
# The fields Neutron compares to find a duplicate rule.
RULE_IDENTITY = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "normalized_cidr",
                 "remote_group_id")


class PortsMixin:
    """Ports (status DOWN forever), security groups with the tenant's default one, and their rules."""

    def port_routes(self, v):
        """Register the port, security group and rule routes under `v`."""
        r = self.route
        for path, kind in (("/ports", "port"), ("/security-groups", "security_group"),
                           ("/security-group-rules", "security_group_rule")):
            short = {"security_group": "sg", "security_group_rule": "sg_rule"}.get(kind, kind)
            r("GET", v + path, f"network.{short}_list", getattr(self, f"{short}_list"))
            r("POST", v + path, f"network.{short}_create", getattr(self, f"{short}_create"))
            r("GET", v + path + "/(?P<id>[^/]+)", f"network.{short}_get", getattr(self, f"{short}_get"))
            r("DELETE", v + path + "/(?P<id>[^/]+)", f"network.{short}_delete", getattr(self, f"{short}_delete"))
            if kind != "security_group_rule":
                r("PUT", v + path + "/(?P<id>[^/]+)", f"network.{short}_update", getattr(self, f"{short}_update"))

    # -- ports ---------------------------------------------------------------------------------------

    def get_port(self, req, port_id):
        """A visible port or 404 PortNotFound."""
        return self.find(req, "ports", port_id, "PortNotFound", f"Port {port_id} could not be found.")

    def _groups(self, req, project_id, ids):
        groups = []
        for gid in ids:
            group = self.state.security_groups.get(gid)
            if group is None or (group["project_id"] != project_id and not req.is_admin):
                raise NeutronError(404, "SecurityGroupNotFound", f"Security group {gid} does not exist")
            groups.append(gid)
        return groups

    def port_list(self, req):
        """GET /v2.0/ports (filters such as network_id, device_id, device_owner)."""
        ports = [p for p in self.state.ports.values() if self.visible(req, p)]
        return self.listing(req, ports, "ports", self.plain)

    def port_get(self, req):
        """GET /v2.0/ports/{id}."""
        return Response(200, {"port": self.plain(req, self.get_port(req, req.match["id"]))})

    def port_create(self, req):
        """POST /v2.0/ports: fixed IPs from the network's subnets; the default group unless groups are named."""
        st = self.state
        spec = self.spec(req, "port")
        self.check_keys(spec, PORT_KEYS)
        if not spec.get("network_id"):
            raise ApiError(400, "Failed to parse request. Required attribute 'network_id' not specified")
        net = self.get_network(req, spec["network_id"])
        project_id = self.project_for(req, spec)
        if net["router:external"] and not req.is_admin and net["project_id"] != project_id:
            raise ApiError(403, f"Tenant {project_id} not allowed to create port on this network")
        check_quota(st, project_id, "port")
        default = ensure_default_group(st, project_id)
        if "security_groups" in spec:
            groups = self._groups(req, project_id, spec["security_groups"] or [])
        else:
            groups = [default["id"]] if default else []
        port = add_port(st, project_id, net, fixed_ips=spec.get("fixed_ips"), security_groups=groups,
                        name=spec.get("name", ""), device_id=spec.get("device_id", ""),
                        device_owner=spec.get("device_owner", ""))
        port["description"] = spec.get("description", "")
        return Response(201, {"port": self.plain(req, port)})

    def port_update(self, req):
        """PUT /v2.0/ports/{id}: name, description, security groups, device binding."""
        port = self.get_port(req, req.match["id"])
        spec = self.spec(req, "port")
        self.check_keys(spec, PORT_KEYS)
        if "security_groups" in spec:
            port["security_groups"] = self._groups(req, port["project_id"], spec["security_groups"] or [])
        for key in ("name", "description", "device_id", "device_owner", "admin_state_up"):
            if key in spec:
                port[key] = spec[key]
        stamp(port, created=False)
        return Response(200, {"port": self.plain(req, port)})

    def port_delete(self, req):
        """DELETE /v2.0/ports/{id}: router ports only through the router API."""
        port = self.get_port(req, req.match["id"])
        if port["device_owner"] in ("network:router_interface", "network:router_gateway"):
            raise NeutronError(409, "ServicePortInUse", f"Port {port['id']} cannot be deleted directly via the port "
                                                        f"API: has device owner {port['device_owner']}.")
        remove_port(self.state, port["id"])
        return Response(204)

    # -- security groups -----------------------------------------------------------------------------

    def group_view(self, req, group):
        """A group with its rules embedded, as Neutron shows it."""
        out = self.plain(req, group)
        out["security_group_rules"] = [self.plain(req, r) for r in self.state.sg_rules.values()
                                       if r["security_group_id"] == group["id"]]
        return out

    def rule_view(self, req, rule):
        """A rule on its own (create, show, list): without the tags and standard_attr_id it has inside its group."""
        return {k: v for k, v in self.plain(req, rule).items() if k not in ("tags", "standard_attr_id")}

    def get_group(self, req, group_id):
        """A visible group or 404 SecurityGroupNotFound."""
        return self.find(req, "security_groups", group_id, "SecurityGroupNotFound",
                         f"Security group {group_id} does not exist")

    def sg_list(self, req):
        """GET /v2.0/security-groups: makes the default group of the caller's project (and of each project an
        admin filters on) on first sight, as Neutron does."""
        ensure_default_group(self.state, req.project_id)
        if req.is_admin:
            for key in ("project_id", "tenant_id"):
                for project_id in req.query.get(key, ()):
                    ensure_default_group(self.state, project_id)
        groups = [g for g in self.state.security_groups.values() if self.visible(req, g)]
        return self.listing(req, groups, "security_groups", self.group_view)

    def sg_get(self, req):
        """GET /v2.0/security-groups/{id}."""
        return Response(200, {"security_group": self.group_view(req, self.get_group(req, req.match["id"]))})

    def sg_create(self, req):
        """POST /v2.0/security-groups: a new group with the two egress rules."""
        st = self.state
        spec = self.spec(req, "security_group")
        self.check_keys(spec, GROUP_KEYS)
        project_id = self.project_for(req, spec)
        ensure_default_group(st, project_id)
        if spec.get("name") == "default":
            raise NeutronError(409, "SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
        check_quota(st, project_id, "security_group")
        group = add_security_group(st, project_id, spec.get("name", ""), spec.get("description", ""))
        return Response(201, {"security_group": self.group_view(req, group)})

    def sg_update(self, req):
        """PUT /v2.0/security-groups/{id}: name and description."""
        group = self.get_group(req, req.match["id"])
        spec = self.spec(req, "security_group")
        self.check_keys(spec, GROUP_KEYS)
        for key in ("name", "description"):
            if key in spec:
                group[key] = spec[key]
        stamp(group, created=False)
        return Response(200, {"security_group": self.group_view(req, group)})

    def sg_delete(self, req):
        """DELETE /v2.0/security-groups/{id}: refused while a port uses it, and for the default group."""
        st = self.state
        group = self.get_group(req, req.match["id"])
        if group["name"] == "default" and not req.is_admin:
            raise NeutronError(409, "SecurityGroupCannotRemoveDefault",
                               "Insufficient rights for removing default security group.")
        if any(group["id"] in p["security_groups"] for p in st.ports.values()):
            raise NeutronError(409, "SecurityGroupInUse", f"Security Group {group['id']} in use.")
        for rid in [r for r, rule in st.sg_rules.items() if rule["security_group_id"] == group["id"]]:
            del st.sg_rules[rid]
        del st.security_groups[group["id"]]
        return Response(204)

    # -- rules ---------------------------------------------------------------------------------------

    def sg_rule_list(self, req):
        """GET /v2.0/security-group-rules."""
        rules = [r for r in self.state.sg_rules.values() if self.visible(req, r)]
        return self.listing(req, rules, "security_group_rules", self.rule_view)

    def sg_rule_get(self, req):
        """GET /v2.0/security-group-rules/{id}."""
        rule = self.find(req, "sg_rules", req.match["id"], "SecurityGroupRuleNotFound",
                         f"Security group rule {req.match['id']} does not exist")
        return Response(200, {"security_group_rule": self.rule_view(req, rule)})

    def _validate_rule(self, spec):
        direction = spec.get("direction")
        if direction not in ("ingress", "egress"):
            raise ApiError(400, f"Invalid input for direction. Reason: {direction} is not in valid_values.")
        ethertype = spec.get("ethertype", "IPv4")
        if ethertype not in ("IPv4", "IPv6"):
            raise ApiError(400, f"Invalid input for ethertype. Reason: {ethertype} is not in valid_values.")
        protocol = spec.get("protocol")
        if protocol is not None and str(protocol).lower() not in PROTOCOLS and not str(protocol).isdigit():
            raise NeutronError(400, "SecurityGroupRuleInvalidProtocol",
                               f"Security group rule protocol {protocol} not supported. Only protocol values "
                               f"[None, {', '.join(repr(p) for p in PROTOCOLS)}] and integer representations "
                               "[0 to 255] are supported.")
        low, high = spec.get("port_range_min"), spec.get("port_range_max")
        if str(protocol).lower() in ("tcp", "udp") and low is not None and high is not None and int(low) > int(high):
            raise NeutronError(400, "SecurityGroupInvalidPortRange",
                               "For TCP/UDP protocols, port_range_min must be <= port_range_max")
        if (low is not None or high is not None) and protocol is None:
            raise NeutronError(400, "SecurityGroupProtocolRequiredWithPorts",
                               "Must also specify protocol if port range is given.")
        prefix = spec.get("remote_ip_prefix")
        if prefix is not None:
            try:
                ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise ApiError(400, f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP "
                                    "subnet.")
        return {"direction": direction, "ethertype": ethertype,
                "protocol": None if protocol is None else str(protocol).lower(),
                "port_range_min": None if low is None else int(low),
                "port_range_max": None if high is None else int(high),
                "remote_ip_prefix": prefix, "remote_group_id": spec.get("remote_group_id"),
                "description": spec.get("description", "")}

    def sg_rule_create(self, req):
        """POST /v2.0/security-group-rules: refuses duplicates (409, naming the existing rule) and bad ranges."""
        st = self.state
        spec = self.spec(req, "security_group_rule")
        self.check_keys(spec, RULE_KEYS)
        group = self.get_group(req, spec.get("security_group_id"))
        fields = self._validate_rule(spec)
        if fields["remote_group_id"]:
            self.get_group(req, fields["remote_group_id"])
        check_quota(st, group["project_id"], "security_group_rule")
        rule = add_rule(st, group, **fields)
        for other in st.sg_rules.values():
            if other is not rule and other["security_group_id"] == group["id"] and all(
                    other[k] == rule[k] for k in RULE_IDENTITY):
                del st.sg_rules[rule["id"]]
                raise NeutronError(409, "SecurityGroupRuleExists",
                                   f"Security group rule already exists. Rule id is {other['id']}.")
        stamp(group, created=False)
        return Response(201, {"security_group_rule": self.rule_view(req, rule)})

    def sg_rule_delete(self, req):
        """DELETE /v2.0/security-group-rules/{id}."""
        rule = self.find(req, "sg_rules", req.match["id"], "SecurityGroupRuleNotFound",
                         f"Security group rule {req.match['id']} does not exist")
        del self.state.sg_rules[rule["id"]]
        return Response(204)
