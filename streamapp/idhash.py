"""A keyed 64-bit hash of byte strings, vectorised with numpy over a whole batch.

The ids of a batch become one fixed-width byte array (``S<8k>``, zero padded)
viewed as little-endian 64-bit words (``<u8``, so every platform hashes alike).
Word ``j`` is xored with a position secret ``s_j`` and passed through murmur3's
``fmix64`` finaliser; ``fmix64(s_j)`` is xored back out, so a zero padding word
adds exactly 0 and an id hashes the same in any batch, whatever the batch's
widest id. The state is ``(len * golden ^ length_key) + sum of the word terms``
(mod 2**64, as xxh3 sums its lanes; the byte length makes ``"a"`` and ``"a\\0"``
differ), and :func:`pair` mixes it once more (``fmix64(state ^ out_key)``): a
64-bit output whose two halves are two 32-bit fields. A :class:`HashKey`'s
material (seed, length key, two output keys; ``s_j = fmix64(seed + (j + 1) *
golden)``) is a keyed BLAKE2b of its name, computed once. Not cryptographic:
like version 2's public BLAKE2b key, anyone with the source can predict a decision.

Every step is a numpy ufunc over the batch (a few dozen per call), ~0.2 µs per
id for 512 ids (~0.08 of it the lengths and the byte array). Ids longer than
:data:`WIDE` bytes are hashed one at a time (same result), so one huge id does
not widen every row of the batch; batches of at most :data:`SCALAR` ids are
hashed one id at a time in Python integers (same result, no numpy call).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

U64Array = np.ndarray[tuple[int], np.dtype[np.uint64]]
Words = np.ndarray[tuple[int, int], np.dtype[np.uint64]]
AnyU64 = np.ndarray[Any, np.dtype[np.uint64]]

WIDE = 256
"""Ids longer than this (bytes) are hashed one at a time."""
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S33 = np.uint64(33)
_VERSION_KEY = b"streamapp-sampling-v3"
_COLUMN_SUM = 16
_MASK = (1 << 64) - 1
_M1_INT, _M2_INT, _GOLDEN_INT = int(_M1), int(_M2), int(_GOLDEN)
SCALAR = 8
"""Batches of at most this many ids are hashed one id at a time (same result)."""


def fmix64(x: AnyU64, tmp: AnyU64) -> None:
    """murmur3's 64-bit finaliser, in place on ``x`` (``tmp``: scratch of its shape)."""
    np.right_shift(x, _S33, out=tmp)
    x ^= tmp
    x *= _M1
    np.right_shift(x, _S33, out=tmp)
    x ^= tmp
    x *= _M2
    np.right_shift(x, _S33, out=tmp)
    x ^= tmp


class HashKey:
    """Key material derived from a name: position secrets, length key, two output keys."""

    def __init__(self, name: bytes) -> None:
        raw = hashlib.blake2b(name, digest_size=32, key=_VERSION_KEY).digest()
        seed, length, out0, out1 = (np.uint64(w) for w in np.frombuffer(raw, dtype="<u8"))
        self.seed = seed
        self.length = length
        self.out = (out0, out1)
        self.ints = (int(length), int(out0), int(out1))
        """The length key and output keys as Python ints (the scalar path)."""
        self._secrets = self._derive(8)
        self._secret_ints = self._as_ints(self._secrets)

    def _derive(self, m: int) -> tuple[U64Array, U64Array]:
        """Secrets for word positions ``0..m-1`` and their ``fmix64`` (a zero word's term)."""
        s = np.arange(1, m + 1, dtype=np.uint64) * _GOLDEN
        s += self.seed
        fmix64(s, np.empty_like(s))
        z = s.copy()
        fmix64(z, np.empty_like(z))
        return s, z

    @staticmethod
    def _as_ints(secrets: tuple[U64Array, U64Array]) -> list[tuple[int, int]]:
        s, z = secrets
        return list(zip(s.tolist(), z.tolist(), strict=True))

    def secrets(self, k: int) -> tuple[U64Array, U64Array]:
        """Position secrets and zero terms for ``k`` words (grown and cached on demand)."""
        s, z = self._secrets
        if len(s) < k:
            s, z = self._secrets = self._derive(max(k, 2 * len(s)))
        return s[:k], z[:k]

    def secret_ints(self, k: int) -> list[tuple[int, int]]:
        """:meth:`secrets` as ``(secret, zero term)`` Python ints."""
        if len(self._secret_ints) < k:
            self.secrets(k)
            self._secret_ints = self._as_ints(self._secrets)
        return self._secret_ints


