"""Our API's HTTP client and the simulator's call-log summaries, shared by the benchmarks through _common."""

import time


class Api:
    """A tiny keep-alive JSON client of our API with token authentication."""

    def __init__(self, base, token):
        import requests

        self.base = base
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Token {token}"

    def url(self, path):
        return path if path.startswith("http") else self.base + path

    def get(self, path, **params):
        r = self.s.get(self.url(path), params=params, timeout=30)
        r.raise_for_status()
        return r

    def post(self, path, body=None, expect=(200, 201, 202)):
        r = self.s.post(self.url(path), json=body or {}, timeout=60)
        if r.status_code not in expect:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def create_instance(self, seed, hostname, flavor=None, data_volume_size=1024):
        flavor = flavor or seed["flavors"][0]
        return self.post(
            "/api/instances/",
            {
                "hostname": hostname,
                "template": f"{self.base}/api/iaas-templates/{seed['template'].uuid}/",
                "flavor": f"{self.base}/api/flavors/{flavor.uuid}/",
                "project": f"{self.base}/api/projects/{seed['project'].uuid}/",
                "ssh_public_key": f"{self.base}/api/keys/{seed['key'].uuid}/",
                "data_volume_size": data_volume_size,
            },
        )

    def wait_state(self, uuid_, states, timeout=300, interval=0.05):
        """Poll an instance until its display state is one of `states`; return (state, seconds, instance)."""
        t0 = time.monotonic()
        while True:
            body = self.get(f"/api/instances/{uuid_}/").json()
            if body["state"] in states:
                return body["state"], time.monotonic() - t0, body
            if body["state"] == "Erred":
                raise RuntimeError(f"instance {uuid_} Erred: {body['error_message']}")
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"instance {uuid_} still {body['state']} after {timeout} s")
            time.sleep(interval)


def classify_calls(log):
    """Split a cloudsim call log into writes (non-GET), reads (GET/HEAD) and identity calls."""
    out = {"writes": 0, "reads": 0, "identity": 0, "total": 0}
    for call in log:
        op = call["operation"]
        if op.startswith("sim."):
            continue
        out["total"] += 1
        if op.startswith("identity.") or op.endswith(".versions") or op.endswith(".version"):
            out["identity"] += 1
        elif call["method"] in ("GET", "HEAD"):
            out["reads"] += 1
        else:
            out["writes"] += 1
    return out


def ops_summary(log):
    """Compact 'operation×count' string of a call log."""
    from collections import Counter

    c = Counter(call["operation"] for call in log if not call["operation"].startswith("sim."))
    return ", ".join(f"{op}×{n}" for op, n in sorted(c.items()))
