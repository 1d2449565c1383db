"""Issue 13, hangs and unbounded work: wholeword lists, regex time budgets, huge texts.

Everything here runs on the real engine (Hyperscan compiles, `regex` runs); time budgets
are small so the tests stay fast.
"""

from __future__ import annotations

import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.compile.patterns import SOM, PatternSpec, compile_patterns

S = PatternSpec


def build(*specs: PatternSpec):
    fixed = [PatternSpec(i, s.expression, s.literal, s.caseless, s.dotall, s.multiline, s.ucp, s.wholeword,
                         s.fuzzy, s.spans) for i, s in enumerate(specs)]
    return compile_patterns(fixed, cache_dir=False)


# ----------------------------------------------------------------------------- wholeword lists
# Wholeword literals are compiled bare (no `\b` wrapper, which made 100k words take minutes)
# and their edges are checked on the bytes around each hit. The reference is the regex
# `(?<!\w)word(?!\w)`, ASCII \w without `u`, Unicode \w with it.

WORDS = ["cat", "@home", "ab", "a b", "née", "x_1", "ü"]
ALPHABET = "catb@homeé _1xü-.\u00a0日ßA"


def _reference(words, text, ucp, caseless):
    flags = (0 if ucp else regex.ASCII) | (regex.IGNORECASE if caseless else 0)
    word = r"\w" if ucp else "[0-9A-Za-z_]"
    out = []
    for i, w in enumerate(words):
        rx = regex.compile(f"(?<!{word})(?:{regex.escape(w)})(?!{word})", flags)
        out.extend((i, m.start(), m.end()) for m in rx.finditer(text))
    return sorted(out, key=lambda h: (h[1], h[2], h[0]))


def test_wholeword_literals_compile_bare_with_som():
    cp = build(*(S(0, w, literal=True, wholeword=True, spans=False) for w in WORDS))
    assert set(cp.kinds) == {SOM}  # every occurrence is reported, even for detection-only lists
    assert cp.problems == ()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=ALPHABET, max_size=40), ucp=st.booleans(), caseless=st.booleans())
def test_wholeword_hits_equal_the_regex_reference(text, ucp, caseless):
    cp = _cached(ucp, caseless)
    got = [(h.id, h.start, h.end) for h in cp.scan(text)]
    assert got == _reference(WORDS, text, ucp, caseless)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=ALPHABET, max_size=40), ucp=st.booleans(), cuts=st.lists(st.integers(0, 40), max_size=6))
def test_wholeword_stream_hits_equal_the_regex_reference(text, ucp, cuts):
    cp = _cached(ucp, False)
    points = sorted({c for c in cuts if 0 < c < len(text)})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)])]
    got = []
    with cp.open_stream() as s:
        for c in chunks:
            got.extend(s.feed(c))
        got.extend(s.close())
    assert sorted((h.id, h.start, h.end) for h in got) == sorted(_reference(WORDS, text, ucp, False))


_CP = {}


def _cached(ucp, caseless):
    key = (ucp, caseless)
    if key not in _CP:
        _CP[key] = build(*(S(0, w, literal=True, wholeword=True, ucp=ucp, caseless=caseless) for w in WORDS))
    return _CP[key]


def test_wholeword_literal_after_a_long_word_split_across_chunks():
    cp = build(S(0, "cat", literal=True, wholeword=True))
    with cp.open_stream() as s:
        assert s.feed("xx ca") == []
        assert s.feed("t") == []  # the next character decides
        hits = s.feed(" and bob")
        assert [(h.start, h.end) for h in hits] == [(3, 6)]
        assert s.feed("cat") == []
        assert s.close() == []  # "bobcat": a word character before it
