"""A request waiting for outcomes logs "collecting" when its count moves, not every poll."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from streamapp.config import Settings
from streamapp.retrain.events import EVENT_KEY, WaitLog
from streamapp.retrain.service import RetrainService
from tests.unit.retrain.outcomes import REQUEST


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_waiting_request_logs_when_its_count_moves_or_twice_a_minute(
    model_registry_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        kafka={"bootstrap_servers": "127.0.0.1:1"},
        model={"registry": str(model_registry_dir)},
        retrain={"min_samples": 300, "max_wait_s": 3600},
        log={"repeat_interval_s": 30},
    )
    service = RetrainService(settings, "127.0.0.1:1")
    clock = Clock()
    service._collecting = WaitLog(settings.log.repeat_interval_s, clock)
    have = [0]
    service.buffer.count_since = lambda model, since: have[0]  # type: ignore[method-assign]

    def poll_for(seconds: int, step: int = 0) -> list[dict[str, object]]:
        caplog.clear()
        for _ in range(seconds):  # the service polls about once a second while it waits
            assert service._advance(REQUEST, since_mono=time.monotonic()) is False
            clock.now += 1.0
            have[0] += step
        return [r.retrain for r in caplog.records  # type: ignore[attr-defined]
                if getattr(r, EVENT_KEY, None) == "collecting"]

    with caplog.at_level(logging.INFO, logger="streamapp.retrain"):
        idle = poll_for(60)
        assert [(e["have"], e["need"]) for e in idle] == [(0, 300), (0, 300)]  # t=0 s, t=30 s
        filling = poll_for(60, step=2)  # 120 outcomes in a minute: a line per 30 (a tenth)
        assert [e["have"] for e in filling] == [0, 30, 60, 90]
