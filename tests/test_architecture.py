"""The layering DESIGN.md promises, read from the source with `ast` (nothing is imported).

* generation/nets holds torch networks only: it imports the stdlib, torch, numpy and generation.music;
* generation/music is Django-free and depends on nothing of the project but itself and generation.paths
  (the stdlib-only resolver of the repository's folders);
* the only import circle among the project's modules is the usual services <-> tasks one (a service
  queues a task, the task calls the service). Imports inside functions count: a lazy import hides a
  circle from Python, not from the reader.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("docbgm_site", "generation", "studies")
ALLOWED_CIRCLES = [{"generation.services", "generation.tasks"}]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """{dotted module name: file} of the project's packages, migrations left out."""
    modules = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_names(name: str, path: Path) -> set[str]:
    """Every dotted name `name` imports anywhere in its file (`from a import b` gives a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def project_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """{module: the project modules it imports}; `a.b.c` counts as the longest module prefix that exists."""
    modules = module_files(root)

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph = {}
    for name, path in modules.items():
        targets = {owner(imported) for imported in imported_names(name, path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def foreign_imports(root: Path, package: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """{module of `package`: what it imports beyond the stdlib and the `allowed` prefixes}."""
    found = {}
    for name, path in module_files(root).items():
        if name != package and not name.startswith(package + "."):
            continue
        bad = sorted(
            imported
            for imported in imported_names(name, path)
            if imported.split(".")[0] not in sys.stdlib_module_names
            and not any(imported == prefix or imported.startswith(prefix + ".") for prefix in allowed)
        )
        if bad:
            found[name] = bad
    return found


NETS_ALLOWED = ("torch", "numpy", "generation.music", "generation.nets")
MUSIC_ALLOWED = ("numpy", "torch", "tqdm", "music21", "pretty_midi", "generation.music", "generation.paths")


def test_networks_import_torch_numpy_and_generation_music_only():
    assert foreign_imports(ROOT, "generation.nets", NETS_ALLOWED) == {}


def test_music_is_django_free_and_depends_on_nothing_above_it():
    assert foreign_imports(ROOT, "generation.music", MUSIC_ALLOWED) == {}
    assert foreign_imports(ROOT, "generation.paths", ()) == {}  # the stdlib only


def test_the_only_import_circle_is_services_and_tasks():
    assert circles(project_graph()) == ALLOWED_CIRCLES


def test_the_checks_can_fail(tmp_path):
    """A net that reads a corpus, and a lazy import that closes a circle, are both caught."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "generation" / "nets").mkdir()
    (tmp_path / "generation" / "nets" / "__init__.py").write_text("from . import net\n")
    (tmp_path / "generation" / "nets" / "net.py").write_text(
        "import torch\n\ndef batches():\n    from generation.data import load\n"
    )
    (tmp_path / "generation" / "data.py").write_text(
        "from django.db import models\nimport generation.nets.net\n"
    )
    assert foreign_imports(tmp_path, "generation.nets", NETS_ALLOWED) == {
        "generation.nets.net": ["generation.data", "generation.data.load"]
    }
    assert circles(project_graph(tmp_path)) == [{"generation.data", "generation.nets.net"}]
