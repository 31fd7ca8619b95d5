"""P4: catalogue pull at scale, against a floor reading the same JSON pages and nothing else.

The simulator (a thread of this process, fast delays) grows to each catalogue size (default 1,000 images/100
flavors, then 10,000/1,000); templates are mapped to 10% of the images. For each size, fresh clouds (one
membership in the demo tenant each) are pulled with OpenStackBackend.pull_cloud_account (list flavors, list images,
the tenant's quotas, apply as a minimal diff), first (--runs new clouds) with a new keystone session, then the
last cloud again (--runs repeats) with the session cached, as a worker does.

The floor: the same HTTP requests made straight on a keystoneauth session (v3 password, no discovery), bodies
parsed with .json(): GET compute /flavors/detail?is_public=None (Nova 2.37), the image pages
GET image /v2/images?limit=1000 following `next` (the page size ours uses), and both quota sets; first with a new
session, repeats with the cached one. Then the database part of the same work, done the fastest reasonable way:
a first pull reads the template mappings (one query: without them nobody knows which Image rows to make) and
stores the same Flavor and Image rows with one bulk_create each in one transaction, into a cloud of its own (the
rows are deleted again outside the timing, so every first pull starts clean); a repeat pull reads the stored
flavors, images, mappings and membership quotas once each (one values_list query per model) and compares them with
the pulled values in sets. Runs alternate which side goes first.

Checked: the floor sends the same cloud reads as ours (operation counts from the simulator's call log), a first
floor stores as many rows as ours wrote and a repeat floor finds no difference; after
every pull the cloud's Flavor rows equal the simulator's flavors and its Image rows the simulator's mapped images;
a repeat pull writes 0 rows. Target: median ours / median floor <= 1.2 for first and repeat pulls at every size.

    python benchmarks/pull_scale.py [--sizes 1000 10000] [--runs 5]
"""

import argparse
import sys
import time
from collections import Counter

import _common as c
from _report import Report, spread, stats

TARGET = 1.2


class DbCounter:
    """Counts queries and rows written (INSERT/UPDATE/DELETE rowcounts) through an execute wrapper."""

    def __init__(self):
        self.queries, self.written, self.writes = 0, 0, 0

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        self.queries += 1
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            self.writes += 1
            self.written += max(0, context["cursor"].rowcount)
        return result


def ours(cloud, cold):
    from django.db import connection

    from nodeconductor.iaas.backend.session import clear_sessions

    if cold:
        clear_sessions()
    counter = DbCounter()
    t0 = time.perf_counter()
    with connection.execute_wrapper(counter):
        cloud.get_backend().pull_cloud_account(cloud)
    return time.perf_counter() - t0, counter


_floor_session = {}
COMPUTE = {"service_type": "compute", "interface": "public"}
NOVA_HEADERS = {"X-OpenStack-Nova-API-Version": "2.37", "OpenStack-API-Version": "compute 2.37"}


def floor(sim, tenant_id, cold, cloud, kind):
    """The same reads as plain JSON over one keystoneauth session, then the same rows stored (first) or compared
    (repeat). Returns (seconds, flavors, images, rows stored or differences found)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    t0 = time.perf_counter()
    if cold or "s" not in _floor_session:
        auth = v3.Password(
            auth_url=sim.auth_url,
            username="admin",
            password="admin",
            user_domain_name="Default",
            project_name="admin",
            project_domain_name="Default",
        )
        _floor_session["s"] = session.Session(auth=auth)
    sess = _floor_session["s"]
    flavors = sess.get("/flavors/detail?is_public=None", endpoint_filter=COMPUTE, headers=NOVA_HEADERS).json()
    images, url = [], "/v2/images?limit=1000"
    while url:
        body = sess.get(url, endpoint_filter={"service_type": "image", "interface": "public"}).json()
        images.extend(body["images"])
        url = body.get("next")
    compute = sess.get(f"/os-quota-sets/{tenant_id}", endpoint_filter=COMPUTE, headers=NOVA_HEADERS).json()
    volume = sess.get(
        f"/os-quota-sets/{tenant_id}", endpoint_filter={"service_type": "volumev3", "interface": "public"}
    ).json()
    store = _store_rows if kind == "first" else _compare_rows
    n = store(cloud, flavors["flavors"], images, compute["quota_set"], volume["quota_set"])
    return time.perf_counter() - t0, flavors["flavors"], images, n


def _pulled(flavors, images):
    """Flavor tuples and {image id: (min_disk MiB, min_ram)} of the active images, as the pull stores them."""
    fl = {(f["id"], f["name"], f["vcpus"], f["ram"], f["disk"] * 1024) for f in flavors}
    im = {i["id"]: (i["min_disk"] * 1024, i["min_ram"]) for i in images if i["status"] == "active"}
    return fl, im


def _wanted_images(im):
    """{template id: (image id, min_disk, min_ram)}: a template's first mapped active image, as ours picks it."""
    from nodeconductor.iaas.models import TemplateMapping

    wanted = {}
    mappings = TemplateMapping.objects.order_by().values_list("template_id", "backend_image_id")
    for template_id, image_id in sorted(mappings):
        if image_id in im and template_id not in wanted:
            wanted[template_id] = (image_id, *im[image_id])
    return wanted


