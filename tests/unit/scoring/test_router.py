"""Router output records conform to the wire contracts; sampling decisions are deterministic."""

from __future__ import annotations

import subprocess
import sys

import orjson

from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.loader import load_model
from streamapp.sampling import SALT_HOLDOUT, selected
from streamapp.schemas import DeadLetter, LoggedPrediction, Prediction
from streamapp.scoring.decode import Decoder
from streamapp.scoring.router import Router
from streamapp.settings.sampling import SamplingSettings
from streamapp.settings.topics import TopicSettings
from tests.conftest import MODELS
from tests.unit.scoring.test_decode import GOOD, Rec


def _event(i: int) -> bytes:
    return orjson.dumps({"event_id": f"e{i}", "event_time": "2026-11-24T05:00:00Z",
                         "features": GOOD[i % len(GOOD)]})


def test_records_validate_against_the_pydantic_models() -> None:
    version = ModelRegistry(MODELS).resolve("agrawal-clf")
    model = load_model(version, "onnx", "cpu")
    topics = TopicSettings()
    sampling = SamplingSettings(log_rate=0.5, holdout_rate=0.2, publish_holdout=False)
    batch = Decoder(model.manifest, 65536).decode([Rec(_event(i), i) for i in range(200)]
                                                  + [Rec(b"{x", 999)])
    routed = Router(topics, sampling).route(batch, model, None)
    by_topic: dict[str, list[bytes]] = {}
    for rec in routed.outgoing():
        by_topic.setdefault(rec.topic, []).append(rec.value)
    preds = [Prediction.model_validate_json(v) for v in by_topic[topics.predictions]]
    logs = [LoggedPrediction.model_validate_json(v) for v in by_topic[topics.prediction_log]]
    dead = [DeadLetter.model_validate_json(v) for v in by_topic[topics.dead_letter]]
    holdout = {f"e{i}" for i in range(200) if selected(f"e{i}", SALT_HOLDOUT, 0.2)}
    assert {p.event_id for p in preds} == {f"e{i}" for i in range(200)} - holdout
    assert holdout <= {lp.event_id for lp in logs}  # holdout is always logged
    assert all(lp.holdout == (lp.event_id in holdout) for lp in logs)
    assert [d.source_offset for d in dead] == [999]
    assert all(p.predicted_label == max((0, 1), key=lambda c: p.scores[c])  # type: ignore[index]
               for p in preds)


def test_sampling_is_identical_in_another_process() -> None:
    ids = [f"evt-{i}" for i in range(300)]
    here = [selected(e, SALT_HOLDOUT, 0.3) for e in ids]
    code = (
        "from streamapp.sampling import selected, SALT_HOLDOUT\n"
        f"print(''.join('1' if selected(e, SALT_HOLDOUT, 0.3) else '0' for e in {ids!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == "".join("1" if s else "0" for s in here)


def test_select_many_equals_the_reference_sampler() -> None:
    from streamapp.sampling import select_many

    ids = [f"evt-{i}" for i in range(2000)] + ["", "ünïcode", "x" * 256, "y" * 300, "a\0"]
    for salt in ("prediction-log", "holdout", "canary", "a-salt-longer-than-16-bytes"):
        for rate in (0.0, 0.01, 0.2, 0.5, 0.999, 1.0):
            assert select_many(ids, salt, rate) == [selected(e, salt, rate) for e in ids]
