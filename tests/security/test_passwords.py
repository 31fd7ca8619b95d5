"""Finding 7 of issue 27: a password like the username ("nobody123" for "nobody") is refused everywhere one is set."""

import io

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db

SIMILAR = "The password is too similar to the username."


@pytest.fixture
def nobody():
    """The user of the finding, with the suite's password."""
    return factories.UserFactory(username="nobody", full_name="", email="")


def staff_client():
    """Staff may set anybody's password without the current one."""
    client = APIClient()
    client.force_authenticate(factories.UserFactory(is_staff=True))
    return client


def test_the_api_refuses_a_password_like_the_username(nobody):
    response = staff_client().post(f"/api/users/{nobody.uuid}/password/", {"password": "nobody123"}, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {"password": [SIMILAR], "code": "invalid"}
    nobody.refresh_from_db()
    assert nobody.check_password(factories.PASSWORD) and not nobody.check_password("nobody123")


def test_the_api_refuses_a_password_like_the_email():
    user = factories.UserFactory(username="u1", full_name="", email="margaret.hamilton@example.com")
    response = staff_client().post(f"/api/users/{user.uuid}/password/", {"password": "hamilton.margaret"})
    assert response.status_code == 400, response.content
    assert response.json() == {"password": ["The password is too similar to the email."], "code": "invalid"}


def test_the_api_still_takes_an_unrelated_password(nobody):
    response = staff_client().post(f"/api/users/{nobody.uuid}/password/", {"password": "Orbit-Lantern-47"})
    assert response.status_code == 200, response.content
    assert response.json() == {"detail": "Password has been set."}
    nobody.refresh_from_db()
    assert nobody.check_password("Orbit-Lantern-47")


def test_createstaffuser_refuses_a_password_like_the_username():
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("createstaffuser", "--username", "nobody", "--password", "nobody123", stdout=out)
    assert str(error.value) == f"Password rejected: {SIMILAR}"
    assert not get_user_model().objects.filter(username="nobody").exists()


def test_the_admin_password_form_refuses_a_password_like_the_username(nobody):
    """The admin's "change password" form of a user validates with the same validators."""
    form_class = admin.site._registry[get_user_model()].change_password_form
    form = form_class(nobody, {"password1": "nobody123", "password2": "nobody123"})
    assert not form.is_valid()
    assert form.errors["password2"] == [SIMILAR]
