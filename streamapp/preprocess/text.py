"""Text → token ids: a pre processor that pads each length bucket apart, and a local trainer.

:class:`Tokenize` encodes a ``text`` feature with the version's ``tokenizer.json`` in one
``encode_batch_fast`` call (Rust, GIL released), truncates to ``max_tokens`` (special
tokens kept), and groups rows by the smallest bucket length that holds them, so a batch of
short texts is not padded to its longest. A row with no tokens at all (empty text and a
tokenizer without a ``[CLS] ... [SEP]`` template) gets one pad position *with mask 1*: every
row attends to something, so attention softmax and masked mean pooling stay finite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from streamapp.preprocess.common import Batch, option, pick_feature
from streamapp.processing import Bucket, ProcessorContext

PadTo = Literal["bucket", "batch"]
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
Ids = npt.NDArray[np.int64]


def default_buckets(max_tokens: int) -> list[int]:
    """Powers of two from 8 below ``max_tokens``, then ``max_tokens``.

    >>> default_buckets(128), default_buckets(100), default_buckets(5)
    ([8, 16, 32, 64, 128], [8, 16, 32, 64, 100], [5])
    """
    out, n = [], 8
    while n < max_tokens:
        out.append(n)
        n *= 2
    return [*out, max_tokens]


def pack(flat: Ids, starts: Ids, lengths: Ids, rows: Ids, width: int, pad_id: int
         ) -> tuple[Ids, Ids]:
    """The token ids of ``rows`` (row r: ``flat[starts[r]:starts[r] + lengths[r]]``), padded
    to ``width`` with ``pad_id``, and their attention mask (a row of length 0 attends to one
    pad position). Lengths must be <= ``width``.

    >>> ids, mask = pack(np.array([5, 6, 7]), np.array([0, 2]), np.array([2, 1]),
    ...                  np.array([1, 0]), 3, 0)
    >>> ids.tolist(), mask.tolist()
    ([[7, 0, 0], [5, 6, 0]], [[1, 0, 0], [1, 1, 0]])
    """
    lens = lengths[rows]
    mask = np.arange(width) < lens[:, None]
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    before = np.cumsum(lens) - lens  # tokens of the earlier rows of this bucket
    ids[mask] = flat[np.repeat(starts[rows] - before, lens) + np.arange(int(lens.sum()))]
    mask[lens == 0, 0] = True
    return ids, mask.astype(np.int64)


class Tokenize:
    """Pre processor: one ``text`` feature → ``[Bucket]`` of ``{ids_input, mask_input}``
    int64 ``(k, L)`` arrays, ``L`` the bucket's length (``pad_to="bucket"``) or the batch's
    longest (``pad_to="batch"``: one bucket). Construction raises ``ValueError`` on bad
    options; a call raises ``TypeError`` for a non-str value (the decoder guarantees str)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        feature: str,
        *,
        max_tokens: int = 128,
        buckets: Sequence[int] | None = None,
        ids_input: str = "input_ids",
        mask_input: str | None = "attention_mask",
        pad_to: PadTo = "bucket",
    ) -> None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
        specials = tokenizer.num_special_tokens_to_add(False)
        if max_tokens <= specials:
            raise ValueError(f"max_tokens={max_tokens} leaves no room beside the tokenizer's "
                             f"{specials} special tokens")
        if pad_to not in ("bucket", "batch"):
            raise ValueError(f"pad_to must be 'bucket' or 'batch', got {pad_to!r}")
        lengths = default_buckets(max_tokens) if buckets is None else list(buckets)
        ints = all(isinstance(b, int) and not isinstance(b, bool) for b in lengths)
        if not ints or lengths != sorted(set(lengths)) or not all(
            0 < b <= max_tokens for b in lengths
        ):
            raise ValueError(f"buckets {buckets!r} must be increasing positive ints "
                             f"<= max_tokens ({max_tokens})")
        if not lengths or lengths[-1] < max_tokens:
            lengths.append(max_tokens)
        if not ids_input or ids_input == mask_input:
            raise ValueError(f"ids_input {ids_input!r} must be a name other than mask_input's")
        self.feature = feature
        self.max_tokens = max_tokens
        self.buckets = np.asarray(lengths, dtype=np.int64)
        self.ids_input = ids_input
        self.mask_input = mask_input or None
        self.pad_to: PadTo = pad_to
        self._encoder = _copy(tokenizer)  # ours to configure: truncation, no padding
        self._encoder.no_padding()
        self._encoder.enable_truncation(max_tokens)
        self._counter = _copy(tokenizer)  # sketch: whole texts, no special tokens
        self._counter.no_padding()
        self._counter.no_truncation()
        self.pad_id = _pad_id(tokenizer)
        self.unk_id = _unk_id(tokenizer)

    @classmethod
    def from_context(cls, ctx: ProcessorContext) -> Tokenize:
        """Build from the version's ``tokenizer`` file and ``processing.options``; raises
        ``FileNotFoundError`` (no such artifact) or ``ValueError`` (bad file or options)."""
        o = ctx.options
        feature = pick_feature(ctx.manifest, o.get("feature"), lambda f: f.type == "text", "text")
        path = ctx.file("tokenizer")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on a bad file
            raise ValueError(f"tokenizer file {path.name}: {e}") from e
        mask = o.get("mask_input", "attention_mask")
        if mask is not None and not isinstance(mask, str):
            raise ValueError(f"option mask_input={mask!r} must be a str, or null for none")
        return cls(
            tokenizer,
            feature,
            max_tokens=option(o, "max_tokens", int, 128),
            buckets=option(o, "buckets", list, None),
            ids_input=option(o, "ids_input", str, "input_ids"),
            mask_input=mask or None,
            pad_to=option(o, "pad_to", str, "bucket"),
        )

    def __call__(self, columns: Batch) -> list[Bucket]:
        """Buckets in increasing length, each with its rows (ascending batch indices) and
        inputs; no bucket for lengths no row has, ``[]`` for an empty batch."""
        encodings = self._encoder.encode_batch_fast(_texts(columns[self.feature]))
        ids = [e.ids for e in encodings]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        if not len(ids):
            return []
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        starts = np.cumsum(lengths) - lengths
        if self.pad_to == "batch":
            groups = [(max(int(lengths.max()), 1), np.arange(len(ids), dtype=np.int64))]
        else:
            which = np.searchsorted(self.buckets, lengths)  # smallest bucket >= length
            groups = [(int(self.buckets[b]), np.flatnonzero(which == b).astype(np.int64))
                      for b in np.unique(which)]
        out = []
        for width, rows in groups:
            token_ids, mask = pack(flat, starts, lengths, rows, width, self.pad_id)
            inputs = {self.ids_input: token_ids}
            if self.mask_input:
                inputs[self.mask_input] = mask
            out.append(Bucket(rows=rows, inputs=inputs))
        return out

    def sketch(self, columns: Batch) -> dict[str, npt.NDArray[np.float64]]:
        """Per row, float64: ``{feature}.tokens`` (tokens of the whole text, before
        truncation, special tokens not counted) and ``{feature}.unk_rate`` (their share that
        is the unknown token; 0 for no tokens, or a tokenizer without one)."""
        encodings = self._counter.encode_batch_fast(
            _texts(columns[self.feature]), add_special_tokens=False
        )
        ids = [e.ids for e in encodings]
        tokens = np.fromiter(map(len, ids), dtype=np.float64, count=len(ids))
        unknown = np.zeros_like(tokens)
        if self.unk_id is not None:
            unk = self.unk_id
            unknown = np.fromiter((i.count(unk) for i in ids), dtype=np.float64, count=len(ids))
        rate = np.divide(unknown, tokens, out=np.zeros_like(tokens), where=tokens > 0)
        return {f"{self.feature}.tokens": tokens, f"{self.feature}.unk_rate": rate}


