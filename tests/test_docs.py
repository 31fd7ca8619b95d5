"""The documentation builds without warnings, and what it says is what the code does.

See the docstring of each test for what it holds the docs to.
"""

import importlib.util
import pathlib
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import role_matrix  # noqa: E402


# ------------------------------------------------------------------------------------------ the build
def test_docs_build_without_warnings(tmp_path):
    """`sphinx-build -W` of docs/, as `make -C docs html` does: any warning (a broken reference, a bad table,
    a schema the reference cannot render) fails. It also writes the OpenAPI schema beside the pages."""
    import json
    import os
    import subprocess

    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("Sphinx is not installed: pip install -r docs/requirements.txt (requirements-test.txt has it)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"}
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    schema = json.loads((tmp_path / "openapi.json").read_text())
    assert "/api/instances/{uuid}/resize/" in schema["paths"]
    html = (tmp_path / "guide" / "structure.html").read_text()
    assert "Stop an instance" in html  # the role table was rendered


def test_state_diagrams_are_fresh():
    """The committed docs/states/*.dot are what graph_transitions draws from the models now, and each .svg was
    rendered from its .dot; regenerate both with `make -C docs states`."""
    import fsm_graphs

    if importlib.util.find_spec("graphviz") is None:
        pytest.skip("the graphviz package is not installed: pip install -r docs/requirements.txt")
    assert not fsm_graphs.stale_files(), (
        f"{fsm_graphs.stale_files()}: run `make -C docs states` and commit docs/states/"
    )


