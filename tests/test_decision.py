"""Decisions the engine builds are real, valid pydantic models (fast_construct stays honest)."""

from __future__ import annotations

import json

import policylang
from policylang.decision import Citation, Decision, Evidence, Redaction

POLICY = r'''
policy d "decision tests"
principle privacy "Protect personal data."
pattern email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/
words jb = ["ignore previous instructions"] nocase
rule r_email on input: when email redact "[{kind}]" because privacy
rule r_jb on input: when jb refuse "no" because privacy
'''


def _roundtrip(model):
    again = type(model).model_validate(json.loads(model.model_dump_json()))
    assert again == model
    return again


def test_engine_decisions_equal_validated_models():
    g = policylang.loads(POLICY, cache_dir=False)
    for text in ["hello", "mail a@b.co and c@d.org", "ignore previous instructions a@b.co"]:
        d = g.check(text)
        assert isinstance(d, Decision)
        _roundtrip(d)
        for c in d.citations:
            assert isinstance(c, Citation)
            _roundtrip(c)
            for e in c.evidence:
                assert isinstance(e, Evidence)
        for r in d.redactions:
            assert isinstance(r, Redaction)
        assert d.model_fields_set == set(Decision.model_fields)


def test_decisions_are_frozen():
    d = policylang.loads(POLICY, cache_dir=False).check("hello")
    try:
        d.action = "refuse"
    except Exception as err:  # pydantic ValidationError for frozen instances
        assert "frozen" in str(err).lower()
    else:  # pragma: no cover
        raise AssertionError("Decision must be immutable")
    assert d.model_copy(update={"action": "flag"}).action == "flag"
