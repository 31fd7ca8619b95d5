"""Shared plumbing of the benchmarks: a throwaway PostgreSQL database, the simulator, server and worker processes.

Everything a benchmark starts is registered here and torn down at exit (normal exit, exception, SIGINT/SIGTERM
or the script's own time limit): child processes are killed by process group, the database is dropped and the
Redis database used as broker (db 15 by default) is flushed.
"""

import atexit
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "benchmarks")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

_cleanups = []


def on_exit(fn):
    """Run fn at exit, most recent first."""
    _cleanups.append(fn)
    return fn


def _cleanup():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - cleanup must go on
            print(f"cleanup: {exc}", file=sys.stderr)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    raise SystemExit(f"interrupted by signal {signum}")


def install_limits(seconds):
    """Exit cleanly on SIGINT/SIGTERM and after `seconds` of wall time (SIGALRM)."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    def _alarm(signum, frame):
        raise SystemExit(f"time limit of {seconds} s reached; cleaning up")

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(seconds))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- PostgreSQL ------------------------------------------------------------------------------------------


def create_database(prefix="nc_bench"):
    """Create a throwaway database; return its URL. Dropped at exit."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        from django.db import connections

        try:
            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up
            pass
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    on_exit(drop)
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}"


def flush_redis():
    """Empty the broker database (ours alone: db 15 unless BENCH_REDIS_URL says otherwise)."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# -- settings --------------------------------------------------------------------------------------------


def product_env(database_url, auth_url, more_credentials=(), **extra):
    """Environment of settings.production pointed at the throwaway database, Redis db 15 and the simulator."""
    creds = [
        {
            "auth_url": auth_url,
            "username": "admin",
            "password": "admin",
            "tenant_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        *more_credentials,
    ]
    env = {
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "SECRET_KEY": "benchmark-only-" + uuid.uuid4().hex,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": REDIS_URL,
        "NODECONDUCTOR_OPENSTACK_CREDENTIALS": json.dumps(creds),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SESSION_COOKIE_SECURE": "false",
        # The benchmarks speak plain HTTP to gunicorn, with no TLS proxy in front: no redirect to https://.
        "NODECONDUCTOR_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def setup_django(env):
    """Configure Django in this process with the same environment as the child processes."""
    os.environ.update(env)
    import django

    django.setup()


def migrate():
    """Create the schema in the throwaway database."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# -- processes -------------------------------------------------------------------------------------------


