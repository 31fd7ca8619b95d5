"""The seed guide's example (shared/seed/openstack-services.rst) runs as written against the simulated cloud.

Only the values a reader takes from his own cloud are substituted: the auth_url (listed in
OPENSTACK_CREDENTIALS) and, on a real cloud, the tenant id and the Glance image id (the simulator uses the
guide's own ids, so against it only the auth_url changes).
"""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

SEED_EXAMPLE = '''
from nodeconductor.structure.models import Customer
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Template, Instance


# Create a customer representing your company or department
customer = Customer.objects.create(
    name='Joe',
    native_name='Joe Doe',
    abbreviation='JD',
)

# Create general IaaS account representation
# Make sure it's listed in django.conf.settings.NODECONDUCTOR.OPENSTACK_CREDENTIALS
auth_url = 'http://keystone.example.com:5000/v2.0'
cloud = Cloud.objects.create(
    customer=customer,
    name='Openstack Cloud',
    auth_url=auth_url,
)

# Create a project, NodeConductor's entity used to aggregate and isolate resources
# User access management to projects and clouds is ommited in this guide
project = customer.projects.create(
    name='My Project',
)

# Bind a cloud with a project
cloud_project_membership = CloudProjectMembership.objects.create(
    project=project,
    cloud=cloud,
    tenant_id='593af1f7b67b4d63b691fcabd2dad126',
)

# Create descriptive template and map it with a glance image
image_id = 'd15dc2c4-25d6-4150-93fe-a412499298d8'
template = Template.objects.create(
    name='CentOS 6',
    os='CentOS 6.5',
    sla_level=99.99,
    is_active=True,
)
template.mappings.create(backend_image_id=image_id)

# Pull images and flavors from a cloud backend
backend = cloud.get_backend()
backend.pull_cloud_account(cloud)

# Create an instance of IaaS service
flavor = cloud.flavors.first()
instance = Instance.objects.create(
    hostname='example.com',
    template=template,
    agreed_sla=template.sla_level,
    system_volume_size=flavor.disk,
    ram=flavor.ram,
    cores=flavor.cores,
    cloud_project_membership=cloud_project_membership
)

# Instance is ready to be provisioned now
backend.provision_instance(instance, flavor.backend_id)
'''


def seed_for(env):
    """The seed example with the reader's own values, as the guide tells him to fill in."""
    return (
        SEED_EXAMPLE.replace("http://keystone.example.com:5000/v2.0", env.credentials["auth_url"])
        .replace("593af1f7b67b4d63b691fcabd2dad126", env.tenant_id)
        .replace("d15dc2c4-25d6-4150-93fe-a412499298d8", env.image_id)
    )


def test_simulator_has_the_guides_tenant_and_image(sim_env):
    assert sim_env.tenant_id == "593af1f7b67b4d63b691fcabd2dad126"
    assert sim_env.image_id == "d15dc2c4-25d6-4150-93fe-a412499298d8"


def test_seed_example_ends_with_an_online_instance_with_two_volumes(cloud_env):
    from nodeconductor.iaas.models import InstanceState

    namespace = {}
    exec(compile(seed_for(cloud_env), "openstack-services.rst", "exec"), namespace)  # noqa: S102
    instance = namespace["instance"]
    flavor = namespace["cloud"].flavors.first()
    assert (flavor.ram, flavor.cores, flavor.disk) == (512, 1, 1024)
    assert instance.state == InstanceState.ONLINE, instance.error_message
    backend = namespace["backend"]
    server = backend.get_server(instance)
    attached = {v["id"] for v in getattr(server, "os-extended-volumes:volumes_attached")}
    assert attached == {instance.system_volume_id, instance.data_volume_id}
    root = backend.get_volume(instance, instance.system_volume_id)
    assert root.bootable == "true" and root.size == 1
    # Leave the real cloud as we found it.
    from nodeconductor.iaas.engine import operations
    from nodeconductor.iaas.models import Instance

    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.DELETION_SCHEDULED)
    operations.run_blocking(operations.DELETE, instance.uuid)
    assert not Instance.objects.filter(pk=instance.pk).exists()
