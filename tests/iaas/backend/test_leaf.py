"""nodeconductor/iaas/backend/ is a leaf adapter: it imports nothing of ours outside itself (nor any Django but
settings and plain helpers), only it imports the OpenStack clients, and it works on plain data with no database."""

import ast
import dataclasses
import sys
import time
import uuid
from pathlib import Path

import pytest
from novaclient import exceptions as novaclient_exceptions

import nodeconductor
from nodeconductor.iaas.backend import CloudBackendError, OpenStackBackend
from nodeconductor.iaas.backend.instance_actions import InstanceActionsMixin as Actions
from nodeconductor.iaas.backend.instances import InstanceOperationsMixin as Steps
from nodeconductor.iaas.backend.specs import CloudAccess, ImageRef, InstanceSpec, SshKey
from nodeconductor.iaas.models import Cloud
from tests.factories import make_public_key

PACKAGE = Path(nodeconductor.__file__).parent
BACKEND = PACKAGE / "iaas" / "backend"
CLIENTS = ("novaclient", "cinderclient", "glanceclient", "keystoneclient", "neutronclient", "keystoneauth1")
# Settings, and helpers that read nothing but settings (timezone.now, dateparse): no models, no ORM.
DJANGO_ALLOWED = ("django.conf", "django.utils", "django.utils.dateparse", "django.utils.timezone")


