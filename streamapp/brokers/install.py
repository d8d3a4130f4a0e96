"""``streamapp broker install``: the Apache Kafka jars from Maven Central, outside site-packages.

The same download as ``scripts/install-kafka.sh`` (``mvn dependency:copy-dependencies``
on a pom naming Kafka and its log4j2 binding), into :func:`user_kafka_libs` by
default, so an installed (non-editable) streamapp finds them. The versions match
``deploy/kafka/pom.xml`` (a unit test checks it). Needs ``mvn`` and, to run the
broker, a JRE 17+.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"

POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.streamapp</groupId>
  <artifactId>streamapp-kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


class InstallError(RuntimeError):
    """Maven is missing or could not fetch the jars (the message says which)."""


def user_kafka_libs() -> Path:
    """``$XDG_CACHE_HOME/streamapp/kafka-<version>/lib`` (default ``~/.cache/...``).

    >>> user_kafka_libs().parts[-3:-1] == ("streamapp", f"kafka-{KAFKA_VERSION}")
    True
    """
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "streamapp" / f"kafka-{KAFKA_VERSION}" / "lib"


def install_kafka(dest: Path | None = None) -> Path:
    """Fetch the jars into ``dest`` (default :func:`user_kafka_libs`); returns the folder.

    Idempotent: a folder that already holds this Kafka version's jar is left alone.
    Raises :class:`InstallError` with Maven's output tail when the download fails.
    """
    dest = dest or user_kafka_libs()
    if any(dest.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InstallError("mvn not found: install Maven (apt-get install maven) and a JRE 17+")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="streamapp-pom-") as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(POM)
        done = subprocess.run(
            [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(pom),
             "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={staging}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        output = (done.stdout + done.stderr)[-1500:]
        raise InstallError(f"Maven could not fetch the Kafka jars: {output}")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest
