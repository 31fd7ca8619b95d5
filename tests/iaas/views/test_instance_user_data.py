"""cloud-init user data: given on create, passed to Nova as written, readable by operators only, kept for a restore."""

import base64
import json

import pytest
from novaclient import client as nova_client

from nodeconductor.iaas.models import Backup, Instance
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_backups import burl, take
from tests.iaas.views.test_instances import create_body, link, provision, run_tasks, url

CLOUD_CONFIG = "#cloud-config\npackages:\n  - nginx\nruncmd:\n  - systemctl enable --now nginx\n"
# 49,149 bytes are 65,532 base64 characters; one byte more is 65,536, past Nova's 65,535.
LONGEST = 49149


def nova_admin_user_data(iaas, server_id):
    """The user data Nova holds for a server, as the admin's view shows it (microversion 2.3), decoded."""
    backend = iaas.cloud.get_backend()
    shown = nova_client.Client("2.3", session=backend.admin_session()).servers.get(server_id).to_dict()
    encoded = shown["OS-EXT-SRV-ATTR:user_data"]
    return base64.b64decode(encoded).decode() if encoded else None


def test_user_data_is_readable_by_those_who_operate_the_instance_only(iaas, roles):
    instance = provision(iaas, roles, user_data=CLOUD_CONFIG)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url(instance)))
    shown = {role: responses[role].json()["user_data"] for role in ("manager", "admin", "owner", "staff")}
    assert shown == {"manager": None, "owner": None, "admin": CLOUD_CONFIG, "staff": CLOUD_CONFIG}
    listed = roles.client_as("manager").get("/api/instances/").json()
    assert [row["user_data"] for row in listed] == [None]
    assert roles.client_as("admin").get("/api/instances/").json()[0]["user_data"] == CLOUD_CONFIG


def test_nova_gets_the_user_data_as_written(iaas, roles):
    instance = provision(iaas, roles, user_data=CLOUD_CONFIG)
    assert instance.state == "online", instance.error_message
    assert nova_admin_user_data(iaas, instance.backend_id) == CLOUD_CONFIG
    plain = provision(iaas, roles, hostname="web-2")
    assert nova_admin_user_data(iaas, plain.backend_id) is None
    assert roles.client_as("admin").get(url(plain)).json()["user_data"] == ""


@pytest.mark.parametrize("size, status", [(LONGEST, 201), (LONGEST + 1, 400)])
def test_user_data_up_to_novas_limit(iaas, roles, size, status):
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, user_data="x" * size), format="json")
    assert response.status_code == status, response.json()
    if status == 400:
        assert response.json() == {"user_data": [
            "Must be at most 65,535 bytes once base64-encoded, as Nova allows: about 47 KiB of text. This is "
            "49,150 bytes, 65,536 encoded."], "code": "invalid"}  # fmt: skip
        assert not Instance.objects.exists()
    else:
        assert len(response.json()["user_data"]) == LONGEST


def test_the_plan_shows_the_user_data_it_boots_with(iaas, roles):
    body = create_body(iaas, user_data=CLOUD_CONFIG)
    plan = roles.client_as("admin").post("/api/instances/?dry_run=true", body, format="json")
    assert plan.status_code == 200, plan.json()
    boot = [a["call"] for step in plan.json()["steps"] for a in step["actions"]
            if a.get("call", "").startswith("nova servers.create")]  # fmt: skip
    # The boot, and the boot of the retry after Nova's transient build failure (its phase happens only then).
    assert len(boot) == 2 and len(CLOUD_CONFIG) == 75 and all(call.endswith(
        " user_data=(75 bytes, base64-encoded by the client; first line: '#cloud-config')") for call in boot), boot
    without = roles.client_as("admin").post("/api/instances/?dry_run=true", create_body(iaas), format="json").json()
    assert "user_data" not in str(without["steps"])


def test_a_restore_boots_with_the_backed_up_user_data(iaas, roles):
    source = provision(iaas, roles, user_data=CLOUD_CONFIG)
    response = take(roles, source)
    assert response.status_code == 202, response.json()
    backup = Backup.objects.get(uuid=response.json()["uuid"])
    assert roles.client_as("admin").get(burl(backup)).json()["metadata"]["user_data"] == CLOUD_CONFIG
    assert roles.client_as("manager").get(burl(backup)).json()["metadata"]["user_data"] is None
    with run_tasks():
        response = roles.client_as("admin").post(burl(backup, "restore"), {"flavor": link("flavor", iaas.flavor)},
                                                 format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    restored = Instance.objects.get(uuid=response.json()["uuid"])
    assert restored.state == "online" and restored.user_data == CLOUD_CONFIG, restored.error_message
    assert nova_admin_user_data(iaas, restored.backend_id) == CLOUD_CONFIG


def test_user_data_with_a_lone_surrogate_is_a_400(iaas, roles):
    # JSON may carry a lone surrogate as an escape (json.dumps writes it so); Python cannot encode it as UTF-8.
    body = json.dumps(create_body(iaas, user_data="a\ud800b"))
    response = roles.client_as("admin").post("/api/instances/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"user_data": ["Surrogate characters are not allowed: U+D800."], "code": "invalid"}
