"""The tensor workloads on streamapp's torch runtime, on CUDA when present, else CPU.

One run (``benchmarks/gpu/run.sh`` on a GPU machine, under 8 minutes; ``--quick`` on CPU):

1. **check**: each model's outputs on the device (fp32, and bf16 / fp16 on CUDA) against
   the CPU's fp32 outputs on the same inputs, within tolerance;
2. **batch sweep**: events/s against batch size for a ResNet-50-sized CNN (random weights,
   224x224 RGB) and a small transformer text classifier (random weights);
3. **micro-batching vs per event**: the best batch against batch size 1;
4. **length-aware buckets vs padding to the batch's longest**, on a stream of mixed
   lengths (8-256 tokens, log-normal): events/s and p99 per batch.

Everything runs through :class:`streamapp.runtime.torch.TorchModel` (TorchScript
artifact, named inputs, per-thread CUDA stream and pinned buffers, precision) and
:func:`streamapp.preprocess.text.default_buckets`, the code a worker runs.
Weights do not change the cost, so they are random and seeded.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmarks.gpu.models import TextClassifier, resnet50
from streamapp.preprocess.text import default_buckets, pack
from streamapp.registry.manifest import FeatureSpec, Manifest
from streamapp.runtime.torch import TorchModel

Inputs = dict[str, np.ndarray]


def manifest(name: str, features: list[FeatureSpec], classes: int, precision: str) -> Manifest:
    return Manifest(
        name=name, version=precision, task="multiclass_classification", features=features,
        output={"name": "probs", "classes": list(range(classes))},
        artifacts=[{"format": "torchscript", "path": "model.pt", "sha256": "0" * 64}],
        created_at=datetime.now(UTC),
        processing={"pre": "streamapp.preprocess.text:Tokenize"}
        if features[0].type == "text" else None,
    )


def served(module: nn.Module, example: tuple[torch.Tensor, ...], spec: Manifest, device: str,
           precision: str, workdir: Path) -> TorchModel:
    """``module`` as a worker serves it: scripted (traced where it cannot be) to TorchScript,
    loaded by TorchModel (a trace would bake fp32 casts into a bf16 / fp16 model)."""
    path = workdir / f"{spec.name}.pt"
    if not path.exists():
        with torch.no_grad():
            try:
                archive = torch.jit.script(module.eval())
            except Exception:  # unscriptable Python: trace it
                archive = torch.jit.trace(module.eval(), example)  # type: ignore[no-untyped-call]
            archive.save(str(path))  # type: ignore[no-untyped-call]
    return TorchModel(spec, path, device, intra_threads=torch.get_num_threads(),
                      precision=precision)  # type: ignore[arg-type]


def timed(call: Callable[[], Any], seconds: float, sync: bool) -> tuple[int, list[float]]:
    """Calls of ``call`` for about ``seconds`` (after three warm-ups: TorchScript's profiling
    executor specialises a graph on its second call): (count, each one's time)."""
    for _ in range(3):
        call()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        started = time.perf_counter()
        call()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return len(times), times


def images(n: int, size: int, seed: int) -> Inputs:
    return {"input": np.random.default_rng(seed).standard_normal(
        (n, 3, size, size), dtype=np.float32)}


def token_lengths(n: int, seed: int, longest: int) -> np.ndarray:
    """Mixed lengths: log-normal around 24 tokens, 8 to ``longest``."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(math.log(24), 0.8, n).astype(np.int64), 8, longest)


def token_batches(lengths: np.ndarray, vocab: int, bucketed: bool, seed: int
                  ) -> list[tuple[np.ndarray, Inputs]]:
    """One batch's model calls: per bucket (``default_buckets``) or one padded to its longest."""
    rng = np.random.default_rng(seed)
    flat = rng.integers(1, vocab, int(lengths.sum()), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    longest = int(lengths.max())
    if bucketed:
        edges = default_buckets(max(256, longest))
        which = np.searchsorted(edges, lengths)
        groups = [(np.flatnonzero(which == b), edges[b]) for b in np.unique(which)]
    else:
        groups = [(np.arange(len(lengths)), longest)]
    out = []
    for rows, width in groups:
        ids, mask = pack(flat, starts, lengths, rows.astype(np.int64), int(width), 0)
        out.append((rows, {"input_ids": ids, "attention_mask": mask}))
    return out


def check(models: dict[str, tuple[TorchModel, TorchModel, Inputs]], tolerance: dict[str, float]
          ) -> list[dict[str, Any]]:
    """Device outputs against CPU fp32 outputs on the same inputs."""
    rows = []
    for name, (cpu, device_model, inputs) in models.items():
        expected = cpu.predict_inputs(inputs)
        got = device_model.predict_inputs(inputs)
        diff = float(np.abs(expected - got).max())
        agree = float((expected.argmax(1) == got.argmax(1)).mean())
        limit = tolerance[device_model.precision]
        rows.append({"model": name, "device": device_model.device,
                     "precision": device_model.precision, "max_abs_diff": diff,
                     "argmax_agreement": agree, "tolerance": limit, "ok": diff <= limit})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CPU smoke run)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--cnn-batches", default=None, help="comma-separated batch sizes")
    parser.add_argument("--text-batches", default=None, help="comma-separated batch sizes")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    quick = args.quick
    size = 32 if quick else 224
    seconds = 0.1 if quick else args.seconds
    cnn_batches = ([int(b) for b in args.cnn_batches.split(",")] if args.cnn_batches
                   else [1, 4, 16] if quick else [1, 8, 32, 64, 128, 256])
    text_batches = ([int(b) for b in args.text_batches.split(",")] if args.text_batches
                    else [1, 16, 64] if quick else [1, 32, 128, 512, 1024])
    vocab, longest = 8000, 256
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.node(),
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} "
        "threads)", "torch": torch.__version__, "quick": quick}
    workdir = Path(tempfile.mkdtemp(prefix="streamapp-gpu-bench-"))

    cnn = resnet50(num_classes=1000, width=8 if quick else 64)
    text = TextClassifier(vocab, d_model=32 if quick else 256, layers=1 if quick else 4,
                          heads=4, classes=2)
    img_spec = manifest("cnn", [FeatureSpec(name="images", type="tensor", dtype="float32",
                                            input="input", shape=[3, size, size])], 1000, "fp32")
    txt_spec = manifest("text", [FeatureSpec(name="text", type="text", max_length=4096)], 2,
                        "fp32")
    example_img = torch.from_numpy(images(2, size, 1)["input"])
    ids = torch.randint(1, vocab, (2, 16))
    example_txt = (ids, torch.ones_like(ids))
    precisions = ["fp32", "bf16", "fp16"] if cuda else ["fp32", "bf16"]
    serve: dict[tuple[str, str, str], TorchModel] = {}

    def model(kind: str, dev: str, precision: str) -> TorchModel:
        key = (kind, dev, precision)
        if key not in serve:
            module, example, spec = ((cnn, (example_img,), img_spec) if kind == "cnn"
                                     else (text, example_txt, txt_spec))
            serve[key] = served(module, example, spec.model_copy(update={"version": precision}),
                                dev, precision, workdir)
        return serve[key]

    lengths = token_lengths(64, 3, longest)
    (_, text_inputs), = token_batches(lengths, vocab, False, 4)
    check_inputs = {"cnn": images(8, size, 2), "text": text_inputs}
    to_check = {f"{kind}-{p}": (model(kind, "cpu", "fp32"), model(kind, device, p),
                                check_inputs[kind])
                for kind in ("cnn", "text") for p in precisions if (device, p) != ("cpu", "fp32")}
    results["check"] = check(to_check, {"fp32": 1e-3, "bf16": 0.05, "fp16": 0.02})

    sweep = []
    for kind, batches in (("cnn", cnn_batches), ("text", text_batches)):
        for precision in precisions:
            served_model = model(kind, device, precision)
            for batch in batches:
                if kind == "cnn":
                    inputs = images(batch, size, 5)
                    calls = [(np.arange(batch), inputs)]
                else:
                    calls = token_batches(token_lengths(batch, 6, longest), vocab, True, 7)

                def run(calls: list[tuple[np.ndarray, Inputs]] = calls,
                        m: TorchModel = served_model) -> None:
                    for _, inputs in calls:
                        m.predict_inputs(inputs)

                count, times = timed(run, seconds, cuda)
                sweep.append({"model": kind, "precision": precision, "batch": batch,
                              "events_per_s": batch * count / sum(times),
                              "p50_ms": 1e3 * float(np.percentile(times, 50)),
                              "p99_ms": 1e3 * float(np.percentile(times, 99))})
    results["sweep"] = sweep
    results["micro_batching"] = [
        {"model": kind, "precision": p, "per_event": one["events_per_s"],
         "best_batch": best["batch"], "batched": best["events_per_s"],
         "speedup": best["events_per_s"] / one["events_per_s"]}
        for kind in ("cnn", "text") for p in precisions
        for rows in [[r for r in sweep if r["model"] == kind and r["precision"] == p]]
        for one in [next(r for r in rows if r["batch"] == 1)]
        for best in [max(rows, key=lambda r: r["events_per_s"])]
    ]
    buckets = []
    batch = text_batches[-2]
    served_model = model("text", device, "fp32")
    for bucketed in (False, True):
        calls = token_batches(token_lengths(batch, 8, longest), vocab, bucketed, 9)

        def run_text(calls: list[tuple[np.ndarray, Inputs]] = calls) -> None:
            for _, inputs in calls:
                served_model.predict_inputs(inputs)

        count, times = timed(run_text, seconds, cuda)
        padded = sum(int(np.prod(c[1]["input_ids"].shape)) for c in calls)
        buckets.append({"padding": "bucket" if bucketed else "batch", "batch": batch,
                        "calls": len(calls), "padded_tokens": padded,
                        "events_per_s": batch * count / sum(times),
                        "p99_ms": 1e3 * float(np.percentile(times, 99))})
    buckets[1]["speedup"] = buckets[1]["events_per_s"] / buckets[0]["events_per_s"]
    results["buckets"] = buckets
    print(render(results))
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["ok"] for r in results["check"]) else 1


