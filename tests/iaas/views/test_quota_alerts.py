"""Quota alerts: `quota_threshold_reached` once when usage reaches the threshold, again only after it fell under."""

import pytest

from nodeconductor.events.models import Event
from nodeconductor.iaas import quota_alerts
from nodeconductor.iaas.models import CloudProjectMembership, InstanceState
from nodeconductor.iaas.resource_operations import run_cloud_pull
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_backups import take
from tests.iaas.views.test_instances import create_body, link, make_instance, provision, run_tasks, stop, url

S = InstanceState
EVENTS = "/api/events/?event_type=quota_threshold_reached"


def alerts():
    """(quota, usage, limit) of every quota_threshold_reached event, oldest first."""
    rows = Event.objects.filter(event_type="quota_threshold_reached").order_by("created", "pk")
    return [(e.context["quota"], e.context["usage"], e.context["limit"]) for e in rows]


def create(roles, iaas, hostname):
    """Schedule a create over the API (the row holds its quota at once; nothing runs)."""
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname=hostname), format="json")
    assert response.status_code == 201, response.json()
    return response


def delete(roles, iaas, instance):
    """Stop and delete a provisioned instance over the API, running the worker's steps."""
    stop(iaas, roles, instance)
    with run_tasks():
        assert roles.client_as("admin").delete(url(instance)).status_code == 202
    assert not instance.__class__.objects.filter(pk=instance.pk).exists()


def test_once_on_the_way_up_and_again_only_after_falling_under(iaas, roles):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_max_instances=5)
    rows = [provision(iaas, roles, hostname=f"vm-{n}") for n in range(3)]  # 3 of 5: 60%
    assert alerts() == []
    create(roles, iaas, "vm-3")  # 4 of 5: 80%
    assert alerts() == [("max_instances", 4, 5)]
    create(roles, iaas, "vm-4")  # 5 of 5: still past it, nothing new
    assert alerts() == [("max_instances", 4, 5)]
    delete(roles, iaas, rows[0])  # 4 of 5: still past
    assert alerts() == [("max_instances", 4, 5)]
    shown = roles.client_as("manager").get(roles.url("cloudprojectmembership", iaas.membership)).json()
    assert shown["quota_alerts"] == ["max_instances"]
    delete(roles, iaas, rows[1])  # 3 of 5: under again
    shown = roles.client_as("manager").get(roles.url("cloudprojectmembership", iaas.membership)).json()
    assert shown["quota_alerts"] == []
    create(roles, iaas, "vm-5")  # 4 of 5: crossed anew
    assert alerts() == [("max_instances", 4, 5), ("max_instances", 4, 5)]
    event = Event.objects.filter(event_type="quota_threshold_reached").last()
    assert (event.level, event.message) == ("warning", f"Project {roles.project.name} in cloud Cloud: 4 of 5 "
                                            "instances in use (80%), past the 80% warning threshold.")  # fmt: skip


def test_who_sees_the_alert(iaas, roles):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_vcpu=1)
    create(roles, iaas, "vm-1")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(EVENTS))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner", "staff"):
        body = responses[role].json()
        assert [(e["event_type"], e["level"]) for e in body] == [("quota_threshold_reached", "warning")], role
        assert body[0]["message"].startswith(f"Project {roles.project.name} in cloud Cloud: 1 of 1 cores in use")


def test_the_threshold_is_a_setting(iaas, roles, settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "QUOTA_ALERT_THRESHOLD": 50}
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_max_instances=4)
    create(roles, iaas, "vm-1")
    assert alerts() == []
    create(roles, iaas, "vm-2")  # 2 of 4: 50%
    assert alerts() == [("max_instances", 2, 4)]


def test_a_resize_reserves_and_its_end_settles(iaas, roles):
    bigger = iaas.cloud.flavors.filter(ram__gt=iaas.flavor.ram).order_by("ram").first()
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_ram=bigger.ram)
    instance = make_instance(iaas, S.OFFLINE)  # a quarter of the RAM: no alert
    assert quota_alerts.check(CloudProjectMembership.objects.get(pk=iaas.membership.pk)) == []
    with run_tasks():
        response = roles.client_as("admin").post(url(instance, "resize"), {"flavor": link("flavor", bigger)},
                                                 format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    assert [quota for quota, _, _ in alerts()] == ["ram"]  # reserved at the target on the request
    # The row has no server in the cloud: the resize fails, its reservation ends, and the RAM is under again.
    instance.refresh_from_db()
    assert instance.state == S.ERRED and instance.pending_ram is None
    assert CloudProjectMembership.objects.get(pk=iaas.membership.pk).quota_alerts == []


def test_a_pull_that_lowers_a_limit_warns(iaas, roles):
    provision(iaas, roles)
    iaas.env.sim.set_quota(iaas.membership.tenant_id, compute={"instances": 1})
    run_cloud_pull(iaas.cloud)
    assert alerts() == [("max_instances", 1, 1)]
    run_cloud_pull(iaas.cloud)  # nothing changed: no second warning
    assert alerts() == [("max_instances", 1, 1)]


@pytest.mark.django_db(transaction=True)
def test_backups_count_against_the_snapshot_quota(iaas, roles):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_snapshot_count=5)
    instance = provision(iaas, roles)
    assert take(roles, instance).status_code == 202  # 2 of 5 snapshots
    assert alerts() == []
    assert take(roles, instance).status_code == 202  # 4 of 5
    assert alerts() == [("snapshots", 4, 5)]


def test_limits_set_through_the_membership_sync_warn_at_once(iaas, roles):
    provision(iaas, roles)
    with run_tasks():
        response = roles.client_as("staff").post(roles.url("cloudprojectmembership", iaas.membership) + "set_quotas/",
                                                 {"max_instances": 1}, format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    assert alerts() == [("max_instances", 1, 1)]
