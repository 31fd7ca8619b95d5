"""Figure 3: GET /api/instances/ at scale, against a floor of the same rows read with .values() and dumped to JSON.

Rows are bulk-created in a throwaway PostgreSQL database (production settings): per customer one cloud with 3
flavors, 10 projects, each with a membership and 10 instances in mixed states. The default grows the data from
1,000 instances (10 customers) to 10,000 (100 customers, 1,000 projects); --sizes 1000 10000 100000 goes further.

Requests go through Django's test Client in this process (full middleware, token authentication, DRF, the
serializer and pagination; no HTTP socket), so the floor, also in this process, compares like with like.
The floor: the same visibility rule, filter and order as an ORM query: count() (what X-Result-Count needs), then
the page's columns and joined names with `.values()`, dumped with json.dumps (no URLs, no per-row actions).
Checked: the API's rows are the floor's rows, in the same order, and the count is the same; queries per request
are constant across page sizes and data sizes. Targets at 10,000 instances: plain lists of 100 (staff, owner)
<= 2x the floor, the hostname (icontains) and state filters <= 2.5x.

    python benchmarks/api_scale.py [--sizes 1000 10000] [--runs 30]
"""

import argparse
import json
import sys
import time
import uuid

import _common as c
from _report import Report, stats

STATES = ["online"] * 6 + ["offline"] * 2 + ["erred", "provisioning"]
FIELDS = (
    "uuid", "hostname", "description", "state", "error_message", "cores", "ram", "system_volume_size",
    "data_volume_size", "agreed_sla", "key_name", "key_fingerprint", "backend_id", "system_volume_id",
    "data_volume_id", "internal_ips", "external_ips", "start_time", "created", "modified",
    "template__uuid", "template__name", "flavor__uuid", "flavor__name", "cloud_project_membership__uuid",
    "cloud_project_membership__project__uuid", "cloud_project_membership__project__name",
    "cloud_project_membership__project__customer__uuid", "cloud_project_membership__project__customer__name",
    "cloud_project_membership__cloud__uuid", "cloud_project_membership__cloud__name", "ssh_public_key__uuid",
)  # fmt: skip


def build(first_customer, customers, templates):
    """Bulk-create `customers` customers from index first_customer, each with 10 projects of 10 instances."""
    from django.utils import timezone

    from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Flavor, Instance
    from nodeconductor.structure.models import Customer, Project

    idx = range(first_customer, first_customer + customers)
    custs = Customer.objects.bulk_create([Customer(name=f"Customer {i:04d}") for i in idx])
    clouds = Cloud.objects.bulk_create(
        [Cloud(customer=cu, name="Cloud", auth_url="http://keystone.invalid/v3") for cu in custs]
    )
    flavors = Flavor.objects.bulk_create(
        [
            Flavor(cloud=cl, name=f"m1.{s}", backend_id=str(k), cores=k, ram=512 * k, disk=10240 * k)
            for cl in clouds
            for k, s in ((1, "small"), (2, "medium"), (4, "large"))
        ]
    )
    projects = Project.objects.bulk_create(
        [Project(customer=cu, name=f"project-{i:04d}-{p}") for i, cu in zip(idx, custs, strict=True) for p in range(10)]
    )
    by_customer = {cl.customer_id: cl for cl in clouds}
    memberships = CloudProjectMembership.objects.bulk_create(
        [
            CloudProjectMembership(
                project=p, cloud=by_customer[p.customer_id], tenant_id=uuid.uuid4().hex, state="in_sync"
            )
            for p in projects
        ]
    )
    flavors_of = {}
    for f in flavors:
        flavors_of.setdefault(f.cloud_id, []).append(f)
    now = timezone.now()
    rows, n = [], first_customer * 100
    for m in memberships:
        for _ in range(10):
            fl = flavors_of[m.cloud_id][n % 3]
            rows.append(
                Instance(
                    hostname=f"vm-{n}.example.com",
                    template=templates[n % len(templates)],
                    cloud_project_membership=m,
                    flavor=fl,
                    cores=fl.cores,
                    ram=fl.ram,
                    system_volume_size=10240,
                    data_volume_size=20480,
                    agreed_sla=99.9,
                    state=STATES[n % len(STATES)],
                    backend_id=str(uuid.uuid4()),
                    system_volume_id=str(uuid.uuid4()),
                    data_volume_id=str(uuid.uuid4()),
                    internal_ips="10.0.0.5",
                    start_time=now,
                )
            )
            n += 1
    Instance.objects.bulk_create(rows, batch_size=2000)
    return custs


