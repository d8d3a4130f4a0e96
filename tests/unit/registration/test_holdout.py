"""Honest baselines: metrics, estimator and drift profile from rows the model was not fitted on."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from streamapp.registration import RegistrationError, register
from streamapp.registration.holdout import InSampleWarning
from streamapp.registry.manifest import ReferenceProfile


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": np.round(rng.normal(0, 1, n), 1), "b": rng.normal(0, 1, n),
                          "c": rng.integers(0, 5, n)})
    noisy = frame["a"] + 0.5 * frame["b"] - 0.2 * frame["c"] + rng.normal(0, 1.2, n)
    return frame, (noisy > 0).astype(np.int64).to_numpy()


@pytest.fixture(scope="module")
def overfit() -> tuple[GradientBoostingClassifier, pd.DataFrame, np.ndarray]:
    frame, y = _data(3_000, 0)
    model = GradientBoostingClassifier(n_estimators=150, max_depth=5, random_state=0)
    return model.fit(frame.to_numpy(dtype=np.float32), y), frame, y


def test_training_rows_as_reference_warn_with_the_gap_and_the_fix(
    tmp_path: Path, overfit: tuple[GradientBoostingClassifier, pd.DataFrame, np.ndarray]
) -> None:
    model, frame, y = overfit
    with pytest.warns(InSampleWarning, match="holdout") as caught:
        made = register(model, frame, y, name="gb", registry=tmp_path, drift_target=None)
    training = made.version.manifest.training
    assert training["baseline"] == "reference split"
    gap = float(training["in_sample_accuracy"]) - float(training["cross_validated_accuracy"])
    assert gap > 0.02, training
    assert f"{training['in_sample_accuracy']:.3f}" in str(caught[0].message)


def test_a_holdout_gives_baseline_estimator_and_profile(
    tmp_path: Path, overfit: tuple[GradientBoostingClassifier, pd.DataFrame, np.ndarray]
) -> None:
    model, frame, y = overfit
    hold, y_hold = _data(1_000, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InSampleWarning)  # no check, no warning with a holdout
        made = register(model, frame, y, name="gb", registry=tmp_path, holdout=hold,
                        y_holdout=y_hold, drift_target=None).version
    held_accuracy = float(np.mean(model.predict(hold.to_numpy(dtype=np.float32)) == y_hold))
    in_sample = float(np.mean(model.predict(frame.to_numpy(dtype=np.float32)) == y))
    assert in_sample - held_accuracy > 0.03  # the model is overfit: the holdout matters
    assert made.manifest.baseline_metrics["accuracy"] == pytest.approx(held_accuracy, abs=1e-9)
    assert made.manifest.baseline_metrics["n_validation"] == 1_000
    assert made.manifest.training["baseline"] == "holdout"
    profile = ReferenceProfile.load(made.path)
    assert profile.numeric["a"].count == 1_000  # the drift reference is the holdout
    assert profile.estimator is not None and profile.estimator.samples == 1_000


def test_a_holdout_file_with_the_label_column(tmp_path: Path) -> None:
    frame, y = _data(600, 2)
    hold, y_hold = _data(300, 3)
    model = LogisticRegression().fit(frame.to_numpy(dtype=np.float32), y)
    path = tmp_path / "holdout.csv"
    hold.assign(target=y_hold).to_csv(path, index=False)
    made = register(model, frame.assign(target=y), "target", name="lr",
                    registry=tmp_path / "reg", holdout=path, drift_target=None).version
    expected = float(np.mean(model.predict(hold.to_numpy(dtype=np.float32)) == y_hold))
    assert made.manifest.baseline_metrics["accuracy"] == pytest.approx(expected)


def test_a_model_registered_on_fresh_rows_is_not_warned(tmp_path: Path) -> None:
    frame, y = _data(2_000, 4)
    fresh, y_fresh = _data(2_000, 5)
    model = LogisticRegression().fit(frame.to_numpy(dtype=np.float32), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InSampleWarning)
        made = register(model, fresh, y_fresh, name="lr", registry=tmp_path, drift_target=None)
    assert made.version.manifest.training["baseline"] == "reference split"


def test_holdout_rows_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    frame, y = _data(300, 6)
    model = LogisticRegression().fit(frame.to_numpy(dtype=np.float32), y)
    with pytest.raises(RegistrationError, match=r"holdout: .*feature columns"):
        register(model, frame, y, name="lr", registry=tmp_path,
                 holdout=frame.drop(columns=["c"]), y_holdout=y, drift_target=None)
    with pytest.raises(RegistrationError, match="y_holdout needs holdout"):
        register(model, frame, y, name="lr", registry=tmp_path, y_holdout=y)
