"""Redaction operators' helpers: span merging, applying, and mapping back to the original."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.decision import Redaction
from policylang.runtime import redact
from policylang.syntax import ast
from policylang._source import NO_SPAN

REPLACE = ast.Action("redact", NO_SPAN, op="replace")


@st.composite
def text_and_redactions(draw):
    text = draw(st.text(alphabet="abc xyz😀é", min_size=1, max_size=40))
    n = draw(st.integers(0, 4))
    items = []
    for _ in range(n):
        a = draw(st.integers(0, len(text) - 1))
        b = draw(st.integers(a + 1, len(text)))
        kind = draw(st.sampled_from(["k", "kind", ""]))
        items.append((a, b, kind, REPLACE, "r", "m"))
    return text, items


@settings(max_examples=300, deadline=None)
@given(text_and_redactions())
def test_merged_redactions_are_sorted_disjoint_and_cover_every_item(data):
    text, items = data
    merged = redact.merge(items, text, b"salt")
    for a, b in zip(merged, merged[1:]):
        assert a.end <= b.start
    for start, end, *_ in items:
        assert any(r.start <= start and end <= r.end for r in merged)


@settings(max_examples=300, deadline=None)
@given(text_and_redactions(), st.data())
def test_spans_of_the_redacted_text_map_back_to_the_same_original_text(data, draw):
    text, items = data
    merged = redact.merge(items, text, b"salt")
    out = redact.apply(text, merged)
    start = draw.draw(st.integers(0, len(out)))
    end = draw.draw(st.integers(start, len(out)))
    ostart, oend = redact.to_original(merged, start, end)
    assert 0 <= ostart <= oend <= len(text)
    inside_replacement = any(
        r.start - _shift(merged, r) <= p < r.start - _shift(merged, r) + len(r.replacement)
        for r in merged for p in range(start, end)
    )
    if not inside_replacement:
        assert text[ostart:oend] == out[start:end]


def _shift(merged: list[Redaction], upto: Redaction) -> int:
    s = 0
    for r in merged:
        if r is upto:
            return s
        s += (r.end - r.start) - len(r.replacement)
    return s


def test_mask_keeps_last_n_and_hash_is_keyed():
    mask = ast.Action("redact", NO_SPAN, op="mask", keep=4, mask_char="#")
    assert redact.render(mask, "4111111111111111", "card", "r", "m", b"s") == "############1111"
    assert redact.render(mask, "abc", "card", "r", "m", b"s") == "abc"
    h = ast.Action("redact", NO_SPAN, op="hash")
    one = redact.render(h, "value", "email", "r", "m", b"salt-1")
    assert one == redact.render(h, "value", "email", "r", "m", b"salt-1")
    assert one != redact.render(h, "value", "email", "r", "m", b"salt-2")
    assert "value" not in one
