"""Drift triggers stay calibrated on data whose values repeat, through the live encodings.

A model is registered from tabular data shaped like users' data: prices with few
decimals, one-decimal readings, small counts, an integer category and a boolean,
and scored by tree ensembles whose outputs repeat. A stationary stream from the same
generator then goes through the real scoring worker (in-memory source and sink: the
producer's JSON, the scorer's decode, float32 encoding, ONNX Runtime and the
prediction-log encoding) and the monitor's decode and histograms. Each drift trigger
(feature drift, prediction drift) is evaluated on consecutive windows against its
calibrated thresholds. The calibration makes an alarm in a block of ``W`` events at
most ``W / target`` likely, so the alarms must stay within that rate's Poisson bound.

Before the profile and the monitor binned one numeric representation, edges at
``float32(0.7) = 0.69999998`` put a live ``0.7`` in the next bin and every window
alarmed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from benchmarks.drift.repeated import events, families, logged, users_data
from streamapp.monitoring.dataplane.records import LoggedRecord
from streamapp.registration import register
from streamapp.registry.manifest import ReferenceProfile
from streamapp.statistics import binning as stats
from streamapp.statistics.spec import PREDICTION, ModelSpec

W = 2_000
TARGET = 40_000.0
"""Expected events between false alarms: a window alarms with probability <= W / TARGET."""
EVENTS = 40_000
FAMILIES = families()


def alarms(spec: ModelSpec, profile: ReferenceProfile,
           preds: list[LoggedRecord]) -> dict[str, tuple[int, int]]:
    """Per trigger: (windows that alarmed, windows evaluated) over consecutive windows of W."""
    assert profile.calibration is not None
    cal = profile.calibration.for_window(W)
    assert cal is not None and cal.feature_drift and cal.prediction_drift
    triggers = {"feature_drift": cal.feature_drift, "prediction_drift": cal.prediction_drift}
    expected = {c.name: c.expected for c in [*spec.columns, spec.prediction]}
    out = {name: (0, 0) for name in triggers}
    for start in range(0, len(preds) - W + 1, W):
        hist, quality = spec.histograms(preds[start:start + W])
        assert quality == {}, f"values the monitor could not bin: {quality}"
        for name, trig in triggers.items():
            fired = any(stats.psi(expected[col], hist[col]) > limit
                        for col, limit in trig.thresholds.items())
            hits, windows = out[name]
            out[name] = (hits + fired, windows + 1)
    return out


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    places=st.integers(0, 2),
    family=st.sampled_from(sorted(FAMILIES)),
    seed=st.integers(0, 10_000),
)
def test_false_alarms_stay_within_target_on_repeated_values(
    tmp_path_factory: Any, places: int, family: str, seed: int
) -> None:
    registry = tmp_path_factory.mktemp("registry")
    train, y_class, y_value = users_data(4_000, seed, places)
    hold, h_class, h_value = users_data(2_000, seed + 1, places)
    regression = family.endswith("regression")
    y, y_hold = (y_value, h_value) if regression else (y_class, h_class)
    model = FAMILIES[family](seed).fit(train.to_numpy(dtype=np.float32), y)
    made = register(
        model, train, y, name="users", registry=registry, categorical=["level"],
        holdout=hold, y_holdout=y_hold, drift_target=TARGET, drift_windows=(W,), seed=seed,
    ).version
    assert made.manifest.features[-1].categories == [False, True]
    live, _, _ = users_data(EVENTS, seed + 2, places)
    preds = logged(registry, "users", events(live))
    profile = ReferenceProfile.load(made.path)
    spec = ModelSpec(made.manifest, profile)
    assert sum(spec.histograms(preds[:W])[0][PREDICTION]) == W
    for trigger, (hits, windows) in alarms(spec, profile, preds).items():
        bound = poisson.ppf(0.999, windows * W / TARGET)
        assert hits <= bound, (
            f"{family}, {places} decimals: {trigger} alarmed in {hits} of {windows} stationary "
            f"windows of {W} (target: 1 per {TARGET:g} events, Poisson bound {bound:g})"
        )
