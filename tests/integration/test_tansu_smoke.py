"""The no-Java fallback broker (Tansu) keeps working: start, topics, round trip, kcat, scoring.

Debian's kcat (librdkafka 2.0.2) misparses Tansu's ApiVersions v3 answer ("Read
underflow"), so for Tansu only kcat is pointed at the newer librdkafka bundled in
the confluent-kafka wheel; against Apache Kafka it runs unchanged.
"""

from __future__ import annotations

import glob
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamapp.brokers import BrokerError, TansuBroker
from streamapp.config import BrokerSettings, Settings
from streamapp.kafka.topics import ensure_topics
from tests.integration.conftest import consume_n, produce_all
from tests.kafka_support import make_topics
from tests.scoring_support import good_events, running_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tansu() -> Iterator[TansuBroker]:
    with TansuBroker() as running:
        yield running


def test_missing_binary_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="STREAMAPP_BROKER__BINARY"):
        TansuBroker(BrokerSettings(binary=tmp_path / "nope"))


def test_tansu_roundtrip_and_kcat(tansu: TansuBroker, unique: str, tmp_path: Path) -> None:
    import confluent_kafka

    topic = f"tansu-{unique}"
    ensure_topics({"bootstrap.servers": tansu.bootstrap_servers}, {topic: 2})
    produce_all(tansu.bootstrap_servers, topic, [(f"k{i}".encode(), b"v") for i in range(20)])
    assert len(consume_n(tansu.bootstrap_servers, topic, 20, timeout=30)) == 20
    libs = Path(confluent_kafka.__file__).parents[1] / "confluent_kafka.libs"
    bundled = glob.glob(str(libs / "librdkafka*.so*"))
    env = dict(os.environ)
    if bundled:
        (tmp_path / "librdkafka.so.1").symlink_to(bundled[0])
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(tmp_path), str(libs)])
    out = subprocess.run(
        ["kcat", "-b", tansu.bootstrap_servers, "-C", "-t", topic, "-o", "beginning", "-e"],
        capture_output=True, text=True, timeout=30, check=True, env=env,
    )  # fmt: skip
    assert out.stdout.split() == ["v"] * 20


def test_scoring_worker_on_tansu(tansu: TansuBroker, unique: str, model_registry_dir: Path) -> None:
    topics = make_topics("tansu", unique)
    ensure_topics({"bootstrap.servers": tansu.bootstrap_servers}, topics.all_topics())
    settings = Settings(
        kafka={"bootstrap_servers": tansu.bootstrap_servers},
        topics=topics.model_dump(),
        model={"registry": model_registry_dir, "device": "cpu"},
        scoring={"group_id": f"g-{unique}", "session_timeout_ms": 6000},
    )
    with running_worker(settings):
        events = good_events(200, prefix=f"t{unique}-")
        produce_all(tansu.bootstrap_servers, topics.events, events)
        got = consume_n(tansu.bootstrap_servers, topics.predictions, 200, timeout=90)
    assert {m.key() for m in got} == {k for k, _v in events}
