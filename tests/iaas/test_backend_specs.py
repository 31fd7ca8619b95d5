"""backend_specs.py: the plain data the backend gets is what our rows hold, read with a fixed number of queries."""

import inspect

import pytest

from nodeconductor.iaas.backend import OpenStackBackend
from nodeconductor.iaas.backend.specs import ImageRef, InstanceSpec, SshKey
from nodeconductor.iaas.backend_specs import cloud_access, instance_spec, tenant_ids
from nodeconductor.iaas.cloud_facade import CloudFacade, _OnSpec
from nodeconductor.iaas.models import Image, Instance
from tests.iaas.backend.test_instances import make_instance

pytestmark = pytest.mark.django_db


def _loaded(instance):
    """The row as the worker loads it (operations._load's select_related)."""
    return Instance.objects.select_related(
        "cloud_project_membership__cloud", "template", "ssh_public_key"
    ).get(pk=instance.pk)


def test_a_provision_spec_carries_the_rows_key_image_and_membership_in_one_query(iaas, django_assert_num_queries):
    row = _loaded(make_instance(iaas, key_name=iaas.key.name))
    image = Image.objects.get(cloud=iaas.cloud, template=iaas.template)
    with django_assert_num_queries(1):  # the image; everything else came with the row
        spec = instance_spec(row, provision=True)
    m = iaas.membership
    assert spec == InstanceSpec(
        uuid=row.uuid, hostname="example.com", tenant_id=m.tenant_id, system_volume_size=row.system_volume_size,
        data_volume_size=1024, key_name=iaas.key.name,
        ssh_key=SshKey(uuid=iaas.key.uuid, name=iaas.key.name, public_key=iaas.key.public_key),
        image=ImageRef(image.backend_id, image.min_disk), membership_state=m.state, networking=m.networking,
        network_id=m.network_id, external_network_id=m.external_network_id,
    )  # fmt: skip


def test_other_steps_read_no_key_nor_image(iaas, django_assert_num_queries):
    row = _loaded(make_instance(iaas, backend_id="server-1", port_id="port-1"))
    with django_assert_num_queries(0):
        spec = instance_spec(row)
    assert (spec.backend_id, spec.port_id, spec.ssh_key, spec.image) == ("server-1", "port-1", None, None)


def test_a_template_without_an_image_here_is_named_in_the_spec(iaas):
    Image.objects.filter(cloud=iaas.cloud).delete()
    spec = instance_spec(_loaded(make_instance(iaas)), provision=True)
    assert spec.image is None and spec.template_name == "CentOS 6"


def test_the_pull_reads_quotas_of_the_tenants_of_the_clouds_memberships(iaas):
    assert tenant_ids(iaas.cloud) == [iaas.membership.tenant_id]
    access = cloud_access(iaas.cloud)
    assert (access.name, access.auth_url) == ("Cloud", iaas.cloud.auth_url)
    assert access.credentials == iaas.env.credentials


def test_the_facade_hands_the_adapter_a_spec_for_a_row(iaas):
    facade = CloudFacade(iaas.cloud)
    seen = []

    class Snapshot:  # the tenant's snapshot, without a cloud call
        def server_for(self, *ids):
            return ids

    # What the adapter's get_server is given: it asks for the spec's tenant, then reads the snapshot.
    facade.adapter._tenant = lambda spec: seen.append(spec) or spec.tenant_id
    facade.adapter.snapshot_of = lambda tenant_id: Snapshot()
    row = make_instance(iaas)
    assert facade.get_server(row) == (row.uuid, row.hostname, row.backend_id)
    assert seen == [instance_spec(row)] and isinstance(seen[0], InstanceSpec)


def test_the_poller_fingerprint_gets_a_spec_and_reads_no_membership(iaas, django_assert_num_queries):
    facade = CloudFacade(iaas.cloud)
    row = make_instance(iaas, backend_id="server-1", system_volume_id="vol-1", data_volume_id="vol-2")
    row = Instance.objects.get(pk=row.pk)  # as the poller loads it: no membership joined
    snapshot = facade.snapshot_tenant(iaas.membership.tenant_id)
    with django_assert_num_queries(0):
        seen = facade.fingerprint(snapshot, row)
    assert seen == [["server", None], ["volume", "vol-1", None, None], ["volume", "vol-2", None, None], ["ours", []]]


def test_every_call_of_the_adapter_on_one_instance_takes_a_row_on_the_facade():
    # The façade names each of them (no set of names to keep by hand): a new one the adapter gains fails here.
    takes_instance = {name for name, function in inspect.getmembers(OpenStackBackend, inspect.isfunction)
                      if not name.startswith("_") and list(inspect.signature(function).parameters)[1:2] == ["instance"]}
    members = vars(CloudFacade)
    wrapped = {name: members[name] for name in takes_instance if isinstance(members.get(name), _OnSpec)}
    own = {name for name in takes_instance if callable(members.get(name))}
    assert takes_instance - set(wrapped) - own == set()
    assert own == {"fingerprint"}
    assert all(spec.function is getattr(OpenStackBackend, name) for name, spec in wrapped.items())
