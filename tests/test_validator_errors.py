"""A validator that raises fails closed: an error on the decision, the rules reading it refuse.

The validator is the real ``email`` validator; the regex object it calls is swapped for one
that raises on values holding "boom" (an exception inside the check itself, as a bug or a
broken dependency would give). "Returned False" stays a plain non-match.
"""

from __future__ import annotations

import pytest

import policylang
from policylang.compile import validators
from policylang.compile.validators import VALIDATORS, ValidatorError

SOURCE = """\
policy p "validator failures"
principle privacy "keep addresses out"
pattern mail = /[a-z0-9.]+@[a-z0-9]+\\.[a-z0-9]+/ validate email
pattern order = /ORD-[0-9]{6}/
rule hide_mail on input: when mail redact because privacy
rule order_ids on input: when order flag
rule long on output: when len(text) > 10000 refuse
"""


class _Raising:
    """The email regex, raising on values that hold "boom"."""

    def __init__(self, rx):
        self.rx = rx

    def fullmatch(self, value, *args):
        if "boom" in value:
            raise RuntimeError(f"broken check on {value}")  # the message quotes the value
        return self.rx.fullmatch(value, *args)


@pytest.fixture()
def guard(monkeypatch):
    monkeypatch.setattr(validators, "_EMAIL_RE", _Raising(validators._EMAIL_RE))
    return policylang.loads(SOURCE, cache_dir=False)


def test_the_validator_raises_validator_error(monkeypatch):
    monkeypatch.setattr(validators, "_EMAIL_RE", _Raising(validators._EMAIL_RE))
    with pytest.raises(ValidatorError) as info:
        VALIDATORS["email"]("boom@example.com")
    assert info.value.validator == "email" and info.value.reason == "RuntimeError"
    assert "boom@example.com" not in str(info.value)
    assert VALIDATORS["email"]("ann@example.com") is True
    assert VALIDATORS["email"](42) is False  # not a str: not valid, no error


def test_a_raising_validator_refuses_and_says_so(guard):
    text = "write to boom@example.com please"
    d = guard.check(text)
    assert d.action == "refuse"
    assert d.text != text and "boom" not in d.text
    assert len(d.errors) == 1
    err = d.errors[0]
    assert "validator `email`" in err and "pattern `mail`" in err and "RuntimeError" in err
    start = text.index("boom")
    assert f"{start}-{start + len('boom@example.com')}" in err
    assert "boom@example.com" not in err  # the exception's message (it quotes the value) is not repeated
    (c,) = d.citations
    assert c.rule_id == "hide_mail" and c.action == "refuse" and c.error is not None
    assert "validator `email`" in c.error


def test_check_many_fails_closed_per_text(guard):
    ds = guard.check_many(["boom@example.com", "ann@example.com", "nothing here"])
    assert [d.action for d in ds] == ["refuse", "redact", "allow"]
    assert ds[0].errors and not ds[1].errors and not ds[2].errors
    assert "ann@example.com" not in ds[1].text


def test_one_raising_match_refuses_the_text_with_good_matches(guard):
    d = guard.check("ann@example.com and boom@example.com")
    assert d.action == "refuse"
    assert "ann@example.com" not in d.text


def test_returned_false_is_a_plain_non_match(guard):
    d = guard.check("write to x@y.z or a@b.12")  # `email` wants a TLD of 2+ letters: False
    assert d.action == "allow" and d.errors == [] and d.citations == []


def test_rules_that_do_not_read_the_pattern_are_unaffected(guard):
    d = guard.check("order ORD-123456 for boom@example.com")
    assert d.action == "refuse"
    by_rule = {c.rule_id: c for c in d.citations}
    assert by_rule["order_ids"].action == "flag" and by_rule["order_ids"].error is None
    assert by_rule["hide_mail"].action == "refuse"
    # another stage: no rule reads `mail`, the text passes, the error is still reported
    out = guard.check("boom@example.com", stage="output")
    assert out.action == "allow" and len(out.errors) == 1 and "validator `email`" in out.errors[0]


def test_shadow_rule_reports_without_refusing(monkeypatch):
    monkeypatch.setattr(validators, "_EMAIL_RE", _Raising(validators._EMAIL_RE))
    g = policylang.loads(
        'policy p "t"\n'
        "pattern mail = /[a-z0-9.]+@[a-z0-9]+\\.[a-z0-9]+/ validate email\n"
        "@mode(shadow)\nrule watch on input: when mail flag\n",
        cache_dir=False,
    )
    d = g.check("boom@example.com")
    assert d.action == "allow"
    (c,) = d.citations
    assert c.shadow and c.action == "refuse" and c.error is not None and d.errors


def test_a_bounded_check_that_breaks_fails_closed(monkeypatch):
    """The national-id checks bound their value with python-stdnum; a broken or missing
    module is a validator error (refused, said), not a silent "no id here"."""
    import importlib

    guard = policylang.load("pii", cache_dir=False)
    text = "Steuer-ID: 36574261809"
    assert guard.check(text).action == "redact"
    real = importlib.import_module

    def broken(name, *a, **k):
        if name.startswith("stdnum.de"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", broken)
    # another valid id: a value already checked keeps its (memoized, pure) answer
    text = "Steuer-ID: 76491326687"
    d = guard.check(text)
    assert d.action == "refuse" and "76491326687" not in d.text
    assert d.errors and any("ImportError" in str(e) for e in d.errors)
    # garbage is still just "no value": an ordinary text passes
    assert guard.check("Steuer-ID: bitte nachreichen").action == "allow"


def test_bounded_checks_are_memoized_per_value_but_never_an_exception():
    from policylang.compile.validators import ValidatorError, _bounding

    calls = []

    def spans_of(value):
        calls.append(value)
        if value == "boom" and calls.count("boom") == 1:
            raise RuntimeError("first call breaks")
        return ((0, len(value)),) if value.isdigit() else ()

    v = _bounding(spans_of)
    assert v("123") and v.bounds("123") == ((0, 3),) and v("123")
    assert not v("abc") and v.bounds("abc") == ()
    assert calls == ["123", "abc"]  # a value is checked once, then its answer is reused
    with pytest.raises(ValidatorError):
        v("boom")
    assert v.bounds("boom") == () and calls.count("boom") == 2  # the failure was not kept
