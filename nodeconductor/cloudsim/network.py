"""Neutron v2.0 (ML2/OVN as on mini-openstack): discovery, networks, subnets and quotas; more in network_*.py."""

import copy
import ipaddress

from .core import ApiError
from .http import Response, Service
from .network_model import (
    NEUTRON_DEFAULT_QUOTAS,
    NeutronError,
    add_network,
    add_subnet,
    check_quota,
    ensure_default_group,
    neutron_quota,
    neutron_usage,
    stamp,
)
from .network_ports import PortsMixin
from .network_routers import RoutersMixin
from .network_tags import TagsMixin

# Neutron's exception type per status when a refusal has no more specific one (neutronclient maps the type).
DEFAULT_TYPES = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "HTTPForbidden", 404: "HTTPNotFound",
                 405: "HTTPMethodNotAllowed", 409: "HTTPConflict", 500: "HTTPInternalServerError",
                 503: "HTTPServiceUnavailable"}
PAGING = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse", "tags", "not-tags"}
NETWORK_KEYS = {"name", "admin_state_up", "shared", "router:external", "provider:network_type",
                "provider:physical_network", "provider:segmentation_id", "mtu", "description",
                "port_security_enabled", "availability_zone_hints", "tenant_id", "project_id", "qos_policy_id"}
SUBNET_KEYS = {"name", "network_id", "ip_version", "cidr", "gateway_ip", "allocation_pools", "enable_dhcp",
               "dns_nameservers", "host_routes", "description", "tenant_id", "project_id"}


def matches(req, item):
    """Neutron's list filters: each known field must equal one of the given values; tags must all be there."""
    for key, values in req.query.items():
        if key == "tags":
            wanted = {t for v in values for t in v.split(",")}
            if not wanted <= set(item.get("tags", ())):
                return False
            continue
        if key in PAGING or key not in item or isinstance(item[key], (list, dict)):
            continue
        value = item[key]
        texts = {str(value).lower() if isinstance(value, bool) else ("" if value is None else str(value))}
        if not texts & {v.lower() if isinstance(value, bool) else v for v in values}:
            return False
    return True


def unknown_keys(spec, allowed):
    """Neutron's 400 for attributes the resource does not have (tags go through the tag API only)."""
    if "tags" in spec:
        raise ApiError(400, "Attribute 'tags' not allowed in POST")
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ApiError(400, "Unrecognized attribute(s) '" + ", ".join(extra) + "'")


