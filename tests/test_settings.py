"""The settings modules, each imported in a fresh interpreter with exactly the environment a test gives it."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "SECRET_KEY": "test-secret",
    "DATABASE_URL": "postgres://nc:pw@db.example:5432/nodeconductor",
    "CELERY_BROKER_URL": "redis://redis.example:6379/0",
}
CREDENTIALS = [
    {
        "auth_url": "http://keystone.example:5000/v3",
        "username": "admin",
        "password": "s3cret",
        "tenant_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
]
# Prints what the tests look at; runs in the child interpreter.
PROBE = """
import json, sys
import settings.{module} as s
db = s.DATABASES["default"]
print(json.dumps({{
    "secret_key": s.SECRET_KEY,
    "debug": s.DEBUG,
    "db_engine": db["ENGINE"],
    "db_name": str(db["NAME"]),
    "db_host": db.get("HOST", ""),
    "db_options": db.get("OPTIONS", {{}}),
    "broker": s.CELERY_BROKER_URL,
    "credentials": list(s.NODECONDUCTOR["OPENSTACK_CREDENTIALS"]),
}}))
"""


def run_python(code, timeout=60, **env):
    """Run `code` in a Python subprocess of the repository whose environment is only `env`."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def load(module, **env):
    """Import settings.<module> in a subprocess whose environment is only `env`."""
    return run_python(PROBE.format(module=module), **env)


