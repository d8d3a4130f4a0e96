"""Streaming drift detectors from river (pinned 0.26.*) behind a small protocol.

river's detector API has moved between releases; everything else in the
monitor talks to :class:`Detector` only.
"""

from __future__ import annotations

from typing import Any, Protocol

from river import drift


class Detector(Protocol):
    """``update`` one value; True when this value raised an alarm."""

    name: str

    def update(self, value: float) -> bool: ...

    def snapshot(self) -> dict[str, float]: ...


class RiverDetector:
    """Adapter for river ``drift.*`` detectors (``update`` then ``drift_detected``)."""

    def __init__(self, name: str, detector: Any) -> None:
        self.name = name
        self._detector = detector
        self.alarms = 0

    def update(self, value: float) -> bool:
        self._detector.update(value)
        fired = bool(self._detector.drift_detected)
        self.alarms += fired
        return fired

    def snapshot(self) -> dict[str, float]:
        return {"alarms": float(self.alarms)}


class ErrorRateAdwin:
    """ADWIN on the error stream that alarms only when the error mean went UP.

    ADWIN also fires when a model gets better; that is no reason to retrain.
    """

    name = "adwin"

    def __init__(self, delta: float = 0.002) -> None:
        self._adwin: Any = drift.ADWIN(delta=delta)  # type: ignore[no-untyped-call]
        self.alarms = 0

    def update(self, value: float) -> bool:
        before = float(self._adwin.estimation)
        self._adwin.update(value)
        fired = bool(self._adwin.drift_detected) and float(self._adwin.estimation) > before
        self.alarms += fired
        return fired

    def snapshot(self) -> dict[str, float]:
        return {"alarms": float(self.alarms), "estimation": float(self._adwin.estimation)}


def page_hinkley() -> RiverDetector:
    """PageHinkley on a feature or score stream (mean shifts in either direction)."""
    return RiverDetector("page_hinkley", drift.PageHinkley(min_instances=200, threshold=50.0))
