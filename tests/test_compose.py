"""docker-compose.yml, the Dockerfile and the container health checks, checked without a Docker engine."""

import contextlib
import glob
import http.server
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nodeconductor.iaas.engine.leases import in_flight_window

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = {"postgres", "redis", "web", "worker", "beat"}
# Interpolations that must come from .env, never from a default in the file.
SECRETS = ("SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD", "NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def env_example():
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_services_and_images(compose):
    assert set(compose["services"]) == SERVICES
    assert compose["services"]["postgres"]["image"] == "postgres:15"
    assert compose["services"]["redis"]["image"] == "redis:7"
    web = compose["services"]["web"]
    assert web["command"][:2] == ["gunicorn", "nodeconductor.wsgi:application"]
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "settings.production"
    assert web["environment"]["NODECONDUCTOR_MIGRATE"] == "1"
    assert compose["services"]["worker"]["command"][:4] == ["celery", "-A", "nodeconductor", "worker"]
    assert compose["services"]["beat"]["command"][:4] == ["celery", "-A", "nodeconductor", "beat"]
    # Only the web service migrates, so nothing races it.
    for name in ("worker", "beat"):
        assert "NODECONDUCTOR_MIGRATE" not in compose["services"][name]["environment"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_has_a_healthcheck(compose, service):
    check = compose["services"][service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_healthchecks_use_the_right_probe(compose):
    def probe(name):
        return " ".join(compose["services"][name]["healthcheck"]["test"][1:])

    assert "pg_isready" in probe("postgres")
    assert "redis-cli ping" in probe("redis")
    assert "healthcheck.py web" in probe("web")
    assert "inspect ping" in probe("worker")
    assert "healthcheck.py beat" in probe("beat")
    schedule = next(a for a in compose["services"]["beat"]["command"] if a.startswith("--schedule="))
    assert schedule.split("=", 1)[1] in probe("beat")


def test_dependencies_wait_for_health(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert spec == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency]
    assert set(services["web"]["depends_on"]) == {"postgres", "redis"}
    # The worker and beat need the schema that the web service migrates.
    assert "web" in services["worker"]["depends_on"] and "web" in services["beat"]["depends_on"]


def test_no_secret_in_the_file(compose):
    text = COMPOSE.read_text()
    for name in SECRETS:
        assert re.search(r"\$\{" + name + r":\?", text), f"{name} must be required from .env, not defaulted"
        assert not re.search(r"\$\{" + name + r":-", text)
    environment = compose["services"]["web"]["environment"]
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert environment["NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE"] == "/run/secrets/openstack_credentials"
    assert compose["secrets"]["openstack_credentials"]["file"].startswith(
        "${NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE:?"
    )
    for name in ("web", "worker", "beat"):
        assert compose["services"][name]["secrets"] == ["openstack_credentials"]


def test_env_example_documents_every_variable(compose):
    documented = env_example()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    assert used <= set(documented), used - set(documented)
    for name in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE"):
        assert documented[name]
    assert "change-me" in documented["SECRET_KEY"]
    assert documented["POSTGRES_PASSWORD"] in documented["DATABASE_URL"]


def test_dockerfile_and_dockerignore():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^CMD \["gunicorn", "nodeconductor\.wsgi:application"', dockerfile, re.M)
    assert (ROOT / "scripts" / "docker-entrypoint.sh").exists()
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", ".env"):
        assert entry in ignored


def _compose_cli():
    """The first compose implementation on this machine: the v2 plugin, then the standalone docker-compose."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _compose_schema():
    """The compose-spec JSON schema shipped inside an installed docker-compose package, if any."""
    spec = importlib.util.find_spec("compose")
    candidates = (
        [Path(p) / "config" / "compose_spec.json" for p in (spec.submodule_search_locations or [])] if spec else []
    )
    candidates += [Path(p) for p in glob.glob("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")]
    return next((p for p in candidates if p.exists()), None)


def _run_compose(cli, tmp_path, env_file=True):
    credentials = tmp_path / "openstack-credentials.json"
    credentials.write_text("[]")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    env["NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE"] = str(credentials)
    args = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE)]
    if env_file:
        args += ["--env-file", str(ENV_EXAMPLE)]
    return subprocess.run([*args, "config", "-q"], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_compose_file_validates(tmp_path):
    cli = _compose_cli()
    if cli:
        result = _run_compose(cli, tmp_path)
        assert result.returncode == 0, result.stderr
        return
    schema_path = _compose_schema()
    jsonschema = pytest.importorskip("jsonschema")
    if schema_path is None:
        pytest.skip(
            "no compose validator here: install the docker compose plugin or Debian's docker-compose package "
            "(apt-get install docker-compose) to validate docker-compose.yml"
        )
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(yaml.safe_load(COMPOSE.read_text()), schema)


def test_compose_refuses_to_run_without_secrets(tmp_path):
    cli = _compose_cli()
    if not cli:
        pytest.skip("no compose CLI (docker compose plugin or docker-compose) to interpolate the file")
    result = _run_compose(cli, tmp_path, env_file=False)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "SECRET_KEY" in result.stderr


# --- scripts/healthcheck.py, the probes the containers run ---------------------------------------------------


def load_healthcheck():
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "scripts" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def serving(answer):
    """A local HTTP server whose GETs `answer(handler)` answers; yields its /api/ URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            answer(self)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server():
    status = {"code": 401}
    with serving(lambda handler: handler.send_response(status["code"])) as url:
        yield url, status


def test_web_check_accepts_answers_below_500(http_server):
    url, status = http_server
    check = load_healthcheck().check_web
    assert check(url) is None
    status["code"] = 200
    assert check(url) is None
    status["code"] = 502
    assert "answered 502" in check(url)


@pytest.fixture
def redirecting_server():
    """Answers every GET as production answers plain HTTP: 301 to https://; records each request's headers."""
    seen = []

    def redirect(handler):
        seen.append(dict(handler.headers))
        handler.send_response(301)
        handler.send_header("Location", "https://localhost/api/")

    with serving(redirect) as url:
        yield url, seen


def test_web_check_asks_as_the_proxy_and_follows_no_redirect(redirecting_server, monkeypatch):
    """The probe says X-Forwarded-Proto: https (and the header production is told to trust), and a redirect to
    https:// (which it could not follow: gunicorn has no TLS) is an answer, not a failure."""
    url, seen = redirecting_server
    monkeypatch.setenv("NODECONDUCTOR_SECURE_PROXY_SSL_HEADER", "HTTP_X_SCHEME")
    assert load_healthcheck().check_web(url) is None
    (headers,) = seen
    assert headers["X-Forwarded-Proto"] == "https" and headers["X-Scheme"] == "https"


def test_web_check_fails_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert "does not answer" in load_healthcheck().check_web(f"http://127.0.0.1:{port}/api/")


def test_beat_check_watches_the_schedule_file(tmp_path):
    check = load_healthcheck().check_beat
    schedule = tmp_path / "celerybeat-schedule"
    assert "no schedule file" in check(str(schedule), 600)
    data = tmp_path / "celerybeat-schedule.db"  # dbm may add a suffix
    data.write_bytes(b"x")
    assert check(str(schedule), 600) is None
    old = time.time() - 3600
    os.utime(data, (old, old))
    assert "not written for" in check(str(schedule), 600)


def test_healthcheck_cli_exit_codes(tmp_path):
    script = str(ROOT / "scripts" / "healthcheck.py")
    run = [sys.executable, script]
    assert subprocess.run([*run, "nonsense"], capture_output=True).returncode == 2
    result = subprocess.run([*run, "beat", str(tmp_path / "none"), "60"], capture_output=True, text=True)
    assert result.returncode == 1 and "unhealthy" in result.stderr
    (tmp_path / "s").write_text("x")
    assert subprocess.run([*run, "beat", str(tmp_path / "s"), "60"], capture_output=True).returncode == 0


def test_the_worker_service_scales(compose):
    """`docker compose up --scale worker=4` needs a worker with no fixed name or host port; each worker's
    health check pings its own node name (celery@<container hostname>), so four workers are four checks."""
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    assert '"celery@$$HOSTNAME"' in " ".join(worker["healthcheck"]["test"])
    assert "container_name" not in compose["services"]["beat"]
    assert worker["deploy"]["replicas"] == "${NODECONDUCTOR_WORKERS:-1}"


def test_a_worker_is_given_time_to_finish_its_step_and_is_brought_back_when_it_exits(compose):
    """Warm shutdown finishes the running step (tests/fleet: the rolling restart): the grace must outlast a cloud
    call's connect and read timeouts. A worker that exits on its own (kombu 5.7 on a Redis restart, tests/fleet)
    comes back by the restart policy."""
    worker = compose["services"]["worker"]
    grace = int(worker["stop_grace_period"].rstrip("s"))
    assert grace >= in_flight_window()  # OPENSTACK_CONNECT_TIMEOUT + OPENSTACK_READ_TIMEOUT
    assert worker["restart"] == "unless-stopped" and compose["services"]["beat"]["restart"] == "unless-stopped"
    assert "deploy" not in compose["services"]["beat"], "beat runs once: two would fire every schedule twice"