def _texts(values: Iterable[str] | npt.NDArray[np.generic]) -> list[str]:
    """A column of texts as a list (an object array's values, unconverted)."""
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    return list(values)


def _copy(tokenizer: Tokenizer) -> Tokenizer:
    return Tokenizer.from_str(tokenizer.to_str())


def _pad_id(tokenizer: Tokenizer) -> int:
    """The ``[PAD]`` token's id, else 0."""
    pad = tokenizer.token_to_id("[PAD]")
    return 0 if pad is None else int(pad)


def _unk_id(tokenizer: Tokenizer) -> int | None:
    """The model's unknown token's id (``[UNK]`` when the model names none), else None."""
    token = getattr(tokenizer.model, "unk_token", None) or "[UNK]"
    unk = tokenizer.token_to_id(token)
    return None if unk is None else int(unk)


def train_tokenizer(texts: Iterable[str], path: Path, vocab_size: int = 2000) -> Path:
    """Train a WordPiece tokenizer (lowercase, BERT pre-tokenizer, ``[CLS] $A [SEP]``
    template, special tokens ``[PAD] [UNK] [CLS] [SEP]`` as ids 0-3) and save it as
    ``tokenizer.json`` at ``path`` (a directory gets ``path/tokenizer.json``); returns the
    file. Deterministic: the same texts give the same file, in any process."""
    normalizer, pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.BertPreTokenizer()
    corpus = list(texts)
    # The trainer numbers "##x" pieces in hash order (random per process) and breaks ties
    # between equally frequent merges by id: fixing their ids first makes it deterministic.
    pieces = sorted({
        c for text in corpus
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
        for c in word[1:]
    })
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, show_progress=False,
        special_tokens=[*SPECIAL_TOKENS, *(f"##{c}" for c in pieces)],
    )
    draft = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS[1]))
    draft.normalizer, draft.pre_tokenizer = normalizer, pre_tokenizer
    draft.train_from_iterator(corpus, trainer, length=len(corpus))
    # Rebuild without the "##x" special tokens, ids in a canonical order.
    learned = sorted(set(draft.get_vocab()) - set(SPECIAL_TOKENS))
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *learned])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=SPECIAL_TOKENS[1]))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    target = path / "tokenizer.json" if path.is_dir() else path
    tokenizer.save(str(target))
    return target
