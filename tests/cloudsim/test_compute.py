"""Nova in the simulator: microversions, flavor shapes, state machine, keypairs, quotas, attachments."""

import base64
import os
import struct

import pytest
import requests
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from nodeconductor.cloudsim.state import TINY_IMAGE_ID

from .helpers import boot, clients, session, wait


def ssh_rsa():
    """A well-formed ssh-rsa public key line."""
    def mpint(n):
        raw = n.to_bytes((n.bit_length() + 8) // 8, "big")
        return struct.pack(">I", len(raw)) + raw

    blob = struct.pack(">I", 7) + b"ssh-rsa" + mpint(65537) + mpint(int.from_bytes(os.urandom(256), "big") | 1)
    return "ssh-rsa " + base64.b64encode(blob).decode() + " test@example"


def test_microversion_headers_and_406(cloudsim):
    sess = session(cloudsim)
    compute = sess.get_endpoint(service_type="compute", interface="public")
    token = sess.get_token()
    resp = requests.get(compute + "/flavors", headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.60"})
    assert resp.headers["OpenStack-API-Version"] == "compute 2.60"
    resp = requests.get(compute + "/flavors", headers={"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": "2.3"})
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.3"
    resp = requests.get(compute + "/flavors", headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.99"})
    assert resp.status_code == 406
    latest = {"X-Auth-Token": token, "OpenStack-API-Version": "compute latest"}
    resp = requests.get(compute + "/flavors", headers=latest)
    assert resp.headers["OpenStack-API-Version"] == "compute 2.93"


def test_flavor_shape_per_microversion_and_networks_required(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, _ = boot(nova, cinder)
    assert srv.flavor["original_name"] == "m1.tiny" and "id" not in srv.flavor
    old = nova_client.Client("2.46", session=session(cloudsim)).servers.get(srv.id)
    assert old.flavor["id"] == "1" and "links" in old.flavor
    sess = session(cloudsim)
    resp = sess.post("/servers", json={"server": {"name": "x", "flavorRef": "1", "imageRef": TINY_IMAGE_ID}},
                     endpoint_filter={"service_type": "compute", "interface": "public"},
                     headers={"OpenStack-API-Version": "compute 2.79"}, raise_exc=False)
    assert resp.status_code == 400 and "'networks' is a required property" in resp.json()["badRequest"]["message"]


def test_power_and_resize_state_machine(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True)
    assert srv.status == "ACTIVE" and srv.image == ""
    nova.servers.reboot(srv.id)
    wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "ACTIVE" and s._info["OS-EXT-STS:task_state"] is None)
    nova.servers.resize(srv.id, "2")
    s = wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "VERIFY_RESIZE")
    assert s.flavor["original_name"] == "m1.small"
    nova.servers.revert_resize(srv.id)
    s = wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "ACTIVE")
    assert s.flavor["original_name"] == "m1.tiny"
    nova.servers.stop(srv.id)
    wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "SHUTOFF")
    with pytest.raises(nova_exc.Conflict):
        nova.servers.reboot(srv.id)
    nova.servers.resize(srv.id, "3")
    wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "VERIFY_RESIZE")
    nova.servers.confirm_resize(srv.id)
    s = wait(lambda: nova.servers.get(srv.id), lambda s: s.status != "VERIFY_RESIZE")
    assert (s.status, s.flavor["original_name"]) == ("SHUTOFF", "m1.medium")


def test_delete_on_termination_volumes_go_with_the_server(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True, delete_on_termination=True)
    kept = cinder.volumes.create(1)
    wait(lambda: cinder.volumes.get(kept.id), lambda v: v.status == "available")
    nova.volumes.create_server_volume(srv.id, kept.id)
    wait(lambda: cinder.volumes.get(kept.id), lambda v: v.status == "in-use")
    nova.servers.delete(srv.id)
    wait(lambda: cloudsim.servers(), lambda s: s == [])
    wait(lambda: cloudsim.volumes(), lambda vs: [v["id"] for v in vs] == [kept.id])
    assert cinder.volumes.get(kept.id).status == "available"


def test_boot_from_image_to_volume_bdm(cloudsim):
    nova = nova_client.Client("2.1", session=session(cloudsim))
    bdm = [{"uuid": TINY_IMAGE_ID, "source_type": "image", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0, "delete_on_termination": True}]
    srv = nova.servers.create("legacy", image=None, flavor="1", block_device_mapping_v2=bdm)
    srv = wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "ACTIVE")
    assert srv.flavor["id"] == "1"
    assert len(cloudsim.volumes()) == 1 and cloudsim.volumes()[0]["bootable"]


def test_quota_over_limit_is_403(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.set_quota(cloudsim.project_id("demo"), compute={"instances": 1})
    boot(nova, cinder)
    with pytest.raises(nova_exc.Forbidden) as err:
        boot(nova, cinder)
    assert "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances" in str(err.value)
    cloudsim.set_quota(cloudsim.project_id("demo"), compute={"instances": 10, "cores": 1})
    with pytest.raises(nova_exc.Forbidden) as err:
        boot(nova, cinder)
    assert "Quota exceeded for cores" in str(err.value)


def test_keypairs(cloudsim):
    nova, _ = clients(cloudsim)
    with pytest.raises(nova_exc.BadRequest) as err:
        nova.keypairs.create("bad", public_key="ssh-rsa not-base64!")
    assert "Keypair data is invalid" in str(err.value)
    kp = nova.keypairs.create("good", public_key=ssh_rsa())
    assert kp.fingerprint.count(":") == 15
    with pytest.raises(nova_exc.Conflict):
        nova.keypairs.create("good", public_key=ssh_rsa())
    assert nova.keypairs.get("good").public_key == kp.public_key
    assert [k.name for k in nova.keypairs.list()] == ["good"]
    assert cloudsim.keypairs()[0]["name"] == "good"
    generated = nova_client.Client("2.2", session=session(cloudsim)).keypairs.create("gen")
    assert "PRIVATE KEY" in generated.private_key
    nova.keypairs.delete("good")
    with pytest.raises(nova_exc.NotFound):
        nova.keypairs.get("good")


def test_limits_and_quota_update_by_admin(cloudsim):
    nova, _ = clients(cloudsim)
    admin, _ = clients(cloudsim, user="admin", password="admin", project="admin")
    demo = cloudsim.project_id("demo")
    admin.quotas.update(demo, cores=7)
    assert nova.quotas.get(demo).cores == 7
    assert nova.quotas.defaults(demo).cores == 20
    assert {lim.name: lim.value for lim in nova.limits.get().absolute}["maxTotalCores"] == 7
    with pytest.raises(nova_exc.Forbidden):
        nova.quotas.update(demo, cores=100)


def test_flavor_and_image_catalogue_knobs(cloudsim):
    nova, _ = clients(cloudsim)
    cloudsim.add_flavor("m1.huge", vcpus=8, ram=16384, disk=80, flavor_id="9")
    assert nova.flavors.get("9").vcpus == 8
    cloudsim.remove_flavor("9")
    with pytest.raises(nova_exc.NotFound) as err:
        nova.flavors.get("9")
    assert "Flavor 9 could not be found." in str(err.value)
    image = cloudsim.add_image("big", min_disk=5, min_ram=1024)
    from glanceclient import client as glance_client

    glance = glance_client.Client("2", session=session(cloudsim))
    assert glance.images.get(image["id"]).min_ram == 1024
    for i in range(30):
        cloudsim.add_image(f"img-{i}")
    assert len(list(glance.images.list(page_size=7))) == 32
    cloudsim.remove_image(image["id"])
    assert len(list(glance.images.list())) == 31
