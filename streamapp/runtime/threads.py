"""Process-wide thread settings of the model runtimes, applied once per process.

ONNX Runtime takes its intra-op thread count per session. torch has one
intra-op pool per process, so its size is a process setting: the first
TorchScript load of a process applies ``scoring.intra_op_threads``, and no later
load changes it (one asking for another count is logged and left as it is).
Importing torch is left to that first load, so an ONNX-only worker never pays for it.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_lock = threading.Lock()
_torch_threads: int | None = None


def size_torch_pool(threads: int) -> int:
    """Size torch's intra-op pool to ``threads`` if this process has not yet; returns its size."""
    global _torch_threads
    import torch

    with _lock:
        if _torch_threads is None:
            _torch_threads = max(1, threads)
            torch.set_num_threads(_torch_threads)
        elif threads != _torch_threads:
            log.warning("torch intra-op threads stay %d for this process (asked: %d)",
                        _torch_threads, threads)
        return _torch_threads
