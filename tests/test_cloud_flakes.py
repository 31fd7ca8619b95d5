"""The one extra try of tests/fixtures/cloud_flakes.py: only a realcloud test, only for Nova's failed build."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = textwrap.dedent('''
    import pytest

    FAULT = "The server went to ERROR in the cloud: Exceeded maximum number of retries. Exhausted all hosts " \\
        "available for retrying build failures for instance 5a5b95ca."
    tries = {}


    def attempt(name):
        tries[name] = tries.get(name, 0) + 1
        return tries[name]


    @pytest.mark.realcloud
    def test_cloud_fails_once():
        assert attempt("once") > 1, FAULT


    @pytest.mark.realcloud
    def test_cloud_fails_twice():
        attempt("twice")
        assert False, FAULT


    @pytest.mark.realcloud
    def test_our_own_failure():
        attempt("ours")
        assert False, "Erred: quota exceeded"


    def test_unmarked_with_the_fault():
        attempt("unmarked")
        assert False, FAULT


    def test_counts():
        assert tries == {"once": 2, "twice": 2, "ours": 1, "unmarked": 1}
''')


def test_only_a_realcloud_test_failed_by_novas_build_runs_once_more(tmp_path):
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    realcloud: real cloud\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider", "-p",
         "tests.fixtures.cloud_flakes", "-rA", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, out
    assert "PASSED test_cases.py::test_cloud_fails_once" in out
    assert "FAILED test_cases.py::test_cloud_fails_twice" in out
    assert "FAILED test_cases.py::test_our_own_failure" in out
    assert "FAILED test_cases.py::test_unmarked_with_the_fault" in out
    assert "PASSED test_cases.py::test_counts" in out
    section = out.split("real-cloud tests run again after the cloud's own transient fault", 1)[1]
    summary = section.split("short test summary", 1)[0]
    assert "test_cases.py::test_cloud_fails_once: Exhausted all hosts" in summary
    assert "test_cloud_fails_twice: Exhausted all hosts" in summary
    assert "test_our_own_failure" not in summary and "test_unmarked" not in summary
