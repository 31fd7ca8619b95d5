"""Fixtures shared by the whole suite; the fixture modules live in tests/fixtures/."""

import pathlib

_FIXTURES = pathlib.Path(__file__).parent / "fixtures"
# Each fixture module registers itself as a plugin as soon as it exists, so helpers can add them independently.
pytest_plugins = sorted(f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__")
