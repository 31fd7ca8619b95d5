"""The suite runs on several cores: the tests that share a resource are kept together on one worker."""

import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def collected(*args):
    """The test ids pytest collects with these arguments (in a fresh process, as the test command does)."""
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    return [line for line in run.stdout.splitlines() if "::" in line]


# One file of each way a test becomes a real-cloud test: the cloud_env fixture's "real" param, the contract
# tests' target fixture, and a plain mark. (Collecting the whole suite took 34 s on a busy machine.)
SAMPLES = ("tests/iaas/backend/test_networking.py", "tests/contract/test_network_refusals.py",
           "tests/iaas/engine/test_worker_loss.py")


def test_every_real_cloud_test_and_the_dev_stack_tests_are_grouped():
    real = collected("-m", "realcloud", *SAMPLES)
    assert {path.split("::")[0] for path in real} == set(SAMPLES)  # collected (and skipped) without a cloud
    grouped = collected("-m", "xdist_group", "tests/test_docs.py", *SAMPLES)
    assert "tests/test_docs.py::test_walkthrough_as_printed" in grouped
    assert "tests/test_docs.py::test_readme_trying_it_out" in grouped
    assert "tests/iaas/backend/test_networking.py::test_what_is_made_is_tagged[real]" in grouped
    assert "tests/iaas/backend/test_networking.py::test_what_is_made_is_tagged[sim]" not in grouped
    assert set(real) <= set(grouped)


def test_the_test_command_runs_the_real_cloud_beside_every_core_and_prints_the_slowest():
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "workers=${NODECONDUCTOR_TEST_WORKERS:-auto}" in script
    assert '.venv/bin/pytest -n "$workers" --dist loadgroup --durations=20 "$@"' in script  # no real cloud
    real = script.index('.venv/bin/pytest --durations=20 -m realcloud "$@"')
    started = script.index('>"$real_log" 2>&1 </dev/null &\nreal_pid=$!')
    first = script.index('.venv/bin/pytest -n "$workers" --dist loadgroup --durations=20 -m "not realcloud" "$@"')
    assert real < started < first < script.index('wait "$real_pid"'), "the real half runs in the background"


def test_the_two_halves_run_at_the_same_time(tmp_path):
    """Each stand-in pytest waits to see the other one running: they only both finish if they overlap."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    tail = script[script.index("rc=0\n"):]
    fake = tmp_path / ".venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "pytest").write_text(
        '#!/bin/bash\nme=real; case "$*" in *"not realcloud"*) me=sim;; esac\ntouch "running-$me"\n'
        'for _ in $(seq 100); do [ -e running-sim ] && [ -e running-real ] && exit 0; sleep 0.1; done\nexit 1\n'
    )
    (fake / "pytest").chmod(0o755)
    run = subprocess.run(["bash", "-c", f"workers=1\nOS_AUTH_URL=x\n{tail}"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, (run.stdout, run.stderr)


def test_a_failure_in_either_half_fails_the_test_command(tmp_path):
    """The two pytest runs of test.sh, with a stand-in pytest: the first failure's code is the command's."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    tail = script[script.index("rc=0\n"):]
    for first, second, expected in ((0, 0, 0), (1, 0, 1), (0, 1, 1), (0, 5, 0), (5, 0, 0), (2, 1, 2)):
        fake = tmp_path / ".venv" / "bin"
        fake.mkdir(parents=True, exist_ok=True)
        (fake / "pytest").write_text(f'#!/bin/bash\ncase "$*" in *"not realcloud"*) exit {first};; esac\n'
                                     f"exit {second}\n")
        (fake / "pytest").chmod(0o755)
        run = subprocess.run(["bash", "-c", f"workers=1\nOS_AUTH_URL=x\n{tail}"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert run.returncode == expected, (first, second, run.stdout, run.stderr)


def test_the_real_clouds_half_waits_for_ci_to_bring_the_cloud_up(tmp_path):
    """CI brings the cloud up beside the first half: the second half runs once the file says "up", and is
    skipped with a warning when it says "down" or stays empty past the wait (the first half's code stands)."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    tail = script[script.index("rc=0\n"):]
    fake = tmp_path / ".venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "pytest").write_text('#!/bin/bash\necho "ran: $*"\ncase "$*" in *"not realcloud"*) exit 0;; esac\nexit 1\n')
    (fake / "pytest").chmod(0o755)
    ready = tmp_path / "ready"

    def run(content, wait=2, later=None):
        if content is None:
            ready.unlink(missing_ok=True)
        else:
            ready.write_text(content)
        env = {"PATH": "/usr/bin:/bin", "NODECONDUCTOR_REALCLOUD_READY": str(ready),
               "NODECONDUCTOR_REALCLOUD_WAIT": str(wait)}  # fmt: skip
        shell = subprocess.Popen(["bash", "-c", f"workers=1\nOS_AUTH_URL=x\n{tail}"], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        if later is not None:
            time.sleep(1)
            ready.write_text(later)
        out, err = shell.communicate(timeout=30)
        return shell.returncode, out.count("ran:"), err

    assert run("up\n")[:2] == (1, 2), "up: the second half ran (and its failure fails the command)"
    code, runs, err = run("down\n")
    assert (code, runs) == (0, 1) and "the real cloud did not come up" in err
    assert run(None, wait=1)[:2] == (0, 1), "nothing said within the wait: skipped"
    assert run(None, wait=10, later="up\n")[:2] == (1, 2), "it waits for the file"


def test_a_group_runs_on_one_worker(tmp_path):
    """Six tests of one group and twenty others on two workers: the six all run on one worker."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.fixtures.parallel"]\n')
    (tmp_path / "test_grouped.py").write_text(
        "import os, time, pytest\n"
        "pytestmark = [pytest.mark.xdist_group('together')]\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_grouped(i):\n"
        "    time.sleep(0.2)\n"
        "    open(f'ran-{i}', 'w').write(os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    (tmp_path / "test_free.py").write_text(
        "import time, pytest\n@pytest.mark.parametrize('i', range(20))\ndef test_free(i):\n    time.sleep(0.05)\n"
    )
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
                          "-q", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = {(tmp_path / f"ran-{i}").read_text() for i in range(6)}
    assert len(workers) == 1, workers


def test_the_fleets_figures_are_printed_when_the_tests_ran_on_workers(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.fixtures.fleet_figures"]\n')
    (tmp_path / "test_figures.py").write_text(
        "def test_one(record_property):\n    record_property('fleet', 'fleet one     recovered in 1.0 s')\n"
        "def test_two(record_property):\n    record_property('fleet', 'fleet two     recovered in 2.0 s')\n"
    )
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-q", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    summary = run.stdout.split("fleet figures", 1)[-1]
    assert "fleet one     recovered in 1.0 s" in summary and "fleet two     recovered in 2.0 s" in summary
