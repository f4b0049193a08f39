"""The layers point one way (DESIGN.md): every module under core/ and webui/ is parsed and each
of its imports (top-level or inside a function, absolute or relative, and
importlib.import_module("...") with a literal name) is checked against the layer order

    errors, paths < config < data < runs < models < methods < training < chat, evaluate
    < bench < cli (< core/__main__.py);  webui on top

A module may import its own layer or a lower one. Nothing in core imports webui or gradio,
and only core/__main__.py reaches core.cli."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

LAYERS = [("core", "core.errors", "core.paths", "core.cache"), ("core.config",), ("core.data",),
          ("core.runs",), ("core.models",), ("core.methods",), ("core.training",),
          ("core.chat", "core.evaluate"), ("core.bench",), ("core.cli",), ("core.__main__",)]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
BELOW_RUNS = ("core.models", "core.methods", "core.training", "core.runs", "core.chat",
              "core.evaluate")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from core import config` imports core.config: count each name as a submodule
            # when it is one, else the module itself.
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((node.lineno, sub if is_module(sub) else base))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            out.append((node.lineno, node.args[0].value))
    return out


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def layer(name: str) -> str | None:
    """The layer a core module belongs to (its entry in LAYERS), None outside core."""
    parts = name.split(".")
    if parts[0] != "core":
        return None
    top = ".".join(parts[:2])
    assert top in RANK, f"{name} is in no layer; add {top} to LAYERS in {__file__}"
    return top


MODULES = sorted((ROOT / "core").rglob("*.py")) + sorted((ROOT / "webui").rglob("*.py"))
CORE = [p for p in MODULES if p.parts[len(ROOT.parts)] == "core"]


def test_every_module_is_scanned():
    assert len(CORE) > 50 and any(p.name == "app.py" for p in MODULES)
    names = {module_name(p) for p in CORE}
    assert {"core.config.fields", "core.methods.pairwise", "core.cli.train", "core.__main__"} <= names
    for path in CORE:
        assert layer(module_name(path)), path


def test_relative_imports_resolve():
    found = dict(imports(ROOT / "core" / "methods" / "pairwise.py"))
    assert "core.methods.losses" in found.values() and "core.config" in found.values()
    assert "core.methods.reference" in found.values()  # imported inside reference_logps()
    assert "core.config.fields" in {m for _, m in imports(ROOT / "core" / "config" / "run.py")}


@pytest.mark.parametrize("path", CORE, ids=lambda p: module_name(p))
def test_core_imports_point_down(path):
    name = module_name(path)
    own = layer(name)
    bad = []
    for line, target in imports(path):
        where = f"{path.relative_to(ROOT)}:{line} imports {target}"
        top = target.split(".")[0]
        if top in ("webui", "gradio"):
            bad.append(f"{where}: core never imports {top}")
            continue
        other = layer(target)
        if other is None:
            continue  # the standard library or a third-party package
        if other == "core.cli" and own not in ("core.cli", "core.__main__"):
            bad.append(f"{where}: only core/__main__.py reaches the command line")
        elif own in ("core.config", "core.data") and target.startswith(BELOW_RUNS):
            bad.append(f"{where}: config and data know nothing of models, training or runs")
        elif RANK[other] > RANK[own]:
            bad.append(f"{where}: {own} sits below {other}")
    assert not bad, "\n".join(bad)


def test_webui_calls_core_not_its_command_line():
    """The WebUI calls core functions, never core.cli's argparse-and-print layer (sharing the
    entry point's setup_logging in core/__main__.py is fine: both are entry points)."""
    bad = [f"{p.relative_to(ROOT)}:{line} imports {target}"
           for p in MODULES if p not in CORE for line, target in imports(p)
           if target == "core.cli" or target.startswith("core.cli.")]
    assert not bad, "\n".join(bad)
