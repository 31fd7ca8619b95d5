"""A cloud and a membership made in `manage.py shell`, as the seed guide does, are taken up by the worker alone.

Real processes with the development settings: a Celery worker with beat on the filesystem broker. Nobody calls
a sync by hand; the periodic sweep finds the rows within seconds.
"""

import sqlite3

from tests.iaas.livestack import LiveStack

SHELL = """
from django.conf import settings
from nodeconductor.iaas.models import Cloud, CloudProjectMembership
from nodeconductor.structure.models import Customer, Project
customer = Customer.objects.create(name="Shell customer")
project = Project.objects.create(customer=customer, name="Shell project")
cloud = Cloud.objects.create(customer=customer, name="shell cloud",
                             auth_url=settings.NODECONDUCTOR["OPENSTACK_CREDENTIALS"][0]["auth_url"])
CloudProjectMembership.objects.create(project=project, cloud=cloud)
"""


def states(stack):
    with sqlite3.connect(stack.var / "db.sqlite3", timeout=20) as db:
        cloud = db.execute("SELECT state FROM iaas_cloud WHERE name = 'shell cloud'").fetchone()[0]
        membership = db.execute(
            "SELECT m.state, m.tenant_id FROM iaas_cloudprojectmembership m JOIN iaas_cloud c ON c.id = m.cloud_id "
            "WHERE c.name = 'shell cloud'"
        ).fetchone()
    return cloud, membership[0], membership[1]


def test_shell_made_cloud_and_membership_are_taken_up_within_seconds(tmp_path):
    stack = LiveStack(tmp_path).start()
    try:
        stack.env["NODECONDUCTOR_SYNC_PICKUP_DELAY"] = "1"
        stack.shell(SHELL)
        assert states(stack)[:2] == ("sync_scheduled", "sync_scheduled")
        stack.start_worker()
        stack.wait_for(lambda: states(stack)[:2] == ("in_sync", "in_sync"), 30, "the shell-made rows were not synced")
        tenant = states(stack)[2]
        assert tenant and tenant in {p["id"] for p in stack.sim("GET", "/_sim/projects")["projects"]}
    finally:
        stack.stop()
