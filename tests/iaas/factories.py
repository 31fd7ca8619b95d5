"""factory_boy factories of iaas models (clouds are not pulled: give them flavors and images by hand)."""

import factory

from nodeconductor.iaas import models
from tests import factories as base


class CloudFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Cloud

    customer = factory.SubFactory(base.CustomerFactory)
    name = factory.Sequence(lambda n: f"Cloud {n}")
    auth_url = "http://keystone.example.com:5000/v3"
    state = models.SyncState.IN_SYNC


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CloudProjectMembership

    cloud = factory.SubFactory(CloudFactory)
    project = factory.SubFactory(base.ProjectFactory, customer=factory.SelfAttribute("..cloud.customer"))
    tenant_id = factory.Sequence(lambda n: f"{n:032x}")
    state = models.SyncState.IN_SYNC


class FlavorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Flavor

    cloud = factory.SubFactory(CloudFactory)
    name = factory.Sequence(lambda n: f"m1.f{n}")
    backend_id = factory.Sequence(lambda n: f"flavor-{n}")
    cores = 1
    ram = 512
    disk = 1024


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Template

    name = factory.Sequence(lambda n: f"Template {n}")
    os = "CentOS 6.5"
    is_active = True


class TemplateMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TemplateMapping

    template = factory.SubFactory(TemplateFactory)
    backend_image_id = factory.Sequence(lambda n: f"image-{n}")


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Image

    cloud = factory.SubFactory(CloudFactory)
    template = factory.SubFactory(TemplateFactory)
    backend_id = factory.Sequence(lambda n: f"image-{n}")
    min_disk = 1024
    min_ram = 0


class TemplateLicenseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.TemplateLicense

    name = factory.Sequence(lambda n: f"Licence {n}")
    license_type = "OS"
    service_type = models.TemplateLicense.Services.IAAS


class InstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Instance

    hostname = factory.Sequence(lambda n: f"vm{n}")
    template = factory.SubFactory(TemplateFactory)
    cloud_project_membership = factory.SubFactory(MembershipFactory)
    cores = 2
    ram = 1024
    system_volume_size = 10240
    data_volume_size = 20480
    backend_id = factory.Sequence(lambda n: f"server-{n}")
    state = models.InstanceState.ONLINE


def list_query_counts(client, path):
    """Queries of `path` at page_size 1 and 100, asserting both pages answer 200 and the large one has >1 row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (1, 100):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, {"page_size": size})
        assert response.status_code == 200, response.content
        assert len(response.json()) == (1 if size == 1 else len(response.json()))
        counts.append((len(ctx), len(response.json())))
    assert counts[1][1] > 1, "need several objects to detect N+1"
    return counts[0][0], counts[1][0]
