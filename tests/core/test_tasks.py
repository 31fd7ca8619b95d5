"""core's periodic housekeeping: expired API tokens are purged."""

import datetime

import pytest
from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken

from nodeconductor.core.tasks import purge_expired_tokens
from tests import factories

pytestmark = pytest.mark.django_db


def test_expired_tokens_are_purged_and_live_ones_kept():
    alice, bob = factories.UserFactory(username="alice"), factories.UserFactory(username="bob")
    live, _ = AuthToken.objects.create(user=alice)
    for user in (alice, bob, bob):
        expired, _ = AuthToken.objects.create(user=user)
        AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    assert purge_expired_tokens() == 3
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [live.pk]
    assert purge_expired_tokens() == 0


def test_beat_purges_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-tokens"]
    assert entry == {"task": "nodeconductor.core.purge_expired_tokens", "schedule": 3600.0}
    assert purge_expired_tokens.name == entry["task"]
