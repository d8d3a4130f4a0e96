"""Apache Kafka with a persistent log is SIGKILLed and restarted during steady traffic: the
scoring worker logs the outage, reconnects, and every event produced is scored (0 lost).

Unlike the memory-only Tansu, the restarted broker keeps its log, committed offsets
and groups, so nothing produced before, during or after the outage may be missing.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from streamapp.brokers import ApacheKafka
from streamapp.config import BrokerSettings
from streamapp.kafka.topics import ensure_topics
from tests.reliability.conftest import Record, StartScorer, make_topics
from tests.reliability.kafka_io import PacedProducer, delivery_summary, read_keys
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events


def test_broker_restart_with_persistent_log_loses_nothing(
    tmp_path: Path, unique: str, start_scorer: StartScorer, sizes: Sizes, record: Record
) -> None:
    broker = ApacheKafka(BrokerSettings(data_dir=tmp_path / "kafka")).start()
    try:
        bootstrap = broker.bootstrap_servers
        topics = make_topics(unique)
        ensure_topics(broker.client_conf(), topics.all_topics())
        worker = start_scorer(bootstrap_servers=bootstrap, topics=topics)
        n = sizes.broker_events
        rate = n / 12  # ~12 s of traffic; the broker dies a third of the way in
        events = good_events(n, prefix=f"a{unique}-")
        load = PacedProducer(bootstrap, topics.events, events, rate)
        load.start()
        tick = threading.Event()
        while load.acked < n // 3:
            tick.wait(0.05)
        logged_before = len(worker.log_text())
        broker.kill()
        killed_at = time.monotonic()

        def outage_lines() -> list[str]:
            text = worker.log_text()[logged_before:]
            return [line for line in text.splitlines() if "refused" in line.lower()]

        while not outage_lines() and time.monotonic() - killed_at < 30:
            tick.wait(0.2)
        outage_log = outage_lines()
        remaining = sizes.broker_outage_s - (time.monotonic() - killed_at)
        if remaining > 0:
            tick.wait(remaining)  # the fault's duration
        ready_during_outage = worker.get("/health/ready")[0]
        assert worker.alive(), worker.log_tail()
        down_s = time.monotonic() - killed_at

        broker.start()
        restarted_at = time.monotonic()
        load.join(180)
        ids = {k.decode() for k, _v in events}
        preds = read_keys(bootstrap, topics.predictions, ids, timeout=180, settle=1.0)
        recovered_s = time.monotonic() - restarted_at
        seen, lost, dups = delivery_summary(preds, ids)
        alive = worker.alive()
        code = worker.stop()
        record(
            scenario="Apache Kafka SIGKILL + restart (persistent log)",
            load=f"{n} events at {rate:.0f}/s",
            faults=f"broker SIGKILL at ~1/3 of the load, down {down_s:.1f}s, same data dir",
            events_in=n,
            events_acked=load.acked,
            producer_errors=len(load.errors),
            predictions_out=seen,
            lost=lost,
            duplicated=dups,
            recovery_s=f"restart -> every event scored: {recovered_s:.1f}",
            outage_log=outage_log[:1][0][:200] if outage_log else "",
            ready_during_outage=ready_during_outage,
        )
        assert outage_log, "the broker outage was not logged"
        assert load.acked == n and not load.errors, load.errors[:3]
        assert alive and code == 0
        assert lost == 0, f"{lost} of {n} events were never scored"
    finally:
        broker.stop()
