"""The instance list's hand-built rows are exactly what DRF's field-by-field serialization gives."""

import pytest
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance
from nodeconductor.iaas.serializers.instance import InstanceSerializer
from tests.iaas.backend.test_instances import make_instance, run

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


@pytest.mark.parametrize("zone", ["UTC", "Europe/Tallinn", "America/St_Johns"])
def test_fast_dates_equal_drf_in_any_current_time_zone(iaas, roles, zone):
    from django.utils import timezone

    request = APIRequestFactory().get("/api/instances/")
    request.user = roles.users["admin"]
    built = run(operations.PROVISION, make_instance(iaas, hostname="web-tz"), backend_flavor_id=iaas.flavor.backend_id)
    with timezone.override(zone):
        fast = InstanceSerializer(built, context={"request": request}).data
        drf = generic(built, request)
    dates = ("start_time", "created", "modified")
    assert {k: fast[k] for k in dates} == {k: drf[k] for k in dates}
    assert fast["created"].endswith("Z") == (zone == "UTC"), fast["created"]


def test_a_custom_datetime_format_is_honoured(iaas, roles, settings):
    from rest_framework.settings import api_settings

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DATETIME_FORMAT": "%Y-%m-%d %H:%M"}
    api_settings.reload()
    try:
        request = APIRequestFactory().get("/api/instances/")
        request.user = roles.users["admin"]
        instance = Instance.objects.get(pk=make_instance(iaas, hostname="web-fmt").pk)
        fast = InstanceSerializer(instance, context={"request": request}).data
        assert fast["created"] == generic(instance, request)["created"] == instance.created.strftime("%Y-%m-%d %H:%M")
    finally:
        settings.REST_FRAMEWORK = {k: v for k, v in settings.REST_FRAMEWORK.items() if k != "DATETIME_FORMAT"}
        api_settings.reload()


def test_fast_dates_fail_as_drf_does_where_a_zone_cannot_hold_the_date():
    """A date past year 9999 in the current zone: DRF's own validation error, not a raw OverflowError."""
    import datetime

    from django.utils import timezone

    from nodeconductor.iaas.serializers.instance import date_formatter

    latest = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    with timezone.override("Asia/Tokyo"):
        formatted = date_formatter(serializers.DateTimeField())
        with pytest.raises(serializers.ValidationError) as drf:
            serializers.DateTimeField().to_representation(latest)
        with pytest.raises(serializers.ValidationError) as ours:
            formatted(latest)
    assert ours.value.detail == drf.value.detail
    assert formatted("2026-12-03T12:00:00Z") == "2026-12-03T12:00:00Z", "a string passes through, as DRF's"
