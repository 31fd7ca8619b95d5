"""The seed's walkthrough (shared/seed/openstack-services.rst) up to backend.pull_cloud_account(cloud), as written.

Only the auth_url, tenant id and image id are the simulator's instead of the seed's examples.
"""

import pytest

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Template
from nodeconductor.structure.models import Customer

pytestmark = pytest.mark.django_db


def test_seed_walkthrough_pulls_a_usable_catalogue(sim_env):
    auth_url_of_sim, tenant_id_of_sim, image_id_of_sim = (
        sim_env.credentials["auth_url"],
        sim_env.tenant_id,
        sim_env.image_id,
    )

    # --- the seed's code from here, unchanged but for the three values ---
    customer = Customer.objects.create(
        name="Joe",
        native_name="Joe Doe",
        abbreviation="JD",
    )

    auth_url = auth_url_of_sim
    cloud = Cloud.objects.create(
        customer=customer,
        name="Openstack Cloud",
        auth_url=auth_url,
    )

    project = customer.projects.create(
        name="My Project",
    )

    cloud_project_membership = CloudProjectMembership.objects.create(
        project=project,
        cloud=cloud,
        tenant_id=tenant_id_of_sim,
    )

    image_id = image_id_of_sim
    template = Template.objects.create(
        name="CentOS 6",
        os="CentOS 6.5",
        sla_level=99.99,
        is_active=True,
    )
    template.mappings.create(backend_image_id=image_id)

    backend = cloud.get_backend()
    backend.pull_cloud_account(cloud)

    flavor = cloud.flavors.first()
    # --- end of the seed's code ---

    assert flavor is not None
    assert (flavor.cores, flavor.ram, flavor.disk) == (1, 512, 1024)
    assert flavor.backend_id == "1"
    image = cloud.images.get(template=template)
    assert (image.backend_id, image.min_disk) == (image_id, 1024)
    cloud_project_membership.refresh_from_db()
    assert cloud_project_membership.quota_max_instances > 0
