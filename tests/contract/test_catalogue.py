"""Contract: authenticate, read the catalog, list flavors and images, version discovery, 401/404 shapes."""

import uuid

import pytest
import requests
from cinderclient import exceptions as cinder_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import generic
from novaclient import exceptions as nova_exc


def test_password_auth_gives_project_scoped_token_and_catalog(cloud):
    access = cloud.session.auth.get_access(cloud.session)
    assert access.project_name == cloud.creds.project_name
    assert access.user_domain_name.lower() == cloud.creds.user_domain.lower()
    catalog = {entry["type"]: entry for entry in access.service_catalog.catalog}
    for stype in ("identity", "compute", "volumev3", "block-storage", "image"):
        assert stype in catalog, sorted(catalog)
        assert {e["interface"] for e in catalog[stype]["endpoints"]} >= {"public"}
    assert cloud.session.get_endpoint(service_type="volumev3", interface="public").endswith(cloud.project_id)


def test_token_validation_with_x_subject_token(cloud):
    token = cloud.session.get_token()
    resp = cloud.session.get("/auth/tokens", endpoint_filter={"service_type": "identity", "interface": "public"},
                             headers={"X-Subject-Token": token})
    assert resp.status_code == 200
    assert resp.headers["X-Subject-Token"] == token
    assert resp.json()["token"]["project"]["name"] == cloud.creds.project_name


def test_generic_password_plugin_with_unversioned_and_v3_urls(cloud):
    root = cloud.creds.auth_url.rstrip("/").rsplit("/v3", 1)[0]
    for url in (root, root + "/", cloud.creds.auth_url):
        auth = generic.Password(auth_url=url, username=cloud.creds.username, password=cloud.creds.password,
                                project_name=cloud.creds.project_name, user_domain_name=cloud.creds.user_domain,
                                project_domain_name=cloud.creds.project_domain)
        sess = ks_session.Session(auth=auth)
        assert sess.get_project_id() == cloud.project_id, url


def test_flavors_and_image(cloud):
    flavors = {f.name: f for f in cloud.nova.flavors.list()}
    for name, fid, vcpus, ram, disk in (("m1.tiny", "1", 1, 512, 1), ("m1.small", "2", 1, 2048, 20),
                                        ("m1.medium", "3", 2, 4096, 40)):
        f = flavors[name]
        assert (f.id, f.vcpus, f.ram, f.disk) == (fid, vcpus, ram, disk)
    assert {f.name for f in cloud.nova.flavors.list(is_public=None)} >= {"m1.tiny", "m1.small", "m1.medium"}
    assert cloud.nova.flavors.get("2").name == "m1.small"
    image = cloud.image()
    assert (image.status, image.min_disk, image.visibility) == ("active", 1, "public")
    assert cloud.glance.images.get(image.id).name == "tiny-qcow2"
    assert any(i.id == image.id for i in cloud.glance.images.list(page_size=1))


def test_limits_and_quotas_readable(cloud):
    absolute = {limit.name: limit.value for limit in cloud.nova.limits.get().absolute}
    assert absolute["maxTotalInstances"] > 0 and "totalCoresUsed" in absolute
    assert cloud.nova.quotas.get(cloud.project_id).instances == absolute["maxTotalInstances"]
    assert cloud.cinder.quotas.get(cloud.project_id).gigabytes > 0
    assert cloud.cinder.limits.get().absolute


def test_microversion_discovery(cloud):
    version = cloud.nova.versions.get_current()
    assert (version.min_version, version.version) == ("2.1", "2.93")
    versions = cloud.cinder.services.server_api_version()
    assert (versions[0].min_version, versions[0].version) == ("3.0", "3.70")


def test_not_found_shapes(cloud):
    missing = str(uuid.uuid4())
    with pytest.raises(nova_exc.NotFound) as err:
        cloud.nova.servers.get(missing)
    assert err.value.code == 404 and f"Instance {missing} could not be found." in str(err.value)
    with pytest.raises(cinder_exc.NotFound) as err:
        cloud.cinder.volumes.get(missing)
    assert err.value.code == 404 and f"Volume {missing} could not be found." in str(err.value)


def test_unknown_token_is_401(cloud):
    compute = cloud.session.get_endpoint(service_type="compute", interface="public")
    resp = requests.get(compute + "/servers", headers={"X-Auth-Token": "gAAAAAbogus"}, timeout=30)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == 401, "keystonemiddleware's body, whatever the service"
    volume = cloud.session.get_endpoint(service_type="volumev3", interface="public")
    assert requests.get(volume + "/volumes", headers={"X-Auth-Token": "bogus"}, timeout=30).status_code == 401