def start_process(argv, env, log_name, drop=()):
    """Start a child in its own process group with output to a temporary log; killed at exit.

    `drop` names variables of this process's environment the child must not inherit (e.g. the Redis broker URL,
    which a stack on the filesystem broker would otherwise take).
    """
    import tempfile

    log = tempfile.NamedTemporaryFile(prefix=f"nc-bench-{log_name}-", suffix=".log", delete=False)
    child_env = {k: v for k, v in os.environ.items() if k not in drop}
    proc = subprocess.Popen(
        argv, cwd=ROOT, env={**child_env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log_path = log.name

    def stop():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"log of {log_name}: {log.name}", file=sys.stderr)
        elif os.path.exists(log.name):
            os.unlink(log.name)

    on_exit(stop)
    proc.stop = stop
    return proc


def tail(proc, lines=30):
    with open(proc.log_path, errors="replace") as fh:
        return "".join(fh.readlines()[-lines:])


def wait_http(url, proc=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited:\n{tail(proc)}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_gunicorn(env, workers=2):
    """The API as production serves it (gunicorn, sync workers) on a free port; returns (proc, base_url)."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    proc = start_process(
        [
            str(bin_dir / "gunicorn"),
            "nodeconductor.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ],
        env,
        "gunicorn",
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/api/", proc)
    return proc, base


def start_worker(env, extra_args=(), drop=(), log_name="worker"):
    """`celery -A nodeconductor worker` at default settings (concurrency = CPUs); waits until it is ready."""
    bin_dir = Path(sys.executable).parent
    proc = start_process(
        [
            str(bin_dir / "celery"),
            "-A",
            "nodeconductor",
            "worker",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            *extra_args,
        ],
        env,
        log_name,
        drop,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("worker exited:\n" + tail(proc))
        with open(proc.log_path, errors="replace") as fh:
            if "ready." in fh.read():
                return proc
        time.sleep(0.2)
    raise RuntimeError("worker not ready in 60 s:\n" + tail(proc))


def tree_rss(pid):
    """RSS in bytes of a process and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


# -- the simulator and a ready cloud ----------------------------------------------------------------------


def start_sim(delays="realistic"):
    """The simulated OpenStack in a thread of this process, demo tenant without quota limits."""
    from nodeconductor.cloudsim import CloudSim

    sim = CloudSim(port=0, delays=delays).start()
    on_exit(sim.stop)
    unlimited(sim)
    return sim


def unlimited(sim):
    demo = sim.project_id("demo")
    sim.set_quota(demo, compute={"instances": -1, "cores": -1, "ram": -1}, volume={"volumes": -1, "gigabytes": -1})


def seed_cloud(sim):
    """Staff user with a token and an SSH key, a customer, project, cloud (pulled), template and membership."""
    return seed_account(sim.auth_url, sim.project_id("demo"), next(iter(sim.images()))["id"])


def seed_account(auth_url, tenant_id, image_id, staff=None, key=None, name="Sim"):
    """seed_cloud for any cloud: staff and key (made unless given), customer, project, cloud, template, membership."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from knox.models import AuthToken

    from nodeconductor.core.models import SshPublicKey, User
    from nodeconductor.iaas.models import Cloud, CloudProjectMembership, SyncState, Template
    from nodeconductor.iaas.resource_operations import run_cloud_pull
    from nodeconductor.iaas.tasks import sync_cloud_membership
    from nodeconductor.structure.models import Customer, Project

    if staff is None:
        staff = User.objects.create(username="bench-staff", is_staff=True)
        pub = ed25519.Ed25519PrivateKey.generate().public_key()
        line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        key = SshPublicKey(user=staff, name="bench", public_key=line + " bench@nodeconductor")
        key.clean()
        key.save()
    customer = Customer.objects.create(name=f"Bench customer {name}")
    project = Project.objects.create(customer=customer, name=f"bench-{name}")
    cloud = Cloud.objects.create(customer=customer, name=name, auth_url=auth_url)
    template = Template.objects.create(name=f"CentOS 6 {name}", os="CentOS 6.5", sla_level=99.9, is_active=True)
    template.mappings.create(backend_image_id=image_id)
    membership = CloudProjectMembership.objects.create(project=project, cloud=cloud, tenant_id=tenant_id)
    sync_cloud_membership(str(membership.uuid))
    membership.refresh_from_db()
    assert membership.state == SyncState.IN_SYNC, membership.error_message
    run_cloud_pull(cloud)
    cloud.refresh_from_db()
    assert cloud.state == SyncState.IN_SYNC, cloud.error_message
    flavors = list(cloud.flavors.order_by("ram", "backend_id"))
    return {
        # A new token per seed: the database keeps digests only, so an earlier one cannot be read back.
        "token": AuthToken.objects.create(user=staff)[1],
        "staff": staff,
        "key": key,
        "project": project,
        "cloud": cloud,
        "template": template,
        "membership": membership,
        "flavors": flavors,
        "image": {"id": image_id},
    }


# -- HTTP client of our API (in _client.py, re-exported here) -----------------------------------------------

from _client import Api, classify_calls, ops_summary  # noqa: E402, F401

# -- reporting --------------------------------------------------------------------------------------------


def machine():
    """One line describing the machine, for the figures."""
    import psutil

    pg = "?"
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} CPUs, {mem:.0f} GiB RAM, Python {platform.python_version()}, PostgreSQL {pg}, "
        f"{platform.system()} {platform.release()}; load average now {os.getloadavg()[0]:.1f} (other users)"
    )


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def p95(xs):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