def _store_rows(cloud, flavors, images, compute, volume):
    """First pull's writes: the same Flavor and Image rows, one bulk insert each, one transaction."""
    from django.db import transaction

    from nodeconductor.iaas.models import Flavor, Image

    fl, im = _pulled(flavors, images)
    with transaction.atomic():
        wanted = _wanted_images(im)
        made = Flavor.objects.bulk_create(
            Flavor(cloud=cloud, backend_id=b, name=n, cores=c_, ram=r, disk=d) for b, n, c_, r, d in fl
        )
        made += Image.objects.bulk_create(
            Image(cloud=cloud, template_id=t, backend_id=b, min_disk=d, min_ram=r) for t, (b, d, r) in wanted.items()
        )
    return len(made)


def _compare_rows(cloud, flavors, images, compute, volume):
    """Repeat pull's reads: the stored rows once per model, compared with the pulled values; returns differences."""
    from nodeconductor.iaas.models import CloudProjectMembership, Flavor, Image

    fl, im = _pulled(flavors, images)
    wanted = _wanted_images(im)
    stored_fl = set(
        Flavor.objects.filter(cloud=cloud).order_by().values_list("backend_id", "name", "cores", "ram", "disk")
    )
    stored_im = {
        t: (b, d, r)
        for t, b, d, r in Image.objects.filter(cloud=cloud)
        .order_by()
        .values_list("template_id", "backend_id", "min_disk", "min_ram")
    }
    gigabytes = volume["gigabytes"]
    quotas = (compute["cores"], compute["ram"], -1 if gigabytes < 0 else gigabytes * 1024, compute["instances"])
    stored_q = (
        CloudProjectMembership.objects.filter(cloud=cloud)
        .order_by()
        .values_list("quota_vcpu", "quota_ram", "quota_storage", "quota_max_instances")
    )
    return len(fl ^ stored_fl) + len(set(wanted.items()) ^ set(stored_im.items())) + sum(q != quotas for q in stored_q)


def clear_floor_rows(cloud):
    """Delete the first-pull floor's rows (outside the timing), so its next run inserts into an empty cloud."""
    cloud.flavors.all().delete()
    cloud.images.all().delete()


def reads(log):
    """Counter of the cloud reads in a call log, identity and discovery left out (they differ by design)."""
    return Counter(
        x["operation"]
        for x in log
        if not x["operation"].startswith(("sim.", "identity."))
        and not x["operation"].endswith((".versions", ".version"))
    )


def rows_match(sim, cloud):
    """(ok, detail): the cloud's Flavor and Image rows against the simulator's catalogue."""
    from nodeconductor.iaas.models import TemplateMapping

    with sim.state.lock:
        sim_flavors = {(f["id"], f["name"], f["vcpus"], f["ram"], f["disk"] * 1024) for f in sim.state.flavors.values()}
        active = {i["id"]: i for i in sim.state.images.values() if i["status"] == "active"}
    db_flavors = set(cloud.flavors.filter(is_active=True).values_list("backend_id", "name", "cores", "ram", "disk"))
    want = {}
    for m in TemplateMapping.objects.order_by("template_id", "backend_image_id"):
        img = active.get(m.backend_image_id)
        if img is not None and m.template_id not in want:
            want[m.template_id] = (m.template_id, img["id"], img["min_disk"] * 1024, img["min_ram"])
    db_images = set(cloud.images.values_list("template_id", "backend_id", "min_disk", "min_ram"))
    ok = db_flavors == sim_flavors and db_images == set(want.values())
    return ok, f"flavors {len(db_flavors)}/{len(sim_flavors)}, images {len(db_images)}/{len(want)}"


