"""A real stack in subprocesses for failure tests: the simulator, migrations, and Celery workers to kill.

It runs the development settings (SQLite in a fresh folder, the filesystem broker or a Redis URL), so what is
tested is the code and the configuration a user runs, with real worker processes that die by SIGKILL.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nodeconductor.cloudsim.state import DEMO_PROJECT_ID, TINY_IMAGE_ID
from tests.iaas.brokers import free_port

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
from django.conf import settings
from nodeconductor.core.models import User
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Template
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.tasks import sync_cloud_membership
from nodeconductor.structure.models import Customer, Project

customer = Customer.objects.create(name="C")
project = Project.objects.create(customer=customer, name="P")
template = Template.objects.create(name="T", os="CentOS", is_active=True)
template.mappings.create(backend_image_id="{image_id}")
cloud = Cloud.objects.create(customer=customer, name="sim", auth_url=settings.NODECONDUCTOR["OPENSTACK_CREDENTIALS"][0]["auth_url"])
run_cloud_pull(cloud)
membership = CloudProjectMembership.objects.create(project=project, cloud=cloud, tenant_id="{tenant_id}")
sync_cloud_membership(str(membership.uuid))
User.objects.create_user(username="staff", password="x" * 12, is_staff=True)
"""  # noqa: E501

CREATE = """
from nodeconductor.core.models import User
from nodeconductor.iaas.services import instances as instance_services
from nodeconductor.iaas.models import CloudProjectMembership
membership = CloudProjectMembership.objects.get()
flavor = membership.cloud.flavors.order_by("ram").first()
instance = instance_services.instance_create(
    user=User.objects.get(username="staff"), membership=membership, template=membership.cloud.images.get().template,
    flavor=flavor, hostname="vm", system_volume_size=flavor.disk, data_volume_size=1024)
print(instance.uuid)
"""

ACTION = """
from nodeconductor.iaas.services import instances as instance_services
from nodeconductor.iaas.models import Instance
instance_services.instance_{action}(Instance.objects.get(), *{args})
"""


class LiveStack:
    """The simulator, a database and workers in subprocesses, under one temporary folder."""

    def __init__(self, folder, broker_url=None, credentials=None, image_id=TINY_IMAGE_ID, tenant_id=DEMO_PROJECT_ID):
        self.var = Path(folder)
        for sub in ("log", "celery-queue", "celery-processed", "celery-control"):
            (self.var / sub).mkdir(parents=True, exist_ok=True)
        self.sim_port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OS_", "DATABASE_URL"))},
            "DJANGO_SETTINGS_MODULE": "settings.development",
            "NODECONDUCTOR_VAR_DIR": str(self.var),
            "NODECONDUCTOR_CLOUDSIM_PORT": str(self.sim_port),
            # A step whose worker died is taken over once the calls it sent can no longer land (1 + 4 s).
            "NODECONDUCTOR_OPENSTACK_CONNECT_TIMEOUT": "1",
            "NODECONDUCTOR_OPENSTACK_READ_TIMEOUT": "4",
            "NODECONDUCTOR_OPERATION_STEP_LEASE": "60",
            "NODECONDUCTOR_OPERATION_SWEEP_GRACE": "1",
            "NODECONDUCTOR_OPERATION_SWEEP_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
        }
        if broker_url:
            self.env["CELERY_BROKER_URL"] = broker_url
        if credentials:
            # A real cloud: the development settings put these credentials first, so the cloud is made there.
            self.env["NODECONDUCTOR_OPENSTACK_CREDENTIALS"] = json.dumps([credentials])
        self.image_id, self.tenant_id = image_id, tenant_id
        self.processes = []
        self.worker = None
        self.workers_started = 0

    # -- processes ------------------------------------------------------------------------------
    def _spawn(self, name, *args):
        log = open(self.var / "log" / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def start(self):
        """Start the simulator and migrate a fresh database with a customer, cloud, template and membership."""
        self._spawn("cloudsim", "-m", "nodeconductor.cloudsim", "--port", str(self.sim_port), "--delays", "fast")
        self._wait(lambda: self.sim("GET", "/_sim/") is not None, 20, "the simulator did not start")
        self.manage("migrate", "--noinput")
        self.shell(SETUP.format(image_id=self.image_id, tenant_id=self.tenant_id))
        return self

    def start_worker(self):
        """A Celery worker with beat inside it (so the sweeper runs), in its own process group."""
        self.workers_started += 1
        self.worker = self._spawn(
            f"worker-{self.workers_started}", "-m", "celery", "-A", "nodeconductor", "worker", "-B", "-l", "info",
            "--concurrency", "1", "-s", str(self.var / "celerybeat-schedule"), "-n", f"w{self.workers_started}@%h",
        )  # fmt: skip
        return self.worker

    def kill_worker(self):
        """SIGKILL the worker and its pool and beat: nothing gets to clean up or acknowledge."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def manage(self, *args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def shell(self, code):
        return self.manage("shell", "-c", code)

    def create_instance(self):
        return self.shell(CREATE).strip().splitlines()[-1]

    def schedule(self, action, *args):
        self.shell(ACTION.format(action=action, args=repr(tuple(args))))

    # -- looking -----------------------------------------------------------------------------------
    def sim(self, method, path, body=None):
        """Call the simulator's control API; None when it does not answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.sim_port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                raw = response.read()
                return json.loads(raw) if raw else {}
        except OSError:
            return None

    def hang_next(self, operation, seconds):
        """Make the next `operation` call hang in the simulator (it still happens, `seconds` later)."""
        self.sim("POST", "/_sim/faults", {"operation": operation, "mode": "hang", "seconds": seconds})

    def hang_started(self, operation):
        """Whether the armed hang of `operation` was taken by a request (which now hangs)."""
        armed = self.sim("GET", "/_sim/faults")["armed"]
        return not any(f["operation"] == operation for f in armed)

    def call_count(self, operation):
        return self.sim("GET", "/_sim/calls")["counts"].get(operation, 0)

    def servers(self):
        return self.sim("GET", "/_sim/servers")["servers"]

    def volumes(self):
        return self.sim("GET", "/_sim/volumes")["volumes"]

    def instance(self):
        """The instance row as a dict (None once deleted), read straight from the SQLite file."""
        with sqlite3.connect(self.var / "db.sqlite3", timeout=20) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM iaas_instance").fetchone()
        return dict(row) if row else None

    def wait_for(self, predicate, timeout, what):
        self._wait(predicate, timeout, what)

    def _wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((self.var / "log").glob("*.log")))
        raise AssertionError(f"{what} within {timeout} s\n{logs}")
