"""The runtime dependency list is complete and minimal, and a runtime-only install works.

A runtime-only install is emulated in a subprocess: ``sys.modules`` entries of
None hide every top-level module of an installed distribution outside the closure of
pyproject's runtime ``dependencies`` (the extras' packages and whatever only
they pull in), then every product module is imported and a model is trained
and exported. Modules that need an extra are listed here with it.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
EXTRA_MODULES = {
    "streamapp.registration": "register",
    "streamapp.cli.register_schema": "register",
    "streamapp.training.sklearn_trainer": "register",
    "streamapp.demo": "demo",
    "streamapp.brokers.tansu": "local",
}
"""Product modules (and packages) that need an extra, and which."""
INDIRECT = {"onnx": "torch.onnx.export imports it (the retrainer writes ONNX artifacts)"}
"""Runtime dependencies streamapp/ uses only through another package, and why."""


def _requirements(extra: str | None = None) -> list[Requirement]:
    project = PYPROJECT["project"]
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def _extra_of(module: str) -> str | None:
    for prefix, extra in EXTRA_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return extra
    return None


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party import name → product modules importing it."""
    found: dict[str, set[str]] = {}
    for path in (REPO / "streamapp").rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "streamapp":
                    found.setdefault(top, set()).add(module)
    return found


NAMESPACES = {"google": "protobuf"}
"""Top-level namespace packages several distributions share, and the one streamapp uses."""


def _distribution(import_name: str) -> str:
    if import_name in NAMESPACES:
        return NAMESPACES[import_name]
    dists = md.packages_distributions().get(import_name, [])
    assert dists, f"{import_name} is imported but no installed distribution provides it"
    return canonicalize_name(dists[0])


def test_every_third_party_import_is_declared_where_it_is_used() -> None:
    runtime = {canonicalize_name(r.name) for r in _requirements()}
    problems = []
    for name, modules in sorted(_third_party_imports().items()):
        dist = _distribution(name)
        for module in sorted(modules):
            extra = _extra_of(module)
            declared = runtime | (
                {canonicalize_name(r.name) for r in _requirements(extra)} if extra else set()
            )
            if dist not in declared:
                problems.append(f"{module} imports {name} ({dist}): not in {extra or 'runtime'}")
    assert problems == []


def test_every_runtime_dependency_is_imported_by_the_product() -> None:
    used = {_distribution(name) for name in _third_party_imports()}
    unused = {canonicalize_name(r.name) for r in _requirements()} - used - set(INDIRECT)
    assert unused == set(), f"runtime dependencies streamapp/ never imports: {sorted(unused)}"


def _runtime_closure() -> set[str]:
    """Distributions a runtime-only install brings: the runtime list and their requirements."""
    todo = [(r.name, frozenset(r.extras)) for r in _requirements()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        name = canonicalize_name(name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue
        for line in requires:  # with the extras a requirement asks for (confluent-kafka[avro])
            req = Requirement(line)
            if req.marker is None or any(
                req.marker.evaluate({"extra": extra}) for extra in ("", *extras)
            ):
                todo.append((req.name, frozenset(req.extras)))
    return {name for name, _ in seen}


RUNTIME_ONLY = r"""
import importlib, json, pkgutil, sys
blocked, extra_modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in blocked:  # as if not installed: import fails, importlib.util.find_spec says None
    sys.modules[name] = None

import streamapp
for info in pkgutil.walk_packages(streamapp.__path__, "streamapp."):
    skip = info.name == "streamapp.__main__" or any(
        info.name == m or info.name.startswith(m + ".") for m in extra_modules
    )
    if not skip:
        importlib.import_module(info.name)

from typer.testing import CliRunner
from streamapp.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0, result.output
result = CliRunner().invoke(app, ["demo"])
said = " ".join(result.output.split())
assert result.exit_code == 2 and "pip install 'streamapp[demo]'" in said, result.output

# The retrainer's path: train and export (ONNX + TorchScript) without the extras.
import tempfile
from pathlib import Path
import numpy as np
from streamapp.features import FeatureEncoder
from streamapp.registry.manifest import Task
from streamapp.registry.registry import ModelRegistry
from streamapp.training.synthetic import AGRAWAL_CLASSES, AGRAWAL_FEATURES, agrawal
from streamapp.training.trainer import TrainSpec, export_version, train
spec = TrainSpec(name="m", task=Task.BINARY, features=AGRAWAL_FEATURES,
                 classes=AGRAWAL_CLASSES, epochs=1)
samples = list(agrawal(300, 1))
x = FeatureEncoder(spec.features).encode_many(s[0] for s in samples)
net = train(spec, x, np.asarray([s[1] for s in samples]))
with tempfile.TemporaryDirectory() as root:
    version = export_version(ModelRegistry(Path(root)), spec, "1", net, x, {"accuracy": 0.5}, {})
    assert (version.path / "model.onnx").is_file()
print("ok")
"""


def test_product_imports_and_exports_with_only_the_runtime_dependencies() -> None:
    closure = _runtime_closure()
    blocked = sorted(
        name
        for name, dists in md.packages_distributions().items()
        if not any(canonicalize_name(d) in closure for d in dists)
        and name.isidentifier()
        and name not in sys.stdlib_module_names
        and name not in ("streamapp", "tests", "_pytest", "pytest", "pluggy", "pip", "setuptools",
                         "_distutils_hack", "pkg_resources")
    )
    # (pyyaml is no sign: tokenizers → huggingface-hub brings it into a runtime install)
    assert {"matplotlib", "sklearn", "skl2onnx", "psutil", "lightgbm"} <= set(blocked)
    out = subprocess.run(
        [sys.executable, "-c", RUNTIME_ONLY, json.dumps(blocked), json.dumps(list(EXTRA_MODULES))],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
