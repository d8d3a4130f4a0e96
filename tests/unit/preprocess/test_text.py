"""Tokenize: bucketing, padding, truncation, empty and unicode text, sketch, options,
building from context; train_tokenizer's determinism."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers

from streamapp.preprocess import common as common_module
from streamapp.preprocess import text as text_module
from streamapp.preprocess.text import Tokenize, train_tokenizer
from streamapp.processing import Bucket, ProcessorContext, load_callable
from streamapp.registry.manifest import FeatureSpec

from .conftest import WORDS, manifest, sentences

PATH = "streamapp.preprocess.text:Tokenize"


@pytest.fixture(scope="module")
def raw(tokenizer_path: Path) -> Tokenizer:
    return Tokenizer.from_file(str(tokenizer_path))


def expected_ids(raw: Tokenizer, text: str, max_tokens: int) -> list[int]:
    """What the model should see: the tokenizer's own encoding, truncated like ours."""
    tok = Tokenizer.from_str(raw.to_str())
    tok.enable_truncation(max_tokens)
    return list(tok.encode(text).ids)


def check(buckets: list[Bucket], texts: list[str], raw: Tokenizer, max_tokens: int,
          widths: list[int] | None) -> None:
    """Every row in exactly one bucket, in the smallest that holds it (``widths`` None:
    one bucket of the batch's longest), ids and mask right, padding with [PAD] = 0."""
    seen = np.concatenate([b.rows for b in buckets])
    assert sorted(seen.tolist()) == list(range(len(texts)))
    assert all(b.rows.dtype == np.int64 and np.all(np.diff(b.rows) > 0) for b in buckets)
    for bucket in buckets:
        ids, mask = bucket.inputs["input_ids"], bucket.inputs["attention_mask"]
        assert ids.dtype == mask.dtype == np.int64 and ids.shape == mask.shape
        assert ids.shape[0] == len(bucket.rows)
        width = ids.shape[1]
        for k, row in enumerate(bucket.rows):
            want = expected_ids(raw, texts[row], max_tokens)
            if widths is not None:
                assert width == min(w for w in widths if w >= len(want))
            assert ids[k, : len(want)].tolist() == want
            assert (ids[k, len(want):] == 0).all()
            assert mask[k].tolist() == [1] * max(len(want), 1) + [0] * (width - max(len(want), 1))
    if widths is None:
        assert len(buckets) == 1
        lengths = [len(expected_ids(raw, t, max_tokens)) for t in texts]
        assert buckets[0].inputs["input_ids"].shape[1] == max(lengths)


def test_doctests() -> None:
    for module in (text_module, common_module):
        outcome = doctest.testmod(module)
        assert outcome.failed == 0 and outcome.attempted > 0


def test_rows_land_in_the_smallest_bucket_that_holds_them(raw: Tokenizer) -> None:
    texts = sentences(200, seed=1, lo=0, hi=60)
    tokenize = Tokenize(raw, "t", max_tokens=64)
    buckets = tokenize({"t": texts})
    assert [b.inputs["input_ids"].shape[1] for b in buckets] == [8, 16, 32, 64]
    check(buckets, texts, raw, 64, [8, 16, 32, 64])


def test_custom_buckets_get_max_tokens_added(raw: Tokenizer) -> None:
    tokenize = Tokenize(raw, "t", max_tokens=40, buckets=[5, 12])
    assert tokenize.buckets.tolist() == [5, 12, 40]
    assert Tokenize(raw, "t", max_tokens=40, buckets=[]).buckets.tolist() == [40]
    texts = sentences(100, seed=2, lo=0, hi=50)
    check(tokenize({"t": texts}), texts, raw, 40, [5, 12, 40])


def test_pad_to_batch_gives_one_bucket_of_the_longest(raw: Tokenizer) -> None:
    texts = sentences(50, seed=3, lo=1, hi=20)
    buckets = Tokenize(raw, "t", max_tokens=128, pad_to="batch")({"t": texts})
    check(buckets, texts, raw, 128, None)
    assert buckets[0].rows.tolist() == list(range(50))


def test_long_text_is_truncated_keeping_the_end_token(raw: Tokenizer) -> None:
    text = " ".join(["good"] * 500)
    tokenize = Tokenize(raw, "t", max_tokens=32)
    (bucket,) = tokenize({"t": [text]})
    ids = bucket.inputs["input_ids"][0]
    assert ids.shape == (32,) and ids[-1] == raw.token_to_id("[SEP]")
    assert bucket.inputs["attention_mask"].sum() == 32
    assert tokenize.sketch({"t": [text]})["t.tokens"].tolist() == [500.0]


def test_empty_text_with_a_template_is_cls_sep(raw: Tokenizer) -> None:
    (bucket,) = Tokenize(raw, "t")({"t": [""]})
    assert bucket.inputs["input_ids"].tolist() == [[2, 3, 0, 0, 0, 0, 0, 0]]
    assert bucket.inputs["attention_mask"].tolist() == [[1, 1, 0, 0, 0, 0, 0, 0]]


def test_no_tokens_at_all_keeps_one_attended_pad_position() -> None:
    plain = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "hi": 2}, unk_token="[UNK]"))
    plain.pre_tokenizer = pre_tokenizers.Whitespace()
    buckets = Tokenize(plain, "t", max_tokens=16, pad_to="batch")({"t": ["", "   "]})
    assert buckets[0].inputs["input_ids"].tolist() == [[0], [0]]
    assert buckets[0].inputs["attention_mask"].tolist() == [[1], [1]]
    (bucket,) = Tokenize(plain, "t", max_tokens=16)({"t": ["", "hi hi"]})
    assert bucket.inputs["attention_mask"].tolist() == [[1, 0, 0, 0, 0, 0, 0, 0],
                                                       [1, 1, 0, 0, 0, 0, 0, 0]]


def test_unicode_and_unseen_words_encode_and_count_as_unknown(raw: Tokenizer) -> None:
    texts = ["Ünïcödé café 日本語 😀 naïve", "the movie was good", "xyzzy quiz jazz", "", "42"]
    tokenize = Tokenize(raw, "t", max_tokens=16)
    check(tokenize({"t": np.array(texts, dtype=object)}), texts, raw, 16, [8, 16])
    sketch = tokenize.sketch({"t": texts})
    assert set(sketch) == {"t.tokens", "t.unk_rate"}
    assert all(v.dtype == np.float64 and v.shape == (5,) for v in sketch.values())
    rate = sketch["t.unk_rate"]
    assert rate[0] > 0 and rate[2] > 0 and rate[4] > 0
    assert rate[1] == 0 and rate[3] == 0 and sketch["t.tokens"][3] == 0


def test_sketch_counts_tokens_before_truncation_without_specials(raw: Tokenizer) -> None:
    texts = sentences(30, seed=4, lo=0, hi=80)
    sketch = Tokenize(raw, "t", max_tokens=16).sketch({"t": texts})
    want = [len(raw.encode(t, add_special_tokens=False).ids) for t in texts]
    assert sketch["t.tokens"].tolist() == want
    assert (sketch["t.unk_rate"] == 0).all()
    text = "good xyz movie"  # "xyz" is one [UNK] among 3 tokens
    assert Tokenize(raw, "t").sketch({"t": [text]})["t.unk_rate"].tolist() == [1 / 3]


def test_input_names_and_no_mask(raw: Tokenizer) -> None:
    (bucket,) = Tokenize(raw, "t", ids_input="ids", mask_input=None)({"t": ["good"]})
    assert list(bucket.inputs) == ["ids"]
    (bucket,) = Tokenize(raw, "t", ids_input="a", mask_input="b")({"t": ["good"]})
    assert list(bucket.inputs) == ["a", "b"]


def test_an_empty_batch_gives_no_buckets(raw: Tokenizer) -> None:
    tokenize = Tokenize(raw, "t")
    assert tokenize({"t": []}) == []
    assert tokenize.sketch({"t": []})["t.tokens"].shape == (0,)


def test_the_callers_tokenizer_is_left_as_it_was(raw: Tokenizer) -> None:
    before = raw.to_str()
    Tokenize(raw, "t", max_tokens=8)({"t": ["good movie"]})
    assert raw.to_str() == before and raw.truncation is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": 0},
        {"max_tokens": 2},  # no room beside [CLS] and [SEP]
        {"max_tokens": True},
        {"buckets": [16, 8]},
        {"buckets": [8, 8]},
        {"buckets": [0, 8]},
        {"buckets": [8, 256]},
        {"buckets": [8.0]},
        {"buckets": ["8"]},
        {"pad_to": "longest"},
        {"ids_input": "x", "mask_input": "x"},
    ],
)
def test_bad_arguments_raise_value_error(raw: Tokenizer, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Tokenize(raw, "t", **kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.sampled_from([*WORDS, "xyz", "日本", "!", ""]), max_size=40).map(" ".join),
        max_size=30,
    ),
    max_tokens=st.integers(3, 40),
    pad_to=st.sampled_from(["bucket", "batch"]),
)
def test_any_batch_is_partitioned_and_padded_right(
    raw: Tokenizer, texts: list[str], max_tokens: int, pad_to: str
) -> None:
    tokenize = Tokenize(raw, "t", max_tokens=max_tokens, pad_to=pad_to)  # type: ignore[arg-type]
    buckets = tokenize({"t": texts})
    if not texts:
        assert buckets == []
        return
    check(buckets, texts, raw, max_tokens,
          tokenize.buckets.tolist() if pad_to == "bucket" else None)


