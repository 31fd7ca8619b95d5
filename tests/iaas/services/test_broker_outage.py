"""A broker that refuses the first message: the client gets a 503 and nothing is left scheduled with no task.

Each test publishes through a real kombu transport: the filesystem broker of the development settings (its
folder removed), or a Redis server of the test's own, stopped while the request runs (after the row was
written, just before the message is sent).
"""

import shutil
import uuid

import pytest
from celery.signals import before_task_publish

from nodeconductor.events.models import Event
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Instance, InstanceState, SyncState
from tests.iaas.brokers import RedisServer, celery_broker, filesystem_options
from tests.iaas.views.test_instances import create_body, link, make_instance, url

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


@pytest.fixture
def fs_broker(tmp_path):
    """The filesystem transport in a fresh folder; yields the queue folder."""
    options = filesystem_options(tmp_path)
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        (tmp_path / options[key].rsplit("/", 1)[1]).mkdir(exist_ok=True)
    with celery_broker("filesystem://", options):
        yield tmp_path / "queue"


@pytest.fixture
def redis_server():
    server = RedisServer()
    if server.binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server); .ci/run installs it")
    server.start()
    yield server
    server.stop()


def assert_503(response, what):
    assert response.status_code == 503, response.content
    assert response.json() == {
        "detail": f"The task queue is unavailable, so the {what} was not scheduled and nothing was changed; "
        "retry shortly.",
        "code": "service_unavailable",
    }
    assert int(response["Retry-After"]) > 0


def test_create_goes_to_the_queue_when_it_is_up(iaas, roles, fs_broker):
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas), format="json")
    assert response.status_code == 201, response.json()
    instance = Instance.objects.get(uuid=response.json()["uuid"])
    assert instance.state == S.PROVISIONING_SCHEDULED and len(instance.operation_token) == 32
    assert len(list(fs_broker.iterdir())) == 1  # the message really is in the broker's folder


def test_create_with_the_queue_folder_removed_is_503_and_leaves_nothing(iaas, roles, fs_broker):
    shutil.rmtree(fs_broker)
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas), format="json")
    assert_503(response, "provisioning")
    assert not Instance.objects.exists()
    failed = Event.objects.get(event_type="instance_provision_failed")
    assert failed.message == "Instance web-1: provisioning failed: the task queue is unavailable"


ACTIONS = {
    # action: (state it needs, request, what the 503 names)
    "stop": (S.ONLINE, lambda c, i, iaas: c.post(url(i, "stop")), "stop"),
    "start": (S.OFFLINE, lambda c, i, iaas: c.post(url(i, "start")), "start"),
    "restart": (S.ONLINE, lambda c, i, iaas: c.post(url(i, "restart")), "restart"),
    "resize_disk": (S.OFFLINE, lambda c, i, iaas: c.post(url(i, "resize"), {"disk_size": 4096}, format="json"),
                    "disk resize"),
    "resize_flavor": (S.OFFLINE, lambda c, i, iaas: c.post(url(i, "resize"), {"flavor": link("flavor", iaas.bigger)},
                                                           format="json"), "flavor resize"),
    "delete": (S.OFFLINE, lambda c, i, iaas: c.delete(url(i)), "deletion"),
}  # fmt: skip


@pytest.fixture
def bigger(iaas):
    from nodeconductor.iaas.models import Flavor

    iaas.bigger = Flavor.objects.filter(cloud=iaas.cloud).exclude(pk=iaas.flavor.pk).order_by("cores", "ram").last()
    return iaas


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_the_queue_refuses_is_503_and_undone(bigger, roles, fs_broker, action):
    iaas = bigger
    needed, send, what = ACTIONS[action]
    instance = make_instance(iaas, needed)
    shutil.rmtree(fs_broker)
    response = send(roles.client_as("admin"), instance, iaas)
    assert_503(response, what)
    instance.refresh_from_db()
    assert instance.state == needed
    assert (instance.pending_cores, instance.pending_ram, instance.pending_data_volume_size) == (None, None, None)
    assert (instance.operation_name, instance.operation_token, instance.operation_due) == ("", "", None)
    assert Event.objects.filter(event_type=f"instance_{action}_failed").count() == 1
    # The instance can be asked again once the queue is back.
    fs_broker.mkdir()
    assert send(roles.client_as("admin"), instance, iaas).status_code in (202, 204)
    assert len(list(fs_broker.iterdir())) == 1


