"""``produce`` / ``tail`` in registry formats without a registry URL or with bad options: one
line and exit 2, before any broker is contacted (none runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamapp.cli import app
from streamapp.cli.produce_cmd import split_formats
from streamapp.ingest.tables import InputError

NO_BROKER = {"STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9", "STREAMAPP_LOG__FORMAT": "text"}


@pytest.fixture
def events(tmp_path: Path) -> Path:
    file = tmp_path / "e.jsonl"
    file.write_text('{"event_id": "e1", "x": 1.0}\n')
    return file


def test_produce_in_avro_without_a_registry_url_exits_2_naming_the_variable(
    events: Path,
) -> None:
    for args, env in (
        (["--format", "avro"], {}),
        ([], {"STREAMAPP_FORMATS__EVENTS": "avro"}),
    ):
        result = CliRunner().invoke(app, ["produce", str(events), "-t", "events", *args],
                                    env={**NO_BROKER, **env})
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "STREAMAPP_SCHEMA_REGISTRY__URL" in lines[0], result.output


def test_tail_of_a_topic_in_avro_without_a_registry_url_exits_2() -> None:
    result = CliRunner().invoke(app, ["tail", "labels"],
                                env={**NO_BROKER, "STREAMAPP_FORMATS__LABELS": "protobuf"})
    assert result.exit_code == 2, result.output
    assert "STREAMAPP_SCHEMA_REGISTRY__URL" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--schema", "x.avsc"], "--schema goes with --format avro or json_schema"),
    (["--format", "avro", "--validate"], "--validate, --dry-run and --as event are for json"),
    (["--format", "avro", "--format", "protobuf"], "at most one file format"),
    (["--format", "xml"], "at most one file format"),
])
def test_options_that_do_not_go_together_exit_2(events: Path, args: list[str],
                                                 message: str) -> None:
    result = CliRunner().invoke(app, ["produce", str(events), "-t", "events", *args],
                                env=NO_BROKER)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_split_formats() -> None:
    assert split_formats(["avro", "parquet"]) == ("parquet", "avro")
    assert split_formats(["jsonl"]) == ("jsonl", None)
    with pytest.raises(InputError):
        split_formats(["csv", "parquet"])
