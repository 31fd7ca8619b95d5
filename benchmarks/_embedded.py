"""The embedded default as a second stack beside a benchmark's own: SQLite, kombu's filesystem broker, runserver.

The benchmark process already runs Django on the PostgreSQL settings, so everything that touches the embedded
stack's database runs in a child process with the development environment: migrations, the seed and the clean-up
(this module's command line, `python benchmarks/_embedded.py seed|forget JSON`). Settings are
benchmarks/bench_dev_settings.py (settings.development with the benchmark clouds' OPENSTACK_NETWORKS="none"), in
a fresh temporary NODECONDUCTOR_VAR_DIR, with NODECONDUCTOR_CLOUDSIM_PORT at the simulator's port and
NODECONDUCTOR_OPENSTACK_CREDENTIALS naming any other cloud.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import _common as c

# What the benchmark's production environment sets that the development settings must not see: Celery reads
# CELERY_BROKER_URL from the environment before any setting, and the rest are production's own.
DROP = ("CELERY_BROKER_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "NODECONDUCTOR_SECURE_SSL_REDIRECT")


class Embedded:
    """The embedded default's API and worker, with their database seeded for the benchmark's clouds."""

    def __init__(self, sim, more_credentials=()):
        self.var = tempfile.mkdtemp(prefix="nc-bench-embedded-")
        c.on_exit(lambda: shutil.rmtree(self.var, ignore_errors=True))
        port = urllib.parse.urlsplit(sim.auth_url).port
        self.env = {
            "DJANGO_SETTINGS_MODULE": "bench_dev_settings",
            "NODECONDUCTOR_VAR_DIR": self.var,
            "NODECONDUCTOR_CLOUDSIM_PORT": str(port),
            "NODECONDUCTOR_OPENSTACK_CREDENTIALS": json.dumps(list(more_credentials)),
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "PYTHONPATH": f"{c.ROOT}{os.pathsep}{c.ROOT / 'benchmarks'}",
        }
        self.base = None

    def run(self, *argv):
        """A command in the development environment; its stdout, or an error with its output."""
        env = {k: v for k, v in os.environ.items() if k not in DROP}
        env.update(self.env)
        done = subprocess.run(argv, cwd=c.ROOT, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode:
            tail = done.stdout[-2000:] + done.stderr[-3000:]
            raise RuntimeError(f"{' '.join(argv[:3])}: exit {done.returncode}\n{tail}")
        return done.stdout

    def migrate(self):
        """Create the SQLite schema, as run-dev.sh does."""
        self.run(sys.executable, "manage.py", "migrate", "--noinput")

    def seed(self, clouds):
        """Seed staff, key, token and per cloud (auth_url, tenant, image, name) an account; seeds as orchestration's."""
        out = self.run(sys.executable, str(Path(__file__)), "seed", json.dumps(clouds))
        data = json.loads(out.strip().splitlines()[-1])
        key = SimpleNamespace(uuid=data["key"])
        seeds = []
        for s in data["seeds"]:
            flavors = [SimpleNamespace(uuid=u, backend_id=b) for u, b in s["flavors"]]
            seeds.append(
                {
                    "token": data["token"],
                    "key": key,
                    "project": SimpleNamespace(uuid=s["project"]),
                    "template": SimpleNamespace(uuid=s["template"]),
                    "flavors": flavors,
                    "image": {"id": s["image"]},
                }
            )
        return data["token"], data["key_name"], seeds

    def start(self):
        """The API as run-dev.sh serves it (runserver) and `celery -A nodeconductor worker`, on the same env."""
        port = c.free_port()
        argv = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        api = c.start_process(argv, self.env, "embedded-api", DROP)
        self.base = f"http://127.0.0.1:{port}"
        c.wait_http(self.base + "/api/", api)
        c.start_worker(self.env, drop=DROP, log_name="embedded-worker")
        return self.base

    def describe(self):
        """One line of the settings the embedded processes run with, read by Django in that environment."""
        code = (
            "from django.conf import settings as s; o = s.CELERY_BROKER_TRANSPORT_OPTIONS;"
            "print(f\"{s.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} in {s.VAR_DIR},"
            " broker {s.CELERY_BROKER_URL}"
            " polled every {o.get('polling_interval')} s, runserver, OPENSTACK_POLL_INTERVAL="
            "{s.NODECONDUCTOR['OPENSTACK_POLL_INTERVAL']} s, networks {s.NODECONDUCTOR['OPENSTACK_NETWORKS']},"
            " worker timer precision {getattr(s, 'CELERY_WORKER_TIMER_PRECISION', '1.0 (Celery default)')} s\")"
        )
        return self.run(sys.executable, "manage.py", "shell", "-c", code).strip().splitlines()[-1]

    def forget(self, server_ids):
        """Delete our rows of deleted servers, which would count against the membership's quota in SQLite."""
        if server_ids:
            self.run(sys.executable, str(Path(__file__)), "forget", json.dumps(list(server_ids)))


def _seed(clouds):
    from nodeconductor.iaas.backend.instances import keypair_name

    seeds, staff, key, token = [], None, None, None
    for cloud in clouds:
        s = c.seed_account(cloud["auth_url"], cloud["tenant"], cloud["image"], staff=staff, key=key, name=cloud["name"])
        staff, key, token = s["staff"], s["key"], token or s["token"]
        seeds.append(
            {
                "project": str(s["project"].uuid),
                "template": str(s["template"].uuid),
                "flavors": [(str(f.uuid), f.backend_id) for f in s["flavors"]],
                "image": cloud["image"],
            }
        )
    print(json.dumps({"token": token, "key": str(key.uuid), "key_name": keypair_name(key), "seeds": seeds}))


def _forget(server_ids):
    from nodeconductor.iaas.models import Instance

    Instance.objects.filter(backend_id__in=server_ids).delete()


if __name__ == "__main__":
    import django

    django.setup()
    {"seed": _seed, "forget": _forget}[sys.argv[1]](json.loads(sys.argv[2]))
