"""The dead-letter record: one builder for every role that rejects input.

Used by the scoring router (bad events) and the monitor's data plane (bad logged
predictions and labels), so the record on the dead-letter topic has one shape:
:class:`~streamapp.schemas.DeadLetter`, with the reason also in a ``reason`` header.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson

from streamapp.schemas import DeadLetterReason


def dead_letter_value(
    reason: DeadLetterReason,
    detail: str,
    source: tuple[str, int, int],
    value: bytes,
    key: bytes | None,
    model: tuple[str, str] | None = None,
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """JSON value and headers of a dead letter for ``source`` = (topic, partition, offset).

    >>> R = DeadLetterReason
    >>> body, headers = dead_letter_value(R.INVALID_JSON, "x", ("t", 0, 5), b"{", None)
    >>> orjson.loads(body)["source_offset"], headers
    (5, [('reason', b'invalid_json')])
    """
    topic, partition, offset = source
    body = {
        "reason": reason.value,
        "detail": detail,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "original_b64": base64.b64encode(value).decode(),
        "original_key_b64": base64.b64encode(key).decode() if key is not None else None,
        "model_name": model[0] if model else None,
        "model_version": model[1] if model else None,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return orjson.dumps(body), [("reason", reason.value.encode())]
