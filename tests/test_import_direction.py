"""The import direction of docs/design.md ("The shape of the code"), checked statically.

Every module under ``asd_tf/`` is parsed with ``ast``; every import in it (module level
and inside functions, relative ones resolved, and ``importlib.import_module("asd_tf...")``
with a literal name) is mapped to the top-level part of ``asd_tf`` it reaches. A part may
import its own modules and those of lower layers only: not a higher layer, not another
part of its own layer, and no library module may import ``asd_tf.commands``. The package
import graph must also be acyclic. Each offence is reported as ``file:line``.
"""

from __future__ import annotations

import ast
import graphlib
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "asd_tf"

#: Top-level parts of ``asd_tf`` from the bottom up (docs/design.md, "The shape of the code").
#: ``asd_tf`` is the package's own ``__init__``; parts in one layer never import each other.
LAYERS: list[tuple[str, ...]] = [
    ("asd_tf", "errors"),
    ("lazy", "io_utils", "console", "registry", "distribute"),
    ("collectives",),
    ("data",),
    ("features",),
    ("models",),
    ("losses",),
    ("scoring",),
    ("synthetic", "settings"),
    ("runs",),
    ("training", "evaluation", "explain"),
    ("comparison",),
    ("commands",),
    ("cli", "__main__"),
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}
#: The command line and its two aliases (``asd_tf.cli``, ``python -m asd_tf``).
COMMAND_PARTS = {"commands", "cli", "__main__"}


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """Dotted name of the module at ``path`` under package ``root``, and whether it is a package ``__init__``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import in ``source``, relative imports resolved against ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                if node.module:
                    found.append((f"{base}.{node.module}", node.lineno))
                else:  # from . import a, b: each may be a module
                    found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((node.module or "", node.lineno))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and not node.args[0].value.startswith(".")):
            found.append((node.args[0].value, node.lineno))
    return found


def part_of(module: str) -> str | None:
    """Top-level part of ``asd_tf`` a dotted name belongs to (``asd_tf.losses.adacos`` -> ``losses``); None outside."""
    parts = module.split(".")
    if parts[0] != "asd_tf":
        return None
    return parts[1] if len(parts) > 1 else "asd_tf"


def package_edges(root: Path) -> list[tuple[str, str, str]]:
    """``(from part, to part, "file:line")`` for every import between two parts of the package at ``root``."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        module, is_package = module_name(path, root)
        source_part = part_of(module)
        for target, line in imports_of(path.read_text(encoding="utf-8"), module, is_package):
            target_part = part_of(target)
            if target_part is not None and target_part != source_part:
                edges.append((source_part, target_part, f"{path.relative_to(root.parent)}:{line}"))
    return edges


def direction_errors(root: Path, layer_of: dict[str, int] = LAYER_OF) -> list[str]:
    """Every import of the package at ``root`` that goes against the layers, as ``file:line: problem``."""
    errors = []
    for source, target, where in package_edges(root):
        if target == "commands" and source not in COMMAND_PARTS:
            errors.append(f"{where}: library part {source!r} imports the command line (asd_tf.commands)")
            continue
        unknown = [p for p in (source, target) if p not in layer_of]
        if unknown:
            errors.append(f"{where}: {unknown} not placed in a layer (add them to LAYERS and docs/design.md)")
        elif layer_of[target] >= layer_of[source]:
            how = "the same layer" if layer_of[target] == layer_of[source] else "a higher layer"
            # numbered from 1 as in docs/design.md's list
            errors.append(f"{where}: {source!r} (layer {layer_of[source] + 1}) imports {target!r} ({how}, "
                          f"layer {layer_of[target] + 1})")
    return errors


def import_cycle(root: Path) -> tuple[str, ...] | None:
    """A cycle of the package import graph between parts of ``asd_tf``, or None."""
    graph: dict[str, set[str]] = {}
    for source, target, _ in package_edges(root):
        graph.setdefault(source, set()).add(target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return tuple(exc.args[1])
    return None


def test_every_part_of_the_package_is_placed_in_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert sorted(parts | {"asd_tf"}) == sorted(LAYER_OF)


def test_the_package_imports_downwards_only() -> None:
    errors = direction_errors(ROOT)
    assert not errors, "imports against docs/design.md's layers:\n" + "\n".join(errors)


def test_the_package_import_graph_is_acyclic() -> None:
    assert import_cycle(ROOT) is None


def test_relative_imports_are_resolved() -> None:
    source = "from ..training.run import train\nfrom . import kmeans\ndef f():\n    from .. import errors\n"
    found = imports_of(source, "asd_tf.scoring.backends", is_package=False)
    assert found == [("asd_tf.training.run", 1), ("asd_tf.scoring.kmeans", 2), ("asd_tf.errors", 4)]
    found = imports_of("from .registry import LOSSES\nimportlib.import_module('asd_tf.commands')\n",
                       "asd_tf.losses", is_package=True)
    assert found == [("asd_tf.losses.registry", 1), ("asd_tf.commands", 2)]


@pytest.fixture()
def tree_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "asd_tf"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "configs"))
    return copy


def test_a_planted_back_import_is_reported_with_its_line(tree_copy: Path) -> None:
    audio = tree_copy / "data" / "audio.py"
    lines = audio.read_text(encoding="utf-8").splitlines()
    planted = len(lines) + 2
    audio.write_text("\n".join(lines) + "\ndef _leak():\n    from ..training.run import train\n", encoding="utf-8")
    evaluation = tree_copy / "evaluation" / "metrics.py"
    evaluation.write_text(evaluation.read_text(encoding="utf-8") + "\nfrom ..commands import train as _cmd\n",
                          encoding="utf-8")
    errors = direction_errors(tree_copy)
    assert errors == sorted(errors, key=lambda e: e.split(":")[0]) and len(errors) == 2
    assert errors[0] == (f"asd_tf/data/audio.py:{planted}: 'data' (layer {LAYER_OF['data'] + 1}) imports "
                         f"'training' (a higher layer, layer {LAYER_OF['training'] + 1})")
    assert errors[1].startswith("asd_tf/evaluation/metrics.py:")
    assert "library part 'evaluation' imports the command line" in errors[1]
    assert import_cycle(tree_copy) is not None  # data -> training -> data


def test_a_sibling_import_and_an_unplaced_part_are_reported(tree_copy: Path) -> None:
    (tree_copy / "explain" / "leak.py").write_text("from asd_tf.evaluation import report\n", encoding="utf-8")
    (tree_copy / "plugins.py").write_text("from . import errors\n", encoding="utf-8")
    errors = direction_errors(tree_copy)
    assert errors == [
        f"asd_tf/explain/leak.py:1: 'explain' (layer {LAYER_OF['explain'] + 1}) imports 'evaluation' "
        f"(the same layer, layer {LAYER_OF['evaluation'] + 1})",
        "asd_tf/plugins.py:1: ['plugins'] not placed in a layer (add them to LAYERS and docs/design.md)",
    ]
    assert import_cycle(tree_copy) is None  # one-way edges only: no cycle
