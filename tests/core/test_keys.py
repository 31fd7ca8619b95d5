import pytest

from nodeconductor.core.models import SshPublicKey
from tests import factories
from tests.fixtures.roles import check_matrix

NON_STAFF = ("stranger", "manager", "admin", "owner")


def expect(anonymous, non_staff, staff):
    return {"anonymous": anonymous, **{r: non_staff for r in NON_STAFF}, "staff": staff}


@pytest.fixture
def foreign_key(db):
    return factories.SshPublicKeyFactory(name="foreign")


@pytest.fixture
def own_keys(roles):
    return {role: factories.SshPublicKeyFactory(user=roles.users[role], name=f"{role}-key") for role in NON_STAFF}


def test_list_matrix(roles, own_keys, foreign_key):
    responses = check_matrix(roles, expect(401, 200, 200), lambda c, r: c.get("/api/keys/?page_size=100"))
    for role in NON_STAFF:
        body = responses[role].json()
        assert [k["name"] for k in body] == [f"{role}-key"]
        assert set(body[0]) == {"url", "uuid", "name", "public_key", "fingerprint", "user"}
        assert body[0]["user"].endswith(f"/api/users/{roles.users[role].uuid}/")
    assert {k["name"] for k in responses["staff"].json()} == {f"{r}-key" for r in NON_STAFF} | {"foreign"}


def test_retrieve_foreign_matrix(roles, foreign_key):
    check_matrix(roles, expect(401, 404, 200), lambda c, r: c.get(roles.url("sshpublickey", foreign_key)))


def test_create_for_self(roles):
    key = factories.make_public_key()
    response = roles.client_as("admin").post("/api/keys/", {"name": "laptop", "public_key": key}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["user"].endswith(f"/api/users/{roles.users['admin'].uuid}/")
    assert len(body["fingerprint"]) == 47
    stored = SshPublicKey.objects.get(uuid=body["uuid"])
    assert stored.user == roles.users["admin"]


def test_create_matrix(roles):
    key = factories.make_public_key()
    check_matrix(
        roles,
        expect(401, 201, 201),
        lambda c, r: c.post("/api/keys/", {"name": "k", "public_key": key}, format="json"),
    )


def test_user_and_fingerprint_are_read_only(roles):
    other = roles.users["stranger"]
    response = roles.client_as("admin").post(
        "/api/keys/",
        {
            "name": "k",
            "public_key": factories.make_public_key(),
            "user": f"http://testserver/api/users/{other.uuid}/",
            "fingerprint": "00:11",
        },
        format="json",
    )
    assert response.status_code == 201
    key = SshPublicKey.objects.get(uuid=response.json()["uuid"])
    assert key.user == roles.users["admin"]
    assert key.fingerprint != "00:11"


@pytest.mark.parametrize(
    "public_key,message",
    [
        ("not a key", "is not supported"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "not a valid OpenSSH public key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "is not supported"),
        ("onlyonepart", "Paste an OpenSSH public key"),
        ("ssh-rsa !!!notbase64!!!", "not a valid OpenSSH public key"),
    ],
)
def test_invalid_key_is_400_with_model_message(roles, public_key, message):
    response = roles.client_as("admin").post("/api/keys/", {"name": "k", "public_key": public_key}, format="json")
    assert response.status_code == 400
    assert message in response.json()["public_key"][0]


def test_duplicate_name_is_400(roles):
    factories.SshPublicKeyFactory(user=roles.users["admin"], name="laptop")
    response = roles.client_as("admin").post(
        "/api/keys/", {"name": "laptop", "public_key": factories.make_public_key()}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"name": ["You already have a key with this name."], "code": "invalid"}


def test_same_name_for_different_users_is_fine(roles):
    factories.SshPublicKeyFactory(user=roles.users["admin"], name="laptop")
    response = roles.client_as("owner").post(
        "/api/keys/", {"name": "laptop", "public_key": factories.make_public_key()}, format="json"
    )
    assert response.status_code == 201


def test_delete_foreign_matrix(roles):
    keys = iter(factories.SshPublicKeyFactory.create_batch(6))
    check_matrix(roles, expect(401, 404, 204), lambda c, r: c.delete(roles.url("sshpublickey", next(keys))))


def test_delete_own(roles, own_keys):
    for role in NON_STAFF:
        assert roles.client_as(role).delete(roles.url("sshpublickey", own_keys[role])).status_code == 204
    assert not SshPublicKey.objects.exists()


def test_keys_are_immutable(roles, own_keys):
    url = roles.url("sshpublickey", own_keys["admin"])
    client = roles.client_as("admin")
    assert client.put(url, {"name": "x", "public_key": factories.make_public_key()}, format="json").status_code == 405
    assert client.patch(url, {"name": "x"}, format="json").status_code == 405


def test_filter_by_user_and_name(roles, own_keys, foreign_key):
    client = roles.client_as("staff")
    owner = roles.users["owner"]
    assert [k["name"] for k in client.get(f"/api/keys/?user={owner.uuid}").json()] == ["owner-key"]
    assert [k["name"] for k in client.get(f"/api/keys/?user={owner.uuid.hex}").json()] == ["owner-key"]
    assert [k["name"] for k in client.get("/api/keys/?name=FOREI").json()] == ["foreign"]
    assert client.get("/api/keys/?user=not-a-uuid").status_code == 400
    names = [k["name"] for k in client.get("/api/keys/?o=-name&page_size=100").json()]
    assert names == sorted(names, reverse=True)
