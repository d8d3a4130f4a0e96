"""The role host's order of parts, with a fake role and no broker."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.host import HostContext, NoClusterError, Role, RoleHost, StartupError
from streamapp.host import host as host_module


class FakeBeat:
    def __init__(self, conf: dict[str, Any], topic: str, role: str, snapshot: Any,
                 interval_s: float) -> None:
        self.role, self.snapshot = role, snapshot
        calls.append(f"beat {role} {topic}")

    def start(self) -> FakeBeat:
        return self

    def stop(self) -> None:
        calls.append("beat stop")


calls: list[str] = []


class FakeRole(Role):
    name = "fake"

    def __init__(self, fail_start: bool = False) -> None:
        self.fail_start = fail_start
        self.ctx: HostContext | None = None
        self.probe: str | None = None

    def check(self, settings: Settings) -> None:
        calls.append("check")

    def start(self, ctx: HostContext) -> None:
        calls.append("start")
        self.ctx = ctx
        ctx.health.on_stats('{"brokers": {"k:9092/1": {"state": "UP"}}}')  # as its clients would
        if self.fail_start:
            raise RuntimeError("bad client config")

    def run(self) -> int:
        calls.append("run")
        assert self.ctx is not None
        with urllib.request.urlopen(f"{host.http.url}/health/ready") as r:  # type: ignore[union-attr]
            self.probe = r.read().decode()
        return 7

    def close(self) -> None:
        calls.append("close")


host: RoleHost


@pytest.fixture(autouse=True)
def _no_cluster_io(monkeypatch: pytest.MonkeyPatch) -> None:
    calls.clear()
    monkeypatch.setattr(host_module, "Heartbeat", FakeBeat)
    monkeypatch.setattr(host_module, "wait_for_cluster",
                        lambda conf, timeout, stop, health: calls.append("wait") or True)


def _settings(servers: str | None = "k:9092") -> Settings:
    return Settings(kafka={"bootstrap_servers": servers}, http={"port": 0})


def test_parts_run_in_order_and_the_role_gets_the_context() -> None:
    global host
    role = FakeRole()
    stop = threading.Event()
    host = RoleHost(_settings(), role, prometheus=CollectorRegistry(), stop=stop,
                    install_signals=False)
    assert host.run() == 7
    assert calls == ["check", "wait", "start", "beat fake streamapp.status", "run", "beat stop",
                     "close"]
    assert role.ctx is not None and role.ctx.servers == "k:9092" and role.ctx.stop is stop
    assert not role.ctx.local
    assert role.probe == "ready\n"


def test_a_failed_start_still_closes_the_role() -> None:
    global host
    host = RoleHost(_settings(), FakeRole(fail_start=True), install_signals=False)
    with pytest.raises(RuntimeError, match="bad client config"):
        host.run()
    assert calls == ["check", "wait", "start", "close"]


def test_no_cluster_refuses_before_the_role_is_checked() -> None:
    global host
    host = RoleHost(_settings(None), FakeRole(), install_signals=False)
    with pytest.raises(NoClusterError) as info:
        host.run()
    assert isinstance(info.value, StartupError) and calls == []
    assert str(info.value) == (
        "streamapp fake needs a Kafka cluster: set kafka.bootstrap_servers "
        "(STREAMAPP_KAFKA__BOOTSTRAP_SERVERS), or pass --local-broker for a development broker"
    )
