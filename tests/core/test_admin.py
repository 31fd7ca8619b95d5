import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from nodeconductor.core.models import SshPublicKey, User

pytestmark = pytest.mark.django_db

PASSWORD = "Admin-Pass-123"


def new_public_key():
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def management(prefix, total=0, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def make_key(user, name="laptop"):
    key = SshPublicKey(user=user, name=name, public_key=new_public_key())
    key.full_clean()
    key.save()
    return key


@pytest.fixture
def superuser():
    return User.objects.create_superuser("root", "root@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def admin(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def data(superuser):
    alice = User.objects.create_user("alice", password=PASSWORD, full_name="Alice A", civil_number="123")
    make_key(alice)
    return alice


@pytest.mark.parametrize("model", ["user", "sshpublickey"])
def test_changelist_and_add_pages(admin, data, model):
    assert admin.get(reverse(f"admin:core_{model}_changelist")).status_code == 200
    assert admin.get(reverse(f"admin:core_{model}_changelist"), {"q": "alice"}).status_code == 200
    assert admin.get(reverse(f"admin:core_{model}_add")).status_code == 200


def test_change_pages(admin, data):
    assert admin.get(reverse("admin:core_user_change", args=[data.pk])).status_code == 200
    key = data.ssh_keys.get()
    response = admin.get(reverse("admin:core_sshpublickey_change", args=[key.pk]))
    assert response.status_code == 200
    assert key.fingerprint in response.content.decode()


def test_create_user_through_admin(admin):
    response = admin.post(
        reverse("admin:core_user_add"),
        {"username": "bob", "usable_password": "true", "password1": "Bob-Pass-9876", "password2": "Bob-Pass-9876"},
    )
    bob = User.objects.get(username="bob")
    assert response.status_code == 302
    assert response.url == reverse("admin:core_user_change", args=[bob.pk])
    assert bob.check_password("Bob-Pass-9876")
    assert bob.civil_number is None and not bob.is_staff


def test_edit_user_with_blank_civil_numbers_and_a_new_key(admin, data):
    bob = User.objects.create_user("bob", password=PASSWORD)
    public_key = new_public_key()
    form = {
        "username": "bob",
        "full_name": "Bob B",
        "email": "bob@example.com",
        "civil_number": "",
        "is_active": "on",
        "is_staff": "on",
        **management("ssh_keys", total=1),
        "ssh_keys-0-name": "desktop",
        "ssh_keys-0-public_key": public_key,
    }
    response = admin.post(reverse("admin:core_user_change", args=[bob.pk]), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    bob.refresh_from_db()
    assert bob.full_name == "Bob B" and bob.is_staff and bob.civil_number is None
    assert bob.check_password(PASSWORD)
    key = bob.ssh_keys.get()
    assert key.public_key == public_key and len(key.fingerprint) == 47


def test_password_change_form(admin, data):
    url = reverse("admin:auth_user_password_change", args=[data.pk])  # the name Django hard-codes
    assert admin.get(url).status_code == 200
    response = admin.post(url, {"usable_password": "true", "password1": "New-Pass-4567", "password2": "New-Pass-4567"})
    assert response.status_code == 302
    data.refresh_from_db()
    assert data.check_password("New-Pass-4567")


def test_setting_a_password_in_the_admin_revokes_the_users_tokens(admin, data, superuser):
    tokens = [AuthToken.objects.create(user=data)[1] for _ in range(2)]
    kept = AuthToken.objects.create(user=superuser)[1]
    url = reverse("admin:auth_user_password_change", args=[data.pk])
    response = admin.post(url, {"usable_password": "true", "password1": "New-Pass-4567", "password2": "New-Pass-4567"})
    assert response.status_code == 302
    for token in tokens:
        answer = APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/users/")
        assert answer.status_code == 401
        assert answer.json() == {"detail": "Invalid token.", "code": "authentication_failed"}
    assert APIClient(HTTP_AUTHORIZATION=f"Token {kept}").get("/api/users/").status_code == 200


def test_create_key_through_admin_derives_fingerprint(admin, data):
    response = admin.post(
        reverse("admin:core_sshpublickey_add"),
        {"user": data.pk, "name": "ci", "public_key": "  " + new_public_key() + " comment\n"},
    )
    assert response.status_code == 302
    key = data.ssh_keys.get(name="ci")
    assert key.fingerprint.count(":") == 15
    assert key.public_key.endswith("comment")


def test_bad_key_is_reported_on_the_key_field(admin, data):
    response = admin.post(
        reverse("admin:core_sshpublickey_add"), {"user": data.pk, "name": "bad", "public_key": "ssh-rsa AAAA"}
    )
    assert response.status_code == 200
    assert "public_key" in response.context["adminform"].form.errors
    assert not data.ssh_keys.filter(name="bad").exists()


def test_fingerprint_is_not_editable(admin, data):
    key = data.ssh_keys.get()
    admin.post(
        reverse("admin:core_sshpublickey_change", args=[key.pk]),
        {"user": data.pk, "name": key.name, "public_key": key.public_key, "fingerprint": "00:" * 15 + "00"},
    )
    key.refresh_from_db()
    assert not key.fingerprint.startswith("00:00:00")


@pytest.mark.parametrize("model", ["user", "sshpublickey"])
def test_changelist_queries_do_not_grow_with_rows(admin, data, model):
    url = reverse(f"admin:core_{model}_changelist")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin.get(url).status_code == 200
        return len(ctx)

    before = count()
    for i in range(5):
        make_key(User.objects.create_user(f"user{i}"))
    assert count() == before
