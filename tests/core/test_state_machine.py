"""core.models.StateMachineMixin: the FSM fields found once per class, and the optimistic lock still holds."""

import pytest
from django.db import transaction
from django_fsm import ConcurrentTransition, FSMFieldMixin

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Instance, InstanceState, SecurityGroup
from tests.iaas.views.test_instances import make_instance


@pytest.mark.parametrize("model", [Instance, Cloud, CloudProjectMembership, SecurityGroup])
def test_the_state_fields_are_the_librarys(model):
    expected = [f for f in model._meta.fields if isinstance(f, FSMFieldMixin)]
    assert list(model().state_fields) == expected and [f.name for f in expected] == ["state"]


def test_a_save_from_a_stale_state_is_refused(iaas):
    instance = make_instance(iaas, InstanceState.OFFLINE)
    stale = Instance.objects.get(pk=instance.pk)
    fresh = Instance.objects.get(pk=instance.pk)
    fresh.schedule_starting()
    fresh.save()
    stale.schedule_deletion()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    assert Instance.objects.get(pk=instance.pk).state == InstanceState.STARTING_SCHEDULED