class Network(PortsMixin, RoutersMixin, TagsMixin, Service):
    """Neutron's networking API under /network (the catalog's `network` endpoint)."""

    name = "network"
    prefix = "/network"

    def __init__(self, state):
        super().__init__(state)
        r = self.route
        r("GET", "/", "network.versions", self.versions, auth=False)
        v = "/v2.0"
        for kind in ("network", "subnet"):
            path = v + f"/{kind}s"
            r("GET", path, f"network.{kind}_list", getattr(self, f"{kind}_list"))
            r("POST", path, f"network.{kind}_create", getattr(self, f"{kind}_create"))
            r("GET", path + "/(?P<id>[^/]+)", f"network.{kind}_get", getattr(self, f"{kind}_get"))
            r("PUT", path + "/(?P<id>[^/]+)", f"network.{kind}_update", getattr(self, f"{kind}_update"))
            r("DELETE", path + "/(?P<id>[^/]+)", f"network.{kind}_delete", getattr(self, f"{kind}_delete"))
        q = v + "/quotas/(?P<p>[^/]+)"
        r("GET", q, "network.quota_get", self.quota_get)
        r("GET", q + "/details(?:\\.json)?", "network.quota_details", self.quota_details)
        r("GET", q + "/default", "network.quota_defaults", self.quota_defaults)
        r("PUT", q, "network.quota_update", self.quota_update)
        r("DELETE", q, "network.quota_delete", self.quota_delete)
        self.port_routes(v)
        self.router_routes(v)
        self.tag_routes(v)

    check_keys = staticmethod(unknown_keys)

    # -- plumbing ------------------------------------------------------------------------------------

    def error_body(self, exc):
        """Neutron's error body: {"NeutronError": {type, message, detail}}."""
        kind = getattr(exc, "kind", None) or DEFAULT_TYPES.get(exc.status, "HTTPInternalServerError")
        return {"NeutronError": {"type": kind, "message": exc.message, "detail": ""}}

    def error(self, status, message):
        """Error body for refusals raised without a Neutron type."""
        return self.error_body(ApiError(status, message))

    def versions(self, req):
        """GET /network/: the version list."""
        return Response(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
            {"rel": "self", "href": f"{self.state.base_url}/network/v2.0/"}]}]})

    def spec(self, req, key):
        """The request body's single resource dict, or Neutron's 400."""
        body = req.body if isinstance(req.body, dict) else None
        spec = (body or {}).get(key)
        if not isinstance(spec, dict):
            raise ApiError(400, f"Resource body required: '{key}' not found in the request body.")
        return spec

    def project_for(self, req, spec):
        """The project a new resource belongs to: the caller's, or the one an admin names."""
        wanted = spec.get("project_id") or spec.get("tenant_id")
        if wanted and wanted != req.project_id and not req.is_admin:
            raise ApiError(403, "Policy doesn't allow this operation: only admins may act for another project.")
        return wanted or req.project_id

    def visible(self, req, item):
        """Owner or admin (networks and subnets widen this for shared and external ones)."""
        return req.is_admin or item.get("project_id") == req.project_id

    def find(self, req, table, item_id, kind, message, visible=None):
        """Return a record the caller may see, or Neutron's typed 404."""
        item = getattr(self.state, table).get(item_id)
        if item is None or not (visible or self.visible)(req, item):
            raise NeutronError(404, kind, message)
        return item

    def listing(self, req, items, plural, view):
        """Render, filter by query and project `fields`, as Neutron's list calls do."""
        out = [view(req, i) for i in items]
        out = [o for o in out if matches(req, o)]
        fields = req.query.get("fields")
        if fields:
            out = [{k: v for k, v in o.items() if k in fields} for o in out]
        return Response(200, {plural: out})

    @staticmethod
    def plain(req, item):
        """A copy without the simulator's private keys (those start with nova_)."""
        return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("nova_")}

    # -- networks ------------------------------------------------------------------------------------

    def network_visible(self, req, net):
        """Networks are visible to their owner, to everybody when shared or external, and to admins."""
        return self.visible(req, net) or net["shared"] or net["router:external"]

    def network_view(self, req, net):
        """A network as Neutron renders it: provider attributes for admins only, is_default on external ones."""
        out = self.plain(req, net)
        if not net["router:external"]:
            del out["is_default"]
        if not req.is_admin:
            for key in [k for k in out if k.startswith("provider:")]:
                del out[key]
        return out

    def get_network(self, req, net_id):
        """A visible network or 404 NetworkNotFound."""
        return self.find(req, "networks", net_id, "NetworkNotFound", f"Network {net_id} could not be found.",
                         self.network_visible)

    def network_list(self, req):
        """GET /v2.0/networks."""
        nets = [n for n in self.state.networks.values() if self.network_visible(req, n)]
        return self.listing(req, nets, "networks", self.network_view)

    def network_get(self, req):
        """GET /v2.0/networks/{id}."""
        return Response(200, {"network": self.network_view(req, self.get_network(req, req.match["id"]))})

    def network_create(self, req):
        """POST /v2.0/networks: tenant networks are geneve; admins may make external or flat ones."""
        st = self.state
        spec = self.spec(req, "network")
        unknown_keys(spec, NETWORK_KEYS)
        admin_only = [k for k in ("shared", "router:external", "provider:network_type",
                                  "provider:physical_network", "provider:segmentation_id") if k in spec]
        if admin_only and not req.is_admin:
            raise ApiError(403, f"(rule:create_network and rule:create_network:{admin_only[0]}) is disallowed by "
                                "policy")
        project_id = self.project_for(req, spec)
        check_quota(st, project_id, "network")
        net_type = spec.get("provider:network_type", "geneve")
        physnet = spec.get("provider:physical_network")
        if net_type == "flat":
            physnet = physnet or "physnet1"
            if any(n.get("provider:physical_network") == physnet for n in st.networks.values()):
                raise NeutronError(409, "FlatNetworkInUse", "Unable to create the flat network. Physical network "
                                                            f"{physnet} is in use.")
        ensure_default_group(st, project_id)
        net = add_network(st, project_id, spec.get("name", ""), external=bool(spec.get("router:external")),
                          shared=bool(spec.get("shared")), description=spec.get("description", ""),
                          network_type=net_type, physical_network=physnet)
        net["admin_state_up"] = bool(spec.get("admin_state_up", True))
        stamp(net, created=False)
        # Only the answer to a create shows is_default on a tenant network (measured on Neutron 21).
        return Response(201, {"network": {**self.network_view(req, net), "is_default": net["is_default"]}})

    def network_update(self, req):
        """PUT /v2.0/networks/{id}: name, description, admin_state_up."""
        net = self.get_network(req, req.match["id"])
        if not self.visible(req, net):
            raise ApiError(403, "rule:update_network is disallowed by policy")
        spec = self.spec(req, "network")
        unknown_keys(spec, NETWORK_KEYS)
        for key in ("name", "description", "admin_state_up"):
            if key in spec:
                net[key] = spec[key]
        stamp(net, created=False)
        return Response(200, {"network": self.network_view(req, net)})

    def network_delete(self, req):
        """DELETE /v2.0/networks/{id}: refused while ports other than DHCP ones use it; subnets go with it."""
        st = self.state
        net = self.get_network(req, req.match["id"])
        if not self.visible(req, net):
            raise ApiError(403, "rule:delete_network is disallowed by policy")
        ports = sorted(p["id"] for p in st.ports.values() if p["network_id"] == net["id"]
                       and p["device_owner"] != "network:dhcp")
        if ports:
            raise NeutronError(409, "NetworkInUse", f"Unable to complete operation on network {net['id']}. There "
                                                    "are one or more ports still in use on the network, id for "
                                                    f"these ports is: {','.join(ports)}.")
        for sid in net["subnets"]:
            st.subnets.pop(sid, None)
        del st.networks[net["id"]]
        return Response(204)

    # -- subnets -------------------------------------------------------------------------------------

    def subnet_visible(self, req, sub):
        """Subnets: the owner's, a shared network's, or any for admins (not an external network's)."""
        net = self.state.networks.get(sub["network_id"]) or {}
        return self.visible(req, sub) or net.get("shared", False)

    def get_subnet(self, req, subnet_id):
        """A visible subnet or 404 SubnetNotFound."""
        return self.find(req, "subnets", subnet_id, "SubnetNotFound", f"Subnet {subnet_id} could not be found.",
                         self.subnet_visible)

    def subnet_list(self, req):
        """GET /v2.0/subnets."""
        subs = [s for s in self.state.subnets.values() if self.subnet_visible(req, s)]
        return self.listing(req, subs, "subnets", self.plain)

    def subnet_get(self, req):
        """GET /v2.0/subnets/{id}."""
        return Response(200, {"subnet": self.plain(req, self.get_subnet(req, req.match["id"]))})

    def subnet_create(self, req):
        """POST /v2.0/subnets: IPv4 only; refuses a CIDR overlapping another subnet of the same network."""
        st = self.state
        spec = self.spec(req, "subnet")
        unknown_keys(spec, SUBNET_KEYS)
        for key in ("network_id", "cidr"):
            if not spec.get(key):
                raise ApiError(400, f"Failed to parse request. Required attribute '{key}' not specified")
        if str(spec.get("ip_version", 4)) != "4":
            raise NeutronError(400, "InvalidInput", "Invalid input for operation: the simulator only has IPv4 "
                                                    "subnets.")
        net = self.get_network(req, spec["network_id"])
        if not self.visible(req, net):
            raise ApiError(403, "rule:create_subnet is disallowed by policy")
        try:
            cidr = ipaddress.ip_network(spec["cidr"], strict=False)
        except ValueError:
            raise NeutronError(400, "InvalidInput", f"Invalid input for operation: {spec['cidr']} is not in a CIDR "
                                                    "format.")
        if cidr.version != 4 or cidr.prefixlen > 30:
            raise NeutronError(400, "InvalidInput", f"Invalid input for operation: {spec['cidr']} is not a usable "
                                                    "IPv4 CIDR.")
        for sid in net["subnets"]:
            if cidr.overlaps(ipaddress.ip_network(st.subnets[sid]["cidr"])):
                raise NeutronError(400, "InvalidInput", f"Invalid input for operation: Requested subnet with cidr: "
                                                        f"{spec['cidr']} for network: {net['id']} overlaps with "
                                                        "another subnet.")
        project_id = self.project_for(req, spec)
        check_quota(st, project_id, "subnet")
        sub = add_subnet(st, project_id, net, str(cidr), name=spec.get("name", ""),
                         gateway_ip=spec.get("gateway_ip"), pools=spec.get("allocation_pools"),
                         enable_dhcp=bool(spec.get("enable_dhcp", True)))
        sub["description"] = spec.get("description", "")
        stamp(net, created=False)
        return Response(201, {"subnet": self.plain(req, sub)})

    def subnet_update(self, req):
        """PUT /v2.0/subnets/{id}: name and description."""
        sub = self.get_subnet(req, req.match["id"])
        spec = self.spec(req, "subnet")
        unknown_keys(spec, SUBNET_KEYS)
        for key in ("name", "description"):
            if key in spec:
                sub[key] = spec[key]
        stamp(sub, created=False)
        return Response(200, {"subnet": self.plain(req, sub)})

    def subnet_delete(self, req):
        """DELETE /v2.0/subnets/{id}: refused while a port holds one of its addresses."""
        st = self.state
        sub = self.get_subnet(req, req.match["id"])
        if any(ip["subnet_id"] == sub["id"] for p in st.ports.values() for ip in p["fixed_ips"]):
            raise NeutronError(409, "SubnetInUse", f"Unable to complete operation on subnet {sub['id']}: One or "
                                                   "more ports have an IP allocation from this subnet.")
        del st.subnets[sub["id"]]
        net = st.networks.get(sub["network_id"])
        if net is not None:
            net["subnets"].remove(sub["id"])
        return Response(204)

    # -- quotas --------------------------------------------------------------------------------------

    def _quota_project(self, req):
        pid = req.match["p"]
        if pid != req.project_id and not req.is_admin:
            raise ApiError(403, "rule:get_quota is disallowed by policy")
        return pid

    def quota_get(self, req):
        """GET /v2.0/quotas/{project}."""
        return Response(200, {"quota": neutron_quota(self.state, self._quota_project(req))})

    def quota_details(self, req):
        """GET /v2.0/quotas/{project}/details: limit, used and reserved per resource."""
        pid = self._quota_project(req)
        limits, used = neutron_quota(self.state, pid), neutron_usage(self.state, pid)
        return Response(200, {"quota": {k: {"limit": limits[k], "used": used[k], "reserved": 0} for k in limits}})

    def quota_defaults(self, req):
        """GET /v2.0/quotas/{project}/default."""
        self._quota_project(req)
        return Response(200, {"quota": dict(NEUTRON_DEFAULT_QUOTAS)})

    def quota_update(self, req):
        """PUT /v2.0/quotas/{project}: admins only; a limit below usage is accepted, as Neutron does."""
        if not req.is_admin:
            raise ApiError(403, "rule:update_quota is disallowed by policy")
        spec = self.spec(req, "quota")
        unknown_keys(spec, set(NEUTRON_DEFAULT_QUOTAS))
        try:
            values = {k: int(v) for k, v in spec.items()}
        except (TypeError, ValueError):
            raise NeutronError(400, "InvalidInput", f"Invalid input for operation: quota values must be integers: "
                                                    f"{spec}.")
        self.state.neutron_quotas.setdefault(req.match["p"], {}).update(values)
        return Response(200, {"quota": neutron_quota(self.state, req.match["p"])})

    def quota_delete(self, req):
        """DELETE /v2.0/quotas/{project}: back to the defaults."""
        if not req.is_admin:
            raise ApiError(403, "rule:delete_quota is disallowed by policy")
        self.state.neutron_quotas.pop(req.match["p"], None)
        return Response(204)
