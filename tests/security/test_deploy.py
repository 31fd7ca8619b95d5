"""Finding 4 of issue 27: `manage.py check --deploy` is clean on the production settings, and the compose stack's
web service (gunicorn behind a TLS-terminating proxy) still serves, redirects and passes its health check."""

import importlib.util
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **extra):
    """The environment settings.production requires, with a random key and a database nothing connects to."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-used.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        **extra,
    }


def check_deploy(tmp_path, **extra):
    """Run `manage.py check --deploy --fail-level WARNING` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("preload", ["false", "true"])
def test_check_deploy_is_clean_on_the_production_settings(tmp_path, preload):
    result = check_deploy(tmp_path, NODECONDUCTOR_SECURE_HSTS_PRELOAD=preload)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output and "System check identified some issues" not in output
    assert "System check identified no issues" in output


def test_check_deploy_still_sees_what_an_operator_turns_off(tmp_path):
    """The check is not silenced wholesale: HSTS and the redirect turned off are reported."""
    result = check_deploy(tmp_path, NODECONDUCTOR_SECURE_HSTS_SECONDS="0", NODECONDUCTOR_SECURE_SSL_REDIRECT="false")
    assert result.returncode == 1
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("NODECONDUCTOR_SECURE_SSL_REDIRECT", "ture", "NODECONDUCTOR_SECURE_SSL_REDIRECT must be true or false"),
        ("SESSION_COOKIE_SECURE", "maybe", "SESSION_COOKIE_SECURE must be true or false"),
        ("NODECONDUCTOR_SECURE_HSTS_SECONDS", "1y", "NODECONDUCTOR_SECURE_HSTS_SECONDS must be a whole number"),
        ("NODECONDUCTOR_SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https", "must name a header"),
    ],
)
def test_a_misspelt_https_setting_is_refused_not_read_as_off(tmp_path, name, value, message):
    result = check_deploy(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


# ------------------------------------------------------------------------------- the compose web service
def compose_web_environment():
    """The web service's environment as docker compose gives it with nothing set in .env: the defaults."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = {}
    for name, value in compose["services"]["web"]["environment"].items():
        default = re.fullmatch(r"\$\{[A-Z0-9_]+:-(.*)\}", str(value))
        environment[name] = default.group(1) if default else str(value)
    return compose, environment


def test_compose_says_a_tls_proxy_is_in_front_and_publishes_on_loopback():
    compose, environment = compose_web_environment()
    assert environment["NODECONDUCTOR_SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO"
    assert environment["NODECONDUCTOR_SECURE_SSL_REDIRECT"] == "true"
    assert environment["NODECONDUCTOR_SECURE_HSTS_SECONDS"] == "31536000"
    # The one proxy in front writes X-Forwarded-For: the throttles count its clients apart, not as one.
    assert environment["NODECONDUCTOR_NUM_PROXIES"] == "1"
    (ports,) = compose["services"]["web"]["ports"]
    assert ports == "${NODECONDUCTOR_HTTP_BIND:-127.0.0.1}:${NODECONDUCTOR_HTTP_PORT:-8000}:8000"


def free_port():
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, **headers):
    """(status, headers, body) of a GET that follows no redirect."""
    request = urllib.request.Request(url, headers={"Host": "localhost", **headers})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def compose_web(tmp_path):
    """gunicorn as the compose web service runs it (same command, compose's default environment), on a free port."""
    compose, environment = compose_web_environment()
    environment = {k: v for k, v in environment.items() if "OPENSTACK_CREDENTIALS" not in k}
    port = free_port()
    command = [a for a in compose["services"]["web"]["command"] if not a.startswith(("--bind", "--workers"))]
    env = production_env(tmp_path, **{k: v for k, v in environment.items() if not v.startswith("${")})
    # In the container the proxy's requests come from a Docker network address, not one gunicorn trusts by
    # default: Django's proxy header, not gunicorn's forwarded_allow_ips, must make them HTTPS.
    env["FORWARDED_ALLOW_IPS"] = "192.0.2.1"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / command[0]), *command[1:], f"--bind=127.0.0.1:{port}", "--workers=1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(url + "/api/")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "gunicorn did not listen within 60 s"
                time.sleep(0.2)
        yield url, env
    finally:
        server.terminate()
        server.wait(timeout=30)


def load_healthcheck():
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "scripts" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_web_redirects_plain_http_and_serves_the_proxy(compose_web, monkeypatch):
    url, env = compose_web
    status, headers, _ = fetch(url + "/api/", Accept="application/json")
    assert status == 301 and headers["Location"] == "https://localhost/api/"
    status, headers, body = fetch(url + "/api/", Accept="application/json", **{"X-Forwarded-Proto": "https"})
    assert status == 401 and b'"not_authenticated"' in body
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    status, headers, body = fetch(url + "/admin/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 200 and b'name="username"' in body
    assert headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")
    # The container's health check, with the container's environment: healthy, not fooled by the redirect.
    monkeypatch.setenv("NODECONDUCTOR_SECURE_PROXY_SSL_HEADER", env["NODECONDUCTOR_SECURE_PROXY_SSL_HEADER"])
    assert load_healthcheck().check_web(url + "/api/") is None
