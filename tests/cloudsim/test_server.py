"""The simulator as a process: start time, thread safety, keep-alive, the /_sim/ control API and the CLI."""

import http.client
import json
import subprocess
import sys
import threading
import time

import requests

from nodeconductor.cloudsim import CloudSim

from .helpers import clients, wait


def test_starts_in_under_a_second_on_a_free_port():
    t0 = time.time()
    sim = CloudSim(port=0).start()
    try:
        assert time.time() - t0 < 1.0
        assert sim.auth_url.startswith("http://127.0.0.1:") and sim.port != 0
        assert requests.get(sim.auth_url, timeout=5).json()["version"]["id"] == "v3.14"
    finally:
        sim.stop()


def test_concurrent_creates_are_consistent(cloudsim):
    errors, ids = [], []
    cloudsim.set_quota(cloudsim.project_id("demo"), volume={"volumes": 100})

    def worker():
        try:
            _, cinder = clients(cloudsim)
            for _ in range(5):
                ids.append(cinder.volumes.create(1).id)
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 40 and len(cloudsim.volumes()) == 40
    wait(lambda: cloudsim.volumes(), lambda vs: all(v["status"] == "available" for v in vs))
    assert cloudsim.call_counts()["volume.create"] == 40


def test_keep_alive_connection_serves_many_requests(cloudsim):
    conn = http.client.HTTPConnection("127.0.0.1", cloudsim.port, timeout=5)
    for _ in range(20):
        conn.request("GET", "/v3")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["version"]
    conn.close()


def test_control_api(cloudsim):
    base = cloudsim.base_url + "/_sim"
    assert requests.post(base + "/faults", json={"operation": "compute.flavor_list", "status": 503,
                                                 "message": "down"}).status_code == 201
    nova, cinder = clients(cloudsim)
    resp = requests.get(base + "/faults").json()
    assert resp["armed"][0]["operation"] == "compute.flavor_list"
    try:
        nova.flavors.list()
        raise AssertionError("fault did not fire")
    except Exception as e:
        assert "down" in str(e)
    assert requests.get(base + "/faults").json()["log"][0]["status"] == 503
    requests.post(base + "/latency", json={"service": "volume", "seconds": 0.01})
    requests.post(base + "/delays", json={"volume_create": 0.01})
    requests.post(base + "/token_lifetime", json={"seconds": 60})
    demo = cloudsim.project_id("demo")
    requests.put(f"{base}/quotas/{demo}", json={"volume": {"volumes": 1}})
    cinder.volumes.create(1)
    assert len(requests.get(base + "/volumes", params={"project_id": demo}).json()["volumes"]) == 1
    image = requests.post(base + "/images", json={"name": "x", "min_disk": 3}).json()["image"]
    flavor = requests.post(base + "/flavors", json={"name": "f", "vcpus": 4, "id": "42"}).json()["flavor"]
    assert flavor["id"] == "42" and image["min_disk"] == 3
    assert requests.delete(f"{base}/images/{image['id']}").status_code == 204
    assert requests.delete(f"{base}/flavors/42").status_code == 204
    assert requests.get(base + "/calls").json()["counts"]["volume.create"] == 1
    assert requests.post(base + "/faults", json={"operation": "x", "mode": "bad"}).status_code == 400
    assert requests.post(base + "/reset").status_code == 204
    assert requests.get(base + "/servers").json() == {"servers": []}
    assert requests.get(base + "/projects").json()["projects"]


def test_call_counts_separate_writes_and_polls(cloudsim):
    nova, cinder = clients(cloudsim)
    cloudsim.clear_call_log()
    vol = cinder.volumes.create(1)
    wait(lambda: cinder.volumes.get(vol.id), lambda v: v.status == "available")
    counts = cloudsim.call_counts()
    assert counts["volume.create"] == 1 and counts["volume.get"] >= 1
    assert all(c["status"] < 400 for c in cloudsim.call_log)


def test_command_line_entry_point():
    proc = subprocess.Popen([sys.executable, "-m", "nodeconductor.cloudsim", "--port", "0", "--delays", "fast"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "OS_AUTH_URL=http://127.0.0.1:" in line
        url = line.split("OS_AUTH_URL=")[1].split()[0]
        assert requests.get(url, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)
