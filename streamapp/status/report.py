"""``streamapp status``: the running system as Kafka knows it, in one report.

Sources, all read from the cluster: the workers' last heartbeats (status topic,
read from the beginning to its end), the committed offsets of every configured
consumer group against the partitions' end offsets (AdminClient), and what the
monitor and retrainer heartbeats carry (rolling accuracy, drift, open incidents
with evidence, the health of each join store, the last retrain decision). A
request that fails raises ``KafkaException`` (the CLI turns it into one line).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from streamapp.config import Settings
from streamapp.kafka.client_logs import with_client_logging

STALE_BEATS = 3
"""A worker whose last heartbeat is older than this many intervals is reported stale."""


def read_heartbeats(
    conf: dict[str, Any], topic: str, timeout_s: float
) -> dict[str, dict[str, Any]]:
    """The last heartbeat per worker (tombstones remove it); empty if the topic is missing."""
    consumer = Consumer(with_client_logging({
        **conf, "group.id": f"streamapp-status-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "enable.partition.eof": True,
    }))
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return {}
        parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=timeout_s)[1] for p in parts}
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign(parts)
        latest: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.2):
                part = msg.partition() or 0
                if msg.error() is not None or (msg.offset() or 0) + 1 >= ends[part]:
                    pending.discard(part)
                if msg.error() is not None:
                    continue
                key = (msg.key() or b"").decode(errors="replace")
                value = msg.value()
                if value is None:
                    latest.pop(key, None)
                else:
                    latest[key] = json.loads(value)
        return latest
    finally:
        consumer.close()


def group_lag(
    conf: dict[str, Any], groups: dict[str, list[str]], timeout_s: float
) -> list[dict[str, Any]]:
    """Per group, topic and partition: committed offset, end offset and lag (None uncommitted)."""
    admin = AdminClient(with_client_logging(conf))
    topics = sorted({t for ts in groups.values() for t in ts})
    meta = admin.list_topics(timeout=timeout_s).topics
    tps = [TopicPartition(t, p) for t in topics if t in meta for p in meta[t].partitions]
    if not tps:
        return []
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    ends_f = admin.list_offsets({tp: latest for tp in tps}, request_timeout=timeout_s)
    ends = {(tp.topic, tp.partition): f.result().offset for tp, f in ends_f.items()}
    rows = []
    for group, group_topics in groups.items():
        wanted = [tp for tp in tps if tp.topic in group_topics]
        request = [ConsumerGroupTopicPartitions(group, wanted)]
        result = admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in result[group].result().topic_partitions or []
        }
        for tp in wanted:
            key = (tp.topic, tp.partition)
            offset = committed.get(key, -1)
            end = ends[key]
            rows.append({
                "group": group, "topic": tp.topic, "partition": tp.partition,
                "committed": offset if offset >= 0 else None, "end": end,
                "lag": max(0, end - offset) if offset >= 0 else None,
            })
    return rows


def consumer_groups(settings: Settings) -> dict[str, list[str]]:
    """The configured consumer groups and the topics each consumes."""
    t = settings.topics
    return {
        settings.scoring.group_id: [t.events],
        settings.monitoring.app_id: [t.prediction_log, t.labels],
        settings.retrain.group_id: [t.retrain_requests],
    }


def build_report(
    beats: dict[str, dict[str, Any]], lag: list[dict[str, Any]], now: datetime | None = None
) -> dict[str, Any]:
    """Workers (with staleness), models (serving workers, rates, quality), incidents, the
    monitors' join stores (how each partition's store was opened: ``ok`` or ``rebuilt``
    with the reason), lag, and the last retrain decision, from heartbeats and lag rows."""
    now = now or datetime.now(UTC)
    workers = []
    for beat in sorted(beats.values(), key=lambda b: (b.get("role", ""), b.get("worker", ""))):
        age = (now - datetime.fromisoformat(str(beat["heartbeat_at"]))).total_seconds()
        stale = age > STALE_BEATS * float(beat.get("interval_s", 5.0))
        workers.append({**beat, "age_s": round(age, 1), "stale": stale})
    live = [w for w in workers if not w["stale"]]
    models: dict[tuple[str, str, str], dict[str, Any]] = {}
    for w in live:
        if w.get("role") != "score":
            continue
        for variant, version in (("primary", w.get("version")), ("candidate", w.get("candidate"))):
            if version is None:
                continue
            row = models.setdefault((str(w["model"]), str(version), variant), {
                "model": w["model"], "version": version, "variant": variant, "workers": [],
                "consumed_per_s": 0.0, "predictions_per_s": 0.0, "dead_letter_per_s": 0.0,
            })
            row["workers"].append(w["worker"])
            for rate in ("consumed_per_s", "predictions_per_s", "dead_letter_per_s"):
                row[rate] = round(row[rate] + float(w.get(rate) or 0.0), 3)
    quality: dict[tuple[str, str], dict[str, Any]] = {}
    for w in live:
        for q in w.get("quality") or []:
            quality[(str(q["model"]), str(q["version"]))] = q
    for (model, version, _variant), row in models.items():
        q = quality.get((model, version), {})
        row.update({k: q.get(k) for k in ("accuracy", "rmse", "max_psi", "max_psi_feature")})
        row["incident_open"] = q.get("incident_open", False)
    incidents = [q for q in quality.values() if q.get("incident_open")]
    stores = [
        {"worker": w["worker"], **row} for w in live for row in w.get("stores") or []
    ]
    decisions = [w["last_decision"] for w in workers if w.get("last_decision")]
    by_group: dict[str, int] = defaultdict(int)
    for r in lag:
        by_group[r["group"]] += r["lag"] or 0
    return {
        "generated_at": now.isoformat(),
        "workers": workers,
        "models": sorted(models.values(), key=lambda r: (r["model"], r["version"], r["variant"])),
        "quality": sorted(quality.values(), key=lambda q: (q["model"], q["version"])),
        "incidents": incidents,
        "stores": sorted(stores, key=lambda r: (int(r.get("partition", 0)), r["worker"])),
        "lag": lag,
        "lag_by_group": dict(by_group),
        "last_retrain_decision": max(decisions, key=lambda d: str(d.get("ts", "")), default=None),
    }
