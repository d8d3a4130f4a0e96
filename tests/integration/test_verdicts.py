"""Shadow verdicts on the real broker: a truly better shadow candidate is promoted.

A ``streamapp monitor`` process (shadow mode) joins primary and shadow predictions
of the same events with one label each, pairs them, and publishes a ``promote``
decision on the promotion-decisions topic; the retrainer
(``retrain.promotion_actor = "retrainer"``) then moves the production pointer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streamapp.child import Child
from streamapp.config import Settings
from streamapp.registry.registry import ModelRegistry
from streamapp.retrain.events import EVENT_KEY
from streamapp.retrain.service import RetrainService
from streamapp.schemas import Decision, PromotionDecision
from streamapp.settings.topics import TopicSettings
from tests.integration.conftest import produce_all
from tests.integration.test_monitor import (  # noqa: F401 - monitors is a fixture
    _records,
    monitors,
    read_topic,
    value,
    wait_for,
    wait_ready,
)
from tests.unit.monitoring.data import add_candidate, shadow_events

pytestmark = pytest.mark.integration


class _Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.kinds: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, EVENT_KEY):
            self.kinds.append(getattr(record, EVENT_KEY))


def test_a_better_shadow_candidate_gets_promote_and_the_retrainer_promotes_it(
    bootstrap: str,
    topic_settings: TopicSettings,
    monitors: Callable[..., Child],  # noqa: F811 - the fixture imported above
    settings_factory: Callable[..., Settings],
    model_registry_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="streamapp.retrain")  # the events are INFO records
    add_candidate(model_registry_dir)
    registry = ModelRegistry(model_registry_dir)
    registry.promote("agrawal-clf", "2", "candidate")
    settings = settings_factory(
        model={"registry": str(model_registry_dir)}, retrain={"promotion_actor": "retrainer"}
    )
    events = _Events()
    logging.getLogger("streamapp.retrain").addHandler(events)
    stop = threading.Event()
    service = RetrainService(settings, bootstrap)
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    mon = monitors(
        STREAMAPP_MODEL__REGISTRY=str(model_registry_dir),
        STREAMAPP_SAMPLING__CANDIDATE_MODE="shadow",
        STREAMAPP_MONITORING__VERDICTS=json.dumps({"min_samples": 300}),
    )
    try:
        wait_ready(mon)
        prim, cand, labels = shadow_events(2400, 0.80, 0.92, seed=3)
        # some labels before their predictions, the rest after: both orders pair
        produce_all(bootstrap, topic_settings.labels, _records(labels[:200]))
        interleaved = [p for pair in zip(prim, cand, strict=True) for p in pair]
        produce_all(bootstrap, topic_settings.prediction_log, _records(interleaved))
        produce_all(bootstrap, topic_settings.labels, _records(labels[200:]))
        ids = {"model": "agrawal-clf", "version": "2", "primary_version": "1", "mode": "shadow"}
        wait_for(lambda: value(mon, "streamapp_candidate_verdict", **ids) == 1.0, 120,
                 what="a promote verdict")
        decisions = [PromotionDecision.model_validate_json(v)
                     for v in read_topic(bootstrap, topic_settings.promotion_decisions)]
        # one record per change: at most one keep_collecting (if the first look was not
        # significant), then the promote
        assert decisions[-1].decision == Decision.PROMOTE and len(decisions) <= 2
        assert all(d.decision == Decision.KEEP_COLLECTING for d in decisions[:-1])
        promote = decisions[-1]
        assert promote.effect > 0 and promote.p_value < promote.alpha
        assert promote.test in ("mcnemar_chi2", "mcnemar_exact")
        assert promote.samples >= 300
        assert value(mon, "streamapp_candidate_effect", **ids, metric="accuracy",
                     bound="lower") > 0
        # every event joined both predictions with its one label
        wait_for(lambda: value(mon, "streamapp_candidate_samples", **ids, arm="candidate")
                 == 2400, what="2400 pairs")
        assert value(mon, "streamapp_join_duplicates_total", kind="prediction") == 0
        deadline = time.monotonic() + 60
        while "candidate_promoted" not in events.kinds and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "candidate_promoted" in events.kinds, events.kinds
        assert registry.pointer("agrawal-clf") == "2"
        assert registry.pointer("agrawal-clf", "candidate") is None
    finally:
        stop.set()
        thread.join(30)
        logging.getLogger("streamapp.retrain").removeHandler(events)
