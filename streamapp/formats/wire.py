"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, the payload.

Protobuf payloads also start with the message indexes (zig-zag varints: a count, then
the index path of the message type inside its file; a single 0 byte means ``[0]``).
"""

from __future__ import annotations

MAGIC = 0
HEADER = 5


class NotWireFormat(ValueError):
    """A value without the magic byte and schema id (reason ``not_wire_format``)."""


def schema_id(value: bytes | None) -> int:
    """The schema id of a wire-format value; :class:`NotWireFormat` otherwise.

    >>> schema_id(b"\\x00\\x00\\x00\\x01\\x02payload")
    258
    >>> try:
    ...     schema_id(b'{"event_id": "e"}')
    ... except NotWireFormat as exc:
    ...     print(exc)
    no magic byte 0 (first byte 0x7b): not the Confluent wire format
    """
    if value is None:
        raise NotWireFormat("record has no value (tombstone)")
    if len(value) < HEADER:
        raise NotWireFormat(f"{len(value)} bytes: shorter than the 5-byte wire-format header")
    if value[0] != MAGIC:
        raise NotWireFormat(
            f"no magic byte 0 (first byte 0x{value[0]:02x}): not the Confluent wire format"
        )
    return int.from_bytes(value[1:HEADER], "big")


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """One zig-zag varint at ``pos``: (value, next position)."""
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated message index")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("message index varint too long")


def message_indexes(value: bytes) -> tuple[list[int], int]:
    """Protobuf: the message index path after the header and where the message starts.

    >>> message_indexes(b"\\x00\\x00\\x00\\x00\\x07\\x00rest")
    ([0], 6)
    >>> message_indexes(b"\\x00\\x00\\x00\\x00\\x07\\x04\\x02\\x06rest")
    ([1, 3], 8)
    """
    count, pos = _varint(value, HEADER)
    if count == 0:
        return [0], pos
    if not 0 < count <= 64:
        raise ValueError(f"message index count {count} out of range")
    path = []
    for _ in range(count):
        index, pos = _varint(value, pos)
        if index < 0:
            raise ValueError("negative message index")
        path.append(index)
    return path, pos
