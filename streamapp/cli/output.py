"""Listing output of the CLI: a table for people, JSON for scripts, never truncated.

Rich sizes tables to the terminal; without a terminal (a pipe, a file) it would
assume 80 columns and cut cells (``binary_cla…``). Piped tables are therefore
rendered as wide as their content, and every listing command takes ``--json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_UNBOUNDED = 1 << 20


def stdout_console() -> Console:
    """The terminal's console on a TTY; otherwise plain text as wide as the content."""
    if sys.stdout.isatty():
        return Console()
    return Console(width=_UNBOUNDED, color_system=None, soft_wrap=True, highlight=False)


def cell(value: Any) -> str:
    """One table cell: lists comma-joined, mappings as ``k=v``, floats to 4 digits, None empty.

    >>> cell(None), cell(["a", "b"]), cell({"accuracy": 0.912345}), cell(3)
    ('', 'a,b', 'accuracy=0.9123', '3')
    """
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    return str(value)


def emit(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    as_json: bool,
    title: str | None = None,
) -> None:
    """Print ``rows`` as JSON (a list of objects) or as a table of ``columns`` on stdout."""
    if as_json:
        typer.echo(json.dumps(list(rows), indent=2, default=str))
        return
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(cell(row.get(c)) for c in columns))
    stdout_console().print(table)
