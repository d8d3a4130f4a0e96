"""The model registry on disk: ``<root>/<name>/<version>/`` plus pointer files.

A pointer (``<root>/<name>/production``, ``.../candidate``) is a one-line file
holding a version. Promotion replaces it atomically (write a temp file, fsync,
``os.replace``), so a worker polling the pointer sees the old or the new
version, never a torn write.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamapp.registry.manifest import (
    MANIFEST_FILE,
    PROFILE_FILE,
    Artifact,
    Manifest,
    ReferenceProfile,
)

POINTER_NAMES = ("production", "candidate")


class RegistryError(RuntimeError):
    """A model, version or pointer is missing or inconsistent; the message says which."""


class MissingPointerError(RegistryError):
    """The serving pointer does not exist: a configuration error (commands exit 2)."""


@dataclass(frozen=True)
class ModelVersion:
    """A resolved version directory and its manifest."""

    name: str
    version: str
    path: Path
    manifest: Manifest


class ModelRegistry:
    """Read and promote model versions under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def models(self) -> list[str]:
        """Names of all models (directories holding at least one version)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        """Versions of a model, oldest first (numeric versions sort numerically)."""
        model_dir = self.root / name
        if not model_dir.is_dir():
            return []
        found = [p.name for p in model_dir.iterdir() if (p / MANIFEST_FILE).is_file()]
        return sorted(found, key=_version_key)

    def pointer(self, name: str, pointer: str = "production") -> str | None:
        """The version a pointer names, or None when the pointer file does not exist."""
        path = self.root / name / pointer
        if not path.is_file():
            return None
        value = path.read_text(encoding="utf-8").strip()
        return value or None

    def pointer_mtime_ns(self, name: str, pointer: str = "production") -> int | None:
        """Modification time of a pointer file, for cheap change polling."""
        try:
            return (self.root / name / pointer).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def get(self, name: str, version: str) -> ModelVersion:
        """Load a version's manifest; raises :class:`RegistryError` if absent or invalid."""
        path = self.root / name / version
        if not (path / MANIFEST_FILE).is_file():
            raise RegistryError(f"model {name!r} has no version {version!r} under {self.root}")
        try:
            manifest = Manifest.load(path)
        except Exception as exc:  # pydantic.ValidationError, OSError, JSON errors
            raise RegistryError(f"{name}/{version}: invalid manifest: {exc}") from exc
        if manifest.name != name or manifest.version != version:
            raise RegistryError(
                f"{name}/{version}: manifest says {manifest.name}/{manifest.version}"
            )
        return ModelVersion(name, version, path, manifest)

    def resolve(self, name: str, pointer: str = "production") -> ModelVersion:
        """The version a pointer names; raises :class:`RegistryError` when unset."""
        version = self.pointer(name, pointer)
        if version is None:
            path = (self.root / name / pointer).resolve()
            raise MissingPointerError(
                f"model {name!r} has no {pointer!r} pointer: {path} does not exist or is empty "
                "(check model.registry, model.name, model.pointer: STREAMAPP_MODEL__REGISTRY, "
                "STREAMAPP_MODEL__NAME, STREAMAPP_MODEL__POINTER; or `streamapp models promote`)"
            )
        return self.get(name, version)

    def promote(self, name: str, version: str, pointer: str = "production") -> None:
        """Point ``pointer`` at ``version`` atomically; the version must exist and be valid."""
        self.get(name, version)
        set_pointer(self.root / name / pointer, version)

    def clear(self, name: str, pointer: str) -> None:
        """Remove a pointer (e.g. end a canary); a missing pointer is fine."""
        (self.root / name / pointer).unlink(missing_ok=True)

    def next_version(self, name: str) -> str:
        """The next free numeric version (``1`` for a new model)."""
        numeric = [int(v) for v in self.versions(name) if v.isdigit()]
        return str(max(numeric, default=0) + 1)


def set_pointer(path: Path, version: str) -> None:
    """Atomically write ``version`` to a pointer file (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_artifact_path(version: ModelVersion, artifact: Artifact) -> Path:
    """The artifact's path after checking its SHA-256; raises :class:`RegistryError` on mismatch."""
    path = (version.path / artifact.path).resolve()
    if version.path.resolve() not in path.parents:
        raise RegistryError(
            f"{version.name}/{version.version}: artifact path escapes its directory"
        )
    if not path.is_file():
        raise RegistryError(
            f"{version.name}/{version.version}: artifact {artifact.path} is missing"
        )
    actual = sha256_file(path)
    if actual != artifact.sha256:
        raise RegistryError(
            f"{version.name}/{version.version}: checksum mismatch for {artifact.path} "
            f"(manifest {artifact.sha256[:12]}…, file {actual[:12]}…)"
        )
    return path


def verified_profile(version: ModelVersion) -> ReferenceProfile:
    """The version's reference profile; raises :class:`RegistryError` naming the fix.

    The monitor needs it for drift; a version without one is refused by
    ``models validate``, ``models promote`` and ``models register``.
    """
    tag = f"{version.name}/{version.version}"
    if not (version.path / PROFILE_FILE).is_file():
        raise RegistryError(
            f"{tag}: {PROFILE_FILE} is missing, so the monitor could not compute drift; "
            "register versions with `streamapp models register`, which writes it"
        )
    try:
        profile = ReferenceProfile.load(version.path)
    except Exception as exc:  # pydantic.ValidationError, OSError
        raise RegistryError(f"{tag}: {PROFILE_FILE} cannot be loaded: {exc}") from exc
    for spec in version.manifest.scalar_features:  # tensors: profiled as their sketches
        table = profile.categorical if spec.type == "categorical" else profile.numeric
        if spec.name not in table:
            raise RegistryError(
                f"{tag}: {PROFILE_FILE} has no {spec.type} profile of feature {spec.name!r}; "
                "recompute it (streamapp models register)"
            )
    return profile


def _version_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)
