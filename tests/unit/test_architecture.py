"""The import rules of docs/architecture.md, checked statically over every module of streamapp/.

Each module is parsed with ``ast``; every ``streamapp.*`` import counts, at module
level, inside functions and under ``TYPE_CHECKING`` alike. An import is allowed
when it stays inside its room, or goes to a room of a strictly lower layer that
does not restrict its importers, unless the table says otherwise. :data:`RULES` is the
rule table the document draws; change them together.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "streamapp"

@dataclass(frozen=True)
class Rules:
    """The rule table of docs/architecture.md."""

    layers: list[tuple[str, frozenset[str]]]
    """(layer, rooms), lowest first. A room may import its own modules and the rooms of
    lower layers; rooms of one layer do not import each other."""
    restricted: dict[str, frozenset[str]]
    """room → the only other rooms that may import it, whatever their layer."""
    exceptions: dict[tuple[str, str], str]
    """(importer room, imported module) → why this one import against the layers is allowed."""
    apart: dict[tuple[str, str], str]
    """(importer prefix, imported prefix) inside one room that must not meet → why."""
    moved: dict[str, str]
    """module → its room, where that differs from its package."""
    pending: dict[tuple[str, str], str]
    """PENDING: (importer module, imported room) → the work in flight that removes it."""


RULES = Rules(
    layers=[
        ("import paths", frozenset({"plugins"})),
        ("settings", frozenset({"settings"})),
        ("foundation", frozenset({
            "streamapp",  # the package itself: __version__
            "schemas", "labels", "idhash", "logs", "child", "gc_tuning", "http",
        })),
        ("definitions", frozenset({"config", "metrics", "registry", "sampling", "deadletter"})),
        ("model contract", frozenset({"features", "processing"})),
        ("model inputs", frozenset({"inputs"})),
        ("engines and adapters", frozenset({
            "runtime", "statistics", "kafka", "preprocess", "formats",
        })),
        ("building blocks", frozenset({"status", "registration", "brokers"})),
        ("hosting", frozenset({"host"})),
        ("planes", frozenset({"scoring", "monitoring", "training"})),
        ("roles and tools", frozenset({"retrain", "ingest", "testing"})),
        ("process management and demo", frozenset({"supervisor", "demo"})),
        ("entry points", frozenset({"cli"})),
    ],
    restricted={
        "brokers": frozenset({"host", "demo", "cli"}),  # local development brokers
        "testing": frozenset(),  # the users' test kit: production code never imports it
    },
    exceptions={
        ("monitoring", "streamapp.scoring.ports"): "the Source/Sink ports both planes run on",
    },
    apart={
        ("streamapp.monitoring.dataplane", "streamapp.monitoring.control"):
            "the monitor's planes meet only on the summaries topic",
        ("streamapp.monitoring.control", "streamapp.monitoring.dataplane"):
            "the monitor's planes meet only on the summaries topic",
    },
    moved={"streamapp.__main__": "cli"},
    pending={
        # PENDING: known violations while other work is in flight; shrink it to nothing.
    },
)

LAYER_OF = {room: name for name, rooms in RULES.layers for room in rooms}
RANK = {name: i for i, (name, _) in enumerate(RULES.layers)}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """The room a module belongs to: its first package under streamapp/, unless moved.

    >>> room_of("streamapp.scoring.decode"), room_of("streamapp"), room_of("streamapp.__main__")
    ('scoring', 'streamapp', 'cli')
    """
    for prefix, room in RULES.moved.items():
        if _under(module, prefix):
            return room
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "streamapp"


def imports_of(path: Path, known: set[str]) -> list[Import]:
    """Every ``streamapp`` import in the module at ``path``."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py", known)


def imports_in(source: str, importer: str, is_package: bool, known: set[str]) -> list[Import]:
    """Every ``streamapp`` import in ``source``, wherever it stands: module level, inside
    functions, under ``TYPE_CHECKING``; relative ones resolved from ``importer``."""
    package = importer if is_package else importer.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(importer, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                up = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{up}.{base}" if base else up
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(importer, sub if sub in known else base, node.lineno))
    return [i for i in found if i.imported == "streamapp" or i.imported.startswith("streamapp.")]