def imports(path):
    """Every module name a file imports (relative ones resolved against the package), at any depth."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            else:
                yield node.module


def allowed_in_backend(name):
    """Whether the backend may import this module: itself, the stdlib, the clients, settings and plain helpers."""
    top = name.split(".")[0]
    return (
        name.startswith("nodeconductor.iaas.backend")
        or top in sys.stdlib_module_names
        or top in CLIENTS
        or name in DJANGO_ALLOWED
    )


def test_the_backend_imports_only_the_stdlib_the_clients_and_settings():
    found = {
        (path.name, name) for path in BACKEND.glob("*.py") for name in imports(path) if not allowed_in_backend(name)
    }
    assert found == set()


def test_the_allow_list_refuses_our_models_and_the_orm():
    # The scan above would pass vacuously if the allow-list let everything through.
    assert not allowed_in_backend("nodeconductor.iaas.models")
    assert not allowed_in_backend("nodeconductor.iaas.engine.operations")
    assert not allowed_in_backend("django.db.models")
    assert allowed_in_backend("novaclient.exceptions") and allowed_in_backend("dataclasses")


def test_only_the_backend_imports_openstack_clients():
    found = {
        (str(path.relative_to(PACKAGE)), name)
        for path in PACKAGE.rglob("*.py")
        if BACKEND not in path.parents and "cloudsim" not in path.parts
        for name in imports(path)
        if name.split(".")[0] in CLIENTS
    }
    assert found == set()


def _run(backend, step, spec, limit=400, **kwargs):
    """Run a step's phases to the end as the worker does, storing each look's changes on the (frozen) spec."""
    phase, carry = "", {}
    for _ in range(limit):
        outcome = backend.run_step(step, spec, phase=phase, **kwargs, **carry)
        spec = dataclasses.replace(spec, **{k: v for k, v in outcome.changes.items() if hasattr(spec, k)})
        if outcome.done:
            return spec, outcome
        phase, carry = outcome.phase, outcome.carry
        time.sleep(0.02)
    raise AssertionError(f"{step.__name__} did not finish; last phase {phase!r}")


def test_a_provision_and_a_delete_run_on_plain_data_with_no_database(sim_env):
    """No db fixture: pytest-django refuses every query, so a step reading the ORM would fail here."""
    with pytest.raises(RuntimeError, match="Database access not allowed"):
        Cloud.objects.count()  # the guard is on
    sim = sim_env.sim
    backend = OpenStackBackend(CloudAccess("sim", sim_env.credentials["auth_url"], sim_env.credentials))
    flavor = min(backend.list_flavors(), key=lambda f: f["ram"])
    image = next(i for i in backend.list_images() if i["backend_id"] == sim_env.image_id)
    key = SshKey(uuid=uuid.uuid4(), name="leaf", public_key=make_public_key("leaf@test"))
    spec = InstanceSpec(
        uuid=uuid.uuid4(), hostname="leaf-vm", tenant_id=sim_env.tenant_id, system_volume_size=1024,
        data_volume_size=1024, key_name="leaf", ssh_key=key, image=ImageRef(image["backend_id"], image["min_disk"]),
        membership_state="", networking="none",  # a membership never synced: the step grants the admin a role
    )  # fmt: skip

    built, outcome = _run(backend, Steps.provision_step, spec, backend_flavor_id=flavor["backend_id"])

    assert outcome.done and outcome.changes["start_time"] is not None
    assert built.backend_id and built.system_volume_id and built.data_volume_id and not built.port_id
    server = next(s for s in sim.servers(sim_env.tenant_id) if s["id"] == built.backend_id)
    assert server["status"] == "ACTIVE" and server["name"] == "leaf-vm"
    assert server["metadata"]["nodeconductor_instance"] == str(spec.uuid)
    assert f"nc-{key.uuid.hex}" in {kp["name"] for kp in sim.keypairs()}
    volumes = {v["id"]: v for v in sim.volumes(sim_env.tenant_id)}
    assert volumes[built.system_volume_id]["name"] == f"nc-{spec.uuid.hex}-system"

    _run(backend, Actions.delete_step, built)
    assert built.backend_id not in {s["id"] for s in sim.servers(sim_env.tenant_id)}
    assert not {built.system_volume_id, built.data_volume_id} & {v["id"] for v in sim.volumes(sim_env.tenant_id)}


def test_a_provision_without_an_image_fails_clearly_on_plain_data(sim_env):
    backend = OpenStackBackend(CloudAccess("sim", sim_env.credentials["auth_url"], sim_env.credentials))
    spec = InstanceSpec(uuid=uuid.uuid4(), hostname="leaf-vm", tenant_id=sim_env.tenant_id, system_volume_size=1024,
                        data_volume_size=1024, template_name="Ubuntu", membership_state="in_sync")  # fmt: skip
    with pytest.raises(CloudBackendError, match="Template Ubuntu has no image in cloud sim; pull the cloud first."):
        backend.run_step(Steps.provision_step, spec, backend_flavor_id="1")
    assert sim_env.sim.volumes(sim_env.tenant_id) == []


def test_cloud_access_never_prints_the_password():
    access = CloudAccess("c", "http://keystone.example.com/v3", {"password": "s3cret"})
    assert "s3cret" not in repr(access) and "http://keystone.example.com/v3" in repr(access)


def test_the_backend_refuses_a_model_in_place_of_its_cloud_access():
    with pytest.raises(TypeError, match="takes a CloudAccess"):
        OpenStackBackend(Cloud(name="x", auth_url="http://keystone.example.com/v3"))


def test_a_key_pushed_by_another_build_since_our_look_is_reused_not_a_failure(sim_env):
    """Two first builds with one key at once: the one whose create meets Nova's 409 takes the pushed keypair."""
    access = CloudAccess("sim", sim_env.credentials["auth_url"], sim_env.credentials)
    ours, theirs = OpenStackBackend(access), OpenStackBackend(access)
    key = SshKey(uuid=uuid.uuid4(), name="shared", public_key=make_public_key("shared@test"))
    spec = InstanceSpec(uuid=uuid.uuid4(), hostname="race", tenant_id=sim_env.tenant_id, key_name="shared",
                        ssh_key=key)  # fmt: skip
    ours._ensure_admin_role(sim_env.tenant_id)  # as the first step of a never-synced membership does
    nova = ours.nova(sim_env.tenant_id)
    real_get = nova.keypairs.get
    looks = []

    def get_while_the_other_build_pushes(name):
        looks.append(name)
        if len(looks) == 1:
            theirs._ensure_keypair(spec)  # the other worker's push lands between our look and our create
            raise novaclient_exceptions.NotFound(404, f"Keypair {name} not found")  # what our look had seen
        return real_get(name)

    nova.keypairs.get = get_while_the_other_build_pushes
    assert ours._ensure_keypair(spec) == f"nc-{key.uuid.hex}"
    assert len(looks) == 2, "our create met the 409 and looked again"
    assert [kp["name"] for kp in sim_env.sim.keypairs()].count(f"nc-{key.uuid.hex}") == 1
    creates = [c["status"] for c in sim_env.sim.call_log if c["operation"] == "compute.keypair_create"]
    assert sorted(creates) == [200, 409] or sorted(creates) == [201, 409], creates  # ours met Nova's 409
