"""What the pull's sweep of untracked leftovers may delete: decided per OpenStack and tenant across every Cloud
row, and never a server whose instance uuid is in our database (security review, finding 1)."""

import uuid

import pytest

from nodeconductor.iaas.backend.instances import META_KEY
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, InstanceState
from nodeconductor.iaas.pull.instances import sweep_untracked
from tests import factories as base
from tests.iaas import factories
from tests.iaas.test_instance_import import Raw


@pytest.fixture
def raw(iaas):
    helper = Raw(iaas)
    yield helper
    helper.cleanup()


def tagged_volume(raw, owner):
    """An available volume in the tenant whose metadata names `owner` as its instance."""
    volume = raw.cinder.volumes.create(size=1, name=f"nc-test-{uuid.uuid4().hex[:6]}", metadata={META_KEY: owner})
    raw.made.append(("volume", volume.id))
    raw.wait(f"volume {volume.id}", lambda: raw.cinder.volumes.get(volume.id).status == "available")
    return volume.id


def volume_ids(raw):
    return {v.id for v in raw.cinder.volumes.list()}


def other_tenant_instance(iaas, **kwargs):
    """An instance of another customer in another tenant of the same OpenStack, under its own Cloud row."""
    customer = base.CustomerFactory()
    cloud = Cloud.objects.create(customer=customer, name="Theirs", auth_url=iaas.cloud.auth_url)
    membership = CloudProjectMembership.objects.create(
        project=base.ProjectFactory(customer=customer), cloud=cloud, tenant_id=uuid.uuid4().hex
    )
    return factories.InstanceFactory(cloud_project_membership=membership, **kwargs)


def test_unknown_owners_are_swept_and_known_ones_kept_whatever_the_spelling(iaas, raw):
    theirs = other_tenant_instance(iaas)
    ours = factories.InstanceFactory(cloud_project_membership=iaas.membership)
    unknown = str(uuid.uuid4())
    kept = {
        tagged_volume(raw, str(theirs.uuid)),  # an instance of another tenant: metadata copied or forged here
        tagged_volume(raw, str(ours.uuid).upper()),  # our Online instance, another spelling of its uuid
        tagged_volume(raw, theirs.uuid.hex),  # and without dashes
        tagged_volume(raw, "not-a-uuid"),  # no instance of ours could be named so: not ours to judge
    }
    gone = tagged_volume(raw, unknown)
    lines = sweep_untracked(iaas.cloud.get_backend(), iaas.membership)
    assert lines == [f"deleted untracked volume {gone} of instance {unknown}"]
    raw.wait("the unknown owner's volume deleted", lambda: gone not in volume_ids(raw))
    assert kept <= volume_ids(raw)


def test_a_server_whose_instance_is_in_our_database_is_never_deleted(iaas, raw):
    # An Erred instance of this tenant that holds nothing: its volumes are leftovers of a provision that gave up,
    # but a server carrying its uuid is kept (delete the instance, and the next sweep takes it).
    spent = factories.InstanceFactory(cloud_project_membership=iaas.membership, state=InstanceState.ERRED,
                                      backend_id="", system_volume_id="", data_volume_id="")  # fmt: skip
    server = raw.nova.servers.create(name="late", image=raw.image_id, flavor=iaas.flavor.backend_id, nics="none",
                                     meta={META_KEY: str(spent.uuid)})  # fmt: skip
    raw.made.insert(0, ("server", server.id))
    raw.wait("server ACTIVE", lambda: raw.nova.servers.get(server.id).status == "ACTIVE")
    leftover = tagged_volume(raw, str(spent.uuid))
    lines = sweep_untracked(iaas.cloud.get_backend(), iaas.membership)
    assert lines == [f"deleted untracked volume {leftover} of instance {spent.uuid}"]
    assert raw.nova.servers.get(server.id).status == "ACTIVE"
    spent.delete()
    lines = sweep_untracked(iaas.cloud.get_backend(), iaas.membership)
    assert lines == [f"deleted untracked server {server.id} of instance {spent.uuid}"]


def test_what_another_cloud_row_tracks_in_the_tenant_is_kept(iaas, raw):
    # Two Cloud rows of one customer on one OpenStack, both bound to the tenant (staff may): neither sweeps the
    # other's instances, even one whose server id is not saved yet (a provision under way).
    second = Cloud.objects.create(customer=iaas.cloud.customer, name="Second row", auth_url=iaas.cloud.auth_url + "/")
    other = CloudProjectMembership.objects.create(
        project=base.ProjectFactory(customer=iaas.cloud.customer), cloud=second, tenant_id=iaas.membership.tenant_id
    )
    building = factories.InstanceFactory(cloud_project_membership=other, backend_id="",
                                         state=InstanceState.PROVISIONING)  # fmt: skip
    volume = tagged_volume(raw, str(building.uuid))
    assert sweep_untracked(iaas.cloud.get_backend(), iaas.membership) == []
    assert sweep_untracked(second.get_backend(), other) == []
    assert volume in volume_ids(raw)
