"""A swapped-out model is closed after its last running batch, never under one."""

from __future__ import annotations

from typing import Any

from streamapp.scoring.leases import ModelLeases


class Model:
    name, version = "m", "1"

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_retired_model_closes_after_its_last_batch() -> None:
    leases, old, new = ModelLeases(), Model(), Model()
    m: Any = old
    leases.acquire(m, None)
    leases.acquire(m, None)
    leases.retire(m)
    assert old.closed == 0 and leases.retired == 1
    leases.release(m, None)
    assert old.closed == 0
    leases.release(m, None)
    assert old.closed == 1 and leases.retired == 0
    idle: Any = new
    leases.retire(idle)  # no batch holds it: closed at once
    assert new.closed == 1


def test_failing_close_is_logged_not_raised() -> None:
    class Broken(Model):
        def close(self) -> None:
            raise RuntimeError("device gone")

    leases, m = ModelLeases(), Broken()
    model: Any = m
    leases.retire(model)
