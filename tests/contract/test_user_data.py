"""Contract: cloud-init user data on a boot as the broker passes it (novaclient base64-encodes it); Nova's limit."""

import base64

import pytest
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

SCRIPT = "#cloud-config\nruncmd:\n  - echo hello from nodeconductor > /tmp/hello\n"


def boot_with(c, volume_id, flavor_id, userdata):
    """Boot a tracked server from `volume_id` with `userdata`, as the broker's boot does."""
    bdm = [{"uuid": volume_id, "source_type": "volume", "destination_type": "volume", "boot_index": 0,
            "delete_on_termination": False}]  # fmt: skip
    srv = c.nova.servers.create(f"{c.prefix}-ud", image=None, flavor=flavor_id, block_device_mapping_v2=bdm,
                                nics="none", userdata=userdata)  # fmt: skip
    c.servers.append(srv.id)
    return srv


def test_the_admin_reads_back_the_user_data_a_boot_was_given(fresh):
    c = fresh
    root = c.create_volume(1, image=c.image().id, suffix="root")
    c.wait_volume(root.id, "available")
    srv = boot_with(c, root.id, c.flavor("m1.tiny").id, SCRIPT)
    c.wait_server(srv.id, "ACTIVE")
    admin = nova_client.Client("2.3", session=c.admin_session())
    shown = admin.servers.get(srv.id).to_dict()["OS-EXT-SRV-ATTR:user_data"]
    assert base64.b64decode(shown).decode() == SCRIPT
    # The project's own view never shows it: only the admin's, from microversion 2.3.
    assert "OS-EXT-SRV-ATTR:user_data" not in c.nova.servers.get(srv.id).to_dict()


def test_user_data_over_novas_limit_is_refused_before_anything_is_made(fresh):
    c = fresh
    root = c.create_volume(1, image=c.image().id, suffix="root")
    c.wait_volume(root.id, "available")
    too_long = "x" * 49150  # 65,536 characters once base64-encoded: one past Nova's maxLength
    with pytest.raises(nova_exc.BadRequest) as err:
        boot_with(c, root.id, c.flavor("m1.tiny").id, too_long)
    assert "user_data" in str(err.value) and "is too long" in str(err.value)
    assert c.cinder.volumes.get(root.id).status == "available"