def floor_queryset(user, params):
    """The same rows the API returns, as a plain ORM query."""
    from nodeconductor.iaas.models import Instance

    qs = Instance.objects.for_user(user)
    if "project" in params:
        qs = qs.filter(cloud_project_membership__project__uuid=params["project"])
    if "state" in params:
        qs = qs.filter(state=params["state"])
    if "hostname" in params:
        qs = qs.filter(hostname__icontains=params["hostname"])
    return qs.order_by("-created")


def floor(user, params):
    """The same work without the framework: the count behind X-Result-Count, the page's rows, JSON."""
    size = int(params.get("page_size", 10))
    qs = floor_queryset(user, params)
    total = qs.count()
    rows = list(qs.values(*FIELDS)[:size])
    return json.dumps(rows, default=str).encode(), total


def measure(client, who, token, user, params, runs):
    """API and floor timed in alternation (noise hits both alike); rows, count and queries compared."""
    from django.db import connection

    def api():
        r = client.get("/api/instances/", params, HTTP_AUTHORIZATION=f"Token {token}")
        assert r.status_code == 200, r.content[:300]
        return r

    # Count with an execute wrapper: CaptureQueriesContext loses them (request_started resets queries_log).
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *a: (queries.append(sql), execute(sql, *a))[1]):
        r = api()
    api_rows = [row["uuid"] for row in json.loads(r.content)]
    body, total = floor(user, params)
    floor_rows = [row["uuid"] for row in json.loads(body)]
    same = api_rows == floor_rows and int(r.headers["X-Result-Count"]) == total
    for _ in range(3):
        api()
        floor(user, params)
    t_api, t_floor = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        api()
        t1 = time.perf_counter()
        floor(user, params)
        t_api.append(t1 - t0)
        t_floor.append(time.perf_counter() - t1)
    return {
        "who": who,
        "params": params,
        "rows": len(api_rows),
        "total": total,
        "same_rows": same,
        "queries": len(queries),
        "api": stats(t_api),
        "floor": stats(t_floor),
        "api_p95": c.p95(t_api),
        "ratio": c.median(t_api) / c.median(t_floor),
    }


