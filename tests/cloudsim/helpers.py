"""Small client helpers for the simulator's own tests."""

import time

from cinderclient import client as cinder_client
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from novaclient import client as nova_client


def session(sim, user="demo", password="demo", project="demo"):
    """A keystoneauth session on the simulator."""
    auth = v3.Password(auth_url=sim.auth_url, username=user, password=password, project_name=project,
                       user_domain_id="default", project_domain_id="default")
    return ks_session.Session(auth=auth)


def clients(sim, **kw):
    """(nova 2.79, cinder 3.59) on a demo session."""
    sess = session(sim, **kw)
    return nova_client.Client("2.79", session=sess), cinder_client.Client("3.59", session=sess)


def wait(fetch, done, timeout=5.0):
    """Poll until done(fetch()); return the last object."""
    deadline = time.time() + timeout
    while True:
        obj = fetch()
        if done(obj):
            return obj
        assert time.time() < deadline, f"timeout, last {obj}"
        time.sleep(0.02)


def boot(nova, cinder, flavor="1", data=False, delete_on_termination=False):
    """Create a root volume (and optionally a data one), boot, wait ACTIVE; return (server, [volume ids])."""
    from nodeconductor.cloudsim.state import TINY_IMAGE_ID

    vols = [cinder.volumes.create(1, imageRef=TINY_IMAGE_ID)]
    if data:
        vols.append(cinder.volumes.create(1))
    for v in vols:
        wait(lambda v=v: cinder.volumes.get(v.id), lambda x: x.status == "available")
    bdm = [{"uuid": v.id, "source_type": "volume", "destination_type": "volume", "boot_index": 0 if i == 0 else -1,
            "delete_on_termination": delete_on_termination} for i, v in enumerate(vols)]
    srv = nova.servers.create("vm", image=None, flavor=flavor, block_device_mapping_v2=bdm, nics="none")
    srv = wait(lambda: nova.servers.get(srv.id), lambda s: s.status in ("ACTIVE", "ERROR"))
    return srv, [v.id for v in vols]