def context(path: Path | None, options: dict[str, object],
            features: list[FeatureSpec] | None = None) -> ProcessorContext:
    specs = features or [FeatureSpec(name="review", type="text", max_length=5000)]
    files = {"tokenizer": path} if path is not None else {}
    return ProcessorContext(manifest(specs, PATH, options), files, options)


def test_load_callable_builds_it_from_context(tokenizer_path: Path, raw: Tokenizer) -> None:
    options = {"max_tokens": 24, "buckets": [6, 12], "mask_input": None, "ids_input": "ids"}
    pre = load_callable(PATH, "pre processor", context(tokenizer_path, options))
    assert isinstance(pre, Tokenize)
    assert pre.feature == "review" and pre.buckets.tolist() == [6, 12, 24]
    texts = ["The movie was good", " ".join(["bad"] * 30)]
    buckets = pre({"review": texts})
    assert [b.rows.tolist() for b in buckets] == [[0], [1]]
    assert [list(b.inputs) for b in buckets] == [["ids"], ["ids"]]
    assert buckets[1].inputs["ids"].shape == (1, 24)
    assert pre.sketch({"review": texts})["review.tokens"].tolist() == [4.0, 30.0]


def test_from_context_picks_the_named_text_feature(tokenizer_path: Path) -> None:
    two = [FeatureSpec(name="title", type="text"), FeatureSpec(name="body", type="text"),
           FeatureSpec(name="n", type="numeric")]
    with pytest.raises(ValueError, match="2 text features"):
        load_callable(PATH, "pre processor", context(tokenizer_path, {}, two))
    pre = load_callable(PATH, "pre processor", context(tokenizer_path, {"feature": "body"}, two))
    assert isinstance(pre, Tokenize) and pre.feature == "body"
    with pytest.raises(ValueError, match="not a text feature"):
        load_callable(PATH, "pre processor", context(tokenizer_path, {"feature": "n"}, two))


@pytest.mark.parametrize(
    "options",
    [{"max_tokens": "64"}, {"buckets": 8}, {"pad_to": 1}, {"mask_input": 3}, {"max_tokens": 1}],
)
def test_from_context_rejects_bad_options(tokenizer_path: Path, options: dict[str, object]
                                          ) -> None:
    with pytest.raises(ValueError):
        Tokenize.from_context(context(tokenizer_path, options))


def test_from_context_needs_a_good_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        Tokenize.from_context(context(None, {}))
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer file"):
        Tokenize.from_context(context(bad, {}))


TRAIN_AGAIN = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.unit.preprocess.conftest import sentences
from streamapp.preprocess.text import train_tokenizer
train_tokenizer(sentences(1500, seed=7), Path(sys.argv[1]), 300)
"""


def test_training_is_deterministic_across_processes(tokenizer_path: Path, tmp_path: Path
                                                     ) -> None:
    again = train_tokenizer(sentences(1500, seed=7), tmp_path / "again.json", 300)
    assert again.read_bytes() == tokenizer_path.read_bytes()
    repo = Path(__file__).resolve().parents[3]
    other = tmp_path / "other.json"
    subprocess.run([sys.executable, "-c", TRAIN_AGAIN, str(other), str(repo)], check=True,
                   timeout=120, cwd=repo)
    assert other.read_bytes() == tokenizer_path.read_bytes()


def test_trained_tokenizer_has_the_special_tokens_first(raw: Tokenizer) -> None:
    assert [raw.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")] == [0, 1, 2, 3]
    assert raw.encode("Good MOVIE").tokens == ["[CLS]", "good", "movie", "[SEP]"]
    assert raw.get_vocab_size() <= 300


def test_a_value_that_is_not_text_raises_type_error(raw: Tokenizer) -> None:
    with pytest.raises(TypeError):
        Tokenize(raw, "t")({"t": ["good", None]})
