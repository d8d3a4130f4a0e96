"""What a scoring worker would dead-letter, found before sending: the worker's own decoder.

Records go through :class:`~streamapp.scoring.decode.Decoder` built from the
model's manifest, so the verdict is the decode stage's, reason codes included.
Later failures (a processor or the model raising: ``model_error``) are not
predicted here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from streamapp.kafka.produce import KeyValue
from streamapp.registry.manifest import Manifest
from streamapp.scoring.decode import Decoder

CHUNK = 512


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One record of the file, shaped as the decoder reads a Kafka message (offset: its index)."""

    _key: bytes | None
    _value: bytes | None
    _offset: int

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str:
        return "check"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


@dataclass
class CheckReport:
    """Counts by dead-letter reason, with the first record number and detail of each."""

    checked: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    def lines(self) -> list[str]:
        """One line per reason, most frequent first: ``reason count (record N: detail)``."""
        width = max((len(r) for r in self.reasons), default=0)
        return [
            f"  {reason:<{width}} {count:>7}  (record {self.examples[reason][0]}: "
            f"{self.examples[reason][1][:160]})"
            for reason, count in self.reasons.most_common()
        ]


def check(records: Iterable[KeyValue], manifest: Manifest, max_event_bytes: int) -> CheckReport:
    """Decode every record as the worker would; record numbers start at 1."""
    decoder = Decoder(manifest, max_event_bytes)
    report = CheckReport()
    for chunk in _chunks(records):
        batch = decoder.decode(chunk)
        report.checked += len(chunk)
        for rejected in batch.errors:
            reason = str(rejected.reason)
            report.reasons[reason] += 1
            number = (rejected.record.offset() or 0) + 1
            if reason not in report.examples or number < report.examples[reason][0]:
                report.examples[reason] = (number, rejected.detail)
    return report


def _chunks(records: Iterable[KeyValue]) -> Iterator[list[FileRecord]]:
    """Records as numbered Kafka-like records (offset = position in the file), CHUNK at a time."""
    numbered = enumerate(records)
    while chunk := list(islice(numbered, CHUNK)):
        yield [FileRecord(key, value, i) for i, (key, value) in chunk]
