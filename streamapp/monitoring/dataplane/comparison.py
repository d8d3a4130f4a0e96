"""Candidate-vs-primary counts folded in the data plane (the inputs of canary and shadow verdicts).

Both predictions of an event (primary and shadow) are keyed by its event id, so they
meet in one join partition; the join pairs them with the one label
(:func:`streamapp.monitoring.dataplane.join.join_batch`). This module reduces one
checkpoint's pairs and outcomes to integer counts and fixed-point sums that merge
exactly across workers, partitions and checkpoints. They travel in the candidate's
:class:`~streamapp.statistics.summary.Summary` (``versus``), keyed
``"<primary version>/<count>"``, so every count of one candidate meets in one
summaries partition and one policy agent.

Shadow (paired, per event): ``n`` pairs with a valid label; classification ``b``
(only the candidate right) and ``c`` (only the primary right); regression the
fixed-point sums ``d`` and ``d2`` of d = |e_primary| - |e_candidate| and a
histogram ``h<bin>`` of d (:func:`~streamapp.statistics.verdict_stats.hist_index`).

Canary (unpaired, matched buckets): the candidate's outcomes (its canary hash share)
and the primary's (the rest) count only in the (join partition, checkpoint,
event-time bucket) cells holding outcomes of both, so the two arms cover the same
time and the primary's history before the candidate never enters. Counts ``cn`` /
``pn`` and ``cright`` / ``pright`` (classification) or ``cabs`` / ``pabs`` and ``csq``
/ ``psq`` (regression, fixed point).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from streamapp.monitoring.dataplane.records import LabelRecord, Logged
from streamapp.monitoring.spec_cache import SpecCache
from streamapp.statistics.spec import ModelSpec
from streamapp.statistics.summary import fixed
from streamapp.statistics.verdict_stats import hist_index

Key = tuple[str, str, str]
"""(model, candidate version, variant) of the candidate's summary."""
Pair = tuple[Logged, Logged, LabelRecord]
"""(primary prediction, candidate prediction, label) of one event."""


def outcome_value(spec: ModelSpec, pred: Logged, label: LabelRecord) -> float | None:
    """1.0 / 0.0 (classification: right / wrong) or |error| (regression); None when invalid."""
    if spec.classes is not None:
        y, p = spec.class_index(label.label), spec.class_index(pred.predicted_label)
        return None if y < 0 or p < 0 else float(y == p)
    value = label.label
    if (pred.predicted_value is None or isinstance(value, bool)
            or not isinstance(value, int | float) or not math.isfinite(float(value))):
        return None
    return abs(float(value) - float(pred.predicted_value))


def versus(
    specs: SpecCache, bucket_s: float, pairs: Iterable[Pair],
    joined: Iterable[tuple[Logged, LabelRecord]],
) -> dict[Key, dict[str, int]]:
    """The comparison counts of one checkpoint of one join partition, per candidate summary."""
    out: dict[Key, dict[str, int]] = defaultdict(dict)
    _shadow(specs, pairs, out)
    outcomes = joined if isinstance(joined, list) else list(joined)
    if any(pred.variant == "canary" for pred, _label in outcomes):  # else no cell has both arms
        _canary(specs, bucket_s, outcomes, out)
    return {k: v for k, v in out.items() if v}


def _add(target: dict[str, int], key: str, value: int) -> None:
    if value:
        target[key] = target.get(key, 0) + value


def _shadow(specs: SpecCache, pairs: Iterable[Pair], out: dict[Key, dict[str, int]]) -> None:
    values: dict[tuple[Key, str, bool], list[tuple[float, float]]] = defaultdict(list)
    for prim, cand, label in pairs:
        if cand.model_version == prim.model_version:
            continue  # a pointer move in flight scored one version in both slots: no contrast
        spec_p = specs.get(prim.model_name, prim.model_version)
        spec_c = specs.get(cand.model_name, cand.model_version)
        if spec_p is None or spec_c is None:
            continue
        vp, vc = outcome_value(spec_p, prim, label), outcome_value(spec_c, cand, label)
        if vp is None or vc is None:
            continue
        key = (cand.model_name, cand.model_version, cand.variant)
        values[(key, prim.model_version, spec_c.classes is not None)].append((vp, vc))
    for (key, primary, is_clf), rows in values.items():
        target = out[key]
        a = np.asarray(rows, dtype=np.float64)
        _add(target, f"{primary}/n", len(rows))
        if is_clf:
            _add(target, f"{primary}/b", int(np.count_nonzero((a[:, 1] == 1) & (a[:, 0] == 0))))
            _add(target, f"{primary}/c", int(np.count_nonzero((a[:, 1] == 0) & (a[:, 0] == 1))))
            continue
        d = a[:, 0] - a[:, 1]  # |e_primary| - |e_candidate|: positive when the candidate is better
        _add(target, f"{primary}/d", fixed(d.tolist()))
        _add(target, f"{primary}/d2", fixed((d * d).tolist()))
        bins, counts = np.unique(hist_index(d), return_counts=True)
        for b, c in zip(bins.tolist(), counts.tolist(), strict=True):
            _add(target, f"{primary}/h{b}", c)


def _canary(
    specs: SpecCache, bucket_s: float, joined: Iterable[tuple[Logged, LabelRecord]],
    out: dict[Key, dict[str, int]],
) -> None:
    # (model, bucket) -> {(version, variant): [outcome values]}
    cells: dict[tuple[str, int], dict[tuple[str, str], list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    has_canary: set[tuple[str, int]] = set()
    kinds: dict[str, bool] = {}
    for pred, label in joined:
        if pred.variant not in ("canary", "primary"):
            continue
        spec = specs.get(pred.model_name, pred.model_version)
        if spec is None:
            continue
        value = outcome_value(spec, pred, label)
        if value is None:
            continue
        cell = (pred.model_name, int(pred.event_time.timestamp() // bucket_s))
        cells[cell][(pred.model_version, pred.variant)].append(value)
        kinds[pred.model_name] = spec.classes is not None
        if pred.variant == "canary":
            has_canary.add(cell)
    for cell in has_canary:
        arms = cells[cell]
        model, is_clf = cell[0], kinds[cell[0]]
        prims = [(v, vals) for (v, var), vals in arms.items() if var == "primary"]
        for (cand, variant), cvals in arms.items():
            if variant != "canary":
                continue
            target = out[(model, cand, "canary")]
            for primary, pvals in prims:
                if primary == cand:
                    continue  # one version in both arms (a pointer move in flight)
                for arm, vals in (("c", cvals), ("p", pvals)):
                    _add(target, f"{primary}/{arm}n", len(vals))
                    if is_clf:
                        _add(target, f"{primary}/{arm}right", int(sum(vals)))
                    else:
                        _add(target, f"{primary}/{arm}abs", fixed(vals))
                        _add(target, f"{primary}/{arm}sq", fixed([v * v for v in vals]))
