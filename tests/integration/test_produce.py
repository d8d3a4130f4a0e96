"""``streamapp produce`` of CSV and Parquet into a real scoring worker on Apache Kafka.

Good rows are all scored (none dead-lettered); ``--validate`` names the bad rows'
reasons before sending, and the worker then dead-letters exactly those rows for
exactly those reasons.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from streamapp.cli.app import app
from streamapp.config import Settings
from streamapp.schemas import Label
from streamapp.training.synthetic import agrawal
from tests.scoring_support import read_n, running_worker

pytestmark = pytest.mark.integration

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "commit_interval_ms": 100}
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BAD_REASONS = {
    "b-range": "out_of_range",
    "b-missing": "missing_feature",
    "b-category": "unknown_category",
    "b-naive": "schema_violation",
}


def _rows(prefix: str, n: int, seed: int) -> list[dict[str, object]]:
    return [
        {"event_id": f"{prefix}{i}", "event_time": (T0 + timedelta(seconds=i)).isoformat(), **x}
        for i, (x, _y) in enumerate(agrawal(n, seed))
    ]


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _bad_rows() -> list[dict[str, object]]:
    base = _rows("b", 4, 11)
    edits: list[tuple[str, str, object]] = [
        ("b-range", "age", 400),
        ("b-missing", "salary", ""),
        ("b-category", "car", 99),
        ("b-naive", "event_time", "2026-11-29T12:00:00"),
    ]
    for row, (event_id, column, value) in zip(base, edits, strict=True):
        row["event_id"], row[column] = event_id, value
    return base


def _env(settings: Settings) -> dict[str, str]:
    env = {
        "STREAMAPP_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
        "STREAMAPP_MODEL__REGISTRY": str(settings.model.registry),
    }
    for name, value in settings.topics.model_dump().items():
        env[f"STREAMAPP_TOPICS__{name.upper()}"] = str(value)
    return env


def test_csv_and_parquet_rows_are_scored_and_bad_rows_reported(
    settings_factory: Callable[..., Settings],
    unique: str,
    model_registry_dir: Path,
    bootstrap: str,
    tmp_path: Path,
) -> None:
    settings = settings_factory(
        scoring={**FAST, "group_id": f"g-{unique}"}, model={"registry": str(model_registry_dir)}
    )
    topics, env, runner = settings.topics, _env(settings), CliRunner()
    good_csv = _write_csv(tmp_path / "good.csv", _rows("c", 40, 3))
    parquet_rows = _rows("q", 30, 5)
    table = pa.Table.from_pylist(
        [{**r, "event_time": datetime.fromisoformat(str(r["event_time"]))} for r in parquet_rows]
    )
    assert table.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    pq.write_table(table, tmp_path / "good.parquet")
    bad_csv = _write_csv(tmp_path / "bad.csv", _rows("g", 2, 7) + _bad_rows())

    checked = runner.invoke(app, ["produce", str(bad_csv), "-t", "events", "--validate"], env=env)
    assert checked.exit_code == 1, checked.output
    assert "checked 6 records against agrawal-clf" in checked.output
    assert "2 would be scored, 4 would be dead-lettered" in checked.output
    for reason in BAD_REASONS.values():
        assert f"  {reason}" in checked.output
    assert "nothing sent" in checked.output

    sent = runner.invoke(app, ["produce", str(good_csv), "-t", "events", "--validate"], env=env)
    assert sent.exit_code == 0, sent.output
    assert "40 would be scored, 0 would be dead-lettered" in sent.output
    assert f"produced 40 records to {topics.events}" in sent.output
    sent = runner.invoke(app, ["produce", str(tmp_path / "good.parquet"), "-t", "events"], env=env)
    assert sent.exit_code == 0, sent.output

    good_keys = {f"c{i}".encode() for i in range(40)} | {f"q{i}".encode() for i in range(30)}
    with running_worker(settings) as worker:
        preds = read_n(bootstrap, topics.predictions, 0, keys=good_keys)
        assert {m.key() for m in preds} == good_keys
        dead = [
            s.value
            for family in worker.prometheus.collect()
            for s in family.samples
            if s.name == "streamapp_dead_letter_total"
        ]
        assert sum(dead) == 0
        # Sent without --validate, the bad rows reach the worker: it dead-letters
        # exactly the rows, for exactly the reasons, that --validate named.
        sent = runner.invoke(app, ["produce", str(bad_csv), "-t", "events"], env=env)
        assert sent.exit_code == 0, sent.output
        dlq = read_n(bootstrap, topics.dead_letter, 0, keys={k.encode() for k in BAD_REASONS})
    reasons = Counter(
        (m.key().decode(), dict(m.headers())["reason"].decode()) for m in dlq
    )
    assert reasons == Counter(BAD_REASONS.items())


def test_label_csv_with_label_time_is_produced_as_labels(
    settings_factory: Callable[..., Settings], unique: str, bootstrap: str, tmp_path: Path
) -> None:
    """``streamapp produce labels.csv -t labels`` (docs/demo.md): every label is sent, its
    ``label_time`` as RFC 3339 text the labels topic's schema reads."""
    settings = settings_factory()
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "event_id,label,label_time\n"
        "l0,1,2026-11-29T12:00:05.123456789Z\n"
        "l1,0,2026-11-29T12:00:06.5+02:00\n"
    )
    sent = CliRunner().invoke(app, ["produce", str(labels), "-t", "labels"], env=_env(settings))
    assert sent.exit_code == 0, sent.output
    assert f"produced 2 records to {settings.topics.labels}" in sent.output
    got = read_n(bootstrap, settings.topics.labels, 0, keys={b"l0", b"l1"})
    parsed = {m.key(): Label.model_validate_json(m.value()) for m in got}
    assert parsed[b"l0"].label_time == datetime(2026, 11, 29, 12, 0, 5, 123456, tzinfo=UTC)
    assert parsed[b"l1"].label_time == datetime(2026, 11, 29, 10, 0, 6, 500000, tzinfo=UTC)
