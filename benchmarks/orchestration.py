"""Figure 1: orchestration overhead of one provision, ours (REST API + worker) against a raw client script.

Ours: POST /api/instances/ to gunicorn, one `celery -A nodeconductor worker` on Redis db 15, a throwaway
PostgreSQL database, production settings; polled via GET /api/instances/<uuid>/ until Online.
Raw: keystoneauth session + cinderclient + novaclient: create root (from image) and data volumes, wait until both
are available, boot from the root volume with the data volume attached, wait for ACTIVE.
Both against the simulator with two delay profiles in the issue's range (1-2 s per volume, 3-5 s per boot):
one whose delays are multiples of the 2 s poll interval, one just past them. Resizes run with the second one.

    python benchmarks/orchestration.py [--runs 3] [--raw-poll 0.05]
"""

import argparse
import sys
import time
import uuid

import _common as c

# server_build runs twice (two build steps); root volume = volume_create + volume_download.
PROFILES = [
    # Multiples of the default 2 s poll interval: the luckiest case for fixed-interval polling.
    ("aligned: root 2.0 s, data 1.0 s, boot 4.0 s",
     {"volume_create": 1.0, "volume_download": 1.0, "server_build": 2.0}),
    # Just past a poll each time: the unlucky case (the same range of 1-2 s per volume, 3-5 s per boot).
    ("unaligned: root 2.2 s, data 1.1 s, boot 4.4 s",
     {"volume_create": 1.1, "volume_download": 1.1, "server_build": 2.2}),
]


def raw_provision(sim, image_id, flavor_id, key_name, poll):
    """The shortest raw client script: two volumes, wait, boot from volume, wait. Returns seconds."""
    from cinderclient import client as cinder_client
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    from novaclient import client as nova_client

    t0 = time.monotonic()
    auth = v3.Password(auth_url=sim.auth_url, username="admin", password="admin", user_domain_name="Default",
                       project_id=sim.project_id("demo"))
    sess = session.Session(auth=auth)
    cinder = cinder_client.Client("3.0", session=sess)
    nova = nova_client.Client("2.37", session=sess)
    name = "raw-" + uuid.uuid4().hex[:8]
    root = cinder.volumes.create(size=1, imageRef=image_id, name=name + "-system")
    data = cinder.volumes.create(size=1, name=name + "-data")
    pending = {root.id, data.id}
    while pending:
        time.sleep(poll)
        pending = {v for v in pending if cinder.volumes.get(v).status != "available"}
    server = nova.servers.create(name, image=None, flavor=flavor_id, key_name=key_name, nics="none",
                                 block_device_mapping_v2=[
                                     {"uuid": root.id, "source_type": "volume", "destination_type": "volume",
                                      "boot_index": 0, "delete_on_termination": True},
                                     {"uuid": data.id, "source_type": "volume", "destination_type": "volume",
                                      "boot_index": -1, "delete_on_termination": True}])
    while True:
        time.sleep(poll)
        status = nova.servers.get(server.id).status
        if status == "ACTIVE":
            break
        if status == "ERROR":
            raise RuntimeError("raw server went to ERROR")
    return time.monotonic() - t0


def ours_provision(api, seed, hostname):
    """POST and poll the API until Online; returns (seconds, instance body)."""
    t0 = time.monotonic()
    body = api.create_instance(seed, hostname)
    _, _, inst = api.wait_state(body["uuid"], {"Online"})
    return time.monotonic() - t0, inst


