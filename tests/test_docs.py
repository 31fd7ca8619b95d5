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