def _encoded(ids: Sequence[str] | Sequence[bytes]) -> list[bytes]:
    if ids and isinstance(ids[0], str):
        return list(map(str.encode, cast(Sequence[str], ids)))
    return cast(list[bytes], ids)


def _fold(keys: Sequence[bytes], lens: U64Array, top: int, key: HashKey) -> U64Array:
    """The state of ids at most ``top`` bytes long, one fixed-width array for all."""
    k = max(1, (top + 7) // 8)
    words = cast(Words, np.array(keys, dtype=f"S{8 * k}").view("<u8").reshape(len(keys), k))
    secret, zero = key.secrets(k)
    words ^= secret
    fmix64(words, np.empty_like(words))
    words ^= zero
    h = cast(U64Array, lens * _GOLDEN)
    h ^= key.length
    if k <= _COLUMN_SUM:  # a ufunc per column beats a reduction along short rows (~3x)
        for j in range(k):
            h += words[:, j]
    else:
        h += words.sum(axis=1, dtype=np.uint64)
    return h


def _state(keys: list[bytes], key: HashKey) -> U64Array:
    """The 64-bit keyed state of each id, vectorised."""
    n = len(keys)
    lens = np.fromiter(map(len, keys), dtype=np.uint64, count=n)
    top = int(lens.max()) if n else 0
    if top <= WIDE:
        return _fold(keys, lens, top, key)
    out = np.empty(n, dtype=np.uint64)
    narrow = np.flatnonzero(lens <= WIDE)
    if len(narrow):
        short = lens[narrow]
        out[narrow] = _fold([keys[i] for i in narrow.tolist()], short, int(short.max()), key)
    for i in np.flatnonzero(lens > WIDE).tolist():
        out[i] = _fold([keys[i]], lens[i : i + 1], len(keys[i]), key)[0]
    return out


def _pair(h: U64Array, key: HashKey, which: int) -> U64Array:
    """Output ``which`` (0 or 1) of the states ``h``: 64 bits, i.e. two 32-bit fields."""
    x = h ^ key.out[which]
    fmix64(x, np.empty_like(x))
    return x


def _fmix_int(x: int) -> int:
    """:func:`fmix64` of one Python int."""
    x ^= x >> 33
    x = (x * _M1_INT) & _MASK
    x ^= x >> 33
    x = (x * _M2_INT) & _MASK
    return x ^ (x >> 33)


def _state_one(data: bytes, key: HashKey) -> int:
    """:func:`_state` of one id in Python ints (no numpy call: ~1 µs per word)."""
    k = (len(data) + 7) // 8
    h = ((len(data) * _GOLDEN_INT) & _MASK) ^ key.ints[0]
    words = struct.unpack(f"<{k}Q", data.ljust(8 * k, b"\0"))
    for word, (secret, zero) in zip(words, key.secret_ints(k), strict=False):
        if word:  # a zero word's term is 0
            h += _fmix_int(word ^ secret) ^ zero
    return h & _MASK


def output_one(data: bytes, key: HashKey, which: int) -> int:
    """Output ``which`` (0 or 1) of one id's hash, as :func:`outputs` gives it."""
    return _fmix_int(_state_one(data, key) ^ key.ints[1 + which])


def outputs_small(ids: Sequence[str] | Sequence[bytes], key: HashKey, count: int
                  ) -> list[list[int]]:
    """:func:`outputs` as Python ints, hashed one id at a time (no numpy call)."""
    states = [_state_one(k, key) for k in _encoded(ids)]
    return [[_fmix_int(h ^ out) for h in states] for out in key.ints[1 : 1 + count]]


def outputs(ids: Sequence[str] | Sequence[bytes], key: HashKey, count: int) -> list[U64Array]:
    """Outputs ``0..count-1`` (64 bits each) of every id's hash (text as its UTF-8 bytes).

    Up to :data:`SCALAR` ids are hashed one by one in Python ints: a numpy call
    costs ~1 µs whatever its size, and the vectorised path makes a few dozen.
    """
    if len(ids) <= SCALAR:
        return [np.array(w, dtype=np.uint64) for w in outputs_small(ids, key, count)]
    h = _state(_encoded(ids), key)
    return [_pair(h, key, which) for which in range(count)]
