"""nodeconductor/iaas/backend/ is a leaf adapter: it imports nothing of ours outside itself, and only it imports
the OpenStack clients."""

import ast
from pathlib import Path

import nodeconductor

PACKAGE = Path(nodeconductor.__file__).parent
BACKEND = PACKAGE / "iaas" / "backend"
CLIENTS = ("novaclient", "cinderclient", "glanceclient", "keystoneclient", "neutronclient", "keystoneauth1")


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


def test_the_backend_imports_nothing_above_it():
    found = {
        (path.name, name)
        for path in BACKEND.glob("*.py")
        for name in imports(path)
        if name.startswith("nodeconductor") and not name.startswith("nodeconductor.iaas.backend")
    }
    assert found == set()


def test_only_the_backend_imports_openstack_clients():
    found = {
        (str(path.relative_to(PACKAGE)), name)
        for path in PACKAGE.rglob("*.py")
        if BACKEND not in path.parents and "cloudsim" not in path.parts
        for name in imports(path)
        if name.split(".")[0] in CLIENTS
    }
    assert found == set()
