"""The documentation builds without warnings, and what it says is what the code does.

See the docstring of each test for what it holds the docs to.
"""

import importlib.util
import pathlib
import sys
import time

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


# ------------------------------------------------------------------------------------------ the blocks
ROOT = DOCS.parent
README = ROOT / "README.rst"
WALKTHROUGH = DOCS / "guide" / "openstack.rst"
CONFIGURATION = DOCS / "guide" / "configuration.rst"
RUN_DEV = "bash scripts/run-dev.sh\n"  # the block the stack is started with, on README.rst and install.rst
TEST_COMMAND = "bash scripts/test.sh\n"  # CI's command: .ci/run runs the README's block after ".. test-command"
# Blocks a test cannot run as printed, and why; everything else is run by a test below.
NOT_RUN = {
    "install-compose": "needs a Docker engine and root; tests/test_compose.py checks the compose file, "
    ".env.example and the credentials secret it names",
}


def _blocks(path, name):
    """The one block of that name on the page."""
    from tests.docs.blocks import read_blocks

    found = [b for b in read_blocks(path) if b.name == name]
    assert len(found) == 1, f"{path.name} has {len(found)} blocks named {name}"
    return found[0]


def test_every_copyable_block_is_run():
    """Each block a reader can copy, on every page and in README.rst, is one the tests below run as printed
    (or is in NOT_RUN with the reason); a new block without a test fails here."""
    from tests.docs.blocks import read_blocks

    run = {
        "README.rst": {"readme-try"},
        "configuration.rst": {"config-override", "config-keystone-v3", "config-keystone-v2",
                              "config-credentials-json"},
        "install.rst": set(NOT_RUN),
        "openstack.rst": {b.name for b in read_blocks(WALKTHROUGH) if not b.is_output},
    }  # fmt: skip
    unrun = []
    for path in [README, *sorted(DOCS.rglob("*.rst"))]:
        for block in read_blocks(path):
            if block.is_output or block.code in (RUN_DEV, TEST_COMMAND):
                continue
            if block.name not in run.get(path.name, ()):
                unrun.append(f"{path.relative_to(ROOT)}:{block.lineno} ({block.name})")
    assert not unrun, f"blocks no test runs: {unrun}"
    readme = README.read_text()
    assert f".. test-command\n\n   .. code-block:: bash\n\n      {TEST_COMMAND}" in readme
    assert f".. code-block:: bash\n\n      {RUN_DEV}" in readme


def test_configuration_override_block():
    """The settings-module example of configuration.rst, run as a module of settings/, changes one key only."""
    from settings import base

    namespace = {"__name__": "settings.docs_example", "__package__": "settings"}
    exec(_blocks(CONFIGURATION, "config-override").code, namespace)  # noqa: S102
    assert namespace["NODECONDUCTOR"] == {**base.NODECONDUCTOR, "OPENSTACK_WAIT_TIMEOUT": 1800}


def test_configuration_json_block_is_what_production_reads(monkeypatch):
    """The JSON example is accepted by settings.production as NODECONDUCTOR_OPENSTACK_CREDENTIALS and holds the
    same keys as the Keystone v3 Python example."""
    import runpy

    monkeypatch.setenv("NODECONDUCTOR_OPENSTACK_CREDENTIALS", _blocks(CONFIGURATION, "config-credentials-json").code)
    monkeypatch.setenv("SECRET_KEY", "x")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///:memory:")
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    production = runpy.run_module("settings.production")
    (credentials,) = production["NODECONDUCTOR"]["OPENSTACK_CREDENTIALS"]
    namespace = {"NODECONDUCTOR": {}, "__name__": "example"}
    monkeypatch.setenv("OPENSTACK_ADMIN_PASSWORD", "...")
    exec(_blocks(CONFIGURATION, "config-keystone-v3").code, namespace)  # noqa: S102
    assert credentials == namespace["NODECONDUCTOR"]["OPENSTACK_CREDENTIALS"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("keystone", ["config-keystone-v3", "config-keystone-v2"])
def test_credentials_examples_authenticate(cloudsim, settings, monkeypatch, keystone):
    """Each credentials example of configuration.rst, run as printed and then pointed at the simulator (which
    answers Keystone v3 and v2.0), lets the backend pull a cloud account."""
    import urllib.parse

    from nodeconductor.iaas.backend.session import clear_sessions
    from nodeconductor.iaas.models import Cloud
    from tests.factories import CustomerFactory

    namespace = {"NODECONDUCTOR": settings.NODECONDUCTOR}
    monkeypatch.setenv("OPENSTACK_ADMIN_PASSWORD", "admin")
    exec(_blocks(CONFIGURATION, keystone).code, namespace)  # noqa: S102
    (credentials,) = namespace["NODECONDUCTOR"]["OPENSTACK_CREDENTIALS"]
    credentials["auth_url"] = cloudsim.base_url + urllib.parse.urlsplit(credentials["auth_url"]).path
    settings.NODECONDUCTOR = namespace["NODECONDUCTOR"]
    clear_sessions()
    try:
        cloud = Cloud.objects.create(customer=CustomerFactory(), name="c", auth_url=credentials["auth_url"])
        diff = cloud.get_backend().pull_cloud_account(cloud)
    finally:
        clear_sessions()
    assert "+ flavor m1.tiny (1)" in diff.lines()
    assert sorted(cloud.flavors.values_list("name", flat=True)) == ["m1.medium", "m1.small", "m1.tiny"]


# ------------------------------------------------------------------------------------------ run-dev.sh, as printed
@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory):
    """``bash scripts/run-dev.sh`` as README.rst prints it, on its default ports, in a fresh var dir; stopped
    (every process of it) whatever happens."""
    from tests.docs.devstack import DevStack

    stack = DevStack(RUN_DEV, tmp_path_factory.mktemp("var"))
    try:
        yield stack.start()
    finally:
        stack.stop()