def violation(imp: Import) -> str | None:
    """Why ``imp`` breaks the rules, or None when it keeps them."""
    for (importer, imported), why in RULES.apart.items():
        if _under(imp.importer, importer) and _under(imp.imported, imported):
            return why
    src, dst = room_of(imp.importer), room_of(imp.imported)
    if src == dst or any(
        src == room and _under(imp.imported, module) for room, module in RULES.exceptions
    ):
        return None
    if dst in RULES.restricted and src not in RULES.restricted[dst]:
        allowed = ", ".join(sorted(RULES.restricted[dst])) or "no room of streamapp"
        return f"{dst} may be imported by {allowed} only"
    if RANK[LAYER_OF[dst]] >= RANK[LAYER_OF[src]]:
        return f"layer {LAYER_OF[src]} may not import layer {LAYER_OF[dst]}"
    return None


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def pending(imp: Import) -> tuple[str, str]:
    return imp.importer, room_of(imp.imported)


def all_imports() -> list[Import]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return [imp for p in paths for imp in imports_of(p, known)]


def test_every_room_is_in_the_table() -> None:
    rooms = {room_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(rooms - LAYER_OF.keys())
    assert not missing, f"add {missing} to RULES.layers here and to docs/architecture.md"


def test_the_document_lists_these_layers() -> None:
    """docs/architecture.md's numbered list of layers is :data:`RULES`'s, room for room."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    listed = [
        (name, frozenset(re.findall(r"`([a-z_]+)`", rooms)))
        for name, rooms in re.findall(r"^\d+\. \*\*([a-z ]+)\*\*: (.+)$", doc, re.MULTILINE)
    ]
    assert listed == RULES.layers


def test_no_room_imports_against_the_rules() -> None:
    broken = [
        f"{imp.importer} imports {imp.imported} (line {imp.line}: {why})"
        for imp in all_imports()
        if (why := violation(imp)) and pending(imp) not in RULES.pending
    ]
    assert not broken, "\n".join(["imports against docs/architecture.md:", *sorted(set(broken))])


def test_pending_entries_are_still_needed() -> None:
    """An entry whose import is gone (or now allowed) must leave the allow-list."""
    live = {pending(i) for i in all_imports() if violation(i)}
    stale = sorted(set(RULES.pending) - live)
    assert not stale, f"remove from RULES.pending: {stale}"


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("streamapp.scoring.worker", "streamapp.runtime.base", True),
        ("streamapp.runtime.loader", "streamapp.scoring.decode", False),
        ("streamapp.training.trainer", "streamapp.registration.metrics", True),
        ("streamapp.registration.api", "streamapp.training.trainer", False),
        ("streamapp.training.contract", "streamapp.retrain.dataset", False),
        ("streamapp.runtime.loader", "streamapp.testing.checks", False),
        ("streamapp.cli.app", "streamapp.testing", False),
        ("streamapp.scoring.worker", "streamapp.monitoring.dataplane", False),
        ("streamapp.host.cluster", "streamapp.brokers", True),
        ("streamapp.scoring.worker", "streamapp.host", True),
        ("streamapp.host.host", "streamapp.scoring.worker", False),
        ("streamapp.scoring.kafka_io", "streamapp.brokers.local", False),
        ("streamapp.config", "streamapp.settings.kafka", True),
        ("streamapp.settings.kafka", "streamapp.config", False),
        ("streamapp.metrics.common", "streamapp", True),
        ("streamapp.monitoring.dataplane.ports", "streamapp.scoring.ports", True),
        ("streamapp.monitoring.dataplane.worker", "streamapp.scoring.worker", False),
        ("streamapp.monitoring.dataplane.fold", "streamapp.monitoring.control.windows", False),
        ("streamapp.monitoring.role", "streamapp.monitoring.control.app", True),
    ],
)
def test_the_rules_themselves(importer: str, imported: str, allowed: bool) -> None:
    assert (violation(Import(importer, imported, 1)) is None) is allowed


def test_relative_and_nested_imports_are_seen() -> None:
    """Imports inside functions and under TYPE_CHECKING count; relative ones resolve."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import numpy\n"
        "if TYPE_CHECKING:\n    from streamapp.scoring import decode\n"
        "def f():\n    from ..monitoring import control\n    import streamapp.cli.app\n"
        "    from . import base\n"
    )
    known = {"streamapp.scoring.decode", "streamapp.runtime.base"}
    found = {i.imported for i in imports_in(source, "streamapp.runtime.probe", False, known)}
    assert found == {
        "streamapp.scoring.decode", "streamapp.monitoring", "streamapp.cli.app",
        "streamapp.runtime.base",
    }
