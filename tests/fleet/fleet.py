"""The fleet: the hosts of a production deployment, each in its own namespace, and the simulated cloud they use.

PostgreSQL, Redis, the API (gunicorn), three Celery worker hosts and a beat host run the production settings
(settings.production) as docker-compose.yml runs them; the simulator runs in this process (the test reads its
call log and samples its builds under its lock) and listens on the bridge, where the workers reach it.
"""

import json
import os
import shutil
import subprocess
import threading
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

from .hosts import BIN, ROOT, PostgreSQL, Proc, Redis, port_open, wait_until
from .net import Network

WORKER_ROLES = ("w1", "w2", "w3")

# Timings for the fleet's processes only, so that a fault recovers within the test's budget; the product reads
# each from the environment (settings/base.py). A step whose holder is cut off is taken over once its lease
# (6 s) ends; that outlasts the in-flight window of its cloud calls (connect 1 s + read 3 s), so a call the cut
# worker sent has landed in the cloud, or never will, before another worker looks.
FLEET_TIMINGS = {
    "NODECONDUCTOR_OPERATION_STEP_LEASE": "6",
    "NODECONDUCTOR_OPENSTACK_CONNECT_TIMEOUT": "1",
    "NODECONDUCTOR_OPENSTACK_READ_TIMEOUT": "3",
    "NODECONDUCTOR_OPERATION_SWEEP_INTERVAL": "1",
    "NODECONDUCTOR_OPERATION_SWEEP_GRACE": "3",
    "NODECONDUCTOR_OPERATION_QUEUE_RECHECK": "3",
    "NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BUILDS": "10",
    # Every scenario's VMs share one tenant network: a /22 holds them all (a /24, the default, would not).
    "NODECONDUCTOR_OPENSTACK_TENANT_SUBNET_PREFIX": "22",
    # PostgreSQL ends a session idle inside a transaction after this (production's default is 10 s), freeing the
    # locks of a worker cut off while it holds them (scenario 6).
    "NODECONDUCTOR_DB_IDLE_IN_TRANSACTION_TIMEOUT": "5",
}

SEED = """
import json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from knox.models import AuthToken
from nodeconductor.core.models import SshPublicKey, User
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, SyncState, Template
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.tasks import sync_cloud_membership
from nodeconductor.structure.models import Customer, Project

staff = User.objects.create(username="fleet-staff", is_staff=True)
line = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
key = SshPublicKey(user=staff, name="fleet", public_key=line + " fleet@nodeconductor")
key.clean()
key.save()
customer = Customer.objects.create(name="Fleet customer")
project = Project.objects.create(customer=customer, name="fleet")
cloud = Cloud.objects.create(customer=customer, name="sim", auth_url="{auth_url}")
template = Template.objects.create(name="CentOS 6", os="CentOS 6.5", is_active=True)
template.mappings.create(backend_image_id="{image_id}")
membership = CloudProjectMembership.objects.create(project=project, cloud=cloud, tenant_id="{tenant_id}")
sync_cloud_membership(str(membership.uuid))
membership.refresh_from_db()
assert membership.state == SyncState.IN_SYNC, membership.error_message
run_cloud_pull(cloud)
cloud.refresh_from_db()
assert cloud.state == SyncState.IN_SYNC, cloud.error_message
print(json.dumps({{"token": AuthToken.objects.create(user=staff)[1], "key": str(key.uuid),
                  "project": str(project.uuid), "template": str(template.uuid),
                  "flavor": str(cloud.flavors.order_by("ram", "backend_id").first().uuid)}}))
"""


def start_sim(address):
    """The simulated OpenStack on the bridge address of the root namespace, fast delays, no quota limits."""
    from nodeconductor.cloudsim import CloudSim

    sim = CloudSim(host=address, port=0, delays="fast").start()
    demo = sim.project_id("demo")
    sim.set_quota(demo, compute={"instances": -1, "cores": -1, "ram": -1}, volume={"volumes": -1, "gigabytes": -1},
                  network={"port": -1})  # fmt: skip
    return sim