def test_role_matrix(roles, iaas):
    """Every cell of the role table of docs/guide/structure.rst, sent as a request against the API."""
    from tests.docs.roles_runner import MatrixRunner

    runner = MatrixRunner(roles, iaas)
    wrong = []
    for row in role_matrix.ROWS:
        for role, status in row.expected.items():
            response = runner.send(row, role)
            if response.status_code != status:
                body = getattr(response, "data", None)
                wrong.append(f"{row.what} as {role}: table says {status}, API answers {response.status_code} {body}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------------------------------ configuration
def test_every_nodeconductor_setting_is_documented_with_its_default():
    """Each key of settings.base.NODECONDUCTOR has an entry in configuration.rst whose default is the real one."""
    import ast
    import re

    from settings import base

    text = (DOCS / "guide" / "configuration.rst").read_text()
    problems = []
    for key, value in base.NODECONDUCTOR.items():
        found = re.search(rf"^``{key}``\n   Default: ``(.+?)``", text, re.M)
        if found is None:
            problems.append(f"{key} is not documented")
        elif ast.literal_eval(found.group(1)) != value:
            problems.append(f"{key}: docs say {found.group(1)}, settings.base says {value!r}")
    assert not problems, problems


def credentials_from_docs(block_name, sim, monkeypatch):
    """Run a credentials example of configuration.rst, pointed at the simulator, and return its one entry."""
    import urllib.parse

    from django.conf import settings

    from tests.docs.blocks import read_blocks

    (block,) = [b for b in read_blocks(DOCS / "guide" / "configuration.rst") if b.name == block_name]
    namespace = {"NODECONDUCTOR": settings.NODECONDUCTOR}
    monkeypatch.setenv("OPENSTACK_ADMIN_PASSWORD", "admin")
    exec(block.code, namespace)  # noqa: S102
    (credentials,) = namespace["NODECONDUCTOR"]["OPENSTACK_CREDENTIALS"]
    url = urllib.parse.urlsplit(credentials["auth_url"])
    credentials["auth_url"] = sim.base_url + url.path
    return namespace["NODECONDUCTOR"], credentials


# ------------------------------------------------------------------------------------------ the walkthrough
WALKTHROUGH = DOCS / "guide" / "openstack.rst"


def _walkthrough_blocks():
    """The walkthrough's blocks, refusing any the runners would have to skip."""
    from tests.docs.blocks import read_blocks

    blocks = read_blocks(WALKTHROUGH)
    known = {"python", "pycon", "bash", "text"}
    assert {b.lang for b in blocks} <= known, f"blocks the runner cannot run: {[b.name for b in blocks]}"
    assert all(b.is_output for b in blocks if b.lang == "text"), "a text block that is not marked as output"
    return blocks


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("keystone", ["config-keystone-v3", "config-keystone-v2"])
def test_walkthrough_shell_part(cloudsim, settings, monkeypatch, keystone):
    """Every python and pycon block of the walkthrough, in order, in one namespace, against the simulator.

    The settings come from the credentials example of configuration.rst (v3, then v2.0), pointed at the
    simulator. The block named ``shell-values`` is replaced by the simulator's values (its auth_url, the
    ``demo`` tenant, its image); every other block runs as written, pycon blocks as doctests.
    """
    from nodeconductor.iaas.backend.session import clear_sessions
    from tests.docs.blocks import run_python

    settings.NODECONDUCTOR, credentials = credentials_from_docs(keystone, cloudsim, monkeypatch)
    clear_sessions()
    values = {
        "auth_url": credentials["auth_url"],
        "tenant_id": next(p["id"] for p in cloudsim.projects() if p["name"] == "demo"),
        "image_id": next(iter(cloudsim.images()))["id"],
    }
    blocks = [b for b in _walkthrough_blocks() if b.lang in ("python", "pycon")]
    assert [b.name for b in blocks][:2] == ["shell-values", "shell-seed"]
    namespace = {"__name__": "walkthrough"}
    for block in blocks:
        if block.name == "shell-values":
            namespace.update(values)
            continue
        run_python(block, namespace, WALKTHROUGH)
    clear_sessions()


def test_walkthrough_curl_part(live_server, cloudsim, settings, transactional_db):
    """Every bash block of the walkthrough, run by bash and curl against a live server; outputs compared.

    Why a live server rather than translating the curl lines into test-client calls: the reader runs these
    blocks in a shell, so the test does too (same quoting, same helpers, real HTTP), and any change of URL,
    field, status code or message breaks it. pytest-django's ``live_server`` serves the test database; Celery
    runs eagerly (settings.test), so each action's worker runs inside the request and ``wait_state`` finds the
    end state at once. The block ``curl-values`` is replaced by the live server's URL, a staff user's
    password and the simulator's auth_url and image; every ``text`` block marked ``:class: output`` must
    match the output of the bash block before it (``...`` matches anything).
    """
    from nodeconductor.core.models import User
    from nodeconductor.iaas.backend.session import clear_sessions
    from tests.docs.blocks import output_matches, run_bash

    settings.NODECONDUCTOR = {
        **settings.NODECONDUCTOR,
        "OPENSTACK_CREDENTIALS": ({"auth_url": cloudsim.auth_url, "username": "admin", "password": "admin",
                                   "tenant_name": "admin"},),
    }  # fmt: skip
    clear_sessions()
    User.objects.create_staffuser("staff", password="staff-Secret-1")
    image_id = next(iter(cloudsim.images()))["id"]
    values = (
        f"API={live_server.url}\nSTAFF_PASSWORD='staff-Secret-1'\nAUTH_URL={cloudsim.auth_url}\nIMAGE_ID={image_id}\n"
    )
    blocks = _walkthrough_blocks()
    bash = [b for b in blocks if b.lang == "bash"]
    assert bash[0].name == "curl-values"
    outputs = run_bash(bash, {"curl-values": values})
    previous, mismatches = None, []
    for block in blocks:
        if block.lang == "bash":
            previous = block
        elif block.lang == "text":
            assert previous is not None, f"output block at line {block.lineno} follows no bash block"
            got = outputs.get(previous.name, "")
            if not output_matches(block.code, got):
                mismatches.append(f"{previous.name}: the docs show\n{block.code}but the shell printed\n{got}")
    clear_sessions()
    assert not mismatches, "\n".join(mismatches)
