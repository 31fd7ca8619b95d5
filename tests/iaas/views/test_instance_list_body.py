"""The list's body (only the columns it shows are read) is what DRF's full-row serialization gives."""

import pytest
from django.db import connection
from django.test import RequestFactory
from rest_framework import serializers
from rest_framework.request import Request

from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from nodeconductor.iaas.serializers.instance import InstanceSerializer
from tests.iaas.backend.test_instances import make_instance, run

pytestmark = pytest.mark.django_db(transaction=True)


def generic_rows(user, uuids):
    """DRF's field-by-field output for each full row (every column loaded), in the list's order."""
    request = Request(RequestFactory().get("/api/instances/"))
    request.user = user
    serializer = InstanceSerializer(context={"request": request})
    return [
        dict(serializers.HyperlinkedModelSerializer.to_representation(serializer, Instance.objects.get(uuid=u)))
        for u in uuids
    ]


@pytest.mark.parametrize("role", ["staff", "admin", "owner"])
def test_list_body_equals_the_full_rows(iaas, roles, role):
    bare = make_instance(iaas, hostname="bare", ssh_public_key=None, agreed_sla=None)
    built = run(operations.PROVISION, make_instance(iaas, hostname="web-1"), backend_flavor_id=iaas.flavor.backend_id)
    # A row mid-operation (its `operation` shows progress) and an Erred one with an address and a message.
    busy = make_instance(iaas, hostname="busy", flavor=iaas.flavor, operation_name="provision",
                         operation_phase="create_volumes", operation_params={"waiting_for": "volume available"})
    Instance.objects.filter(pk=busy.pk).update(state=InstanceState.PROVISIONING)
    erred = make_instance(iaas, hostname="erred", external_ips="192.0.2.7", port_id="port-1", error_message="boom")
    Instance.objects.filter(pk=erred.pk).update(state=InstanceState.ERRED)
    client = roles.client_as(role)

    response = client.get("/api/instances/?page_size=10")

    assert response.status_code == 200
    body = response.json()
    assert {row["hostname"] for row in body} == {"bare", "web-1", "busy", "erred"}
    assert body == generic_rows(roles.users[role], [row["uuid"] for row in body])
    assert built.start_time is not None and bare.flavor is None
    assert any(row["operation"] for row in body) and any(row["state"] == "Erred" for row in body)


def test_hostname_filter_has_its_trigram_index_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the trigram index is PostgreSQL's; on SQLite migration 0010 does nothing")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'iaas_instance_hostname_trgm'")
        rows = cursor.fetchall()
    assert len(rows) == 1 and "gin_trgm_ops" in rows[0][0] and "upper" in rows[0][0].lower(), rows
