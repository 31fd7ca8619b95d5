"""Security group requests whose task the broker refuses: 503, and the request is undone (nothing left with no task)."""

import shutil

import pytest

from nodeconductor.iaas.engine import records
from nodeconductor.iaas.models import Instance, SecurityGroup, SecurityGroupState
from nodeconductor.iaas.models.security_groups import set_instance_groups
from tests.iaas.brokers import celery_broker, filesystem_options
from tests.iaas.views.test_instances import link, make_instance, url


@pytest.fixture(autouse=True)
def neutron_networking(settings):
    """Security groups live in Neutron: these tests run with the tenant network, as production does."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_NETWORKS": "tenant"}


pytestmark = pytest.mark.django_db(transaction=True)
G = SecurityGroupState
SSH = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0", "direction": "ingress"}
WEB = {**SSH, "from_port": 80, "to_port": 80}


@pytest.fixture
def down_broker(iaas, tmp_path):
    """The filesystem transport with its queue folder removed: every publish fails."""
    options = filesystem_options(tmp_path)
    with celery_broker("filesystem://", options):
        shutil.rmtree(tmp_path / "queue", ignore_errors=True)
        yield


def make_group(iaas, name="g"):
    group = SecurityGroup.objects.create(membership=iaas.membership, name=name)
    group.rules.create(**SSH)
    SecurityGroup.objects.filter(pk=group.pk).update(state=G.IN_SYNC, backend_id="sg-1")
    return group


def assert_503(response, what):
    assert response.status_code == 503, response.content
    assert response.json() == {
        "detail": f"The task queue is unavailable, so the {what} was not scheduled and nothing was changed; "
        "retry shortly.",
        "code": "service_unavailable",
    }


def test_a_create_the_queue_refuses_leaves_no_group(iaas, roles, down_broker):
    body = {"name": "web", "membership": link("cloudprojectmembership", iaas.membership), "rules": [SSH]}
    response = roles.client_as("admin").post("/api/security-groups/", body, format="json")
    assert_503(response, "push of the security group")
    assert not SecurityGroup.objects.filter(name="web").exists()


def test_an_update_the_queue_refuses_is_undone(iaas, roles, down_broker):
    group = make_group(iaas)
    response = roles.client_as("admin").patch(f"/api/security-groups/{group.uuid}/", {"name": "new", "rules": [WEB]},
                                              format="json")  # fmt: skip
    assert_503(response, "push of the security group")
    group.refresh_from_db()
    assert (group.name, group.state, [str(r) for r in group.rules.all()]) == ("g", G.IN_SYNC,
                                                                              ["tcp 22-22 from 0.0.0.0/0"])
    assert not group.busy


def test_a_deletion_the_queue_refuses_is_undone(iaas, roles, down_broker):
    group = make_group(iaas)
    assert_503(roles.client_as("admin").delete(f"/api/security-groups/{group.uuid}/"), "deletion of the security group")
    group.refresh_from_db()
    assert group.state == G.IN_SYNC and not group.busy


def test_an_instance_groups_update_the_queue_refuses_is_undone(iaas, roles, down_broker):
    kept, other = make_group(iaas, "kept"), make_group(iaas, "other")
    instance = make_instance(iaas)
    set_instance_groups(instance, [kept])
    response = roles.client_as("admin").post(url(instance, "update_security_groups"),
                                             {"security_groups": [link("securitygroup", other)]}, format="json")
    assert_503(response, "security groups update")
    assert [g.name for g in Instance.objects.get(pk=instance.pk).security_groups.all()] == ["kept"]


def test_a_deletion_the_queue_refuses_gives_back_the_push_it_replaced(iaas, roles, down_broker):
    group = make_group(iaas)
    push = records.record("push_security_group", None)  # an edit's push, recorded and not begun
    SecurityGroup.objects.filter(pk=group.pk).update(state=G.SYNC_SCHEDULED, **push)
    assert_503(roles.client_as("admin").delete(f"/api/security-groups/{group.uuid}/"), "deletion of the security group")
    group.refresh_from_db()
    assert (group.state, group.operation_name, group.operation_token) == (G.SYNC_SCHEDULED, "push_security_group",
                                                                          push["operation_token"])  # fmt: skip
