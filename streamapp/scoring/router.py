"""Route a decoded batch through the primary / candidate models and build the output records.

Decisions are deterministic functions of the event id (``streamapp.sampling``):
holdout, prediction-log sample, canary share. Records are orjson-serialised
dicts whose fields are exactly those of :class:`~streamapp.schemas.Prediction`,
:class:`~streamapp.schemas.LoggedPrediction` and :class:`~streamapp.schemas.DeadLetter`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import orjson

from streamapp.config import SamplingSettings, TopicSettings
from streamapp.deadletter import dead_letter_value
from streamapp.runtime.base import FloatMatrix, ScoringModel
from streamapp.sampling import SALT_CANARY, SALT_HOLDOUT, SALT_LOG, select_many
from streamapp.schemas import DeadLetterReason
from streamapp.scoring.decode import DecodedBatch, Record, Rejected
from streamapp.scoring.scorer import score_batch


class Outgoing(NamedTuple):
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None


@dataclass
class Routed:
    """Everything one batch produces, and counts for the metrics once acknowledged."""

    records: list[Outgoing] = field(default_factory=list)
    predictions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    logged: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    shadow_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    inference: list[tuple[str, str, float, int]] = field(default_factory=list)
    """(model, version, seconds, rows) per model call group."""


class Router:
    """Builds predictions, log records and dead letters for one batch (scorer-pool thread)."""

    def __init__(self, topics: TopicSettings, sampling: SamplingSettings) -> None:
        self.topics = topics
        self.sampling = sampling

    def route(
        self, batch: DecodedBatch, primary: ScoringModel, candidate: ScoringModel | None
    ) -> Routed:
        """Score and route ``batch``; model failures become ``model_error`` dead letters."""
        out = Routed()
        s = self.sampling
        ids = batch.event_ids
        holdout = select_many(ids, SALT_HOLDOUT, s.holdout_rate)
        logged = [
            h or x for h, x in zip(holdout, select_many(ids, SALT_LOG, s.log_rate), strict=True)
        ]
        mode = s.candidate_mode if candidate is not None else "off"
        canary = (
            np.array(select_many(ids, SALT_CANARY, s.canary_share), dtype=bool)
            if mode == "canary"
            else np.zeros(len(ids), dtype=bool)
        )
        scored_time = datetime.now(UTC).isoformat()
        main_rows = np.flatnonzero(~canary)
        self._emit(out, batch, primary, main_rows, "primary", holdout, logged, scored_time, True)
        if candidate is not None and mode == "canary" and canary.any():
            rows = np.flatnonzero(canary)
            self._emit(out, batch, candidate, rows, "canary", holdout, logged, scored_time, True)
        elif candidate is not None and mode == "shadow":
            rows = np.flatnonzero(np.array(logged, dtype=bool))
            self._emit(out, batch, candidate, rows, "shadow", holdout, logged, scored_time, False)
        for rej in batch.errors:
            out.records.append(self.dead_letter(rej, None))
            out.dead[rej.reason.value] += 1
        return out

    def _emit(
        self,
        out: Routed,
        batch: DecodedBatch,
        model: ScoringModel,
        rows: np.ndarray[Any, np.dtype[np.intp]],
        variant: str,
        holdout: list[bool],
        logged: list[bool],
        scored_time: str,
        publish: bool,
    ) -> None:
        if not len(rows):
            return
        matrix: FloatMatrix = batch.matrix if len(rows) == len(batch) else batch.matrix[rows]
        started = time.perf_counter()
        result = score_batch(model, matrix)
        out.inference.append((model.name, model.version, time.perf_counter() - started, len(rows)))
        name, version = model.name, model.version
        for j, detail in result.failed:
            i = int(rows[j])
            if publish:
                rej = Rejected(batch.records[i], DeadLetterReason.MODEL_ERROR, detail)
                out.records.append(self.dead_letter(rej, model))
                out.dead[DeadLetterReason.MODEL_ERROR.value] += 1
            else:
                out.shadow_failures[(name, version)] += 1
        classes = model.manifest.output.classes
        values = result.outputs.tolist()
        labels: list[Any] = (
            [classes[k] for k in result.outputs.argmax(axis=1).tolist()] if classes else []
        )
        pred_topic, log_topic = self.topics.predictions, self.topics.prediction_log
        publish_holdout = self.sampling.publish_holdout
        n_pub = n_log = 0
        dumps, append = orjson.dumps, out.records.append
        index = rows.tolist()
        ids, times, feats = batch.event_ids, batch.event_times, batch.features
        for k, j in enumerate(result.ok_rows):
            i = index[j]
            event_id = ids[i]
            record: dict[str, Any] = {
                "event_id": event_id,
                "model_name": name,
                "model_version": version,
                "variant": variant,
                "scores": values[k] if classes else None,
                "predicted_label": labels[k] if classes else None,
                "predicted_value": None if classes else values[k][0],
                "holdout": holdout[i],
                "event_time": times[i],
                "scored_time": scored_time,
            }
            key = event_id.encode()
            if publish and (publish_holdout or not holdout[i]):
                append(Outgoing(pred_topic, key, dumps(record), None))
                n_pub += 1
            if logged[i]:
                record["features"] = feats[i]
                append(Outgoing(log_topic, key, dumps(record), None))
                n_log += 1
        out.predictions[(name, version, variant)] += n_pub
        out.logged[(name, version, variant)] += n_log

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
