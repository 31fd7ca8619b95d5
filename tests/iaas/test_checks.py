"""The system check of OPENSTACK_CREDENTIALS: complete entries, one per Keystone, messages without passwords."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from nodeconductor.iaas.checks import check_openstack_credentials
from nodeconductor.iaas.models import Cloud
from tests.iaas import factories

ENTRY = {"auth_url": "http://k.example:5000/v3", "username": "admin", "password": "pw-one", "tenant_name": "admin"}


@pytest.fixture
def credentials(settings):
    """Set OPENSTACK_CREDENTIALS to the given entries and return the check's errors."""

    def run(*entries):
        settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": entries}
        return check_openstack_credentials()

    return run


def test_distinct_complete_entries_pass(credentials):
    assert credentials(ENTRY, {**ENTRY, "auth_url": "http://other.example:5000/v3"}) == []
    assert credentials() == []


@pytest.mark.parametrize("variant", ["http://k.example:5000/v3/", "http://k.example:5000/v3//"])
def test_an_entry_the_lookup_never_reaches_is_an_error_naming_both(credentials, variant):
    shadowed = {**ENTRY, "auth_url": variant, "username": "ops", "password": "pw-two"}
    (error,) = credentials(ENTRY, shadowed)
    assert error.id == "iaas.E003"
    assert error.msg == (
        "OPENSTACK_CREDENTIALS[0] (auth_url 'http://k.example:5000/v3', username 'admin') and "
        f"OPENSTACK_CREDENTIALS[1] (auth_url '{variant}', username 'ops') name the same Keystone; "
        "clouds of that auth_url would silently use the first."
    )
    assert "pw-" not in error.msg + error.hint


def test_the_check_agrees_with_the_lookup_clouds_use(credentials, db):
    shadowed = {**ENTRY, "auth_url": ENTRY["auth_url"] + "/", "username": "ops"}
    assert [e.id for e in credentials(ENTRY, shadowed)] == ["iaas.E003"]
    cloud = factories.CloudFactory.build(auth_url=shadowed["auth_url"])
    assert isinstance(cloud, Cloud) and cloud.get_credentials() is ENTRY


def test_every_entry_after_the_first_of_a_keystone_is_reported(credentials):
    errors = credentials(ENTRY, {**ENTRY, "auth_url": ENTRY["auth_url"] + "/"}, {**ENTRY, "username": "third"})
    assert [e.id for e in errors] == ["iaas.E003", "iaas.E003"]
    assert all(e.msg.startswith("OPENSTACK_CREDENTIALS[0] ") for e in errors)
    assert "OPENSTACK_CREDENTIALS[1] " in errors[0].msg and "OPENSTACK_CREDENTIALS[2] " in errors[1].msg


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({**ENTRY, "auth_url": ""}, "(auth_url '', username 'admin') lacks auth_url"),
        ({"username": "admin", "password": "pw-one", "tenant_name": "a"}, "(auth_url missing, username 'admin')"),
        ({**ENTRY, "password": ""}, "lacks password"),
        ({**ENTRY, "tenant_name": None}, "lacks tenant_name"),
        ({"auth_url": "http://k.example:5000/v3", "password": "pw-one"}, "lacks username, tenant_name"),
        ({**ENTRY, "auth_url": 5000}, "(auth_url missing, username 'admin') lacks auth_url"),
    ],
)
def test_an_incomplete_entry_is_an_error(credentials, entry, expected):
    (error,) = credentials(entry)
    assert error.id == "iaas.E002"
    assert expected in error.msg
    assert "pw-one" not in error.msg + error.hint


def test_an_entry_that_is_not_a_dict_or_a_list_that_is_not_a_list_is_an_error(credentials, settings):
    assert [(e.id, e.msg) for e in credentials(ENTRY, "http://k.example:5000/v3")] == [
        ("iaas.E001", "OPENSTACK_CREDENTIALS[1] is a str, not a dict of credentials.")
    ]
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": ENTRY}
    assert [e.id for e in check_openstack_credentials()] == ["iaas.E000"]


def test_a_password_in_the_url_is_not_shown(credentials):
    with_userinfo = {**ENTRY, "auth_url": "http://admin:url-secret@k.example:5000/v3"}
    (error,) = credentials(with_userinfo, {**with_userinfo, "auth_url": with_userinfo["auth_url"] + "/"})
    assert "url-secret" not in error.msg
    assert "(auth_url 'http://k.example:5000/v3', username 'admin')" in error.msg


def test_the_check_is_registered_so_manage_py_check_fails(credentials):
    credentials(ENTRY, {**ENTRY, "auth_url": ENTRY["auth_url"] + "/"})
    with pytest.raises(SystemCheckError, match=r"iaas\.E003") as raised:
        call_command("check")
    assert "pw-one" not in str(raised.value)
