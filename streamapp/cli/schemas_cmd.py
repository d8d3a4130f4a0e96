"""``streamapp schemas export``: write the wire contracts' JSON Schema files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from streamapp.cli.app import app
from streamapp.schemas import json_schemas

schemas_app = typer.Typer(help="Wire-contract JSON Schemas.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


def render(schema: dict[str, object]) -> str:
    """Canonical JSON text of a schema file (what is committed under schemas/)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@schemas_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("schemas"),
) -> None:
    """Write ``<Model>.schema.json`` for every wire model into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for filename, schema in json_schemas().items():
        (out / filename).write_text(render(schema), encoding="utf-8")
        typer.echo(f"wrote {out / filename}")
