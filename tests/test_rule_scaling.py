"""Many-rule policies: the per-fired-rule shortcuts give the same hits and decisions.

* an ASCII literal reported once (``spans=False``, Hyperscan SINGLEMATCH) on ASCII text gets
  its start from its length (``CompiledPatterns._fixed``) instead of a regex search: the
  spans must equal the regex search's, on any text;
* citations and evidence are built without ``fast_construct``: they must equal validated
  models.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.compile.patterns import SINGLE, PatternSpec
from policylang.runtime.scan import compile_patterns
from policylang.decision import Citation, Evidence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

WORDS = ["key", "Key", "kelvin", "ss", "token", "a b", "pass word", "x-1", "ab", "b"]


def _specs(caseless: bool) -> list[PatternSpec]:
    return [PatternSpec(id=i, expression=w, literal=True, caseless=caseless, spans=False) for i, w in enumerate(WORDS)]


def _without_shortcut(patterns):
    """The same database with the length shortcut off: every start comes from regex."""
    object.__setattr__(patterns, "_fixed", (0,) * len(patterns.specs))
    return patterns


def _pair(caseless: bool):
    fast = compile_patterns(_specs(caseless), cache_dir=False)
    assert set(fast.kinds) == {SINGLE} and all(fast._fixed)  # the shortcut's case
    slow = _without_shortcut(compile_patterns(_specs(caseless), cache_dir=False))
    return fast, slow


_FAST_CI, _SLOW_CI = _pair(True)
_FAST_CS, _SLOW_CS = _pair(False)

# ASCII mostly (the shortcut's case), with the characters case folding treats specially
# (Kelvin sign, long s, sharp s, dotted I) so that non-ASCII texts take the regex path
_ALPHABET = st.sampled_from(list("keyKEYtonasswrdb x-1_") + ["\u212a", "\u017f", "\u00df", "\u0130", "é", "\n"])


@settings(max_examples=300, deadline=None)
@given(text=st.text(_ALPHABET, max_size=80))
def test_literal_start_shortcut_equals_regex_search(text):
    for fast, slow in ((_FAST_CI, _SLOW_CI), (_FAST_CS, _SLOW_CS)):
        got, want = fast.scan(text), slow.scan(text)
        assert got == want
        for h in got:  # offsets are code-point indices into the text
            assert 0 <= h.start < h.end <= len(text)


def test_shortcut_applies_to_plain_ascii_literals_only():
    specs = [
        PatternSpec(id=0, expression="plain words", literal=True, caseless=True),
        PatternSpec(id=1, expression="café", literal=True, caseless=True),
        PatternSpec(id=2, expression="edge", literal=True, wholeword=True),
        PatternSpec(id=3, expression="fuzzy", literal=True, fuzzy=1),
        PatternSpec(id=4, expression=r"re\d+", literal=False),
    ]
    fixed = compile_patterns(specs, cache_dir=False)._fixed
    assert fixed == (len("plain words"), 0, 0, 0, 0)


def test_caseless_hit_span_is_the_literal():
    text = "say TOKEN and then token again"
    hits = _FAST_CI.scan(text)
    tok = [h for h in hits if WORDS[h.id] == "token"]
    assert len(tok) == 1 and text[tok[0].start:tok[0].end] == "TOKEN"


def _generated_guard(n: int):
    import bench_rules_scaling as bench
    import workload

    texts = workload.sample(400)
    src = bench.policy_source(bench.generate_rules(n, bench._vocabulary(texts)))
    return policylang.loads(src, cache_dir=False), texts


def _dumps(decisions):
    out = []
    for d in decisions:
        d = d.model_dump()
        d.pop("timings")
        out.append(d)
    return out


def test_generated_policy_decisions_do_not_depend_on_the_shortcut():
    guard, texts = _generated_guard(1500)
    texts = texts + [t.upper() for t in texts[:100]] + ["\u00e9 " + t for t in texts[:100]]
    fast = _dumps(guard.check_many(texts))
    assert sum(len(d["citations"]) for d in fast) > 100  # the corpus fires rules
    _without_shortcut(guard._engine.plan.patterns)
    assert _dumps(guard.check_many(texts)) == fast


def test_citations_and_evidence_equal_validated_models():
    guard = policylang.loads(
        'policy p "t"\nprinciple priv "keep it private"\n'
        'words w = ["secret plan", "codeword"] nocase\n'
        "rule r on input: when w flag because priv\n",
        cache_dir=False,
    )
    d = guard.check("the SECRET PLAN and the codeword, and codeword again")
    assert d.action == "flag" and len(d.citations) == 1
    c = d.citations[0]
    assert c.principle == "keep it private" and c.span is not None
    assert Citation.model_validate(c.model_dump()) == c
    assert c.model_fields_set == set(Citation.model_fields)
    for e in c.evidence:
        assert isinstance(e, Evidence)
        assert Evidence.model_validate(e.model_dump()) == e
        assert e.model_fields_set == set(Evidence.model_fields)
    assert c.model_copy(update={"severity": "high"}).severity == "high"

