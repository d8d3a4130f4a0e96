"""Garbage-collector settings for workers that allocate millions of short-lived records.

CPython collects its young generation every 700 container allocations. A batch
of decoded records (a feature dict each) triggers dozens of collections, and
every so often a full one that walks everything the process ever kept: faust,
pydantic, numpy, the registry. Measured on the monitor's join path
(``benchmarks/monitoring/stages.py``): 2.3 µs of its 12 µs per label.

:func:`tune_for_batches` freezes what startup allocated (never scanned again)
and collects young objects every ``gen0`` allocations. Records hold no reference
cycles (msgspec structs are ``gc=False``), so reference counting frees them
either way; the collector only bounds cyclic garbage, which grows a little
later. It cannot fail; a process that never calls it keeps CPython's defaults.
"""

from __future__ import annotations

import gc

GEN0 = 50_000
"""Container allocations between young collections (CPython: 700)."""


def tune_for_batches(gen0: int = GEN0) -> None:
    """Freeze the heap built so far and raise the young-generation threshold."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
