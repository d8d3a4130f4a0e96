"""Route a decoded batch through the primary / candidate models and build the output records.

Decisions are deterministic functions of the event id (``streamapp.sampling.assign``:
one keyed digest per event gives holdout, prediction-log sample and canary share).
Predictions and log records are rendered per model call by :mod:`.encode` and
grouped in per-topic :class:`TopicBatch` s (produced as batches); dead letters
(which carry a header) stay single :class:`Outgoing` records. With an Avro encoder
(``formats.predictions = "avro"``) the predictions topic gets Avro records from the same
columns (:class:`~streamapp.formats.writers.outputs.AvroPredictions`) and only the logged rows are
rendered as JSON (the prediction log stays JSON). Fields are exactly
those of :class:`~streamapp.schemas.Prediction`, :class:`~streamapp.schemas.LoggedPrediction`
and :class:`~streamapp.schemas.DeadLetter`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from streamapp.deadletter import dead_letter_value
from streamapp.inputs.batch import FeatureBatch
from streamapp.runtime.base import ModelRows, ScoringModel
from streamapp.sampling import BoolArray, assign
from streamapp.scoring import encode
from streamapp.scoring.columns import JsonText
from streamapp.scoring.decode import DecodedBatch, Record, Rejected
from streamapp.scoring.ports import TopicBatch
from streamapp.scoring.scorer import score_batch
from streamapp.settings.sampling import SamplingSettings
from streamapp.settings.topics import TopicSettings

if TYPE_CHECKING:  # the scoring core loads no Kafka client (streamapp.formats does)
    from streamapp.formats.writers.outputs import AvroPredictions


class Outgoing(NamedTuple):
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None


@dataclass
class Routed:
    """Everything one batch produces, and counts for the metrics once acknowledged."""

    columns: list[TopicBatch] = field(default_factory=list)
    """Predictions and log records, one column per (model call, topic)."""
    records: list[Outgoing] = field(default_factory=list)
    """Records with headers (dead letters), produced one by one."""
    predictions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    logged: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    shadow_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    inference: list[tuple[str, str, float, int, int]] = field(default_factory=list)
    """(model, version, seconds, rows, cost units) per model call group."""

    def outgoing(self) -> list[Outgoing]:
        """Every record as an :class:`Outgoing` (tests and simple sinks)."""
        out = [
            Outgoing(c.topic, k, v, None)
            for c in self.columns for k, v in zip(c.keys, c.values, strict=True)
        ]
        return out + self.records


class Router:
    """Builds predictions, log records and dead letters for one batch (scorer-pool thread)."""

    def __init__(self, topics: TopicSettings, sampling: SamplingSettings,
                 avro: AvroPredictions | None = None) -> None:
        self.topics = topics
        self.sampling = sampling
        self.avro = avro
        """The predictions topic's Avro encoder (None: JSON, the default)."""

    def route(
        self, batch: DecodedBatch, primary: ScoringModel, candidate: ScoringModel | None
    ) -> Routed:
        """Score and route ``batch``; model failures become ``model_error`` dead letters."""
        out = Routed()
        s = self.sampling
        mode = s.candidate_mode if candidate is not None else "off"
        keys = list(map(str.encode, batch.event_ids))
        holdout, logged, canary = assign(
            keys, s.holdout_rate, s.log_rate, s.canary_share if mode == "canary" else 0.0
        )
        view = _View(batch, keys, holdout, logged, datetime.now(UTC))
        main_rows = np.flatnonzero(~canary)
        self._emit(out, view, primary, main_rows, "primary", True)
        if candidate is not None and mode == "canary" and canary.any():
            self._emit(out, view, candidate, np.flatnonzero(canary), "canary", True)
        elif candidate is not None and mode == "shadow":
            self._emit(out, view, candidate, np.flatnonzero(logged), "shadow", False)
        for rej in batch.errors:
            out.records.append(self.dead_letter(rej, None))
            out.dead[rej.reason.value] += 1
        return out

    def _emit(
        self,
        out: Routed,
        view: _View,
        model: ScoringModel,
        rows: np.ndarray[Any, np.dtype[np.intp]],
        variant: str,
        publish: bool,
    ) -> None:
        if not len(rows):
            return
        batch = view.batch
        matrix: ModelRows = batch.matrix if len(rows) == len(batch) else batch.matrix[rows]
        started = time.perf_counter()
        result = score_batch(model, matrix)
        units = (matrix.cost_units(model.manifest) if isinstance(matrix, FeatureBatch)
                 else len(rows))
        out.inference.append((model.name, model.version, time.perf_counter() - started,
                              len(rows), units))
        name, version = model.name, model.version
        for j, reason, detail in result.failed:
            i = int(rows[j])
            if publish:
                rej = Rejected(batch.records[i], reason, detail)
                out.records.append(self.dead_letter(rej, model))
                out.dead[reason.value] += 1
            else:
                out.shadow_failures[(name, version)] += 1
        scored = rows[result.ok_rows] if result.failed else rows
        if not len(scored):
            return
        every = len(scored) == len(batch)  # rows 0..n-1: the view's columns as they are
        index: list[int] | None = None if every else scored.tolist()
        keys = _take(view.keys, index)
        classes = model.manifest.output.classes
        holdout = view.holdout[scored]
        tmpl = encode.template(name, version, variant, view.scored_time, bool(classes))
        ids, times = _take(view.ids, index), _take(view.times, index)
        labels = list(classes) if classes else None
        log = np.flatnonzero(view.logged[scored]).tolist()
        if self.avro is None:
            values = encode.predictions(tmpl, ids, times, result.outputs, labels, holdout)
            logged_json = [values[k] for k in log]
        else:
            values = self.avro.encode(name, version, variant, view.scored_at, keys,
                                      _take(batch.event_dts, index), result.outputs, labels,
                                      holdout)
            logged_json = encode.predictions(tmpl, [ids[k] for k in log],
                                             [times[k] for k in log], result.outputs[log],
                                             labels, holdout[log])
        if publish:
            if self.sampling.publish_holdout:
                column = TopicBatch(self.topics.predictions, keys, values)
            else:
                pub = np.flatnonzero(~holdout).tolist()
                column = TopicBatch(self.topics.predictions, [keys[k] for k in pub],
                                [values[k] for k in pub])
            out.columns.append(column)
            out.predictions[(name, version, variant)] += len(column.values)
        logged_rows = scored[log]
        if isinstance(batch.matrix, FeatureBatch):  # a tensor model logs its sketches
            feats: list[JsonText] = model.sketcher.json_rows(batch.matrix[logged_rows])
        else:
            feats = batch.feature_texts(logged_rows.tolist())
        with_features = encode.with_features
        records = [with_features(v, f) for v, f in zip(logged_json, feats, strict=True)]
        if self.sampling.log_inputs and isinstance(batch.matrix, FeatureBatch):
            raw = batch.feature_texts(logged_rows.tolist())
            records = [encode.with_inputs(r, x) for r, x in zip(records, raw, strict=True)]
        out.columns.append(TopicBatch(self.topics.prediction_log, [keys[k] for k in log],
                                      records))
        out.logged[(name, version, variant)] += len(log)

    def dead_letter(self, rej: Rejected, model: ScoringModel | None) -> Outgoing:
        """The dead-letter record of a rejected input (reason also in a header)."""
        rec: Record = rej.record
        key = rec.key()
        body, headers = dead_letter_value(
            rej.reason,
            rej.detail,
            (rec.topic() or "", rec.partition() or 0, rec.offset() or 0),
            rec.value() or b"",
            key,
            (model.name, model.version) if model else None,
        )
        return Outgoing(self.topics.dead_letter, key, body, headers)


T = TypeVar("T")


def _take(column: list[T], index: list[int] | None) -> list[T]:
    """``column`` at the rows of ``index`` (None: every row, the list itself).

    >>> _take(["a", "b", "c"], [2, 0]), _take(["a"], None)
    (['c', 'a'], ['a'])
    """
    return column if index is None else [column[i] for i in index]


class _View:
    """Per-batch columns the records are built from, rendered once for every model call."""

    def __init__(
        self, batch: DecodedBatch, keys: list[bytes], holdout: BoolArray, logged: BoolArray,
        scored_at: datetime,
    ) -> None:
        self.batch = batch
        self.keys = keys
        """UTF-8 event ids: record keys (and what the sampling digests hashed)."""
        self.holdout = holdout
        self.logged = logged
        self.scored_at = scored_at
        self.scored_time = scored_at.isoformat()
        self.ids = encode.json_bodies(batch.event_ids)
        self.times = encode.json_bodies(batch.event_times)
