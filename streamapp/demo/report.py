"""The demo report: PNG plots (matplotlib, Agg), ``summary.md``, ``summary.json``.

Rendering is a pure function of a :class:`DemoResult`, so it is unit-tested
with a synthetic result and runs also after an interrupted demo.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from streamapp.demo.result import DemoResult, Marker

MARKER_STYLE = {
    "drift": ("tab:red", "drift starts"),
    "detected": ("tab:orange", "drift detected"),
    "request": ("tab:purple", "retrain requested"),
    "shadow": ("tab:cyan", "new version in shadow"),
    "verdict": ("tab:olive", "shadow verdict"),
    "promotion": ("tab:green", "new version promoted"),
}
RETRAINER_DECISIONS = (
    "promoted", "rejected", "skipped", "failed", "candidate_promoted", "candidate_rolled_back",
    "decision_stale", "decision_failed",
)
"""Retrainer events listed in ``summary.md``."""
FORMAT_NAMES = {"json": "JSON", "avro": "Avro"}
ACCURACY_PNG = "accuracy_drift.png"
THROUGHPUT_PNG = "throughput_latency.png"


def _mark(ax: Any, markers: list[Marker], legend: bool) -> None:
    used: set[str] = set()
    for m in markers:
        color, text = MARKER_STYLE.get(m.kind, ("grey", m.kind))
        label = text if legend and m.kind not in used else None
        if m.kind in ("promotion", "shadow"):
            label = f"v{m.text} {'promoted' if m.kind == 'promotion' else 'in shadow'}"
            label = label if legend else None
        ax.axvline(m.t, color=color, linestyle="--", linewidth=1.2, label=label)
        used.add(m.kind)


def _legend(ax: Any, loc: str) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc=loc, fontsize=8)


def plot_accuracy(result: DemoResult, path: Path) -> Path:
    """Accuracy per version over time (observed and monitor) above feature drift (PSI)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for version, series in sorted(result.accuracy_series.items()):
        if series:
            ts, accs, _ = zip(*series, strict=True)
            top.plot(ts, accs, marker="o", markersize=3, label=f"v{version} accuracy (observed)")
    for version in sorted({v for s in result.samples for v in s.monitor_accuracy}):
        points = [
            (s.t, s.monitor_accuracy[version])
            for s in result.samples
            if version in s.monitor_accuracy
        ]
        ts2, accs2 = zip(*points, strict=True)
        top.plot(ts2, accs2, linestyle=":", label=f"v{version} accuracy (monitor)")
    top.axhline(
        result.verdict.threshold,
        color="grey",
        linewidth=0.8,
        label=f"recovery level {result.verdict.threshold:.2f}",
    )
    _mark(top, result.markers, legend=True)
    top.set_ylim(0.0, 1.02)
    top.set_ylabel("accuracy")
    top.set_title("Accuracy per model version, drift and retraining")
    _legend(top, "lower left")
    features = sorted({f for s in result.samples for f in s.drift})
    peaks = {f: max(s.drift.get(f, 0.0) for s in result.samples) for f in features}
    ts3 = [s.t for s in result.samples]
    for feature in sorted(features, key=lambda f: -peaks[f])[:4]:
        # NaN where the monitor had no value (e.g. just after a promotion): a gap, not a line.
        vals = [s.drift.get(feature, math.nan) for s in result.samples]
        bottom.plot(ts3, vals, label=f"PSI {feature}")
    bottom.axhline(0.25, color="grey", linewidth=0.8, label="PSI threshold 0.25")
    _mark(bottom, result.markers, legend=False)
    bottom.set_ylabel("PSI vs reference (serving version)")
    bottom.set_xlabel("seconds since traffic start")
    _legend(bottom, "upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_throughput(result: DemoResult, path: Path) -> Path:
    """Scored events per second and end-to-end latency p50 / p99."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    thr = [(s.t, s.throughput) for s in result.samples if s.throughput is not None]
    if thr:
        ts, values = zip(*thr, strict=True)
        top.plot(ts, values, color="tab:blue", label="predictions / s")
    top.axhline(
        result.plan.rate, color="grey", linewidth=0.8, label=f"input rate {result.plan.rate:g}/s"
    )
    top.set_ylabel("events / s")
    _legend(top, "lower right")
    for attr, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        points = [(s.t, getattr(s, attr)) for s in result.samples if getattr(s, attr) is not None]
        if points:
            ts2, vals = zip(*points, strict=True)
            bottom.plot(ts2, vals, label=f"latency {label}")
    _mark(top, result.markers, legend=False)
    _mark(bottom, result.markers, legend=False)
    bottom.set_ylabel("end-to-end latency (ms)")
    bottom.set_xlabel("seconds since traffic start")
    _legend(bottom, "upper right")
    top.set_title("Throughput and latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def paragraph(result: DemoResult) -> str:
    """The one-paragraph summary printed on the terminal (and at the top of summary.md)."""
    v = result.verdict
    c = result.counts
    first = {m.kind: m.t for m in reversed(result.markers)}
    parts = [
        f"Sent {int(c.get('events_sent', 0))} events{_as(result.format)} at "
        f"{result.plan.rate:g}/s "
        f"({int(c.get('malformed_sent', 0))} malformed → "
        f"{int(c.get('dead_letters', 0))} dead letters), "
        f"{int(c.get('labels_sent', 0))} labels ({int(c.get('labels_dropped', 0))} never sent).",
        f"Drift injected at t={result.plan.drift_at_s:.0f}s",
    ]
    if "detected" in first or "request" in first:
        t_det = min(first.get("detected", 1e9), first.get("request", 1e9))
        parts[-1] += f", detected at t={t_det:.0f}s"
    parts[-1] += "."
    if v.retrain_requested:
        parts.append(f"Retrain requested at t={first['request']:.0f}s.")
    if "shadow" in first:
        shadow = next(m for m in result.markers if m.kind == "shadow")
        parts.append(f"Version {shadow.text} trained at t={shadow.t:.0f}s and scored in shadow.")
    if "verdict" in first:
        parts.append(f"Shadow verdict at t={first['verdict']:.0f}s: {_verdict_text(result)}.")
    if v.new_version:
        what = (
            f"Production moved to version {v.new_version}" if v.shadowed
            else f"Version {v.new_version} trained and promoted"
        )
        parts.append(f"{what} at t={first['promotion']:.0f}s")
        if v.recovered_accuracy is not None:
            parts[-1] += (
                f"; its accuracy on drifted traffic: {v.recovered_accuracy:.3f} "
                f"over {v.recovered_n} predictions"
            )
        parts[-1] += "."
    verdict = "LOOP CLOSED" if v.closed else "LOOP NOT CLOSED"
    stages = ", ".join(
        f"{name} {'yes' if ok else 'no'}"
        for name, ok in (
            ("drift detected", v.drift_detected),
            ("retrain requested", v.retrain_requested),
            *([("shadow verdict promote", v.shadow_verdict == "promote")] if v.shadowed else []),
            ("promoted", v.promoted),
            (f"recovered ≥ {v.threshold:.2f}", v.recovered),
        )
    )
    tail = " (interrupted)" if result.interrupted else ""
    return " ".join(parts) + f" {verdict}{tail}: {stages}."


def _as(fmt: str) -> str:
    """How the records travelled, for the paragraph (nothing for JSON).

    >>> _as("json"), _as("avro")
    ('', ' as Avro (events, labels and predictions through the schema registry)')
    """
    if fmt == "json":
        return ""
    name = FORMAT_NAMES.get(fmt, fmt)
    return f" as {name} (events, labels and predictions through the schema registry)"


def _verdict_text(result: DemoResult) -> str:
    """The first final verdict marker's text (decision, test, effect, p-value, samples)."""
    return next(m.text for m in result.markers if m.kind == "verdict")


def render(result: DemoResult, out: Path) -> list[Path]:
    """Write both plots, ``summary.md`` and ``summary.json`` into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = [
        plot_accuracy(result, out / ACCURACY_PNG),
        plot_throughput(result, out / THROUGHPUT_PNG),
    ]
    (out / "summary.json").write_text(
        json.dumps(result.to_json(), indent=2, default=str) + "\n", encoding="utf-8"
    )
    files.append(out / "summary.json")
    (out / "summary.md").write_text(markdown(result), encoding="utf-8")
    files.append(out / "summary.md")
    return files


def _retrainer_decision(event: dict[str, Any]) -> str:
    """One list item: a retrain outcome (with its reason) or an action on a verdict."""
    kind = event["event"]
    if kind.startswith(("candidate_", "decision_")):
        why = event.get("why", "")
        return f"{kind}: v{event.get('version')} (verdict {event.get('decision')}) {why}".rstrip()
    where = f" → {event['pointer']}" if event.get("pointer") else ""
    return f"{kind}{where}: {event.get('why', '')}"


def markdown(result: DemoResult) -> str:
    """The Markdown summary: verdict, numbers, timeline, retrain decisions, plots."""
    v = result.verdict
    lat = [s for s in result.samples if s.p99_ms is not None]
    thr = [s.throughput for s in result.samples if s.throughput]
    lines = [
        "# streamapp demo report",
        "",
        paragraph(result),
        "",
        "## Numbers",
        "",
        "| what | value |",
        "|---|---|",
        f"| format | {FORMAT_NAMES.get(result.format, result.format)} |",
    ]
    for key, value in result.counts.items():
        lines.append(f"| {key.replace('_', ' ')} | {value:g} |")
    if thr:
        lines.append(f"| peak throughput (predictions/s) | {max(thr):.0f} |")
    if lat:
        lines.append(
            f"| median p50 latency (ms) | {sorted(s.p50_ms or 0 for s in lat)[len(lat) // 2]:.1f} |"
        )
        lines.append(f"| max p99 latency (ms) | {max(s.p99_ms or 0 for s in lat):.1f} |")
    for version, series in sorted(result.accuracy_series.items()):
        n = sum(x[2] for x in series)
        acc = sum(x[1] * x[2] for x in series) / n if n else float("nan")
        lines.append(f"| v{version} observed accuracy (all its predictions) | {acc:.3f} over {n} |")
    lines.append(f"| recovery level | {v.threshold:.2f} |")
    lines += ["", "## Timeline", "", "| t (s) | event |", "|---|---|"]
    for m in sorted(result.markers, key=lambda m: m.t):
        lines.append(f"| {m.t:.1f} | {MARKER_STYLE.get(m.kind, ('', m.kind))[1]}: {m.text} |")
    decisions = [e for e in result.retrain_events if e.get("event") in RETRAINER_DECISIONS]
    if decisions:
        lines += ["", "## Retrainer decisions", ""]
        lines += [f"- {_retrainer_decision(e)}" for e in decisions]
    if result.decisions:
        lines += ["", "## Monitor verdicts", "", "| t (s) | candidate | mode | decision | test "
                  "| effect | p-value | alpha | samples |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [
            f"| {d['t']:.1f} | v{d['candidate_version']} vs v{d['primary_version']} | "
            f"{d['mode']} | {d['decision']} | {d['test']} | {d['effect']:+.3f} | "
            f"{d['p_value']:.2g} | {d['alpha']:g} | {d['samples']} |"
            for d in result.decisions
        ]
    lines += [
        "",
        "## Plots",
        "",
        f"![accuracy and drift]({ACCURACY_PNG})",
        "",
        f"![throughput and latency]({THROUGHPUT_PNG})",
        "",
    ]
    if result.error:
        lines += ["## Error", "", "```", result.error, "```", ""]
    return "\n".join(lines)