def counted(sim, fn):
    """Run fn with the simulator's call log cleared; return (fn's result, call log of fn)."""
    sim.clear_call_log()
    result = fn()
    return result, sim.call_log


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3; medians reported)")
    parser.add_argument("--raw-poll", type=float, default=0.05, help="poll interval of the raw script (s)")
    parser.add_argument("--time-limit", type=int, default=900)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)

    sim = c.start_sim("realistic")
    db = c.create_database()
    env = c.product_env(db, sim.auth_url)
    c.setup_django(env)
    c.migrate()
    c.flush_redis()
    c.on_exit(c.flush_redis)
    seed = c.seed_cloud(sim)
    from django.conf import settings

    poll_interval = settings.NODECONDUCTOR["OPENSTACK_POLL_INTERVAL"]
    gunicorn, base = c.start_gunicorn(env)
    c.start_worker(env)
    api = c.Api(base, seed["token"])
    flavor = seed["flavors"][0]
    from nodeconductor.iaas.backend.instances import keypair_name

    key_name = keypair_name(seed["key"])

    print(f"machine: {c.machine()}")
    print(f"OPENSTACK_POLL_INTERVAL={poll_interval} s; raw script polls every {args.raw_poll} s; API polled every "
          f"0.05 s")
    # Warm-up: imports in gunicorn and the worker, token in the worker, keypair pushed.
    ours_provision(api, seed, "warmup")
    raw_provision(sim, seed["image"]["id"], flavor.backend_id, key_name, args.raw_poll)

    results = []
    for p, (label, delays) in enumerate(PROFILES):
        for name, seconds in delays.items():
            sim.set_delay(name, seconds)
        ours, raw, logs_ours, logs_raw, inst = [], [], [], [], None
        for i in range(args.runs):
            (t, inst), log = counted(sim, lambda i=i, p=p: ours_provision(api, seed, f"bench-p{p}-{i}"))
            ours.append(t)
            logs_ours.append(log)
            t, log = counted(sim, lambda: raw_provision(sim, seed["image"]["id"], flavor.backend_id, key_name,
                                                        args.raw_poll))
            raw.append(t)
            logs_raw.append(log)
            print(f"{label}, run {i + 1}: ours {ours[-1]:.2f} s, raw {raw[-1]:.2f} s", flush=True)
        ratio = c.median(ours) / c.median(raw)
        results.append(ratio)
        print(f"provision end to end ({label}): ours {c.median(ours):.2f} s (median of {args.runs}), raw "
              f"{c.median(raw):.2f} s; ratio ours/raw = {ratio:.3f} (target <= 1.05) "
              f"{'OK' if ratio <= 1.05 else 'MISSED'}\n")
    calls = c.classify_calls(logs_ours[-1])
    print(f"API calls per provision (ours): writes {calls['writes']}, reads {calls['reads']}, "
          f"identity/discovery {calls['identity']}")
    print(f"  {c.ops_summary(logs_ours[-1])}")
    raw_calls = c.classify_calls(logs_raw[-1])
    print(f"API calls of the raw script (poll {args.raw_poll} s): writes {raw_calls['writes']}, reads "
          f"{raw_calls['reads']}, identity/discovery {raw_calls['identity']}")
    print("minimum: writes 3 (2 volume creates, 1 boot; +1 keypair create the first time), reads 2 (one poll "
          "per wait, if the poll lands exactly when the cloud is done)")

    # Resizes of the last instance: stop first (not counted), then flavor resize, then disk resize.
    uuid_ = inst["uuid"]
    api.post(f"/api/instances/{uuid_}/stop/")
    api.wait_state(uuid_, {"Offline"})
    bigger = seed["flavors"][1]

    def resize_flavor():
        t0 = time.monotonic()
        api.post(f"/api/instances/{uuid_}/resize/", {"flavor": f"{base}/api/flavors/{bigger.uuid}/"})
        api.wait_state(uuid_, {"Offline"})
        return time.monotonic() - t0

    def resize_disk():
        t0 = time.monotonic()
        api.post(f"/api/instances/{uuid_}/resize/", {"disk_size": 2048})
        api.wait_state(uuid_, {"Offline"})
        return time.monotonic() - t0

    d = sim.delays
    print(f"\nresizes (delays: server_resize {d['server_resize']} s, confirm {d['server_confirm_resize']} s)")
    t, log = counted(sim, resize_flavor)
    calls = c.classify_calls(log)
    print(f"\nflavor resize: {t:.2f} s; API calls: writes "
          f"{calls['writes']}, reads {calls['reads']}, identity {calls['identity']}; minimum writes 2 (resize, "
          f"confirm), reads 2 (wait VERIFY_RESIZE, wait SHUTOFF)")
    print(f"  {c.ops_summary(log)}")
    t, log = counted(sim, resize_disk)
    calls = c.classify_calls(log)
    cloud_t = d["volume_detach"] + d["volume_extend"] + d["volume_attach"]
    print(f"disk resize: {t:.2f} s (detach + extend + attach delays {cloud_t:.1f} s); API calls: writes "
          f"{calls['writes']}, reads {calls['reads']}, identity {calls['identity']}; minimum writes 3 (detach, "
          f"extend, attach), reads 3 (one per wait)")
    print(f"  {c.ops_summary(log)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
