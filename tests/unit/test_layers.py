"""The layout's rules, checked on the source: one direction of imports, no cycles, one namespace.

The layers, bottom to top (ARCHITECTURE.md draws them). A module may import its own package and
any lower layer, never a higher one nor another package of its own layer.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOPS = ("stream", "models", "export")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("models.data", "models.inference"),
    ("models.nets",),
    ("models.training",),
    ("models.text",),
    ("models.workflow",),
    ("models.quality",),
    ("export",),
    ("stream.records",),
    ("stream.config",),
    ("stream.transport",),
    ("stream.serving",),
    ("stream.items", "stream.distribution"),
    ("stream.worker",),
    ("stream.trainer",),
    ("stream.tools",),
    ("stream.cli",),
)


def modules() -> dict[str, Path]:
    """Every module of the three folders, by its name under the streamrec namespace (no prefix)."""
    found = {}
    for top in TOPS:
        for path in sorted((REPO / top).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in a file, function-local and TYPE_CHECKING ones included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            yield from ((node.lineno, n) for n in names)
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)


def project_edges() -> dict[str, set[str]]:
    """module -> the project modules it imports (names without the streamrec prefix)."""
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for _, name in imports(path):
            if name.startswith("streamrec."):
                target = name.removeprefix("streamrec.")
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    edges[mod].add(target)
    return edges


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, owning package) of a module."""
    for i, packages in enumerate(LAYERS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                return i, package
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS")


def test_every_module_has_a_layer_and_imports_only_downwards() -> None:
    wrong = []
    for mod, targets in project_edges().items():
        if mod in TOPS:
            continue
        here, package = layer_of(mod)
        for target in targets:
            if target in TOPS:
                continue
            there, other = layer_of(target)
            if there > here or (there == here and other != package):
                wrong.append(f"{mod} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    edges = project_edges()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for mod in sorted(edges):
        if mod not in state:
            visit(mod, [mod])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_code_imports_only_the_installed_namespace() -> None:
    """``import stream.x`` would load a second copy of a module from the working directory."""
    bare = []
    for path in [*modules().values(), *sorted((REPO / "tests").rglob("*.py"))]:
        for line, name in imports(path):
            if name.split(".")[0] in TOPS:
                bare.append(f"{path.relative_to(REPO)}:{line}: {name}")
    assert not bare, "imports outside streamrec.*:\n" + "\n".join(bare)


def test_every_package_is_in_the_distribution() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        "streamrec." + ".".join(p.parent.relative_to(REPO).parts)
        for top in TOPS
        for p in (REPO / top).rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk
    assert config["package-dir"] == {f"streamrec.{t}": t for t in TOPS}
