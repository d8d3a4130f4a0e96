"""Input files to records: typed CSV / Parquet envelopes and rows, JSONL lines, the check."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from streamapp.ingest import tables
from streamapp.ingest.check import check
from streamapp.ingest.jsonl import lines
from streamapp.ingest.tables import EnvelopeColumns, InputError
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Label
from tests.conftest import MODELS

MANIFEST = ModelRegistry(MODELS).resolve("agrawal-clf").manifest
ROW = "e1,2026-11-29T12:00:00Z,50000,0,30,2,8,3,150000,5,100000\n"
HEADER = "event_id,event_time,salary,commission,age,elevel,car,zipcode,hvalue,hyears,loan\n"


def test_doctests() -> None:
    assert doctest.testmod(tables).failed == 0


def _envelopes(path: Path, columns: EnvelopeColumns, typed: bool) -> list[dict[str, object]]:
    types = tables.column_types(MANIFEST.features, ["event_id", "event_time"]) if typed else None
    fmt = tables.table_format(path, "auto")
    return [orjson.loads(v) for _k, v in tables.envelopes(tables.read_batches(path, fmt, types),
                                                          columns)]


def test_csv_rows_become_typed_envelopes(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + ROW + "007,2026-11-29T12:00:01+01:00,,0,30,2,8,3,1,5,1\n")
    first, second = _envelopes(path, EnvelopeColumns(), typed=True)
    assert first["event_id"] == "e1" and first["event_time"] == "2026-11-29T12:00:00Z"
    assert first["features"] == {
        "salary": 50000.0, "commission": 0.0, "age": 30.0, "elevel": 2, "car": 8, "zipcode": 3,
        "hvalue": 150000.0, "hyears": 5.0, "loan": 100000.0,
    }
    # The id column is text whatever it looks like; an empty cell is a missing feature.
    assert second["event_id"] == "007" and "salary" not in second["features"]  # type: ignore[operator]
    report = check(
        tables.envelopes(
            tables.read_batches(path, "csv", tables.column_types(MANIFEST.features, ["event_id"])),
            EnvelopeColumns(),
        ),
        MANIFEST,
        65536,
    )
    assert (report.checked, dict(report.reasons)) == (2, {"missing_feature": 1})
    assert report.examples["missing_feature"][0] == 2


def test_parquet_timestamps_and_chosen_columns(tmp_path: Path) -> None:
    when = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    pq.write_table(
        pa.table({"id": [1, 2], "ts": [when, when], "a": [1.5, None], "b": ["x", "y"]}),
        tmp_path / "t.parquet",
    )
    out = _envelopes(tmp_path / "t.parquet", EnvelopeColumns("id", "ts", ["a"]), typed=False)
    assert out == [
        {"event_id": "1", "event_time": "2026-11-29T12:00:00+00:00", "features": {"a": 1.5}},
        {"event_id": "2", "event_time": "2026-11-29T12:00:00+00:00", "features": {}},
    ]
    stamped = _envelopes(tmp_path / "t.parquet", EnvelopeColumns("id", "now"), typed=False)
    assert datetime.fromisoformat(str(stamped[0]["event_time"])).tzinfo is not None
    assert stamped[0]["features"] == {"ts": "2026-11-29T12:00:00+00:00", "a": 1.5, "b": "x"}


def test_missing_columns_name_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    path.write_text("salary,age\n1,2\n")
    with pytest.raises(InputError, match="--id-column"):
        list(tables.envelopes(tables.read_batches(path, "csv"), EnvelopeColumns()))
    with pytest.raises(InputError, match=r"--time-column \(or --time-column now\)"):
        list(tables.envelopes(tables.read_batches(path, "csv"), EnvelopeColumns("salary")))
    with pytest.raises(InputError, match=r"\['x'\] are not in the file"):
        list(tables.envelopes(tables.read_batches(path, "csv"),
                              EnvelopeColumns("salary", "now", ["x"])))
    path.write_text("a\n1\nnot a number\n")
    with pytest.raises(InputError):
        list(tables.rows(tables.read_batches(path, "csv", {"a": pa.int64()}), "a"))


def test_flat_rows_keep_nulls_and_key_as_text(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("event_id,label,score\n1,1,0.5\n2,0,\n")
    keyed = tables.column_types([], ["event_id"])
    out = list(tables.rows(tables.read_batches(path, "csv", keyed), "event_id"))
    assert out == [
        (b"1", b'{"event_id":"1","label":1,"score":0.5}'),
        (b"2", b'{"event_id":"2","label":0,"score":null}'),
    ]


def _label_times(path: Path, text: str) -> list[object]:
    path.write_text("event_id,label,label_time\n" + text)
    keyed = tables.column_types([], ["event_id"])
    batches = tables.read_batches(path, "csv", keyed)
    return [orjson.loads(v)["label_time"] for _k, v in tables.rows(batches, "event_id")]


def test_label_times_become_rfc3339_text_the_label_schema_reads(tmp_path: Path) -> None:
    """docs/demo.md's ``produce labels.csv -t labels``: pyarrow reads ISO 8601 text as
    timestamps (nanosecond ones as pandas ``Timestamp``); each is sent as RFC 3339 text."""
    path = tmp_path / "labels.csv"
    times = _label_times(path, "e1,1,2026-11-29T12:00:05Z\ne2,0,2026-11-29T12:00:06.5+02:00\n")
    assert times == ["2026-11-29T12:00:05+00:00", "2026-11-29T10:00:06.500000+00:00"]
    nanos = _label_times(path, "e1,1,2026-11-29T12:00:05.123456789Z\n")
    assert nanos == ["2026-11-29T12:00:05.123456789+00:00"]
    label = Label.model_validate({"event_id": "e1", "label": 1, "label_time": nanos[0]})
    assert label.label_time == datetime(2026, 11, 29, 12, 0, 5, 123456, tzinfo=UTC)
    # A naive time stays naive: the labels topic's schema rejects it, as for events.
    assert _label_times(path, "e1,1,2026-11-29T12:00:07\n") == ["2026-11-29T12:00:07"]
    with pytest.raises(ValidationError):
        Label.model_validate({"event_id": "e1", "label": 1, "label_time": "2026-11-29T12:00:07"})


def test_parquet_nanosecond_timestamps_and_unencodable_columns(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    times = pa.array([1_796_212_805_123_456_789], pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"event_id": ["e1"], "label_time": times}), path)
    ((key, value),) = tables.rows(tables.read_batches(path, "parquet"), "event_id")
    assert key == b"e1"
    assert orjson.loads(value)["label_time"].endswith(".123456789+00:00")
    pq.write_table(pa.table({"event_id": ["e1"], "blob": pa.array([b"x"], pa.binary())}), path)
    with pytest.raises(InputError, match="column 'blob' holds bytes"):
        list(tables.rows(tables.read_batches(path, "parquet"), "event_id"))


def test_jsonl_lines_are_sent_as_written(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"event_id": "a", "x": 1}\n\n[1]\nnope\n')
    read = lines(path, "event_id")
    assert next(read) == (b"a", b'{"event_id": "a", "x": 1}')
    assert next(read) == (None, b"[1]")
    with pytest.raises(InputError, match="line 4 is not JSON"):
        next(read)


def test_check_counts_every_reason_with_its_first_record() -> None:
    good = orjson.loads(
        b'{"event_id":"g","event_time":"2026-11-29T12:00:00Z","features":{"salary":1,'
        b'"commission":0,"age":30,"elevel":2,"car":8,"zipcode":3,"hvalue":1,"hyears":5,"loan":1}}'
    )
    records = [(None, orjson.dumps(good)), (None, b"{nope")]
    records += [(None, orjson.dumps({**good, "features": {**good["features"], "age": 999}}))] * 3
    report = check(records * 300, MANIFEST, 65536)  # several decoder chunks
    assert report.checked == 1500 and report.rejected == 1200
    assert dict(report.reasons) == {"out_of_range": 900, "invalid_json": 300}
    assert report.examples["invalid_json"][0] == 2
    assert report.lines()[0].startswith("  out_of_range     900  (record 3: ")
