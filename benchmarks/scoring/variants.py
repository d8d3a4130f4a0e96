"""The baselines the scoring benchmark compares with ``streamapp score``.

Run as ``python -m benchmarks.scoring.variants NAME BOOTSTRAP IN_TOPIC OUT_TOPIC N``.
Each reads ``N`` records of ``IN_TOPIC`` (``N=0``: forever, for the latency
phase), writes one output per input to ``OUT_TOPIC`` and prints one JSON line
``{"first": t0, "last": t1, "n": n}`` (wall clock of the first record consumed
and of the last output acknowledged). Prints ``ready`` once it can consume.

The confluent-kafka variants use streamapp's producer defaults (``PRODUCER_DEFAULTS``) and,
like its consumer, TCP_NODELAY (``socket.nagle.disable``),
so the comparison is about the processing, not the client settings.

- ``relay``:   confluent-kafka batch consume → orjson decode → produce (no model; the ceiling)
- ``permsg``:  confluent-kafka poll() one record → pydantic validate → encode →
  score 1 row → produce
- ``faust``:   a faust-streaming agent doing the same per event
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from streamapp.features import FeatureEncoder
from streamapp.kafka.sink import PRODUCER_DEFAULTS
from streamapp.registry.registry import ModelRegistry
from streamapp.schemas import Event


def _assign_all(consumer: Any, topic: str) -> None:
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])


def _model() -> tuple[Any, FeatureEncoder]:
    from streamapp.runtime.loader import load_model

    version = ModelRegistry(__import__("pathlib").Path("models")).resolve("agrawal-clf")
    model = load_model(version, "onnx", "cpu")
    return model, FeatureEncoder(version.manifest.features)


def _score_one(model: Any, encoder: FeatureEncoder, value: bytes) -> tuple[bytes, bytes]:
    event = Event.model_validate_json(value)
    row = np.asarray([encoder.encode(event.features)], dtype=np.float32)
    scores = model.predict(row)[0].tolist()
    out = {
        "event_id": event.event_id, "model_name": model.name, "model_version": model.version,
        "variant": "primary", "scores": scores, "predicted_label": int(np.argmax(scores)),
        "predicted_value": None, "holdout": False, "event_time": event.event_time.isoformat(),
        "scored_time": datetime.now(UTC).isoformat(),
    }
    return event.event_id.encode(), orjson.dumps(out)


def confluent_variant(name: str, bootstrap: str, src: str, dst: str, n: int) -> None:
    from confluent_kafka import Consumer, Producer

    model, encoder = _model() if name == "permsg" else (None, None)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{name}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10,
                         "socket.nagle.disable": True})  # as streamapp's consumer
    producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap})
    _assign_all(consumer, src)
    print("ready", flush=True)
    done = 0
    first = 0.0
    while n == 0 or done < n:
        if name == "relay":
            # As streamapp's source: return at the first record. consume(1000, 0.1) alone held
            # a light load's records up to 100 ms waiting for 1,000 (relay p50 66 ms at 5k/s).
            one = consumer.poll(0.1)
            msgs = [one, *consumer.consume(999, 0)] if one is not None else []
        else:
            one = consumer.poll(0.1)
            msgs = [one] if one is not None else []
        for m in msgs:
            if m.error() is not None:
                continue
            if not first:
                first = time.time()
            if name == "relay":
                obj = orjson.loads(m.value())
                producer.produce(dst, orjson.dumps(obj), m.key())
            else:
                key, value = _score_one(model, encoder, m.value())  # type: ignore[arg-type]
                producer.produce(dst, value, key)
            done += 1
        producer.poll(0)
    producer.flush(60)
    print(orjson.dumps({"first": first, "last": time.time(), "n": done}).decode(), flush=True)
    consumer.close()


def faust_variant(bootstrap: str, src: str, dst: str, n: int) -> None:
    import asyncio
    import os

    import faust

    model, encoder = _model()
    app = faust.App(
        f"bench-faust-{os.getpid()}", broker=f"kafka://{bootstrap}", store="memory://",
        web_enabled=False, web_bind="127.0.0.1", topic_partitions=4,
        broker_session_timeout=6, broker_rebalance_timeout=6, broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(src, value_serializer="raw", key_serializer="raw")
    sink = app.topic(dst, value_serializer="raw", key_serializer="raw")
    state = {"done": 0, "first": 0.0}

    @app.task
    async def announce() -> None:
        print("ready", flush=True)

    @app.agent(source)
    async def score(stream: Any) -> None:
        async for value in stream:
            if not state["first"]:
                state["first"] = time.time()
            key, out = _score_one(model, encoder, value)
            await sink.send(key=key, value=out)
            state["done"] += 1
            if n and state["done"] >= n:
                await app.producer.flush()
                print(orjson.dumps({"first": state["first"], "last": time.time(),
                                    "n": state["done"]}).decode(), flush=True)
                os._exit(0)

    del announce, score
    asyncio.set_event_loop(asyncio.new_event_loop())
    from faust.worker import Worker

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def main(argv: list[str]) -> None:
    name, bootstrap, src, dst, n = argv[0], argv[1], argv[2], argv[3], int(argv[4])
    if name == "faust":
        faust_variant(bootstrap, src, dst, n)
    else:
        confluent_variant(name, bootstrap, src, dst, n)


if __name__ == "__main__":
    main(sys.argv[1:])
