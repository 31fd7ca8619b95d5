"""Keystone in the simulator: discovery for every auth_url form, token expiry, admin calls, grants."""

import time

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic, v3
from keystoneclient.v3 import client as ks_client
from novaclient import client as nova_client

from .helpers import session


@pytest.mark.parametrize("suffix", ["", "/", "/v3", "/v2.0"])
def test_generic_password_plugin_with_any_auth_url(cloudsim, suffix):
    kwargs = {"project_domain_id": "default", "user_domain_id": "default"} if suffix != "/v2.0" else {}
    auth = generic.Password(auth_url=cloudsim.base_url + suffix, username="demo", password="demo",
                            project_name="demo", **kwargs)
    sess = ks_session.Session(auth=auth)
    assert sess.get_project_id() == cloudsim.project_id("demo")
    nova = nova_client.Client("2.79", session=sess)
    assert {f.name for f in nova.flavors.list()} == {"m1.tiny", "m1.small", "m1.medium"}


def test_unscoped_and_project_id_scoped_tokens(cloudsim):
    resp = requests.post(cloudsim.auth_url + "/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "demo", "domain": {"name": "Default"},
                                                       "password": "demo"}}}}})
    assert resp.status_code == 201 and "catalog" not in resp.json()["token"]
    auth = v3.Password(auth_url=cloudsim.auth_url, username="demo", password="demo", user_domain_name="Default",
                       project_id=cloudsim.project_id("demo"))
    assert ks_session.Session(auth=auth).get_project_id() == cloudsim.project_id("demo")


def test_wrong_password_and_foreign_project_are_401(cloudsim):
    for user, password, project in (("demo", "nope", "demo"), ("demo", "demo", "admin")):
        resp = requests.post(cloudsim.auth_url + "/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == 401


def test_expired_token_is_401_then_reauth_works(cloudsim):
    cloudsim.set_token_lifetime(1)
    sess = session(cloudsim)
    token = sess.get_token()
    compute = sess.get_endpoint(service_type="compute", interface="public")
    assert requests.get(compute + "/flavors", headers={"X-Auth-Token": token}).status_code == 200
    time.sleep(1.1)
    resp = requests.get(compute + "/flavors", headers={"X-Auth-Token": token})
    assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers
    # keystoneauth re-authenticates on its own (the token is near expiry, or on the 401).
    nova = nova_client.Client("2.79", session=sess)
    assert len(nova.flavors.list()) == 3
    cloudsim.set_token_lifetime(3600)
    cloudsim.expire_tokens()
    assert len(nova.flavors.list()) == 3, "a 401 on a revoked token triggers one re-authentication"


def test_token_validation(cloudsim):
    sess = session(cloudsim)
    token = sess.get_token()
    admin_token = session(cloudsim, "admin", "admin", "admin").get_token()
    resp = requests.get(cloudsim.auth_url + "/auth/tokens", headers={"X-Auth-Token": admin_token,
                                                                     "X-Subject-Token": token})
    assert resp.status_code == 200 and resp.headers["X-Subject-Token"] == token
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"member", "reader"}
    resp = requests.get(cloudsim.auth_url + "/auth/tokens", headers={"X-Auth-Token": admin_token,
                                                                     "X-Subject-Token": "bogus"})
    assert resp.status_code == 404


def test_admin_projects_users_roles_and_grant(cloudsim):
    keystone = ks_client.Client(session=session(cloudsim, "admin", "admin", "admin"))
    project = keystone.projects.create(name="tenant-1", domain="default", description="made by test")
    assert [p.id for p in keystone.projects.list(name="tenant-1")] == [project.id]
    assert keystone.projects.get(project.id).description == "made by test"
    admin = keystone.users.list(name="admin")[0]
    role = next(r for r in keystone.roles.list() if r.name == "admin")
    keystone.roles.grant(role, user=admin, project=project)
    assignments = keystone.role_assignments.list(user=admin, project=project)
    assert [a.role["id"] for a in assignments] == [role.id]
    scoped = ks_session.Session(auth=v3.Password(auth_url=cloudsim.auth_url, username="admin", password="admin",
                                                 project_id=project.id, user_domain_id="default"))
    assert scoped.get_project_id() == project.id
    user = keystone.users.create(name="bob", domain="default", password="pw")
    assert keystone.users.get(user.id).name == "bob"
    keystone.projects.delete(project.id)
    assert project.id not in {p["id"] for p in cloudsim.projects()}


def test_member_cannot_create_projects(cloudsim):
    keystone = ks_client.Client(session=session(cloudsim))
    from keystoneauth1.exceptions import http

    with pytest.raises(http.Forbidden):
        keystone.projects.create(name="nope", domain="default")
    assert keystone.projects.get(cloudsim.project_id("demo")).name == "demo"
