"""Broker killed (SIGKILL) and restarted empty during load: the worker survives, logs the
outage, reconnects, and scores everything produced once the topics exist again.

The embedded broker is memory-only: its restart loses every topic, record,
committed offset and group. What was on the broker is the broker's loss; the
scenario checks that streamapp loses nothing produced after the restart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from streamapp.config import BrokerSettings
from streamapp.kafka.embedded import EmbeddedBroker, free_port
from streamapp.kafka.topics import ensure_topics
from tests.reliability.conftest import Record, Spawn, make_topics, scoring_env
from tests.reliability.kafka_io import delivery_summary, produce_all, read_keys
from tests.reliability.sizes import Sizes
from tests.scoring_support import good_events


def test_broker_restart_worker_reconnects_and_resumes(
    registry_dir: Path, unique: str, spawn: Spawn, sizes: Sizes, record: Record
) -> None:
    port = free_port()
    topics = make_topics(unique)
    broker = EmbeddedBroker(BrokerSettings(port=port)).start()
    try:
        bootstrap = broker.bootstrap_servers
        ensure_topics({"bootstrap.servers": bootstrap}, topics.all_topics())
        worker = spawn(
            "score", ["score"], scoring_env(bootstrap, topics, registry_dir, f"g-{unique}")
        )
        worker.wait_ready()
        n = sizes.broker_events
        before = good_events(n, prefix=f"a{unique}-")
        produce_all(bootstrap, topics.events, before)
        ids_before = {k.decode() for k, _v in before}
        seen_before, lost_before, _ = delivery_summary(
            read_keys(bootstrap, topics.predictions, ids_before, timeout=120, settle=0.5),
            ids_before,
        )
        assert lost_before == 0

        logged_before = len(worker.log_text())
        broker.kill()
        killed_at = time.monotonic()
        tick = threading.Event()

        def outage_lines() -> list[str]:
            text = worker.log_text()[logged_before:]
            return [line for line in text.splitlines() if "refused" in line.lower()]

        # the worker must keep trying (and say so) while the broker is down
        while not outage_lines() and time.monotonic() - killed_at < 30:
            tick.wait(0.2)
        outage_log = outage_lines()
        remaining = sizes.broker_outage_s - (time.monotonic() - killed_at)
        if remaining > 0:
            tick.wait(remaining)  # the fault's duration
        ready_during_outage = worker.get("/health/ready")[0]
        assert worker.alive(), worker.log_tail()
        down_s = time.monotonic() - killed_at

        broker = EmbeddedBroker(BrokerSettings(port=port)).start()
        restarted_at = time.monotonic()
        ensure_topics({"bootstrap.servers": bootstrap}, topics.all_topics())
        after = good_events(n, prefix=f"b{unique}-", seed=11)
        produce_all(bootstrap, topics.events, after)
        ids_after = {k.decode() for k, _v in after}
        preds = read_keys(bootstrap, topics.predictions, ids_after, timeout=180, settle=1.0)
        recovered_s = time.monotonic() - restarted_at
        _seen, lost, dups = delivery_summary(preds, ids_after)
        alive = worker.alive()
        code = worker.stop()
        record(
            scenario="broker SIGKILL + restart (memory-only, empty)",
            load=f"{n} events before, {n} after the restart",
            faults=f"broker SIGKILL, down {down_s:.1f}s, restarted empty on the same port",
            events_in=2 * n,
            predictions_out=seen_before + sum(preds[k] for k in ids_after),
            lost=lost,
            duplicated=dups,
            recovery_s=f"restart -> all {n} new events scored: {recovered_s:.1f}",
            outage_log=outage_log[:1][0][:200] if outage_log else "",
            ready_during_outage=ready_during_outage,
        )
        assert outage_log, "the broker outage was not logged"
        assert alive and code == 0
        assert lost == 0, f"{lost} of {n} events produced after the restart were never scored"
    finally:
        broker.stop()
