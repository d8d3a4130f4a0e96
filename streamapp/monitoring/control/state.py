"""The aggregator's persisted state: typed records under string keys of one mapping.

The mapping is a faust Table in production (a changelog-backed, JSON-encoded
table) and a dict in tests, so the records are ``TypedDict`` s: their stored
form is the JSON object, their type says what it holds. Two kinds of key:

- ``version:<model>/<version>`` → :class:`VersionRecord`: cumulative totals, the
  policy state, and the last checkpoint applied per (variant, join partition);
- ``bucket:<model>/<version>/<variant>/<holdout>/<bucket>`` → :class:`BucketRecord`:
  one window bucket's merged statistics and the last checkpoint it applied per
  join partition.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, NamedTuple, TypedDict

State = MutableMapping[str, Any]
"""Where the records live (a faust Table, or a dict)."""


class VersionKey(NamedTuple):
    """A model version (the in-memory maps' key; a plain ``(model, version)`` tuple equals it)."""

    model: str
    version: str


class VersionRecord(TypedDict, total=False):
    """What a model version has accumulated (``version:`` keys)."""

    outcomes: int
    """Joined outcomes applied."""
    expired: int
    """Logged predictions that expired without a label."""
    logged: int
    """Logged predictions seen."""
    seq: dict[str, int]
    """``<variant>/<join partition>`` → the last checkpoint applied (a re-emit is skipped)."""
    policy: dict[str, Any]
    """The retrain policy's state (:func:`~.policy.step`: open, incident, cooldown, ...)."""


class BucketRecord(TypedDict):
    """One window bucket of a (model, version, variant, holdout) group (``bucket:`` keys)."""

    stats: dict[str, Any]
    """The bucket's merged :class:`~streamapp.statistics.summary.Stats` (``to_dict``)."""
    seq: dict[str, int]
    """Join partition → the last checkpoint this bucket applied."""


def version_key(model: str, version: str) -> str:
    """The key of a version's record.

    >>> version_key("m", "1")
    'version:m/1'
    """
    return f"version:{model}/{version}"


def bucket_prefix(model: str, version: str) -> str:
    """The common prefix of a version's bucket keys."""
    return f"bucket:{model}/{version}/"


def bucket_key(model: str, version: str, variant: str, holdout: bool, bucket: int) -> str:
    """The key of one window bucket's record.

    >>> bucket_key("m", "1", "primary", False, 42)
    'bucket:m/1/primary/false/42'
    """
    return f"{bucket_prefix(model, version)}{variant}/{str(holdout).lower()}/{bucket}"


def load_version(state: State, model: str, version: str) -> VersionRecord:
    """A copy of a version's record (empty when none)."""
    return VersionRecord(**(state.get(version_key(model, version)) or {}))


def version_buckets(state: State, model: str, version: str
                    ) -> list[tuple[str, bool, int, BucketRecord]]:
    """Every persisted bucket of a version: (variant, holdout, bucket, record)."""
    prefix = bucket_prefix(model, version)
    out: list[tuple[str, bool, int, BucketRecord]] = []
    for k, v in list(state.items()):
        if isinstance(k, str) and k.startswith(prefix):
            variant, holdout, bucket = k[len(prefix):].rsplit("/", 2)
            out.append((variant, holdout == "true", int(bucket), v))
    return out
