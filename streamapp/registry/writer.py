"""Write a complete version directory atomically (trainers and ``models register`` share it).

Everything is written into a hidden staging directory next to the target and
renamed into place at the end, so the registry never sees a half-written
version; any failure removes the staging directory.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from streamapp.registry.manifest import (
    MANIFEST_FILE,
    PROFILE_FILE,
    REFERENCE_FILE,
    Artifact,
    Manifest,
    ReferenceProfile,
)
from streamapp.registry.registry import ModelRegistry, sha256_file

N_REFERENCE_ROWS = 2000


@contextmanager
def staged_version(registry: ModelRegistry, name: str, version: str) -> Iterator[Path]:
    """Yield a staging directory; on a clean exit it becomes ``<root>/<name>/<version>``."""
    target = registry.root / name / version
    if target.exists():
        raise FileExistsError(f"{target} already exists; versions are immutable")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
    try:
        yield staging
        staging.chmod(0o755)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def artifact(staging: Path, fmt: str, filename: str) -> Artifact:
    """The manifest entry of a file already written into ``staging``."""
    return Artifact(format=fmt, path=filename, sha256=sha256_file(staging / filename))


def write_reference(staging: Path, rows: npt.NDArray[np.float32]) -> None:
    """The first :data:`N_REFERENCE_ROWS` encoded rows as ``reference.npy`` (no pickle)."""
    reference = np.ascontiguousarray(rows[:N_REFERENCE_ROWS], dtype=np.float32)
    np.save(staging / REFERENCE_FILE, reference, allow_pickle=False)


def write_json(staging: Path, manifest: Manifest, profile: ReferenceProfile) -> None:
    """``manifest.json`` and ``profile.json`` (a version is never written without its profile).

    Optional extension fields (``processing``, ``trainer``) are left out when unset.
    """
    unset = {k for k in ("processing", "trainer") if getattr(manifest, k) is None}
    (staging / MANIFEST_FILE).write_text(
        json.dumps(manifest.model_dump(mode="json", exclude=unset), indent=2) + "\n",
        encoding="utf-8",
    )
    (staging / PROFILE_FILE).write_text(
        json.dumps(profile.model_dump(mode="json"), indent=1) + "\n", encoding="utf-8"
    )