def render(results: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    lines = [f"{results['date']} · {results['device']} · torch {results['torch']}"
             + (" · quick" if results["quick"] else ""), "",
             "| check | device | precision | max abs diff | argmax agreement | ok |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['device']} | {r['precision']} | {r['max_abs_diff']:.2g} | "
              f"{r['argmax_agreement']:.3f} | {'yes' if r['ok'] else 'NO'} |"
              for r in results["check"]]
    lines += ["", "| model | precision | batch | events/s | p50 ms | p99 ms |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['precision']} | {r['batch']} | {r['events_per_s']:,.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |" for r in results["sweep"]]
    lines += ["", "| model | precision | per event, events/s | best batch | events/s | speedup |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['precision']} | {r['per_event']:,.0f} | {r['best_batch']} | "
              f"{r['batched']:,.0f} | {r['speedup']:.1f} |" for r in results["micro_batching"]]
    lines += ["", "| text padding | batch | model calls | padded tokens | events/s | p99 ms |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['padding']} | {r['batch']} | {r['calls']} | {r['padded_tokens']:,} | "
              f"{r['events_per_s']:,.0f} | {r['p99_ms']:.1f} |" for r in results["buckets"]]
    lines.append(f"\nbuckets vs padding to the batch's longest: "
                 f"{results['buckets'][1]['speedup']:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
