"""The instance list's hand-built rows are exactly what DRF's field-by-field serialization gives."""

import pytest
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from nodeconductor.iaas import operations
from nodeconductor.iaas.models import Instance
from nodeconductor.iaas.serializers.instance import InstanceSerializer

from .test_backend_instances import make_instance, run

pytestmark = pytest.mark.django_db(transaction=True)


def generic(instance, request):
    """DRF's own output for the declared fields."""
    return serializers.HyperlinkedModelSerializer.to_representation(
        InstanceSerializer(context={"request": request}), instance
    )


def test_fast_rows_equal_the_generic_ones(iaas, roles):
    request = APIRequestFactory().get("/api/instances/")
    request.user = roles.users["admin"]
    bare = make_instance(iaas, ssh_public_key=None, agreed_sla=None)  # no flavor, key or SLA: the nulls
    built = run(operations.PROVISION, make_instance(iaas, hostname="web-1"), backend_flavor_id=iaas.flavor.backend_id)
    for instance in (Instance.objects.get(pk=bare.pk), built):
        fast = InstanceSerializer(instance, context={"request": request}).data
        assert dict(fast) == dict(generic(instance, request))
        assert list(fast) == list(InstanceSerializer.Meta.fields)
    assert built.start_time is not None and built.flavor is not None