def grow(sim, size):
    """Bring the simulator to `size` images and size/10 flavors, mapping a template to every 10th new image."""
    from nodeconductor.iaas.models import Template

    for i in range(len(sim.images()), size):
        img = sim.add_image(f"image-{i:05d}", min_disk=1 + i % 5, min_ram=256 * (i % 3))
        if i % 10 == 0:
            Template.objects.create(name=f"T{i:05d}", is_active=True).mappings.create(backend_image_id=img["id"])
    with sim.state.lock:
        have = len(sim.state.flavors)
    for i in range(have, size // 10):
        sim.add_flavor(f"f{i:04d}", vcpus=1 + i % 8, ram=512 * (1 + i % 16), disk=1 + i % 40)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="image counts; flavors /10")
    parser.add_argument("--runs", type=int, default=5, help="first pulls (new clouds) and repeats per size")
    parser.add_argument("--time-limit", type=int, default=1200)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)
    report = Report("pull_scale")

    sim = c.start_sim("fast")
    db = c.create_database()
    env = c.product_env(db, sim.auth_url)
    c.setup_django(env)
    c.migrate()
    c.on_exit(c.flush_redis)
    from nodeconductor.iaas.models import Cloud, CloudProjectMembership
    from nodeconductor.structure.models import Customer, Project

    tenant = sim.project_id("demo")
    print(
        "ours = OpenStackBackend.pull_cloud_account (fetch + minimal-diff apply); floor = the same requests on a "
        "keystoneauth session, .json() only; first = new cloud and new keystone session, repeat = same cloud, "
        "cached session"
    )

    def fresh_cloud(name):
        customer = Customer.objects.create(name=name)
        project = Project.objects.create(customer=customer, name="p")
        cloud = Cloud.objects.create(customer=customer, name="Sim", auth_url=sim.auth_url)
        CloudProjectMembership.objects.create(project=project, cloud=cloud, tenant_id=tenant)
        return cloud

    # Warm-up (imports of the clients, first connections) on a throwaway cloud, so "first" means a cold session.
    ours(fresh_cloud("warm-up"), True)
    floor_cloud = fresh_cloud("floor")  # the first-pull floor stores its rows here, deleted after each run
    floor(sim, tenant, True, floor_cloud, "first")
    clear_floor_rows(floor_cloud)
    results = []
    print(
        f"\n{'images':>6} {'flavors':>7} {'pull':6} {'ours median [min, max] ms':>27} "
        f"{'floor median [min, max] ms':>28} {'ratio':>6} {'queries':>7} {'rows written':>12}"
    )
    for size in sorted(args.sizes):
        grow(sim, size)
        cloud = None
        for kind, cold in (("first", True), ("repeat", False)):
            t_ours, t_floor, written, floor_n, queries, matched = [], [], [], [], set(), []
            log_ours = log_floor = None
            n_flavors = n_images = 0
            for k in range(args.runs):
                # A first pull is of a new cloud each time; repeats pull the last one again.
                cloud = fresh_cloud(f"Pull {size}.{k}") if kind == "first" else cloud

                sides = [
                    ("ours", lambda cl=cloud, cd=cold: ours(cl, cd)),
                    ("floor", lambda cl=cloud, cd=cold, kd=kind: floor(sim, tenant, cd, floor_cloud if cd else cl, kd)),
                ]
                for who, fn in sides if k % 2 == 0 else sides[::-1]:
                    sim.clear_call_log()
                    out = fn()
                    if who == "ours":
                        t_ours.append(out[0])
                        written.append(out[1].written)
                        queries.add(out[1].queries)
                        log_ours = sim.call_log
                    else:
                        t_floor.append(out[0])
                        n_flavors, n_images = len(out[1]), len(out[2])
                        floor_n.append(out[3])
                        log_floor = sim.call_log
                        if kind == "first":
                            clear_floor_rows(floor_cloud)
                matched.append(rows_match(sim, cloud))
            ratio = c.median(t_ours) / c.median(t_floor)
            a, f = stats(t_ours), stats(t_floor)
            print(
                f"{n_images:6d} {n_flavors:7d} {kind:6} {a['median'] * 1e3:9.1f} [{a['min'] * 1e3:7.1f}, "
                f"{a['max'] * 1e3:7.1f}] {f['median'] * 1e3:10.1f} [{f['min'] * 1e3:7.1f}, {f['max'] * 1e3:7.1f}] "
                f"{ratio:6.2f} {'/'.join(map(str, sorted(queries))):>7} "
                f"{'/'.join(map(str, sorted(set(written)))):>12}",
                flush=True,
            )
            same = reads(log_ours) == reads(log_floor)
            report.check(
                f"{size} images, {kind}: the floor sends the same cloud reads as ours",
                same,
                f"ours {dict(reads(log_ours))}, floor {dict(reads(log_floor))}",
            )
            bad = [d for ok, d in matched if not ok]
            report.check(
                f"{size} images, {kind}: Flavor and Image rows equal the simulator's after every pull",
                not bad,
                matched[-1][1] + (f"; mismatches: {bad[:2]}" if bad else ""),
            )
            if kind == "first":
                report.check(
                    f"{size} images, first: the floor stores as many rows as ours wrote",
                    floor_n == written,
                    f"floor stored {floor_n}, ours wrote {written}",
                )
            else:
                report.check(
                    f"{size} images, repeat: the floor compares the stored rows and finds no difference",
                    not any(floor_n),
                    f"differences per floor run {floor_n}",
                )
                report.check(
                    f"{size} images: a repeat pull writes 0 rows",
                    max(written) == 0,
                    f"rows written per repeat {written}",
                )
            print(f"  per-run ratios {spread([o / f for o, f in zip(t_ours, t_floor, strict=True)], unit='')}")
            report.target(f"P4 pull of {size} images, {kind} (median ours / median floor)", ratio, TARGET, fmt="{:.2f}")
            results.append(
                {
                    "images": size,
                    "flavors": size // 10,
                    "kind": kind,
                    "ours": a,
                    "floor": f,
                    "ratio": ratio,
                    "rows_written": written,
                    "queries": sorted(queries),
                }
            )
    report.save(pulls=results)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
