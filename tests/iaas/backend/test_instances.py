"""The instance lifecycle through the backend and the operations, against the simulator and a real cloud."""

import pytest

from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


def make_instance(iaas, **kwargs):
    """An instance as the seed creates it: straight through the ORM, Provisioning Scheduled."""
    defaults = dict(
        hostname="example.com",
        template=iaas.template,
        agreed_sla=iaas.template.sla_level,
        system_volume_size=iaas.flavor.disk,
        data_volume_size=1024,
        ram=iaas.flavor.ram,
        cores=iaas.flavor.cores,
        cloud_project_membership=iaas.membership,
        ssh_public_key=iaas.key,
    )
    defaults.update(kwargs)
    return Instance.objects.create(**defaults)


def force_state(instance, state):
    """Put an instance into a scheduled state the way a service would have (tests only)."""
    Instance.objects.filter(pk=instance.pk).update(state=state)


def run(op, instance, **params):
    """Run an operation to its end and return the fresh instance (or None once deleted)."""
    operations.run_blocking(op, instance.uuid, params)
    return Instance.objects.filter(pk=instance.pk).first()


def test_full_lifecycle(iaas_any):
    env = iaas_any.env
    backend = iaas_any.cloud.get_backend()
    instance = make_instance(iaas_any)

    instance = backend.provision_instance(instance, iaas_any.flavor.backend_id)
    assert instance.state == S.ONLINE, instance.error_message
    assert instance.backend_id and instance.system_volume_id and instance.data_volume_id
    assert instance.start_time is not None
    assert instance.flavor == iaas_any.flavor
    server = backend.get_server(instance)
    attached = {v["id"] for v in getattr(server, "os-extended-volumes:volumes_attached")}
    assert attached == {instance.system_volume_id, instance.data_volume_id}
    root = backend.get_volume(instance, instance.system_volume_id)
    data = backend.get_volume(instance, instance.data_volume_id)
    assert root.bootable == "true" and data.bootable == "false"
    assert data.size == 1 and root.size == iaas_any.flavor.disk // 1024

    force_state(instance, S.STOPPING_SCHEDULED)
    instance = run(operations.STOP, instance)
    assert instance.state == S.OFFLINE, instance.error_message
    assert backend.get_server(instance).status == "SHUTOFF"

    bigger = iaas_any.cloud.flavors.exclude(pk=iaas_any.flavor.pk).order_by("ram").first()
    force_state(instance, S.RESIZING_SCHEDULED)
    instance = run(
        operations.RESIZE_FLAVOR, instance, backend_flavor_id=bigger.backend_id, flavor_uuid=str(bigger.uuid)
    )
    assert instance.state == S.OFFLINE, instance.error_message
    assert (instance.cores, instance.ram, instance.flavor) == (bigger.cores, bigger.ram, bigger)
    assert backend.get_server(instance).status == "SHUTOFF"
    assert backend.get_volume(instance, instance.data_volume_id).size == 1  # disks untouched

    force_state(instance, S.RESIZING_SCHEDULED)
    instance = run(operations.RESIZE_DISK, instance, new_size_mib=2048)
    assert instance.state == S.OFFLINE, instance.error_message
    assert instance.data_volume_size == 2048
    data = backend.get_volume(instance, instance.data_volume_id)
    assert (data.size, data.status) == (2, "in-use")
    assert instance.data_volume_id in backend._attached_volume_ids(instance)

    force_state(instance, S.STARTING_SCHEDULED)
    instance = run(operations.START, instance)
    assert instance.state == S.ONLINE and backend.get_server(instance).status == "ACTIVE"

    force_state(instance, S.RESTARTING_SCHEDULED)
    instance = run(operations.RESTART, instance)
    assert instance.state == S.ONLINE and backend.get_server(instance).status == "ACTIVE"

    force_state(instance, S.STOPPING_SCHEDULED)
    instance = run(operations.STOP, instance)
    ids = (instance.backend_id, instance.system_volume_id, instance.data_volume_id)
    force_state(instance, S.DELETION_SCHEDULED)
    assert run(operations.DELETE, instance) is None
    # Nothing of it is left in the cloud: the re-attached data volume is deleted explicitly too.
    probe = Instance(cloud_project_membership=iaas_any.membership, backend_id=ids[0], hostname="x", uuid=instance.uuid)
    assert backend.get_server(probe) is None
    assert backend.get_volume(probe, ids[1]) is None and backend.get_volume(probe, ids[2]) is None
    if env.sim is not None:
        assert env.sim.servers() == [] and env.sim.volumes() == []
