"""Neutron's tag API (standard-attr-tag): tags are set after creation, never in a POST body."""

from .core import ApiError
from .http import Response
from .network_model import NeutronError, stamp

# URL collection -> state table of the resources that carry tags.
TAGGED = {"networks": "networks", "subnets": "subnets", "ports": "ports", "routers": "routers",
          "security-groups": "security_groups", "floatingips": "floatingips"}
NOT_FOUND = {"networks": ("NetworkNotFound", "Network {} could not be found."),
             "subnets": ("SubnetNotFound", "Subnet {} could not be found."),
             "ports": ("PortNotFound", "Port {} could not be found."),
             "routers": ("RouterNotFound", "Router {} could not be found"),
             "security-groups": ("SecurityGroupNotFound", "Security group {} does not exist"),
             "floatingips": ("FloatingIPNotFound", "Floating IP {} could not be found")}


class TagsMixin:
    """GET/PUT/DELETE /v2.0/{collection}/{id}/tags[/{tag}], mixed into the Network service."""

    def tag_routes(self, v):
        """Register the tag routes under `v`."""
        r = self.route
        base = v + "/(?P<coll>" + "|".join(TAGGED) + ")/(?P<id>[^/]+)/tags"
        r("GET", base, "network.tag_list", self.tag_list)
        r("PUT", base, "network.tag_replace", self.tag_replace)
        r("DELETE", base, "network.tag_clear", self.tag_clear)
        r("GET", base + "/(?P<tag>[^/]+)", "network.tag_check", self.tag_check)
        r("PUT", base + "/(?P<tag>[^/]+)", "network.tag_add", self.tag_add)
        r("DELETE", base + "/(?P<tag>[^/]+)", "network.tag_remove", self.tag_remove)

    def _tagged(self, req):
        coll = req.match["coll"]
        kind, text = NOT_FOUND[coll]
        return self.find(req, TAGGED[coll], req.match["id"], kind, text.format(req.match["id"]))

    def tag_list(self, req):
        """GET .../tags."""
        return Response(200, {"tags": list(self._tagged(req)["tags"])})

    def tag_check(self, req):
        """GET .../tags/{tag}: 204 when set, 404 TagNotFound otherwise."""
        if req.match["tag"] not in self._tagged(req)["tags"]:
            raise NeutronError(404, "TagNotFound", f"Tag {req.match['tag']} could not be found.")
        return Response(204)

    def tag_add(self, req):
        """PUT .../tags/{tag}: 201 with a JSON null body, as Neutron answers."""
        item = self._tagged(req)
        if req.match["tag"] not in item["tags"]:
            item["tags"].append(req.match["tag"])
            stamp(item, created=False)
        return Response(201, "null", {"Content-Type": "application/json"})

    def tag_replace(self, req):
        """PUT .../tags {"tags": [...]}: the new set."""
        item = self._tagged(req)
        tags = (req.body or {}).get("tags") if isinstance(req.body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise ApiError(400, "Invalid input for tags: a list of non-empty strings is expected.")
        item["tags"] = list(dict.fromkeys(tags))
        stamp(item, created=False)
        return Response(200, {"tags": list(item["tags"])})

    def tag_remove(self, req):
        """DELETE .../tags/{tag}."""
        item = self._tagged(req)
        if req.match["tag"] not in item["tags"]:
            raise NeutronError(404, "TagNotFound", f"Tag {req.match['tag']} could not be found.")
        item["tags"].remove(req.match["tag"])
        stamp(item, created=False)
        return Response(204)

    def tag_clear(self, req):
        """DELETE .../tags: all of them."""
        item = self._tagged(req)
        item["tags"] = []
        stamp(item, created=False)
        return Response(204)