class Fleet:
    """Everything the scenarios use: the network, the processes, the simulator and an API client."""

    def __init__(self, tag, tmp_path):
        self.tag, self.tmp = tag, tmp_path
        self.logs = tmp_path / "log"
        self.logs.mkdir()
        self.net = Network(tag)
        self.pg = self.redis = self.sim = self.api = self.beat = None
        self.workers = {}
        self.samplers = []
        self.seed = {}

    # -- building ------------------------------------------------------------------------------------
    def up(self):
        """Bridge and hosts, PostgreSQL and Redis, the simulator, migrations and seed, then the product."""
        self.net.up()
        for role in ("pg", "rd", "api", *WORKER_ROLES, "bt"):
            self.net.add_host(role)
        self.pg = PostgreSQL(self.net, self.tag, self.logs)
        (self.tmp / "redis").mkdir()
        self.redis = Redis(self.net, self.logs, self.tmp / "redis")
        self.redis.start()
        self.pg.create()
        self.sim = start_sim(self.net.gateway)
        self.env = self.product_env()
        self.manage("migrate", "--noinput")
        seed = SEED.format(auth_url=self.sim.auth_url, image_id=next(iter(self.sim.images()))["id"],
                           tenant_id=self.sim.project_id("demo"))  # fmt: skip
        self.seed = json.loads(self.manage("shell", "-c", seed).strip().splitlines()[-1])
        self.start_product()
        return self

    def product_env(self):
        """settings.production's environment for every product process, and the fleet's shorter timings."""
        creds = [{"auth_url": self.sim.auth_url, "username": "admin", "password": "admin", "tenant_name": "admin",
                  "user_domain_name": "Default", "project_domain_name": "Default"}]  # fmt: skip
        skip = ("OS_", "DATABASE_URL", "DJANGO_", "NODECONDUCTOR_", "CELERY_", "PYTEST_", "SECRET_KEY")
        env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        return {
            **env,
            "DJANGO_SETTINGS_MODULE": "settings.production",
            "NODECONDUCTOR_VAR_DIR": str(self.tmp / "var"),
            "SECRET_KEY": "fleet-only-" + uuidlib.uuid4().hex,
            "DATABASE_URL": self.pg.url(),
            "CELERY_BROKER_URL": self.redis.url,
            "NODECONDUCTOR_OPENSTACK_CREDENTIALS": json.dumps(creds),
            "ALLOWED_HOSTS": self.net.address("api"),
            # Plain HTTP to gunicorn, no TLS proxy in front: no redirect to https://, cookies over HTTP.
            "NODECONDUCTOR_SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **FLEET_TIMINGS,
        }

    def manage(self, *args):
        """`manage.py` on the API host (it alone migrates, as the compose file's web service does)."""
        argv = self.net.exec_argv("api", [str(BIN / "python"), "manage.py", *args])
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)  # fmt: skip
        assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def start_product(self):
        """gunicorn, the three workers and beat, started at once; waits until each is ready."""
        api = self.net.address("api")
        self.api = Proc(self.net, "api", "gunicorn", [str(BIN / "gunicorn"), "nodeconductor.wsgi:application",
                        "--bind=0.0.0.0:8000", "--workers=2", "--access-logfile=-"], self.env, self.logs,
                        restart=True).start()  # fmt: skip
        for role in WORKER_ROLES:
            self.workers[role] = self.worker_proc(role).start()
        beat = self.tmp / "beat"
        beat.mkdir()
        self.beat = Proc(self.net, "bt", "beat", [str(BIN / "celery"), "-A", "nodeconductor", "beat", "-l", "info",
                         f"--schedule={beat / 'celerybeat-schedule'}", "--max-interval=60"], self.env, self.logs,
                         restart=True).start()  # fmt: skip
        wait_until(lambda: port_open(api, 8000), 60, "gunicorn did not listen", [self.api])
        for proc in self.workers.values():
            self.wait_ready(proc, 0)

    def worker_proc(self, role):
        """`celery -A nodeconductor worker -l info`, the compose file's command, under its restart policy."""
        argv = [str(BIN / "celery"), "-A", "nodeconductor", "worker", "-l", "info"]
        return Proc(self.net, role, f"worker-{role}", argv, self.env, self.logs, restart=True)

    @staticmethod
    def wait_ready(proc, offset, timeout=60):
        """Wait for a worker's "ready." after `offset` in its log."""
        wait_until(lambda: " ready." in proc.log_since(offset), timeout, f"{proc.name} was not ready", [proc])

    def down(self):
        """Stop every process, remove the data folders, namespaces, veths and the bridge (on success or failure)."""
        for sampler in self.samplers:
            sampler.halt()
        for proc in (self.beat, self.api, *self.workers.values()):
            if proc is not None:
                proc.kill()
        if self.redis is not None:
            self.redis.proc.kill()
        if self.pg is not None:
            self.pg.remove()
        if self.sim is not None:
            self.sim.stop()
        self.net.down()
        # The logs go too, unless asked for (their tails are in every failure message).
        if not os.environ.get("FLEET_KEEP_LOGS"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the API -------------------------------------------------------------------------------------
    @property
    def base(self):
        """The API's root URL on the bridge."""
        return f"http://{self.net.address('api')}:8000"

    def session(self):
        """A requests session with the staff token."""
        import requests

        s = requests.Session()
        s.headers["Authorization"] = f"Token {self.seed['token']}"
        return s

    def create_vms(self, prefix, n, threads=6):
        """POST n instances named <prefix>-<i>.example.com through gunicorn; returns their hostnames."""
        body = {
            "template": f"{self.base}/api/iaas-templates/{self.seed['template']}/",
            "flavor": f"{self.base}/api/flavors/{self.seed['flavor']}/",
            "project": f"{self.base}/api/projects/{self.seed['project']}/",
            "ssh_public_key": f"{self.base}/api/keys/{self.seed['key']}/",
            "data_volume_size": 1024,
        }
        hostnames = [f"{prefix}-{i}.example.com" for i in range(n)]
        local = threading.local()  # one keep-alive session per client thread

        def post(hostname):
            if not hasattr(local, "session"):
                local.session = self.session()
            r = local.session.post(f"{self.base}/api/instances/", json={**body, "hostname": hostname}, timeout=60)
            assert r.status_code == 201, f"POST {hostname}: {r.status_code} {r.text[:300]}\n{self.api.tail()}"

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, hostnames))
        return hostnames

    def servers_per_name(self, hostnames):
        """{hostname: servers of that name in the simulator} for the given hostnames."""
        wanted = set(hostnames)
        counts = dict.fromkeys(wanted, 0)
        for server in self.sim.servers():
            if server["name"] in wanted:
                counts[server["name"]] += 1
        return counts

    def server_creates(self, since):
        """compute.server_create calls in the simulator's log from entry `since` on (a len() of it taken before)."""
        return sum(1 for call in self.sim.call_log[since:] if call["operation"] == "compute.server_create")
