"""`actions` on every instance says what the requester can do now, and it is exactly what the API answers.

The matrix goes through every state, role and action: the flag shown is compared with the real request's
answer (202 when enabled; otherwise the 403 or 409 whose message is the reason shown).
"""

import pytest

from nodeconductor.iaas.models import Flavor, Instance, InstanceState
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import link, make_instance, url

S = InstanceState
ROLES = ("admin", "manager", "owner", "staff")
REFUSAL_CODES = {403: "permission_denied", 409: "invalid_state"}


def send(client, instance, action, bigger):
    """The real request of an action."""
    if action == "delete":
        return client.delete(url(instance))
    if action == "resize_flavor":
        return client.post(url(instance, "resize"), {"flavor": link("flavor", bigger)}, format="json")
    if action == "resize_disk":
        return client.post(url(instance, "resize"), {"disk_size": instance.data_volume_size + 1024}, format="json")
    return client.post(url(instance, action))


@pytest.fixture
def bigger(iaas):
    return Flavor.objects.filter(cloud=iaas.cloud).exclude(pk=iaas.flavor.pk).order_by("-cores", "-ram").first()


@pytest.mark.parametrize("state", list(S))
def test_every_flag_is_the_real_answer(iaas, roles, bigger, state):
    mismatches = []
    for role in ROLES:
        client = roles.client_as(role)
        for action in ("start", "stop", "restart", "resize_flavor", "resize_disk", "delete", "recover"):
            instance = make_instance(iaas, state, hostname=f"{role}-{action}")
            shown = client.get(url(instance)).json()["actions"][action]
            response = send(client, instance, action, bigger)
            if shown["enabled"]:
                ok = response.status_code == 202
            else:
                ok = response.status_code in REFUSAL_CODES and response.json() == {
                    "detail": shown["reason"],
                    "code": REFUSAL_CODES[response.status_code],
                }
            if not ok:
                mismatches.append((role, action, shown, response.status_code, response.content[:200]))
            Instance.objects.filter(pk=instance.pk).delete()
    assert not mismatches, mismatches


def test_reasons_name_the_state_needed_and_the_role(iaas, roles):
    online = make_instance(iaas, S.ONLINE)
    actions = roles.client_as("admin").get(url(online)).json()["actions"]
    assert actions["resize_flavor"] == {
        "enabled": False,
        "reason": "The instance must be stopped (Offline) to be resized; the instance is Online.",
    }
    assert actions["stop"] == {"enabled": True, "reason": ""}
    assert actions["recover"] == {"enabled": False, "reason": "Only staff recover instances."}
    assert actions["import"]["enabled"] is False and "already managed" in actions["import"]["reason"]
    manager = roles.client_as("manager").get(url(online)).json()["actions"]
    assert manager["stop"] == {"enabled": False, "reason": "Only project administrators and staff operate instances."}
    assert set(manager) == {"start", "stop", "restart", "resize_flavor", "resize_disk", "delete", "recover", "import",
                           "update_security_groups", "assign_floating_ip", "unassign_floating_ip", "backup",
                           "console_log"}  # fmt: skip
    assert manager["console_log"] == manager["stop"]  # a read that shows what only operators should see


def test_list_rows_carry_the_same_actions(iaas, roles):
    offline = make_instance(iaas, S.OFFLINE)
    client = roles.client_as("admin")
    row = client.get("/api/instances/").json()[0]
    assert row["actions"] == client.get(url(offline)).json()["actions"]
    assert row["actions"]["start"]["enabled"] and not row["actions"]["stop"]["enabled"]


def test_a_page_of_every_state_shows_each_rows_own_actions(iaas, roles):
    """One page (one Operators, which remembers each state's answer) shows what each row's own GET shows."""
    for state in S:
        make_instance(iaas, state, hostname=f"vm-{state}")
    client = roles.client_as("admin")
    rows = client.get("/api/instances/?page_size=100").json()
    assert len(rows) == len(S)
    for row in rows:
        assert row["actions"] == client.get(row["url"]).json()["actions"], row["state"]
    assert len({str(r["actions"]) for r in rows}) > 3  # the states really differ in what they allow


def test_no_instance_transition_has_conditions():
    """Operators.leaves answers once per state: a condition would make the answer depend on more than it."""
    assert [t.name for t in Instance().get_all_state_transitions() if t.conditions] == []


@pytest.mark.parametrize("action, route", [("stop", "stop"), ("resize_flavor", "resize"), ("recover", "recover"),
                                           ("delete", None)])  # fmt: skip
def test_options_on_an_action_url_answers_the_same(iaas, roles, action, route):
    instance = make_instance(iaas, S.ONLINE)
    for role in ROLES:
        client = roles.client_as(role)
        response = client.options(url(instance, route))
        assert response.status_code == 200
        assert response.json()["actions"][action] == client.get(url(instance)).json()["actions"][action]
    assert roles.client_as("stranger").options(url(instance, route)).status_code == 404


def test_recover_matrix(iaas, roles):
    instance = make_instance(iaas, S.ERRED, error_message="boom")
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "owner": 403, "admin": 403, "staff": 202}
    responses = check_matrix(roles, expected, lambda c, r: c.post(url(instance, "recover")))
    assert responses["staff"].json() == {"status": "recover was scheduled"}
    for role in ("manager", "owner", "admin"):
        assert responses[role].json() == {"detail": "Only staff recover instances.", "code": "permission_denied"}
    assert roles.client_as("staff").post(url(make_instance(iaas, S.ONLINE, hostname="up"), "recover")).json() == {
        "detail": "Only an Erred instance can be recovered; the instance is Online.",
        "code": "invalid_state",
    }