def test_redis_stopped_in_the_middle_of_a_create_is_503_and_leaves_nothing(iaas, roles, redis_server):
    with celery_broker(redis_server.url):
        response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname="up"), format="json")
        assert response.status_code == 201, response.json()
        assert redis_server.queue_length() == 1
        seen = []

        def stop_redis(sender=None, headers=None, **kwargs):
            # The row is committed by now: the broker dies between the commit and the send.
            seen.append(Instance.objects.filter(hostname="down", state=S.PROVISIONING_SCHEDULED).count())
            redis_server.stop()

        before_task_publish.connect(stop_redis)
        try:
            response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname="down"),
                                                     format="json")  # fmt: skip
        finally:
            before_task_publish.disconnect(stop_redis)
    assert seen == [1]
    assert_503(response, "provisioning")
    assert list(Instance.objects.values_list("hostname", flat=True)) == ["up"]


def test_redis_stopped_in_the_middle_of_a_stop_is_503_and_undone(iaas, roles, redis_server):
    instance = make_instance(iaas, S.ONLINE)
    before_task_publish.connect(stop := lambda **kwargs: redis_server.stop())
    try:
        with celery_broker(redis_server.url):
            response = roles.client_as("admin").post(url(instance, "stop"))
    finally:
        before_task_publish.disconnect(stop)
    assert_503(response, "stop")
    instance.refresh_from_db()
    assert instance.state == S.ONLINE and instance.operation_token == ""


def test_a_send_that_fails_after_a_worker_took_the_job_is_not_undone(iaas, roles, fs_broker):
    """A refused send whose message nevertheless arrived: the worker's transition wins, the answer is 201."""

    def worker_was_faster(**kwargs):
        instance = Instance.objects.get(hostname="raced")
        instance.begin_provisioning()
        instance.save()
        raise OSError("the broker answered too late")

    before_task_publish.connect(worker_was_faster)
    try:
        response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname="raced"),
                                                 format="json")  # fmt: skip
    finally:
        before_task_publish.disconnect(worker_was_faster)
    assert response.status_code == 201, response.json()
    assert Instance.objects.get(hostname="raced").state == S.PROVISIONING


def test_a_cloud_the_queue_refuses_is_503_and_not_created(roles, sim_env, fs_broker):
    shutil.rmtree(fs_broker)
    body = {"name": "C", "customer": link("customer", roles.customer), "auth_url": sim_env.credentials["auth_url"]}
    response = roles.client_as("owner").post("/api/clouds/", body)
    assert_503(response, "first pull of the cloud")
    assert not Cloud.objects.exists()


def test_a_cloud_pull_the_queue_refuses_is_503_and_undone(iaas, roles, fs_broker):
    shutil.rmtree(fs_broker)
    response = roles.client_as("owner").post(f"/api/clouds/{iaas.cloud.uuid.hex}/sync/")
    assert_503(response, "pull of the cloud")
    iaas.cloud.refresh_from_db()
    assert iaas.cloud.state == SyncState.IN_SYNC and not iaas.cloud.busy  # no operation left recorded


def test_a_membership_the_queue_refuses_is_503_and_not_created(iaas, roles, fs_broker):
    from nodeconductor.structure.models import Project

    project = Project.objects.create(customer=roles.customer, name="second")
    shutil.rmtree(fs_broker)
    body = {"project": link("project", project), "cloud": link("cloud", iaas.cloud), "tenant_id": uuid.uuid4().hex}
    response = roles.client_as("staff").post("/api/project-cloud-memberships/", body)
    assert_503(response, "sync of the new membership")
    assert not CloudProjectMembership.objects.filter(project=project).exists()


def test_a_membership_sync_the_queue_refuses_is_503_and_undone(iaas, roles, fs_broker):
    shutil.rmtree(fs_broker)
    response = roles.client_as("owner").post(f"/api/project-cloud-memberships/{iaas.membership.uuid.hex}/sync/")
    assert_503(response, "sync of the membership")
    iaas.membership.refresh_from_db()
    assert iaas.membership.state == SyncState.IN_SYNC and not iaas.membership.busy
