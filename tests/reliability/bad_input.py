"""Hypothesis strategies for bad events, each paired with the dead-letter reason it must get.

Kinds: invalid JSON (NaN / Infinity literals and out-of-range numbers included:
JSON has no non-finite numbers, so they fail as invalid_json), invalid UTF-8,
wrong types, missing and extra fields, huge payloads, wrong model names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

Bad = tuple[bytes, str]
NUMERIC = ("salary", "commission", "age", "hvalue", "hyears", "loan")
CATEGORICAL = ("elevel", "car", "zipcode")
MAX_EVENT_BYTES = 64 * 1024


def _base(draw: Callable[[Any], Any]) -> dict[str, Any]:
    features = {
        "salary": draw(st.floats(20_000, 150_000)),
        "commission": draw(st.floats(0, 75_000)),
        "age": draw(st.integers(20, 80)),
        "elevel": draw(st.integers(0, 4)),
        "car": draw(st.integers(1, 20)),
        "zipcode": draw(st.integers(0, 8)),
        "hvalue": draw(st.floats(50_000, 900_000)),
        "hyears": draw(st.integers(1, 30)),
        "loan": draw(st.floats(0, 500_000)),
    }
    return {
        "event_id": draw(st.text(min_size=1, max_size=40)),
        "event_time": datetime.now(UTC).isoformat(),
        "features": features,
    }


@st.composite
def bad_event(draw: Callable[[Any], Any]) -> Bad:
    """One bad event value and its expected dead-letter reason."""
    body = _base(draw)
    kind: Callable[[Callable[[Any], Any], dict[str, Any]], Bad] = draw(st.sampled_from(KINDS))
    return kind(draw, body)


def _invalid_json(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    text = orjson.dumps(body).decode()
    choice = draw(st.integers(0, 3))
    if choice == 0:  # truncated
        return text[: draw(st.integers(1, len(text) - 1))].encode(), "invalid_json"
    if choice == 1:  # non-finite literal where a number belongs
        lit = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"]))
        return text.replace(f'"age":{body["features"]["age"]}', f'"age":{lit}').encode(), (
            "invalid_json"
        )
    if choice == 2:  # single quotes
        return ("{'" + draw(st.text(max_size=50))).encode(), "invalid_json"
    return draw(st.text(alphabet="{[:,}]x ", min_size=1, max_size=30)).encode() + b"\x00{", (
        "invalid_json"
    )


def _invalid_utf8(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    raw = orjson.dumps(body)
    bad = draw(
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x28\x8c\xbc", b"\xed\xa0\x80"])
    )
    cut = raw.index(b'"event_id":"') + len(b'"event_id":"')
    return raw[:cut] + bad + raw[cut:], "invalid_utf8"


def _wrong_type(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    name = draw(st.sampled_from(NUMERIC + CATEGORICAL))
    value = draw(
        st.one_of(
            st.text(max_size=10),
            st.booleans(),
            st.lists(st.integers(-1000, 1000), max_size=3),
            st.none(),
        )
    )
    if name in CATEGORICAL and isinstance(value, str):
        value = [value]  # a string could be a (wrong) category: keep the type wrong
    body["features"][name] = value
    # null is read as an absent value
    return orjson.dumps(body), "missing_feature" if value is None else "wrong_type"


def _missing(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    field = draw(st.sampled_from(("event_id", "event_time", "features", "feature")))
    if field == "feature":
        del body["features"][draw(st.sampled_from(NUMERIC + CATEGORICAL))]
        return orjson.dumps(body), "missing_feature"
    del body[field]
    return orjson.dumps(body), "schema_violation"


def _extra(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    name = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
    if draw(st.booleans()):
        if name in body["features"]:
            name += "_x"
        body["features"][name] = draw(st.integers(-(2**31), 2**31))
        return orjson.dumps(body), "unknown_feature"
    if name in ("event_id", "event_time", "key", "model", "features"):
        name += "_x"
    body[name] = draw(st.integers(-(2**31), 2**31))
    return orjson.dumps(body), "schema_violation"


def _huge(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    body["key"] = "k" * draw(st.integers(MAX_EVENT_BYTES, MAX_EVENT_BYTES * 3))
    return orjson.dumps(body), "too_large"


def _wrong_model(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    model = draw(st.text(min_size=1, max_size=30).filter(lambda m: m != "agrawal-clf"))
    body["model"] = model
    return orjson.dumps(body), "unknown_model"


def _out_of_range(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    body["features"]["age"] = draw(st.one_of(st.integers(131, 10**9), st.integers(-(10**9), -1)))
    return orjson.dumps(body), "out_of_range"


def _unknown_category(draw: Callable[[Any], Any], body: dict[str, Any]) -> Bad:
    body["features"]["car"] = draw(st.integers(21, 10**6))
    return orjson.dumps(body), "unknown_category"


KINDS = (
    _invalid_json,
    _invalid_utf8,
    _wrong_type,
    _missing,
    _extra,
    _huge,
    _wrong_model,
    _out_of_range,
    _unknown_category,
)


def generate(n: int, seed: int) -> list[Bad]:
    """``n`` bad events drawn by hypothesis (generation phase only, reproducible ``seed``)."""
    out: list[Bad] = []

    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(bad_event())
    def collect(item: Bad) -> None:
        out.append(item)

    from hypothesis import seed as hseed

    hseed(seed)(collect)()
    return out[:n]
