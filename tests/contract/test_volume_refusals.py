"""Contract: Cinder refusals that need no server (extend size, min_disk, quota)."""

import io
import struct

import pytest
from cinderclient import exceptions as cinder_exc


def tiny_qcow2(virtual_size=1024 ** 3):
    """A valid qcow2 header (version 2, no L1 table): enough for Glance to store and describe."""
    header = b"QFI\xfb" + struct.pack(">IQIIQIIQQIIQ", 2, 0, 0, 16, virtual_size, 0, 0, 0, 0, 0, 0, 0)
    return header.ljust(512, b"\0")


def test_extend_to_same_size_is_400(fresh):
    vol = fresh.create_volume(1, suffix="same-size")
    fresh.wait_volume(vol.id, "available")
    with pytest.raises(cinder_exc.BadRequest) as err:
        fresh.cinder.volumes.extend(vol.id, 1)
    assert "New size for extend must be greater than current size. (current: 1, extended: 1)" in str(err.value)


def test_volume_from_image_smaller_than_min_disk_is_400(fresh):
    image = fresh.glance.images.create(name=f"{fresh.prefix}-min-disk", disk_format="qcow2",
                                       container_format="bare", min_disk=2, visibility="private")
    fresh.images.append(image.id)
    fresh.glance.images.upload(image.id, io.BytesIO(tiny_qcow2()))
    fresh.wait_for(lambda: fresh.glance.images.get(image.id), lambda i: i.status == "active")
    with pytest.raises(cinder_exc.BadRequest) as err:
        fresh.create_volume(1, image=image.id, suffix="too-small")
    assert "Volume size 1GB cannot be smaller than the image minDisk size 2GB" in str(err.value)


def test_volume_over_gigabytes_quota_is_413(fresh):
    quota = fresh.cinder.quotas.get(fresh.project_id, usage=True).gigabytes
    wanted = quota["limit"] - quota["in_use"] + 1
    with pytest.raises(cinder_exc.OverLimit) as err:
        fresh.create_volume(wanted, suffix="over-quota")
    assert err.value.code == 413
    assert "Requested volume or snapshot exceeds allowed gigabytes quota" in str(err.value)
