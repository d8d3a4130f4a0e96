"""One label mapping everywhere: monitor, retrainer and registration agree on every label."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.labels import ClassMap, canonical, regression_target
from streamapp.registry.manifest import (
    CategoricalProfile,
    FeatureSpec,
    Manifest,
    OutputSpec,
    ReferenceProfile,
    Task,
)
from streamapp.retrain.dataset import target
from streamapp.statistics.spec import ModelSpec


def _monitor(manifest: Manifest) -> ModelSpec:
    """The monitor's view of a version (its class mapping is what is under test)."""
    classes = manifest.output.classes or []
    profile = ReferenceProfile(
        model_name=manifest.name,
        model_version=manifest.version,
        prediction=CategoricalProfile(
            frequencies={str(c): 1.0 / len(classes) for c in classes}, count=len(classes)
        ),
    )
    return ModelSpec(manifest, profile)


def _manifest(classes: list[int | str]) -> Manifest:
    return Manifest(
        name="m",
        version="1",
        task=Task.BINARY if len(classes) == 2 else Task.MULTICLASS,
        features=[FeatureSpec(name="x", type="numeric")],
        output=OutputSpec(classes=classes),
        artifacts=[{"format": "onnx", "path": "model.onnx", "sha256": "0" * 64}],
        created_at=datetime.now(UTC),
    )


def _representations(n: int) -> list[object]:
    reps: list[object] = [n, str(n), float(n), f"{n}.0", f" {n} "]
    if n in (0, 1):
        reps.append(bool(n))
    return reps


@given(
    classes=st.lists(st.integers(-50, 50), min_size=2, max_size=6, unique=True),
    as_text=st.booleans(),
    pick=st.integers(0, 5),
    data=st.data(),
)
def test_every_representation_maps_to_the_same_class_everywhere(
    classes: list[int], as_text: bool, pick: int, data: st.DataObject
) -> None:
    declared: list[int | str] = [str(c) for c in classes] if as_text else list(classes)
    manifest = _manifest(declared)
    monitor = _monitor(manifest)
    expected = pick % len(classes)
    label = data.draw(st.sampled_from(_representations(classes[expected])))
    assert ClassMap(declared).index(label) == expected
    assert monitor.class_index(label) == expected
    assert target(manifest, label) == expected


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()))
def test_canonical_is_idempotent_on_its_own_output(value: object) -> None:
    key = canonical(value)
    assert canonical(key) == key


def test_unknown_label_is_rejected_by_the_retrainer_and_ignored_by_the_monitor() -> None:
    manifest = _manifest([0, 1])
    monitor = _monitor(manifest)
    assert monitor.class_index("2") == -1
    with pytest.raises(ValueError, match="not one of"):
        target(manifest, 2.5)


def test_classes_that_collide_are_refused_by_the_manifest() -> None:
    with pytest.raises(ValueError, match="same label"):
        _manifest([1, "1"])


@pytest.mark.parametrize(("label", "value"), [(1, 1.0), ("2.5", 2.5), (True, None), ("x", None),
                                            (10**400, None), ("1e400", None)])
def test_regression_targets(label: object, value: float | None) -> None:
    assert regression_target(label) == value
