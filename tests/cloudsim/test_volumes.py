"""Cinder in the simulator: state machine, refusals, quotas, microversions."""

import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc

from nodeconductor.cloudsim.state import TINY_IMAGE_ID

from .helpers import boot, clients, session, wait


def test_volume_from_image_passes_downloading(cloudsim):
    cloudsim.set_delay("volume_download", 0.3)
    _, cinder = clients(cloudsim)
    vol = cinder.volumes.create(1, name="root", imageRef=TINY_IMAGE_ID, metadata={"k": "v"})
    wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "downloading")
    vol = wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "available")
    assert (vol.bootable, vol.name, vol.metadata) == ("true", "root", {"k": "v"})


def test_min_disk_and_extend_refusals(cloudsim):
    _, cinder = clients(cloudsim)
    image = cloudsim.add_image("needs-2", min_disk=2)
    with pytest.raises(cinder_exc.BadRequest) as err:
        cinder.volumes.create(1, imageRef=image["id"])
    assert "Volume size 1GB cannot be smaller than the image minDisk size 2GB." in str(err.value)
    vol = cinder.volumes.create(2, imageRef=image["id"])
    wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "available")
    with pytest.raises(cinder_exc.BadRequest) as err:
        cinder.volumes.extend(vol.id, 2)
    assert "(current: 2, extended: 2)" in str(err.value)


def test_in_use_extend_at_342_ends_in_error_extending(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True)
    cinder_client.Client("3.42", session=session(cloudsim)).volumes.extend(vols[1], 2)
    vol = wait(lambda: cinder.volumes.get(vols[1]), lambda v: v.status != "extending")
    assert (vol.status, vol.size) == ("error_extending", 1)
    admin = cinder_client.Client("3.59", session=session(cloudsim, "admin", "admin", "admin"))
    admin.volumes.reset_state(vols[1], "in-use")
    assert cinder.volumes.get(vols[1]).status == "in-use"


def test_quota_over_limit_is_413(cloudsim):
    _, cinder = clients(cloudsim)
    cloudsim.set_quota(cloudsim.project_id("demo"), volume={"gigabytes": 5, "volumes": 2})
    cinder.volumes.create(3)
    with pytest.raises(cinder_exc.OverLimit) as err:
        cinder.volumes.create(3)
    assert "Requested 3G, quota is 5G and 3G has been consumed." in str(err.value)
    cinder.volumes.create(1)
    with pytest.raises(cinder_exc.OverLimit) as err:
        cinder.volumes.create(1)
    assert "Maximum number of volumes allowed (2) exceeded for quota 'volumes'." in str(err.value)
    assert cinder.quotas.get(cloudsim.project_id("demo")).gigabytes == 5


def test_filters_need_microversion_below_331(cloudsim):
    _, cinder = clients(cloudsim)
    cinder.volumes.create(1, name="a")
    with pytest.raises(cinder_exc.BadRequest) as err:
        cinder.volumes.list(search_opts={"name": "a"})
    assert "Invalid filters name are found in query options." in str(err.value)
    old = cinder_client.Client("3.0", session=session(cloudsim))
    assert [v.name for v in old.volumes.list(search_opts={"name": "a"})] == ["a"]


def test_other_projects_volumes_are_invisible(cloudsim):
    _, cinder = clients(cloudsim)
    vol = cinder.volumes.create(1)
    admin_project = cinder_client.Client("3.59", session=session(cloudsim, "admin", "admin", "admin"))
    assert admin_project.volumes.list() == []
    assert admin_project.volumes.get(vol.id).id == vol.id, "admins see every project's volumes"
    assert cloudsim.volumes(project_id=cloudsim.project_id("admin")) == []