def _run_bash(stack, blocks):
    """Run bash blocks as printed in one shell of the reader's, typing the staff password when asked."""
    from tests.docs.blocks import run_bash
    from tests.docs.devstack import reader_env

    try:
        return run_bash(blocks, cwd=ROOT, env=reader_env(stack.var_dir), stdin=f"{stack.password}\n", timeout=300)
    except AssertionError as failed:
        raise AssertionError(f"{failed}\n--- the worker's log ends:\n{stack.service_log('worker')}") from None


def _run_shell(stack, page, blocks):
    """Run python and pycon blocks as printed in one ``.venv/bin/python manage.py shell``."""
    import subprocess

    from tests.docs.devstack import reader_env

    names = ",".join(b.name for b in blocks)
    driver = f"from tests.docs.shell_driver import main; main({str(page)!r}, {names!r})"
    done = subprocess.run(
        [".venv/bin/python", "manage.py", "shell", "-c", driver], cwd=ROOT, env=reader_env(stack.var_dir),
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"manage.py shell exited {done.returncode}:\n{done.stderr[-4000:]}\n--- it printed:\n{done.stdout[-3000:]}"
    )


def test_readme_trying_it_out(dev_stack):
    """README.rst's "Trying it out" against run-dev.sh: the password typed in, the API root listed."""
    from tests.docs.blocks import compare_outputs, read_blocks

    blocks = [b for b in read_blocks(README) if b.name == "readme-try" or b.is_output]
    outputs = _run_bash(dev_stack, [b for b in blocks if b.lang == "bash"])
    mismatches = compare_outputs(blocks, outputs)
    assert not mismatches, "\n".join(mismatches)


def test_walkthrough_as_printed(dev_stack):
    """Every block of the walkthrough, in page order, as printed, against run-dev.sh.

    Consecutive bash blocks run in one bash (as a reader's terminal), typing the staff password when its
    block ``read``s it; consecutive python and pycon blocks in one ``manage.py shell`` (tests/docs/
    shell_driver.py), against the same database. Every ``text`` block marked ``:class: output`` must match
    what the bash block before it printed (``...`` matches anything). Nothing is substituted: a wrong value
    on the page fails here.
    """
    from tests.docs.blocks import compare_outputs, read_blocks

    blocks = read_blocks(WALKTHROUGH)
    assert {b.lang for b in blocks} <= {"python", "pycon", "bash", "text"}, "a block the runners cannot run"
    assert all(b.is_output for b in blocks if b.lang == "text"), "a text block that is not marked as output"
    segments = []
    for block in blocks:
        kind = "shell" if block.lang in ("python", "pycon") else "bash"
        if not segments or segments[-1][0] != kind:
            segments.append((kind, []))
        segments[-1][1].append(block)
    assert [kind for kind, _ in segments] == ["bash", "shell", "bash"]
    mismatches = []
    for kind, segment in segments:
        started = time.monotonic()
        if kind == "shell":
            _run_shell(dev_stack, WALKTHROUGH.relative_to(ROOT), segment)
        else:
            outputs = _run_bash(dev_stack, [b for b in segment if b.lang == "bash"])
            mismatches += compare_outputs(segment, outputs)
        print(f"{segment[0].name}..{segment[-1].name}: {time.monotonic() - started:.1f} s")
    assert not mismatches, "\n".join(mismatches)


