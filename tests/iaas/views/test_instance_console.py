"""GET /api/instances/<uuid>/console_log/: Nova's console read by a worker for the request, its role matrix, its
refusals, its reuse of a fresh answer; and, on the simulator and the real cloud, a VM with user data whose
console comes back through the API (issue 26's "done when")."""

import base64
import time

import pytest
from novaclient import client as nova_client

from nodeconductor.iaas.models import Instance, InstanceState
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import make_instance, provision, run_tasks, stop, url

S = InstanceState
FAKE = ["FAKE CONSOLE OUTPUT", "ANOTHER", "LAST LINE"]  # Nova's fake driver's console, which the simulator mirrors
NOT_ADMIN = {"detail": "Only project administrators and staff operate instances.", "code": "permission_denied"}


def console(client, instance, **query):
    """GET the console log of an instance."""
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return client.get(url(instance, "console_log") + (f"?{suffix}" if suffix else ""))


def test_console_log_matrix_and_body(iaas, roles):
    instance = provision(iaas, roles)
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "owner": 403, "admin": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: console(c, instance))
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    assert responses["stranger"].json() == {"detail": "Not found.", "code": "not_found"}
    body = responses["admin"].json()
    assert (body["lines"], body["length"]) == (FAKE, 100) and body["read_at"]
    assert responses["staff"].json()["lines"] == FAKE
    two = console(roles.client_as("admin"), instance, length=2)
    assert (two.status_code, two.json()["lines"], two.json()["length"]) == (200, FAKE[-2:], 2)


@pytest.mark.parametrize("value", ["0", "1001", "ten", "-1", "2.5"])
def test_a_length_out_of_range_is_a_400_that_says_the_range(iaas, roles, value):
    instance = make_instance(iaas, S.ONLINE, backend_id="srv")
    response = console(roles.client_as("admin"), instance, length=value)
    assert response.status_code == 400
    assert response.json() == {"length": [f"Give a whole number of lines from 1 to 1000, not {value!r}."],
                               "code": "invalid"}  # fmt: skip


@pytest.mark.parametrize("state", [S.PROVISIONING_SCHEDULED, S.PROVISIONING, S.ERRED, S.DELETING])
def test_only_an_online_or_offline_instance_has_a_console_to_read(iaas, roles, state):
    instance = make_instance(iaas, state, backend_id="srv")
    response = console(roles.client_as("admin"), instance)
    assert response.status_code == 409
    label = dict(S.choices)[state]
    assert response.json() == {"detail": f"Only an Online or Offline instance has a console log to read; the "
                                         f"instance is {label}.", "code": "invalid_state"}  # fmt: skip
    shown = roles.client_as("admin").get(url(instance)).json()["actions"]["console_log"]
    assert shown == {"enabled": False, "reason": response.json()["detail"]}


def test_a_fresh_answer_is_reused_and_a_stopped_vm_is_read_too(iaas, roles):
    instance = provision(iaas, roles)
    client = roles.client_as("admin")
    assert console(client, instance).status_code == 200
    calls = iaas.env.sim.call_counts()["compute.server_console_output"]
    assert console(client, instance).json()["lines"] == FAKE  # within CLOUD_READ_FRESH_FOR: no second read
    assert iaas.env.sim.call_counts()["compute.server_console_output"] == calls
    stop(iaas, roles, instance)
    assert console(client, instance, length=1).json()["lines"] == FAKE[-1:]  # other lines asked: read again
    assert iaas.env.sim.call_counts()["compute.server_console_output"] == calls + 1


def test_the_clouds_failure_is_a_502_with_its_message(iaas, roles):
    instance = provision(iaas, roles)
    iaas.env.sim.fail_next("compute.server_console_output", status=409,
                           message=f"Instance {instance.backend_id} is not ready")  # fmt: skip
    response = console(roles.client_as("admin"), instance)
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "cloud_error" and body["detail"].startswith(
        f"get the console log of server {instance.backend_id} failed:"), body
    assert f"Instance {instance.backend_id} is not ready" in body["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_vm_with_user_data_shows_it_in_nova_and_its_console_comes_back(iaas_any, roles):
    iaas = iaas_any
    script = "#cloud-config\nruncmd:\n  - echo hello from nodeconductor\n"
    instance = provision(iaas, roles, hostname="nc-user-data", user_data=script)
    try:
        assert instance.state == S.ONLINE, instance.error_message
        admin_nova = nova_client.Client("2.3", session=iaas.cloud.get_backend().admin_session())
        shown = admin_nova.servers.get(instance.backend_id).to_dict()["OS-EXT-SRV-ATTR:user_data"]
        assert base64.b64decode(shown).decode() == script
        response = console(roles.client_as("admin"), instance, length=2)
        assert response.status_code == 200, response.content
        assert response.json()["lines"] == FAKE[-2:]
    finally:
        instance = Instance.objects.get(pk=instance.pk)
        if instance.state == S.ONLINE:
            stop(iaas, roles, instance)
        with run_tasks():
            roles.client_as("admin").delete(url(instance))
        deadline = time.time() + 120
        while Instance.objects.filter(pk=instance.pk).exists() and time.time() < deadline:
            time.sleep(1)