def loaded(module, **env):
    result = load(module, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(module, **env):
    result = load(module, **env)
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"])
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    message = refused("production", **env)
    assert "ImproperlyConfigured" in message
    assert missing in message


def test_production_refuses_an_empty_secret_key():
    assert "SECRET_KEY" in refused("production", **{**PRODUCTION, "SECRET_KEY": ""})


def test_production_with_nothing_set_names_the_first_missing_variable():
    assert "Set the SECRET_KEY environment variable" in refused("production")


def test_production_reads_database_broker_and_key_from_the_environment():
    values = loaded("production", **PRODUCTION)
    assert values["secret_key"] == "test-secret"
    assert values["debug"] is False
    assert values["db_engine"] == "django.db.backends.postgresql"
    assert values["db_host"] == "db.example" and values["db_name"] == "nodeconductor"
    assert values["broker"] == PRODUCTION["CELERY_BROKER_URL"]
    assert values["credentials"] == []
    # The server ends a session left idle inside a transaction (a worker cut off holding a lock) after 10 s.
    assert values["db_options"] == {"options": "-c idle_in_transaction_session_timeout=10000"}


def test_production_reads_the_idle_in_transaction_timeout():
    values = loaded("production", **PRODUCTION, NODECONDUCTOR_DB_IDLE_IN_TRANSACTION_TIMEOUT="30")
    assert values["db_options"] == {"options": "-c idle_in_transaction_session_timeout=30000"}
    assert "NODECONDUCTOR_DB_IDLE_IN_TRANSACTION_TIMEOUT must be a whole number of seconds" in refused(
        "production", **PRODUCTION, NODECONDUCTOR_DB_IDLE_IN_TRANSACTION_TIMEOUT="ten")


def test_production_reads_openstack_credentials_from_the_environment():
    values = loaded("production", **PRODUCTION, NODECONDUCTOR_OPENSTACK_CREDENTIALS=json.dumps(CREDENTIALS))
    assert values["credentials"] == CREDENTIALS


def test_production_reads_openstack_credentials_from_a_file(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(CREDENTIALS, indent=2))
    values = loaded("production", **PRODUCTION, NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE=str(path))
    assert values["credentials"] == CREDENTIALS


def test_the_file_wins_over_the_environment_variable(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(CREDENTIALS))
    values = loaded(
        "production",
        **PRODUCTION,
        NODECONDUCTOR_OPENSTACK_CREDENTIALS="[]",
        NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE=str(path),
    )
    assert values["credentials"] == CREDENTIALS


@pytest.mark.parametrize(
    "raw, expected",
    [
        ('[{"auth_url": "http://x/v3",}]', "not valid JSON"),
        ("{not json", "not valid JSON"),
        ('{"auth_url": "http://x/v3"}', "must be a JSON list"),
        ('[{"username": "admin"}]', "each with an auth_url"),
        ('["http://x/v3"]', "must be a JSON list"),
    ],
)
def test_production_rejects_malformed_credentials(raw, expected):
    message = refused("production", **PRODUCTION, NODECONDUCTOR_OPENSTACK_CREDENTIALS=raw)
    assert "ImproperlyConfigured" in message and expected in message


def test_malformed_credentials_file_is_rejected(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text("[{'auth_url': 'single quotes'}]")
    message = refused("production", **PRODUCTION, NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE=str(path))
    assert "not valid JSON" in message


def test_a_missing_credentials_file_is_named(tmp_path):
    path = tmp_path / "nowhere.json"
    message = refused("production", **PRODUCTION, NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE=str(path))
    assert str(path) in message


def test_credentials_never_appear_in_the_error(tmp_path):
    raw = json.dumps(CREDENTIALS)[:-1]  # truncated: invalid JSON that contains the password
    result = load("production", **PRODUCTION, NODECONDUCTOR_OPENSTACK_CREDENTIALS=raw)
    assert result.returncode != 0
    assert "s3cret" not in result.stderr


# The login throttles and the token lifetime, read by settings.base from the environment.
AUTH_PROBE = """
import json
import settings.base as s
rest, knox = s.REST_FRAMEWORK, s.REST_KNOX
print(json.dumps({
    "num_proxies": rest["NUM_PROXIES"],
    "rates": rest["DEFAULT_THROTTLE_RATES"],
    "ttl": knox["TOKEN_TTL"].total_seconds(),
    "auto_refresh": knox["AUTO_REFRESH"],
    "min_refresh_interval": knox["MIN_REFRESH_INTERVAL"],
    "max_age": knox["AUTO_REFRESH_MAX_TTL"].total_seconds(),
}))
"""
AUTH_VARIABLES = {"NODECONDUCTOR_NUM_PROXIES": "0", "NODECONDUCTOR_LOGIN_USER_RATE": "30/hour",
                  "NODECONDUCTOR_TOKEN_TTL": "36000", "NODECONDUCTOR_TOKEN_MAX_AGE": "604800"}  # fmt: skip


def load_auth(**env):
    return run_python(AUTH_PROBE, **env)


def test_login_throttles_and_token_lifetime_defaults():
    result = load_auth()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "num_proxies": 0,
        "rates": {"password_login": "10/min", "password_login_user": "30/hour"},
        "ttl": 36000.0,
        "auto_refresh": True,
        "min_refresh_interval": 60,
        "max_age": 604800.0,
    }


def test_login_throttles_and_token_lifetime_from_the_environment():
    env = {"NODECONDUCTOR_NUM_PROXIES": "2", "NODECONDUCTOR_LOGIN_USER_RATE": "5/min", "NODECONDUCTOR_TOKEN_TTL": "900",
           "NODECONDUCTOR_TOKEN_MAX_AGE": "3600"}  # fmt: skip
    result = load_auth(**env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["num_proxies"] == 2
    assert values["rates"] == {"password_login": "10/min", "password_login_user": "5/min"}
    assert (values["ttl"], values["max_age"]) == (900.0, 3600.0)


@pytest.mark.parametrize(
    "name, raw",
    [
        ("NODECONDUCTOR_NUM_PROXIES", "-1"),
        ("NODECONDUCTOR_NUM_PROXIES", "one"),
        ("NODECONDUCTOR_LOGIN_USER_RATE", "30 per hour"),
        ("NODECONDUCTOR_LOGIN_USER_RATE", "0/min"),
        ("NODECONDUCTOR_LOGIN_USER_RATE", "30/week"),
        ("NODECONDUCTOR_TOKEN_TTL", "0"),
        ("NODECONDUCTOR_TOKEN_TTL", "10h"),
        ("NODECONDUCTOR_TOKEN_MAX_AGE", "60"),  # shorter than the TTL
        ("NODECONDUCTOR_TOKEN_MAX_AGE", "7d"),
    ],
)
def test_a_bad_auth_variable_is_refused_by_name(name, raw):
    result = load_auth(**{name: raw})
    assert result.returncode != 0, result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("django.core.exceptions.ImproperlyConfigured: ") and name in message, message


@pytest.mark.parametrize("name, default", AUTH_VARIABLES.items())
def test_the_auth_variables_are_documented_with_their_defaults(name, default):
    configuration = (ROOT / "docs" / "guide" / "configuration.rst").read_text()
    assert f"   * - ``{name}``\n     - ``{default}``\n" in configuration


def test_development_needs_no_environment():
    values = loaded("development")
    assert values["debug"] is True
    assert values["secret_key"]
    assert values["db_engine"] == "django.db.backends.sqlite3"
    assert values["db_name"] == str(ROOT / "var" / "db.sqlite3")
    assert values["broker"] == "filesystem://"
    assert [c["auth_url"] for c in values["credentials"]] == ["http://127.0.0.1:5100/v3"]
    assert values["credentials"][0]["username"] == "admin" and values["credentials"][0]["password"] == "admin"


def test_development_follows_the_simulator_port_and_var_dir(tmp_path):
    values = loaded("development", NODECONDUCTOR_CLOUDSIM_PORT="5999", NODECONDUCTOR_VAR_DIR=str(tmp_path))
    assert values["credentials"][0]["auth_url"] == "http://127.0.0.1:5999/v3"
    assert values["db_name"] == str(tmp_path / "db.sqlite3")


def test_development_passes_django_checks_with_an_empty_environment():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "settings.development"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def manage(*args, **env):
    """Run manage.py in a subprocess whose environment is only `env`."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_refuses_two_entries_for_the_same_keystone_naming_both_without_passwords(tmp_path):
    second = {**CREDENTIALS[0], "auth_url": "http://keystone.example:5000/v3/", "username": "ops"}
    second["password"] = "hunter22"
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps([CREDENTIALS[0], second]))
    env = {**PRODUCTION, "NODECONDUCTOR_OPENSTACK_CREDENTIALS_FILE": str(path)}
    result = manage("check", DJANGO_SETTINGS_MODULE="settings.production", **env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "iaas.E003" in output
    assert "OPENSTACK_CREDENTIALS[0] (auth_url 'http://keystone.example:5000/v3', username 'admin')" in output
    assert "OPENSTACK_CREDENTIALS[1] (auth_url 'http://keystone.example:5000/v3/', username 'ops')" in output
    assert "s3cret" not in output and "hunter22" not in output


def test_check_refuses_an_entry_missing_a_required_key(tmp_path):
    incomplete = {k: v for k, v in CREDENTIALS[0].items() if k not in ("password", "tenant_name")}
    result = manage(
        "check",
        DJANGO_SETTINGS_MODULE="settings.production",
        **PRODUCTION,
        NODECONDUCTOR_OPENSTACK_CREDENTIALS=json.dumps([incomplete]),
    )
    assert result.returncode != 0
    assert "iaas.E002" in result.stderr
    assert "OPENSTACK_CREDENTIALS[0] (auth_url 'http://keystone.example:5000/v3', username 'admin') lacks " in (
        result.stderr
    )
    assert "lacks password, tenant_name" in result.stderr


def test_check_accepts_distinct_complete_credentials():
    other = {**CREDENTIALS[0], "auth_url": "http://keystone2.example:5000/v3"}
    result = manage(
        "check",
        DJANGO_SETTINGS_MODULE="settings.production",
        **PRODUCTION,
        NODECONDUCTOR_OPENSTACK_CREDENTIALS=json.dumps([CREDENTIALS[0], other]),
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


# Creates a staff user and a customer, then a cloud through the API: its pull is enqueued on the broker.
ENQUEUE = """
import json, django
django.setup()
from django.test import Client
from nodeconductor.core.models import User
from nodeconductor.structure.models import Customer
staff = User.objects.create_user(username="staff", password="not-used-1", is_staff=True)
customer = Customer.objects.create(name="Acme")
client = Client(raise_request_exception=False)
client.force_login(staff)
response = client.post("/api/clouds/", {
    "name": "Sim", "customer": f"http://testserver/api/customers/{customer.uuid}/",
    "auth_url": "http://127.0.0.1:5100/v3",
}, content_type="application/json")
print(json.dumps({"status": response.status_code, "body": response.content.decode()}))
"""
BROKER_FOLDERS = ("celery-queue", "celery-processed", "celery-control")


def test_development_creates_its_var_and_broker_folders(tmp_path):
    var = tmp_path / "fresh" / "var"
    loaded("development", NODECONDUCTOR_VAR_DIR=str(var))
    assert sorted(p.name for p in var.iterdir()) == sorted(BROKER_FOLDERS)
    assert all((var / name).is_dir() for name in BROKER_FOLDERS)


def test_development_refuses_a_var_dir_it_cannot_create(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    message = refused("development", NODECONDUCTOR_VAR_DIR=str(blocker / "var"))
    assert "ImproperlyConfigured" in message and str(blocker / "var") in message
    assert "NODECONDUCTOR_VAR_DIR" in message


def test_development_migrates_and_enqueues_in_a_fresh_var_dir_without_run_dev(tmp_path):
    var = tmp_path / "fresh" / "var"
    env = {"DJANGO_SETTINGS_MODULE": "settings.development", "NODECONDUCTOR_VAR_DIR": str(var)}
    migrated = manage("migrate", "--no-input", **env)
    assert migrated.returncode == 0, migrated.stderr
    result = run_python(ENQUEUE, timeout=120, **env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 201, answer["body"]
    assert json.loads(answer["body"])["state"] == "Sync Scheduled"
    (message,) = (var / "celery-queue").iterdir()
    envelope = json.loads(message.read_text())
    assert envelope["headers"]["task"] == "nodeconductor.iaas.run_operation"  # the first step of the cloud's pull
    kind, uuid, token, seq = json.loads(base64.b64decode(envelope["body"]))[0]
    assert (kind, uuid, len(token), seq) == ("cloud", json.loads(answer["body"])["uuid"], 32, 0)


POLLING = """
import django
django.setup()
from nodeconductor.celery import app
with app.connection_for_read() as connection:
    print(app.conf.worker_timer_precision)
    print(connection.transport.polling_interval)
"""


@pytest.mark.parametrize("env, expected", [({}, 0.1), ({"NODECONDUCTOR_BROKER_POLLING_INTERVAL": "0.5"}, 0.5)])
def test_the_filesystem_broker_is_looked_at_ten_times_a_second(tmp_path, env, expected):
    # kombu's default (1 s a look) made every hop of a provision wait up to a second on the embedded default.
    result = run_python(POLLING, DJANGO_SETTINGS_MODULE="settings.development", NODECONDUCTOR_VAR_DIR=str(tmp_path),
                        **env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    precision, polling = map(float, result.stdout.strip().splitlines()[-2:])
    assert polling == expected
    # Countdowns (the tenant poller's next look) run on the worker's timer thread, which sleeps up to this long.
    assert precision == expected
