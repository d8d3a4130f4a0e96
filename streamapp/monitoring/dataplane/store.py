"""The join state of one partition: RocksDB on disk (rocksdict) with a memory bound.

Keys (bytes): ``d<event id>`` → entry, ``i<deadline><event id>`` → expiry index,
``m`` → checkpoint metadata. An entry is ``tag (1 byte) + deadline (8-byte
big-endian float, event-time epoch seconds) + payload``; the tags are
:data:`PENDING_PREDICTION` (payload: the logged prediction as consumed),
:data:`PENDING_LABEL` (payload: the label), :data:`JOINED` and :data:`EXPIRED`
(tombstones kept one more TTL so duplicates and late labels are recognised), and
:data:`VARIANTS` (several predictions of one event, e.g. primary and shadow: the
pending ones, or the label and the ones it joined; payload: msgpack).

Writes go to an in-memory write set. :meth:`PartitionStore.seal` closes it for a
checkpoint: the sealed set stays readable while the checkpoint's changelog is in
flight and new writes start a fresh set; :meth:`PartitionStore.write_sealed` then
writes it, its expiry index keys and the metadata in one RocksDB write batch (the
store only ever holds the state of a whole checkpoint). The expiry index is not
changelogged; it is derived from the entries (and rebuilt when restoring).
Stale index keys (an entry moved on) are dropped when they come due.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

PENDING_PREDICTION = b"P"
PENDING_LABEL = b"L"
JOINED = b"J"
EXPIRED = b"X"
VARIANTS = b"V"
"""Several predictions of one event (primary and shadow; see :mod:`.join`)."""
META_KEY = b"m"
_HEAD = struct.Struct(">cd")
HEAD_SIZE = _HEAD.size
"""Bytes before an entry's payload."""
_DEADLINE = struct.Struct(">d")


def entry(tag: bytes, deadline: float, payload: bytes = b"") -> bytes:
    """Encode one entry.

    >>> parse(entry(JOINED, 12.5))
    (b'J', 12.5, b'')
    """
    return _HEAD.pack(tag, deadline) + payload


def parse(value: bytes) -> tuple[bytes, float, bytes]:
    """Decode an entry into (tag, deadline, payload)."""
    tag, deadline = _HEAD.unpack_from(value)
    return tag, deadline, value[_HEAD.size :]


def data_key(event_id: str) -> bytes:
    return b"d" + event_id.encode()


def rocks_options(memory_mb: int) -> Options:
    """RocksDB options whose memtables and block cache stay within ``memory_mb`` per store."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    budget = memory_mb * 1024 * 1024
    opts.set_write_buffer_size(max(1 << 20, budget // 8))
    opts.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(max(1 << 20, budget // 2)))
    # index and filter blocks live in the bounded cache too, not beside it (they grow with data)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    opts.set_block_based_table_factory(table)
    opts.set_max_open_files(256)
    return opts


class PartitionStore:
    """One join partition's RocksDB plus its not yet checkpointed writes."""

    def __init__(self, path: Path, options: Options) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.db: Any = Rdict(str(path), options)  # raw mode: bytes keys and values
        self.dirty: dict[bytes, bytes | None] = {}
        """Data-key writes since the last seal (None: delete)."""
        self.sealed: dict[bytes, bytes | None] | None = None
        """Writes of the checkpoint in flight (sealed, not yet in RocksDB)."""
        self._drop_index: list[bytes] = []
        self._sealed_drop: list[bytes] = []

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """Current values (the write set, the sealed set, then RocksDB) in one multi-get."""
        dirty, sealed = self.dirty, self.sealed
        missing = [k for k in keys if k not in dirty]
        if sealed:
            missing = [k for k in missing if k not in sealed]
        found: dict[bytes, bytes | None] = (
            dict(zip(missing, self.db.get(missing), strict=True)) if missing else {}
        )
        if sealed:
            return [dirty[k] if k in dirty else sealed[k] if k in sealed else found[k]
                    for k in keys]
        return [dirty[k] if k in dirty else found[k] for k in keys]

    def put(self, key: bytes, value: bytes | None) -> None:
        """Buffer a write (None deletes) until the next :meth:`seal`."""
        self.dirty[key] = value

    def put_many(self, writes: Mapping[bytes, bytes | None]) -> None:
        """Buffer several writes (as :meth:`put`)."""
        self.dirty.update(writes)

    def due(self, watermark: float, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` (index key, data key) pairs with a deadline at or before ``watermark``.

        Reads RocksDB's index: entries of a sealed, unwritten checkpoint come due
        on a later call; a listed entry that moved on since is stale (the caller
        compares deadlines).
        """
        out: list[tuple[bytes, bytes]] = []
        bound = _DEADLINE.pack(watermark)
        for ikey in self.db.keys(from_key=b"i"):
            key = bytes(ikey)
            if not key.startswith(b"i") or key[1:9] > bound or len(out) >= limit:
                break
            out.append((key, b"d" + key[9:]))
        return out

    def drop_index(self, ikeys: Iterable[bytes]) -> None:
        """Delete index keys at the next commit."""
        self._drop_index.extend(ikeys)

    def seal(self) -> int:
        """Close the write set for a checkpoint (one at a time); returns its size."""
        if self.sealed is not None:
            raise RuntimeError("a sealed checkpoint is not written yet")
        self.sealed, self.dirty = self.dirty, {}
        self._sealed_drop, self._drop_index = self._drop_index, []
        return len(self.sealed)

    def write_sealed(self, meta: bytes) -> None:
        """Write the sealed set, its index keys and ``meta`` atomically."""
        sealed = self.sealed or {}
        batch = WriteBatch(raw_mode=True)
        for ikey in self._sealed_drop:
            batch.delete(ikey)
        for key, value in sealed.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
                # index key: b"i" + deadline + event id; the entry's bytes 1-8 are its
                # deadline as big-endian IEEE 754, which sorts like the (positive) numbers
                batch.put(b"i" + value[1:9] + key[1:], b"")
        batch.put(META_KEY, meta)
        self.db.write(batch)
        self.sealed = None
        self._sealed_drop = []

    def discard_sealed(self) -> None:
        """Forget the sealed set (its checkpoint will not complete here)."""
        self.sealed = None
        self._sealed_drop = []

    def commit(self, meta: bytes) -> None:
        """Seal and write at once (restore, tests): the write set, its index keys and ``meta``."""
        self.seal()
        self.write_sealed(meta)

    def meta(self) -> bytes | None:
        """The metadata of the last commit (None for a new store)."""
        value = self.db.get(META_KEY)
        return None if value is None else bytes(value)

    def data_keys(self) -> list[bytes]:
        """Every entry's key in RocksDB (what the changelog holds for this partition)."""
        out: list[bytes] = []
        for raw in self.db.keys(from_key=b"d"):
            key = bytes(raw)
            if not key.startswith(b"d"):
                break
            out.append(key)
        return out

    def stats(self) -> tuple[int, int]:
        """Estimated (keys, bytes on disk + in memtables) of this store."""
        keys = self.db.property_int_value("rocksdb.estimate-num-keys") or 0
        disk = self.db.property_int_value("rocksdb.total-sst-files-size") or 0
        mem = self.db.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return int(keys), int(disk) + int(mem)

    def close(self) -> None:
        self.db.close()

    def wipe(self) -> None:
        """Close and delete the store (before a full restore from the changelog)."""
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)
