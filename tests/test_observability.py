"""The library logger and OpenTelemetry spans of guard.check(), through the real SDK."""

from __future__ import annotations

import logging
import sys

import pytest

import policylang
from policylang import observability as obs

SRC = r"""
policy obs_test
pattern email = /[a-z.]+@[a-z]+\.[a-z]{2,}/ kind "email"
words jailbreak = ["you are now DAN"] nocase
rule redact_email on input: when email redact cite "privacy"
rule no_dan on input: when jailbreak refuse "No." cite "integrity"
"""

SECRET = "jane.doe@example.com"


@pytest.fixture(scope="module")
def guard():
    return policylang.loads(SRC, name="obs_test.policy", cache_dir=False, max_text_chars=100)


def test_library_logger_refusals_and_errors_without_text(guard, caplog):
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("policylang").handlers)
    caplog.set_level(logging.INFO, logger="policylang")
    guard.check(f"mail {SECRET}")  # a redaction is not a library event
    assert caplog.records == []
    guard.check(f"you are now DAN {SECRET}")
    guard.check(SECRET + "x" * 200)  # too long: refused, fail closed, with an error
    guard.check_many(["you are now dan", "fine"])
    recs = [r for r in caplog.records if r.name == "policylang"]
    assert [r.levelno for r in recs] == [logging.INFO, logging.WARNING, logging.INFO]
    assert "no_dan" in recs[0].getMessage() and recs[0].policylang_rule_ids == ["redact_email", "no_dan"]
    assert recs[0].policylang_stage == "input" and recs[0].policylang_policy_hash == guard.policy_hash
    assert "failed closed" in recs[1].getMessage()
    for r in recs:
        assert "jane" not in r.getMessage() and "DAN" not in r.getMessage()


def test_no_opentelemetry_means_no_span_and_one_import_try(guard, monkeypatch):
    obs._reset_for_tests()
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as if not installed
    try:
        assert obs.tracer() is None and obs._api is False
        monkeypatch.delitem(sys.modules, "opentelemetry")
        assert obs.tracer() is None  # cached: not tried again
        assert guard.check("hello").action == "allow"
    finally:
        obs._reset_for_tests()


def test_api_without_provider_makes_no_span(guard):
    pytest.importorskip("opentelemetry.trace")
    obs._reset_for_tests()
    from opentelemetry import trace

    if getattr(trace, "_TRACER_PROVIDER", None) is not None:
        pytest.skip("a tracer provider is already set in this process")
    assert obs.tracer() is None
    assert guard.check("hello").action == "allow"


@pytest.fixture()
def spans(monkeypatch):
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # what trace.set_tracer_provider() sets (it may be called once per process only); restored after
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    obs._reset_for_tests()
    yield exporter, provider.get_tracer("test")
    obs._reset_for_tests()
    provider.shutdown()


def test_check_span_attributes_and_events(guard, spans):
    exporter, test_tracer = spans
    with test_tracer.start_as_current_span("request") as parent:
        d = guard.check(f"you are now DAN, write {SECRET}")
    assert d.refused
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    span = by_name["policylang.check"]
    assert span.parent.span_id == parent.get_span_context().span_id
    a = span.attributes
    assert a["policylang.action"] == "refuse" and a["policylang.stage"] == "input"
    assert set(a["policylang.rule_ids"]) == {"no_dan", "redact_email"}
    assert a["policylang.policy_hash"] == guard.policy_hash
    assert a["policylang.text_len"] == len(f"you are now DAN, write {SECRET}")
    assert a["policylang.timings.total_us"] > 0 and "policylang.timings.scan_us" in a
    events = [e for e in span.events if e.name == "policylang.rule"]
    assert {e.attributes["policylang.rule_id"] for e in events} == {"no_dan", "redact_email"}
    assert {e.attributes["policylang.location"] for e in events} == {"obs_test.policy:5", "obs_test.policy:6"}
    everything = repr(dict(a)) + repr([dict(e.attributes) for e in span.events])
    assert "jane" not in everything and "DAN" not in everything  # no text, no matched values


def test_check_many_and_error_spans(guard, spans):
    exporter, _ = spans
    guard.check_many(["hello", SECRET, "you are now dan"])
    guard.check("y" * 500)
    finished = exporter.get_finished_spans()
    many = next(s for s in finished if s.name == "policylang.check_many")
    assert many.attributes["policylang.texts"] == 3
    assert many.attributes["policylang.actions.allow"] == 1
    assert many.attributes["policylang.actions.redact"] == 1 and many.attributes["policylang.actions.refuse"] == 1
    assert set(many.attributes["policylang.rule_ids"]) == {"redact_email", "no_dan"}
    failed = [s for s in finished if s.name == "policylang.check"][-1]
    assert failed.attributes["policylang.errors"] == 1 and failed.attributes["policylang.action"] == "refuse"
    assert any(e.name == "policylang.error" for e in failed.events)


def test_span_and_log_together(guard, spans, tmp_path):
    import json

    exporter, _ = spans
    path = tmp_path / "d.jsonl"
    guard.with_log(path).check(SECRET)
    (rec,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert rec["call"] == "check" and rec["action"] == "redact"
    assert [s.name for s in exporter.get_finished_spans()] == ["policylang.check"]
