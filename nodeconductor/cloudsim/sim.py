"""CloudSim: the Python handle that starts the simulated cloud and turns its knobs."""

import copy
import threading

from .compute import Compute
from .control import Control
from .core import DELAY_PROFILES
from .http import Dispatcher, SimHTTPServer
from .identity import Identity
from .image import Image
from .network import Network
from .servers import server_status
from .state import State
from .volume import Volume

SERVICES = ("identity", "compute", "volume", "image", "network")


class CloudSim:
    """A simulated OpenStack (Keystone, Nova, Cinder, Glance, Neutron) on one port; see the package docstring."""

    def __init__(self, host="127.0.0.1", port=0, admin_password="admin", demo_password="demo", delays="fast"):
        if delays not in DELAY_PROFILES:
            raise ValueError(f"delays must be one of {sorted(DELAY_PROFILES)}")
        self.host = host
        self.port = port
        self.state = State(admin_password, demo_password, delays)
        identity = Identity(self.state)
        services = [Control(self.state, self), Compute(self.state), Volume(self.state), Image(self.state),
                    Network(self.state)]
        self._dispatcher = Dispatcher(self.state, services, identity)
        self._httpd = None
        self._thread = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self):
        """Bind and serve in a background thread; returns self."""
        self._httpd = SimHTTPServer((self.host, self.port), self._dispatcher)
        self.port = self._httpd.server_address[1]
        advertised = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        self.state.base_url = f"http://{advertised}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="cloudsim-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and the timer thread."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.state.scheduler.stop()

    def serve_forever(self):
        """Serve in the calling thread (the command line entry point)."""
        if self._httpd is None:
            self.start()
        self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        """http://host:port, the root every service hangs below."""
        return self.state.base_url

    @property
    def auth_url(self):
        """Keystone v3 URL to give clients."""
        return f"{self.state.base_url}/v3"

    def reset(self):
        """Back to the initial state: no resources, no faults, default delays, latency and token lifetime."""
        self.state.reset()

    # -- faults and knobs ----------------------------------------------------------------------------

    def fail_next(self, operation, times=1, status=500, message=None, mode=None, seconds=30.0):
        """Make the next `times` calls of `operation` fail (mode http/hang/error_state/retries_exhausted)."""
        self.state.faults.arm(operation, times=times, status=status, message=message, mode=mode, seconds=seconds)

    @property
    def fault_log(self):
        """Every fault that fired: dicts with operation, mode, status, message, seconds, at."""
        return list(self.state.faults.log)

    def set_latency(self, service, seconds):
        """Delay every call to a service (identity, compute, volume, image) by `seconds`."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; use one of {SERVICES}")
        with self.state.lock:
            self.state.latency[service] = float(seconds)

    def set_delay(self, name, seconds):
        """Change one asynchronous transition delay (e.g. server_build, volume_extend)."""
        with self.state.lock:
            if name not in self.state.delays:
                raise ValueError(f"unknown delay {name!r}; use one of {sorted(self.state.delays)}")
            self.state.delays[name] = float(seconds)

    @property
    def delays(self):
        """The current transition delays."""
        with self.state.lock:
            return dict(self.state.delays)

    def set_token_lifetime(self, seconds):
        """Lifetime of tokens issued from now on."""
        with self.state.lock:
            self.state.token_lifetime = float(seconds)

    def expire_tokens(self):
        """Expire every issued token at once (clients must re-authenticate on the 401)."""
        with self.state.lock:
            self.state.tokens.clear()

    def set_quota(self, project_id, compute=None, volume=None, network=None):
        """Override Nova, Cinder and/or Neutron quotas of a project (e.g. network={'floatingip': 1})."""
        with self.state.lock:
            if network:
                self.state.neutron_quotas.setdefault(project_id, {}).update({k: int(v) for k, v in network.items()})
            if compute:
                self.state.nova_quotas.setdefault(project_id, {}).update({k: int(v) for k, v in compute.items()})
            if volume:
                self.state.cinder_quotas.setdefault(project_id, {}).update({k: int(v) for k, v in volume.items()})

    # -- snapshots -----------------------------------------------------------------------------------

    def _snapshot(self, table, project_id):
        with self.state.lock:
            return [copy.deepcopy(item) for item in table.values()
                    if project_id is None or item.get("project_id") == project_id]

    def servers(self, project_id=None):
        """Plain-dict copies of the servers (with their status), for orphan checks."""
        out = self._snapshot(self.state.servers, project_id)
        for s in out:
            s["status"] = server_status(s)
        return out

    def volumes(self, project_id=None):
        """Plain-dict copies of the volumes."""
        return self._snapshot(self.state.volumes, project_id)

    def snapshots(self, project_id=None):
        """Plain-dict copies of the Cinder volume snapshots, so tests can check what exists or was left behind."""
        return self._snapshot(self.state.snapshots, project_id)

    def networking(self, project_id=None):
        """Plain-dict copies of the Neutron resources per kind (networks, subnets, ports, routers, ...)."""
        kinds = ("networks", "subnets", "ports", "routers", "security_groups", "sg_rules", "floatingips")
        return {kind: self._snapshot(getattr(self.state, kind), project_id) for kind in kinds}

    def public_network(self):
        """The external network `public` as a plain dict."""
        with self.state.lock:
            return copy.deepcopy(next(n for n in self.state.networks.values() if n["name"] == "public"))

    def keypairs(self):
        """Plain-dict copies of all keypairs."""
        with self.state.lock:
            return [dict(kp) for kp in self.state.keypairs.values()]

    def projects(self):
        """Plain-dict copies of the projects."""
        return self._snapshot(self.state.projects, None)

    def project_id(self, name):
        """Return the id of the project called `name`."""
        with self.state.lock:
            project = self.state.project_named(name)
            return project["id"] if project else None

    # -- catalogue -----------------------------------------------------------------------------------

    def add_image(self, name, min_disk=0, min_ram=0, image_id=None, visibility="public"):
        """Add an active image and return it."""
        with self.state.lock:
            return dict(self.state.add_image(name, min_disk=min_disk, min_ram=min_ram, image_id=image_id,
                                             visibility=visibility, owner=self.project_id("admin")))

    def remove_image(self, image_id):
        """Remove an image."""
        with self.state.lock:
            self.state.images.pop(image_id, None)

    def images(self):
        """Plain-dict copies of the images."""
        with self.state.lock:
            return [dict(i) for i in self.state.images.values()]

    def add_flavor(self, name, vcpus=1, ram=512, disk=1, flavor_id=None, is_public=True):
        """Add a flavor and return it."""
        with self.state.lock:
            return dict(self.state.add_flavor(name, vcpus=vcpus, ram=ram, disk=disk, flavor_id=flavor_id,
                                              is_public=is_public))

    def remove_flavor(self, flavor_id):
        """Remove a flavor."""
        with self.state.lock:
            self.state.flavors.pop(str(flavor_id), None)

    # -- call log ------------------------------------------------------------------------------------

    @property
    def call_log(self):
        """Every API call: dicts with operation, method, path, status, at."""
        return self.state.calls.snapshot()

    def call_counts(self):
        """A Counter of API calls per operation name."""
        return self.state.calls.counts()

    def clear_call_log(self):
        """Forget counted calls (benchmarks measure one phase at a time)."""
        self.state.calls.clear()

    def idle(self):
        """Whether no asynchronous transition is pending."""
        return self.state.scheduler.pending() == 0