CASES = [
    # (who, params, target): the plain lists <= 2x the floor, the filters <= 2.5x, at 10,000 instances.
    ("staff", {"page_size": 100}, 2.0),
    ("staff", {"page_size": 10}, None),
    ("owner", {"page_size": 100}, 2.0),
    ("owner", {"page_size": 10}, None),
    ("staff", {"page_size": 100, "project": None}, None),
    ("staff", {"page_size": 100, "state": "offline"}, 2.5),
    ("staff", {"page_size": 10, "state": "offline"}, None),
    ("staff", {"page_size": 100, "hostname": "vm-12"}, 2.5),
    ("staff", {"page_size": 10, "hostname": "vm-12"}, None),
    ("owner", {"page_size": 100, "state": "offline"}, 2.5),
    ("owner", {"page_size": 100, "hostname": "vm-1"}, 2.5),
]
TARGET_SIZE = 10000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="instance counts (x100)")
    parser.add_argument("--runs", type=int, default=30, help="timed requests per case, each beside a floor run")
    parser.add_argument("--profile", action="store_true", help="cProfile of staff page_size=100 at the last size")
    parser.add_argument("--time-limit", type=int, default=1500)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)
    report = Report("api_scale")

    db = c.create_database()
    env = c.product_env(db, "http://keystone.invalid/v3")
    c.setup_django(env)
    c.migrate()
    c.on_exit(c.flush_redis)  # the production cache lives in the same Redis database
    from django.db import connection
    from django.test import Client
    from knox.models import AuthToken

    from nodeconductor.core.models import User
    from nodeconductor.iaas.models import Template
    from nodeconductor.structure.models import CustomerPermission

    templates = Template.objects.bulk_create(
        [Template(name=f"Template {i}", os="Linux", is_active=True) for i in range(5)]
    )
    staff = User.objects.create(username="staff", is_staff=True)
    owner = User.objects.create(username="owner")
    tokens = {"staff": AuthToken.objects.create(user=staff)[1], "owner": AuthToken.objects.create(user=owner)[1]}
    users = {"staff": staff, "owner": owner}
    client = Client()
    print(
        "in-process: django.test.Client (full middleware, TokenAuthentication, DRF) against the floor: the same "
        "visibility rule, filter and order as an ORM query, count() + .values() of the page's columns + json.dumps "
        f"(no URLs, no per-row actions); {args.runs} alternating runs per case after 3 warm-ups"
    )
    target_size = TARGET_SIZE if TARGET_SIZE in args.sizes else max(args.sizes)
    built, first, results = 0, None, []
    for size in sorted(args.sizes):
        customers = size // 100 - built
        t0 = time.monotonic()
        custs = build(built, customers, templates)
        built += customers
        if first is None:
            first = custs[0]
            CustomerPermission.objects.create(customer=first, user=owner, role="owner")
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        print(
            f"\n== {size} instances, {size // 10} projects, {size // 100} customers (built in "
            f"{time.monotonic() - t0:.1f} s)"
        )
        project = first.projects.order_by("name").first()
        print(
            f"{'who':6} {'query':36} {'rows':>4} {'total':>6} {'qs':>3} {'API median [min, max] ms':>26} "
            f"{'floor median [min, max] ms':>27} {'ratio':>6}"
        )
        for who, params, limit in CASES:
            params = {k: (str(project.uuid) if k == "project" else v) for k, v in params.items()}
            r = measure(client, who, tokens[who], users[who], params, args.runs)
            r.update(size=size, limit=limit)
            results.append(r)
            q = "&".join(f"{k}={str(v)[:8] if k == 'project' else v}" for k, v in params.items())
            a, f = r["api"], r["floor"]
            print(
                f"{who:6} {q:36} {r['rows']:4d} {r['total']:>6} {r['queries']:3d} "
                f"{a['median'] * 1e3:8.1f} [{a['min'] * 1e3:6.1f}, {a['max'] * 1e3:6.1f}] "
                f"{f['median'] * 1e3:9.1f} [{f['min'] * 1e3:6.1f}, {f['max'] * 1e3:6.1f}] {r['ratio']:6.2f}",
                flush=True,
            )
    bad = [f"{r['size']} {r['who']} {r['params']}" for r in results if not r["same_rows"]]
    report.check(
        "API rows equal the floor's rows (same uuids, same order, X-Result-Count = count)",
        not bad,
        f"{len(results) - len(bad)}/{len(results)} cases {bad[:3]}",
    )
    counts = {}
    for r in results:
        key = (r["who"], tuple(sorted((k, v) for k, v in r["params"].items() if k not in ("page_size", "project"))))
        counts.setdefault(key, set()).add(r["queries"])
    varying = {k: v for k, v in counts.items() if len(v) > 1}
    report.check(
        "queries per request constant across page sizes and data sizes",
        not varying,
        f"{sorted({q for v in counts.values() for q in v})} queries per request; varying: {varying}",
    )
    for r in results:
        if r["limit"] is not None and r["size"] == target_size:
            q = "&".join(f"{k}={v}" for k, v in r["params"].items())
            report.target(
                f"P3 list {r['who']} ?{q} at {r['size']} instances (median API / median floor)",
                r["ratio"],
                r["limit"],
                fmt="{:.2f}",
            )
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for _ in range(10):
            client.get("/api/instances/", {"page_size": 100}, HTTP_AUTHORIZATION=f"Token {tokens['staff']}")
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    report.save(cases=results)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
