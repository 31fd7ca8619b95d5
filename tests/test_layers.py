"""The layers are checked, not hoped for (issue 22 point 4): the import-linter contracts hold, nothing in
nodeconductor/ imports in a cycle, and the only imports inside functions are the backend's lazy client imports
and the AppConfig hooks. Each check counts imports inside functions too."""

import ast
import pathlib
import subprocess
import sys

import grimp

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nodeconductor"
# Where an import inside a function is the point: a client library loaded only when a cloud is called, and the
# AppConfig hooks that hand the layers above to those below (Cloud.get_backend, messages.py).
LAZY_ALLOWED = ("nodeconductor/iaas/backend/", "nodeconductor/iaas/apps.py", "nodeconductor/core/apps.py")


def cycles(graph):
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def function_level_imports():
    """`path:line` of every import statement inside a function of nodeconductor/ (migrations aside)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{path.relative_to(ROOT)}:{sub.lineno}" for sub in ast.walk(node)
                          if isinstance(sub, ast.Import | ast.ImportFrom)]  # fmt: skip
    return sorted(set(found))


def test_the_import_contracts_hold():
    result = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                             "sys.exit(lint_imports_command(['--no-cache']))"], cwd=ROOT, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 6 kept, 0 broken." in result.stdout, result.stdout[-1500:]


def test_nothing_in_nodeconductor_imports_in_a_cycle():
    sys.path.insert(0, str(ROOT))
    try:
        graph = grimp.build_graph("nodeconductor", include_external_packages=False, cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))
    assert len(graph.modules) > 100, "the graph holds the whole package"
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    graph.add_import(importer="pkg.d", imported="pkg.a")
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_imports_inside_functions_are_only_lazy_clients_and_app_config_hooks():
    found = function_level_imports()
    assert [place for place in found if not place.startswith(LAZY_ALLOWED)] == []
    assert found, "the walk sees imports inside functions (the backend's lazy clients)"


DATABASE = ("django.db", "django.apps", "django.contrib")


def test_the_backend_reads_no_database():
    # import-linter forbids whole external packages only; the backend may use django.conf and django.utils.
    found = []
    for path in sorted((PACKAGE / "iaas" / "backend").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # fmt: skip
            found += [f"{path.name}: {n}" for n in names if n.startswith(DATABASE)]
    assert found == []


def test_nothing_is_called_by_a_name_held_in_a_string():
    # A transition, a backend method or an action is called through a reference, never getattr(obj, name)(...):
    # a reader (and grep) finds every caller of a method, and a renamed one fails at import, not at run time.
    found = []
    for path in sorted((PACKAGE / "iaas").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Call)):
                continue
            inner = node.func
            if isinstance(inner.func, ast.Name) and inner.func.id == "getattr" and len(inner.args) >= 2 \
                    and not isinstance(inner.args[1], ast.Constant):  # fmt: skip
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_the_tests_of_iaas_mirror_its_packages():
    # tests/iaas/<folder>/ holds the tests of nodeconductor/iaas/<folder>/; the files left at the top test the
    # top-level modules and the flows across them (the seed, secrets, failures).
    tests = ROOT / "tests" / "iaas"
    folders = sorted(p.name for p in tests.iterdir() if p.is_dir() and any(p.glob("test_*.py")))
    assert folders == ["backend", "engine", "management", "pull", "serializers", "services", "views"]
    assert [name for name in folders if not (PACKAGE / "iaas" / name / "__init__.py").exists()] == []
    assert len(list(tests.glob("test_*.py"))) <= 22


def test_no_module_is_over_400_lines():
    # A module that grew past this is two resources or two roles: split it by role, as the simulator's services are.
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts
            and (n := len(p.read_text().splitlines())) >= 400}  # fmt: skip
    assert long == {}