# ------------------------------------------------------------------------------------------ the helpers fail fast
@pytest.fixture
def fake_api():
    """A local HTTP server answering fixed JSON: /online/, /busy/, /erred/ with those states, 404 elsewhere."""
    import http.server
    import json
    import threading

    answers = {
        "/online/": {"state": "Online"},
        "/busy/": {"state": "Provisioning"},
        "/erred/": {"state": "Erred", "error_message": "No valid host was found."},
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = answers.get(self.path, {"detail": "Not found.", "code": "not_found"})
            data = json.dumps(body).encode()
            self.send_response(200 if self.path in answers else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _helpers(script, timeout=None):
    """Run the walkthrough's curl-helpers block as printed, then script; (status, stdout, stderr, seconds)."""
    import os
    import subprocess
    import time

    env = {**os.environ, **({"WAIT_TIMEOUT": str(timeout)} if timeout else {})}
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", _blocks(WALKTHROUGH, "curl-helpers").code + script], capture_output=True, text=True,
        timeout=60, env=env,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


@pytest.mark.parametrize(
    "path, message",
    [
        ("", "wait_state: no URL (did the request that makes the object fail?)"),
        ("/missing/", 'answered 404: {"detail": "Not found.", "code": "not_found"}'),
        ("/erred/", "is Erred: No valid host was found."),
    ],
)
def test_wait_state_stops_at_once_with_the_error(fake_api, path, message):
    """wait_state on an empty URL, a 404 or an Erred object exits non-zero within seconds, saying why."""
    url = f"{fake_api}{path}" if path else ""
    status, out, err, seconds = _helpers(f'\nwait_state "{url}" Online some-token')
    assert status == 1, (out, err)
    assert message in err
    assert out == ""
    assert seconds < 5, f"took {seconds:.1f} s"


def test_wait_state_gives_up_after_its_timeout(fake_api):
    """An object that never reaches the state ends the wait after WAIT_TIMEOUT seconds with its last state."""
    status, out, err, seconds = _helpers(f'\nwait_state "{fake_api}/busy/" Online some-token', timeout=2)
    assert status == 1
    assert f"wait_state: {fake_api}/busy/ is still Provisioning, not Online, after 2 s" in err
    # bash's SECONDS counts whole wall-clock seconds, so "after 2 s" ends between 1 and 2 real seconds in,
    # depending on where in a second the wait began; never before two second boundaries have passed.
    assert 1.0 < seconds < 6


def test_wait_state_prints_the_state_reached(fake_api):
    """The helper's success paths: the state reached, and "gone" for an object that answers 404."""
    status, out, err, _ = _helpers(f'\nwait_state "{fake_api}/online/" Online t\nwait_state "{fake_api}/x/" gone t')
    assert (status, out, err) == (0, "Online\ngone\n", "")


def test_get_shows_the_answer_that_has_no_such_field():
    """`get url` on an error answer (the 400 of a refused create) fails and shows the answer, so a variable
    is never silently empty."""
    answer = '{"template": ["The template has no active image in the flavor\'s cloud."]}'
    status, out, err, _ = _helpers(f"\nURL=$(get url <<'EOF'\n{answer}\nEOF\n)")
    assert status == 1
    assert f"no url in the answer: {answer}" in err


# ------------------------------------------------------------------------------------------ --help texts
@pytest.mark.parametrize("command", ["createstaffuser", "pull_cloud_accounts"])
def test_operations_page_and_help_name_the_same_options(command):
    """The options operations.rst gives a management command are exactly those its --help lists (beyond
    Django's own), and each has a help text."""
    import re

    from django.core.management import BaseCommand, load_command_class

    text = (DOCS / "guide" / "operations.rst").read_text()
    entry = re.search(rf"^``{command}\b[^`]*``\n(?:   .*\n)+", text, re.M)
    assert entry, f"operations.rst has no entry for {command}"
    documented = set(re.findall(r"--[a-z][a-z-]*[a-z]", entry.group(0)))
    app = {"createstaffuser": "nodeconductor.core", "pull_cloud_accounts": "nodeconductor.iaas"}[command]
    parser = load_command_class(app, command).create_parser("manage.py", command)
    django = {o for a in BaseCommand().create_parser("manage.py", "x")._actions for o in a.option_strings}
    own = [a for a in parser._actions if set(a.option_strings) - django]
    assert {o for a in own for o in a.option_strings if o.startswith("--")} == documented
    assert all(a.help for a in own)


def test_run_dev_help_is_its_header_and_names_every_variable():
    """`bash scripts/run-dev.sh --help` prints the usage (no script code) with every variable it reads and
    its default, as configuration.rst lists them."""
    import re
    import subprocess

    script = (ROOT / "scripts" / "run-dev.sh").read_text()
    done = subprocess.run(["bash", "scripts/run-dev.sh", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Runs the whole development stack")
    assert done.stdout.rstrip().endswith("NODECONDUCTOR_DEV_USER (staff)."), done.stdout
    variables = dict(re.findall(r'"\$\{([A-Z_]+):-(?:\$ROOT/)?([^}]*)\}"', script))
    assert set(variables) == {"PYTHON", "NODECONDUCTOR_VAR_DIR", "NODECONDUCTOR_API_PORT",
                              "NODECONDUCTOR_CLOUDSIM_PORT", "NODECONDUCTOR_DEV_USER"}  # fmt: skip
    for name, default in variables.items():
        assert f"{name} ({default.rstrip('/') + '/' if name.endswith('_DIR') else default})" in done.stdout
    configuration = (DOCS / "guide" / "configuration.rst").read_text()
    for name in variables:
        assert f"``{name}``" in configuration, f"configuration.rst does not name {name}"


# ------------------------------------------------------------------------------------------ the stack's own harness
def _free_ports(count):
    """Ports nobody listens on (bound to 0, then released)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_dev_stack_refuses_a_taken_port(tmp_path):
    """A port of the stack already listened on fails the test at once, naming the port, before anything runs."""
    import socket

    from tests.docs.devstack import DevStack

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        stack = DevStack("touch started", tmp_path, ports=(port, _free_ports(1)[0]))
        with pytest.raises(pytest.fail.Exception, match=f"port {port} \\(the API\\) is taken by"):
            stack.start()
    finally:
        taken.close()
    assert stack.proc is None


def test_dev_stack_stops_everything_it_started_even_a_stubborn_one(tmp_path):
    """stop() ends the script and the services it put in process groups of their own, even when the script
    ignores SIGTERM (the harness then kills what is left, by pid)."""
    import os
    import time

    from tests.docs.devstack import DevStack

    script = (
        "set -m; sleep 600 & echo $! > service.pid; set +m; trap '' TERM\n"
        "echo 'Staff user      staff / pw-1'; echo 'Press Ctrl-C to stop everything.'\n"
        "while :; do sleep 0.1; done\n"
    )
    stack = DevStack(f"cd {tmp_path} && {script}", tmp_path, ports=_free_ports(2), stop_timeout=1)
    try:
        stack.start()
        assert stack.password == "pw-1"
        script_pid, service_pid = stack.proc.pid, int((tmp_path / "service.pid").read_text())
        assert os.getpgid(service_pid) != os.getpgid(script_pid)  # a group kill of the script would miss it
    finally:
        stack.stop()

    def running(pid):
        """Alive and not a zombie waiting for its new parent to reap it."""
        try:
            return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
        except OSError:
            return False

    deadline = time.monotonic() + 3
    while any(map(running, (script_pid, service_pid))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(script_pid) and not running(service_pid)


def test_the_engine_page_names_real_places():
    """docs/guide/engine.rst: every file it names exists, it names every layer of the iaas contract in
    pyproject.toml, and each operation an action schedules is found where its recipe says: a rule of
    instance_policy.RULES holds it, and events.VERBS words it."""
    import re
    import tomllib

    from nodeconductor.iaas.engine.operation_table import IMPORT, OPERATIONS, PROVISION, RESTORE
    from nodeconductor.iaas.events import VERBS
    from nodeconductor.iaas.instance_policy import RULES
    from nodeconductor.iaas.resource_operations import TABLE

    root = DOCS.parent
    page = (DOCS / "guide" / "engine.rst").read_text()
    paths = set(re.findall(r"``((?:nodeconductor|tests)/[\w/.]+)``", page))
    assert len(paths) >= 8 and [p for p in paths if not (root / p).exists()] == []
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (iaas,) = [c for c in config if c.get("containers") == ["nodeconductor.iaas"]]
    layers = {name.strip() for layer in iaas["layers"] for name in layer.split("|")}
    assert {name for name in layers if f"``{name}``" not in page} == set()
    scheduled_by = {rule.operation.name: name for name, rule in RULES.items() if rule.operation is not None}
    # A create, an import and a backup's restore schedule these; every other one is an action's.
    by_request = set(OPERATIONS) - {PROVISION.name, IMPORT.name, RESTORE.name}
    assert set(scheduled_by) == by_request
    assert {name for name in OPERATIONS if name not in VERBS and name != IMPORT.name} == set()
    # The operations on clouds, memberships and groups: each named on the page, each with its words.
    assert {name for name in TABLE if f"``{name}``" not in page or name not in VERBS} == set()
