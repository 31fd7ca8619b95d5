"""The /_sim/ control API: the CloudSim handle's knobs over HTTP, for tests in other processes."""

from .core import ApiError
from .http import Response, Service


class Control(Service):
    """Unauthenticated test-only endpoints mirroring the CloudSim handle (never part of the call log)."""

    name = "sim"
    prefix = "/_sim"

    def __init__(self, state, sim):
        super().__init__(state)
        self.sim = sim
        r = self.route
        r("GET", "/", "sim.info", self.info, auth=False)
        r("POST", "/reset", "sim.reset", self.reset, auth=False)
        r("GET", "/faults", "sim.faults", self.faults, auth=False)
        r("POST", "/faults", "sim.fail_next", self.fail_next, auth=False)
        r("POST", "/latency", "sim.latency", self.latency, auth=False)
        r("POST", "/delays", "sim.delays", self.delays, auth=False)
        r("POST", "/token_lifetime", "sim.token_lifetime", self.token_lifetime, auth=False)
        r("PUT", "/quotas/(?P<project>[^/]+)", "sim.quota", self.quota, auth=False)
        r("GET", "/calls", "sim.calls", self.calls, auth=False)
        kinds = "servers|volumes|snapshots|keypairs|projects|networking"
        r("GET", f"/(?P<kind>{kinds})", "sim.snapshot", self.snapshot, auth=False)
        r("POST", "/images", "sim.add_image", self.add_image, auth=False)
        r("DELETE", "/images/(?P<id>[^/]+)", "sim.remove_image", self.remove_image, auth=False)
        r("POST", "/flavors", "sim.add_flavor", self.add_flavor, auth=False)
        r("DELETE", "/flavors/(?P<id>[^/]+)", "sim.remove_flavor", self.remove_flavor, auth=False)

    def error(self, status, message):
        """Plain JSON errors."""
        return {"error": {"code": status, "message": message}}

    def _body(self, req):
        return req.body if isinstance(req.body, dict) else {}

    def info(self, req):
        """GET /_sim/: endpoints and current knobs."""
        st = self.state
        return Response(200, {"auth_url": self.sim.auth_url, "delays": dict(st.delays), "latency": dict(st.latency),
                              "token_lifetime": st.token_lifetime, "faults": st.faults.armed()})

    def reset(self, req):
        """POST /_sim/reset."""
        self.sim.reset()
        return Response(204)

    def faults(self, req):
        """GET /_sim/faults: armed faults and the log of fired ones."""
        return Response(200, {"armed": self.state.faults.armed(), "log": self.sim.fault_log})

    def fail_next(self, req):
        """POST /_sim/faults {operation, times, status, message, mode, seconds}."""
        spec = self._body(req)
        if not spec.get("operation"):
            raise ApiError(400, "operation is required")
        try:
            self.sim.fail_next(spec["operation"], times=spec.get("times", 1), status=spec.get("status", 500),
                               message=spec.get("message"), mode=spec.get("mode"), seconds=spec.get("seconds", 30))
        except ValueError as e:
            raise ApiError(400, str(e))
        return Response(201, {"armed": self.state.faults.armed()})

    def latency(self, req):
        """POST /_sim/latency {service, seconds}."""
        spec = self._body(req)
        try:
            self.sim.set_latency(spec.get("service"), float(spec.get("seconds", 0)))
        except ValueError as e:
            raise ApiError(400, str(e))
        return Response(204)

    def delays(self, req):
        """POST /_sim/delays {name: seconds, ...}."""
        try:
            for name, seconds in self._body(req).items():
                self.sim.set_delay(name, float(seconds))
        except ValueError as e:
            raise ApiError(400, str(e))
        return Response(204)

    def token_lifetime(self, req):
        """POST /_sim/token_lifetime {seconds}."""
        self.sim.set_token_lifetime(float(self._body(req).get("seconds", 3600)))
        return Response(204)

    def quota(self, req):
        """PUT /_sim/quotas/{project} {compute: {...}, volume: {...}, network: {...}}."""
        spec = self._body(req)
        self.sim.set_quota(req.match["project"], compute=spec.get("compute"), volume=spec.get("volume"),
                           network=spec.get("network"))
        return Response(204)

    def calls(self, req):
        """GET /_sim/calls: counts per operation and the raw log."""
        return Response(200, {"counts": dict(self.sim.call_counts()), "calls": self.sim.call_log})

    def snapshot(self, req):
        """GET /_sim/servers|volumes|snapshots|keypairs|projects|networking."""
        kind = req.match["kind"]
        if kind in ("servers", "volumes", "snapshots", "networking"):
            return Response(200, {kind: getattr(self.sim, kind)(project_id=req.arg("project_id"))})
        return Response(200, {kind: getattr(self.sim, kind)()})

    def add_image(self, req):
        """POST /_sim/images {name, min_disk, min_ram}."""
        spec = self._body(req)
        return Response(201, {"image": self.sim.add_image(spec.get("name"), min_disk=int(spec.get("min_disk", 0)),
                                                          min_ram=int(spec.get("min_ram", 0)))})

    def remove_image(self, req):
        """DELETE /_sim/images/{id}."""
        self.sim.remove_image(req.match["id"])
        return Response(204)

    def add_flavor(self, req):
        """POST /_sim/flavors {name, vcpus, ram, disk, id}."""
        spec = self._body(req)
        return Response(201, {"flavor": self.sim.add_flavor(spec.get("name"), vcpus=int(spec.get("vcpus", 1)),
                                                            ram=int(spec.get("ram", 512)),
                                                            disk=int(spec.get("disk", 1)),
                                                            flavor_id=spec.get("id"))})

    def remove_flavor(self, req):
        """DELETE /_sim/flavors/{id}."""
        self.sim.remove_flavor(req.match["id"])
        return Response(204)
