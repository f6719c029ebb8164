"""Package surfaces: every name ``asd_tf.explain`` and ``asd_tf.synthetic`` document resolves, and the
packages below the synthetic generator never import it."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import asd_tf.explain as E
import asd_tf.synthetic as S

PACKAGE = Path(E.__file__).resolve().parents[1]


def test_explain_all_is_the_union_of_its_modules_and_every_name_resolves():
    union: dict[str, str] = {}
    for mod_name in E._SUBMODULES:
        module = importlib.import_module(f"asd_tf.explain.{mod_name}")
        for name in module.__all__:
            assert name not in union, f"{name} is exported by {union[name]} and {mod_name}"
            union[name] = mod_name
    assert sorted(union) == sorted(E.__all__)
    for name, mod_name in union.items():
        assert getattr(E, name) is getattr(importlib.import_module(f"asd_tf.explain.{mod_name}"), name), name


def test_explain_names_in_the_docstring_resolve():
    doc = E.__doc__
    modules = re.findall(r":mod:`asd_tf\.explain\.(\w+)`", doc)
    assert set(modules) == set(E._SUBMODULES)  # the docstring describes every module, and only those
    for mod_name in modules:
        importlib.import_module(f"asd_tf.explain.{mod_name}")
    names = set(re.findall(r"``([A-Za-z]\w*)``", doc))
    assert {"plot_attention_maps", "plot_rise", "save_figure", "RiseExplainer", "rise_for_clip"} <= names
    for name in names:
        assert callable(getattr(E, name)), name
    # the name that once raised AttributeError
    assert E.plot_attention_maps is importlib.import_module("asd_tf.explain.figures").plot_attention_maps
    with pytest.raises(AttributeError, match="no attribute 'plot_nothing'"):
        E.plot_nothing  # noqa: B018


def test_explain_lists_its_names_without_loading_tensorflow():
    code = ("import sys, asd_tf.explain as E; names = dir(E) + list(E.__all__); "
            "print('tensorflow' in sys.modules, 'plot_rise' in names)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.split()
    assert out == ["False", "True"]


def test_synthetic_all_resolves():
    for name in S.__all__:
        assert getattr(S, name) is not None, name
    assert S.generate.__module__ == "asd_tf.synthetic.dataset"


def _imports(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """Absolute names of the modules ``path`` (a file below ``root``) imports, relative imports resolved."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


@pytest.mark.parametrize("lower", ["data", "features", "models", "losses", "scoring"])
def test_layers_below_synthetic_never_import_it(lower):
    # `*_cli.py` files are commands (issue 18 moves them to asd_tf/commands/), not library code
    offenders = [str(p.relative_to(PACKAGE.parent)) for p in sorted((PACKAGE / lower).rglob("*.py"))
                 if not p.name.endswith("_cli.py")
                 if any(name == "asd_tf.synthetic" or name.startswith("asd_tf.synthetic.") for name in _imports(p))]
    assert offenders == []


def test_import_walk_sees_a_relative_back_import(tmp_path):
    # the walker above must resolve `from ..synthetic import x` inside asd_tf/data/ (a planted back-import)
    planted = tmp_path / "asd_tf" / "data" / "probe.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("from ..synthetic import generate\nfrom . import index\n", encoding="utf-8")
    assert _imports(planted, tmp_path) == {"asd_tf.synthetic", "asd_tf.synthetic.generate", "asd_tf.data",
                                            "asd_tf.data.index"}
