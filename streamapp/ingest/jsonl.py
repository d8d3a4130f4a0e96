"""JSON Lines as Kafka records: each line sent as written, keyed by one of its fields."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from streamapp.ingest.tables import InputError
from streamapp.kafka.produce import KeyValue


def lines(path: Path, key_field: str) -> Iterator[KeyValue]:
    """``(key, line)`` per non-blank line (``-`` = stdin); raises InputError naming a bad line."""
    for key, text, _record in _parsed(path, key_field):
        yield key, text


def objects(path: Path, key_field: str) -> Iterator[tuple[bytes | None, Any]]:
    """``(key, parsed line)`` per non-blank line, for a registry format's serializer to write;
    raises InputError naming a line that is not JSON."""
    for key, _text, record in _parsed(path, key_field):
        yield key, record


def _parsed(path: Path, key_field: str) -> Iterator[tuple[bytes | None, bytes, Any]]:
    handle = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    try:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text:
                continue
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"line {number} is not JSON: {exc}") from None
            value = record.get(key_field) if isinstance(record, dict) else None
            yield (None if value is None else str(value).encode()), text, record
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
