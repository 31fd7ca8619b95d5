"""Fault injection through the Python handle: HTTP errors, error states, hangs, and the fault log."""

import time

import pytest
from cinderclient import exceptions as cinder_exc
from keystoneauth1 import exceptions as ks_exc
from novaclient import exceptions as nova_exc

from .helpers import boot, clients, session, wait


def test_http_fault_fires_once_and_is_logged(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.fail_next("volume.create", times=1, status=500, message="boom")
    with pytest.raises(cinder_exc.ClientException) as err:
        cinder.volumes.create(1)
    assert err.value.code == 500 and "boom" in str(err.value)
    assert cinder.volumes.create(1).status == "creating"
    log = cloudsim.fault_log
    assert [(e["operation"], e["mode"], e["status"]) for e in log] == [("volume.create", "http", 500)]
    assert log[0]["at"] <= time.time()
    assert len(cloudsim.volumes()) == 1, "the failed call created nothing"


def test_fault_on_a_server_action_uses_the_action_name(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, _ = boot(nova, cinder)
    cloudsim.fail_next("compute.server_stop", status=409, message="Cannot 'stop' right now")
    with pytest.raises(nova_exc.Conflict):
        nova.servers.stop(srv.id)
    nova.servers.stop(srv.id)
    wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "SHUTOFF")
    assert cloudsim.call_counts()["compute.server_stop"] == 2


def test_error_state_fault_on_server_create(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.fail_next("compute.server_create", times=1, mode="error_state")
    srv, vols = boot(nova, cinder)
    assert srv.status == "ERROR" and "Injected fault" in srv.fault["message"]
    assert cinder.volumes.get(vols[0]).status == "available"
    assert cloudsim.fault_log[0]["mode"] == "error_state"


def test_retries_exhausted_fails_builds_with_novas_fault_once_or_more(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.fail_next("compute.server_create", times=2, mode="retries_exhausted")
    states = []
    for _ in range(2):
        srv, vols = boot(nova, cinder, data=True, delete_on_termination=True)
        states.append(srv.status)
        assert srv.fault == {"code": 500, "created": srv.fault["created"],
                             "message": "Exceeded maximum number of retries. Exhausted all hosts available for "
                                        f"retrying build failures for instance {srv.id}."}  # fmt: skip
        # The volumes are free in Cinder but still the server's: they go when it is deleted.
        assert [cinder.volumes.get(v).status for v in vols] == ["available", "available"]
        assert {v["id"] for v in getattr(srv, "os-extended-volumes:volumes_attached")} == set(vols)
    assert states == ["ERROR", "ERROR"]
    assert boot(nova, cinder)[0].status == "ACTIVE"  # the third build works
    assert [e["mode"] for e in cloudsim.fault_log] == ["retries_exhausted", "retries_exhausted"]


def test_retries_exhausted_frees_the_port_the_build_was_binding(cloudsim):
    nova, cinder = clients(cloudsim)
    from neutronclient.v2_0 import client as neutron_client

    neutron = neutron_client.Client(session=session(cloudsim))
    net = neutron.create_network({"network": {"name": "n"}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.9.0.0/24"}})
    port = neutron.create_port({"port": {"network_id": net["id"]}})["port"]
    root = cinder.volumes.create(1, imageRef=next(iter(cloudsim.images()))["id"])
    wait(lambda: cinder.volumes.get(root.id), lambda v: v.status == "available")
    cloudsim.fail_next("compute.server_create", mode="retries_exhausted")
    bdm = [{"uuid": root.id, "source_type": "volume", "destination_type": "volume", "boot_index": 0}]
    srv = nova.servers.create("vm", image=None, flavor="1", block_device_mapping_v2=bdm, nics=[{"port-id": port["id"]}])
    seen = []
    srv = wait(lambda: nova.servers.get(srv.id),
               lambda s: seen.append((s.status, getattr(s, "OS-EXT-STS:task_state"))) or s.status == "ERROR")
    assert ("BUILD", "scheduling") in seen[1:], "nova-compute handed the build back before it failed"
    assert neutron.show_port(port["id"])["port"]["device_id"] == "" and srv.addresses == {}


def test_error_state_fault_on_extend_and_volume_create(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.fail_next("volume.create", mode="error_state")
    bad = cinder.volumes.create(1)
    assert wait(lambda: cinder.volumes.get(bad.id), lambda v: v.status != "creating").status == "error"
    good = cinder.volumes.create(1)
    wait(lambda: cinder.volumes.get(good.id), lambda v: v.status == "available")
    cloudsim.fail_next("volume.extend", mode="error_state")
    cinder.volumes.extend(good.id, 2)
    vol = wait(lambda: cinder.volumes.get(good.id), lambda v: v.status != "extending")
    assert (vol.status, vol.size) == ("error_extending", 1)


def test_hang_outlasts_a_client_timeout_and_the_operation_still_happens(cloudsim):
    cloudsim.fail_next("volume.extend", times=1, mode="hang", seconds=1.5)
    sess = session(cloudsim)
    sess.timeout = 0.5
    from cinderclient import client as cinder_client

    cinder = cinder_client.Client("3.59", session=sess)
    vol = cinder.volumes.create(1)
    wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "available")
    with pytest.raises((ks_exc.ConnectTimeout, ks_exc.ConnectFailure, ks_exc.RequestTimeout)):
        cinder.volumes.extend(vol.id, 2)
    time.sleep(1.3)
    assert wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "available" and v.size == 2)
    assert cloudsim.fault_log[0]["mode"] == "hang"


def test_unknown_mode_is_refused(cloudsim):
    with pytest.raises(ValueError):
        cloudsim.fail_next("volume.create", mode="explode")


def test_latency_per_service(cloudsim):
    nova, cinder = clients(cloudsim)
    nova.flavors.list()
    cloudsim.set_latency("compute", 0.3)
    t0 = time.time()
    nova.flavors.list()
    assert time.time() - t0 >= 0.3
    t0 = time.time()
    cinder.volumes.list()
    assert time.time() - t0 < 0.3


def test_delay_knob_slows_a_transition(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.set_delay("volume_create", 0.5)
    vol = cinder.volumes.create(1)
    time.sleep(0.25)
    assert cinder.volumes.get(vol.id).status == "creating"
    wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "available")
    with pytest.raises(ValueError):
        cloudsim.set_delay("nonsense", 1)


def test_reset_clears_resources_faults_and_knobs(cloudsim):
    nova, cinder = clients(cloudsim)
    cinder.volumes.create(1)
    cloudsim.fail_next("compute.flavor_list", times=3)
    cloudsim.set_latency("image", 1)
    cloudsim.set_delay("server_build", 9)
    cloudsim.reset()
    assert cloudsim.volumes() == [] and cloudsim.servers() == []
    assert cloudsim.delays["server_build"] == 0.05
    nova, _ = clients(cloudsim)
    assert len(nova.flavors.list()) == 3
    assert cloudsim.fault_log == []
