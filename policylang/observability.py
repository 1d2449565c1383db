"""Observability of checks: the library logger, OpenTelemetry spans, the decision log of bare checks.

* ``logging.getLogger("policylang")`` (a ``NullHandler`` is attached, so nothing prints
  unless the application configures logging): a refusal is logged at INFO, a decision with
  ``errors`` (a model failed, a limit was hit: failed closed) at WARNING, each with the
  stage, the rule ids and the policy digest. Never the checked or matched text.
* OpenTelemetry: when ``opentelemetry-api`` is importable AND a tracer provider is set
  (an SDK is configured), ``guard.check()``/``check_many()`` run inside a span
  ``policylang.check`` / ``policylang.check_many`` with the action, stage, rule ids, policy
  digest and timings as attributes and one ``policylang.rule`` event per cited rule. The
  import is tried once (function level, result cached), and only once the process has
  imported ``opentelemetry`` itself or names a provider in ``OTEL_PYTHON_TRACER_PROVIDER``:
  a provider cannot be set otherwise, and a command line scan does not pay the API's
  import. With no provider set no span is made at all, so the cost is one attribute read
  per check.
* A guard with a decision log (``load(..., log=...)``, ``guard.with_log(log)``) writes one
  record per checked text (``call`` is ``check`` or ``check_many``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Callable

from policylang.decision import Decision

logger = logging.getLogger("policylang")
logger.addHandler(logging.NullHandler())

_api: Any = None  # the opentelemetry.trace module; False when it is not importable
_provider: Any = None
_tracer: Any = None
_ENV_PROVIDER = "OTEL_PYTHON_TRACER_PROVIDER"
_MISSING = object()
_env_provider = False
_ENV_NAMED = bool(os.environ.get(_ENV_PROVIDER))  # read once: a process's OpenTelemetry set-up is its environment


def _load_api():
    global _api
    try:
        from opentelemetry import trace
    except ImportError:
        _api = False
        return False
    global _env_provider
    _env_provider = bool(os.environ.get(_ENV_PROVIDER))  # the API then loads a provider itself
    _api = trace
    return trace


def tracer():
    """The ``policylang`` tracer, or None (no opentelemetry-api, or no tracer provider set)."""
    global _provider, _tracer
    api = _api
    if api is False:
        return None
    if api is None:
        if "opentelemetry" not in sys.modules and not _ENV_NAMED:
            return None  # nothing imported the API, so no provider is set: ask again next check
        api = _load_api()
        if api is False:
            return None
    provider = getattr(api, "_TRACER_PROVIDER", _MISSING)  # what set_tracer_provider() sets
    if provider is None and not _env_provider:
        return None  # no provider set: no span (what the API's proxy would do, for free)
    if provider is None or provider is _MISSING:
        provider = api.get_tracer_provider()
    if provider is not _provider:
        _provider = provider
        if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
            _tracer = None
        else:
            from policylang import __version__

            _tracer = provider.get_tracer("policylang", __version__)
    return _tracer


def _reset_for_tests() -> None:
    global _api, _provider, _tracer
    _api = _provider = _tracer = None


def rule_ids(d: Decision) -> list[str]:
    return [c.rule_id for c in d.citations if not c.shadow]


def attributes(d: Decision) -> dict[str, Any]:
    """Span attributes of one decision (no text, no matched values)."""
    attrs: dict[str, Any] = {
        "policylang.action": d.action,
        "policylang.stage": d.stage,
        "policylang.policy_hash": d.policy_hash,
        "policylang.rule_ids": rule_ids(d),
        "policylang.redactions": len(d.redactions),
        "policylang.errors": len(d.errors),
    }
    shadow = [c.rule_id for c in d.citations if c.shadow]
    if shadow:
        attrs["policylang.shadow_rule_ids"] = shadow
    for phase, us in d.timings.items():
        attrs[f"policylang.timings.{phase}"] = float(us)
    for name, score in d.scores.items():
        attrs[f"policylang.scores.{name}"] = float(score)
    return attrs


def _events(span, d: Decision) -> None:
    for c in d.citations:
        ev = {"policylang.rule_id": c.rule_id, "policylang.action": c.action, "policylang.location": c.location,
              "policylang.shadow": c.shadow}
        if c.matcher is not None:
            ev["policylang.matcher"] = c.matcher
        if c.score is not None:
            ev["policylang.score"] = float(c.score)
        span.add_event("policylang.rule", ev)
    for e in d.errors:
        span.add_event("policylang.error", {"policylang.message": e[:500]})


def decision_event(d: Decision) -> None:
    """Log a refusal (INFO) or a decision with errors (WARNING) on the ``policylang`` logger."""
    ids = rule_ids(d)
    extra = {"policylang_action": d.action, "policylang_stage": d.stage, "policylang_rule_ids": ids,
             "policylang_policy_hash": d.policy_hash}
    if d.errors:
        logger.warning("check at %s failed closed (%s): %s; rules %s; policy %s", d.stage, d.action,
                       "; ".join(e[:200] for e in d.errors), ",".join(ids) or "-", d.policy_hash[:19], extra=extra)
    elif d.action == "refuse":
        logger.info("refused at %s by rules %s; policy %s", d.stage, ",".join(ids) or "-", d.policy_hash[:19],
                    extra=extra)


def check(guard, evaluate: Callable[..., Decision], text, stage, context, tr) -> Decision:
    """``evaluate(text, stage, context)`` inside a span (``tr`` not None), logged to ``guard._log``."""
    t0 = time.perf_counter_ns()
    if tr is not None:
        with tr.start_as_current_span("policylang.check") as span:
            d = evaluate(text, stage, context)
            span.set_attributes(attributes(d))
            if isinstance(text, str):
                span.set_attribute("policylang.text_len", len(text))
            _events(span, d)
    else:
        d = evaluate(text, stage, context)
    latency = (time.perf_counter_ns() - t0) / 1000
    if d.action == "refuse" or d.errors:
        decision_event(d)
    log = guard._log
    if log is not None:
        log.log_check(d, text if isinstance(text, str) else None, latency_us=latency)
    return d


def check_many(guard, evaluate_many: Callable[..., list], texts, stage, context, tr) -> list[Decision]:
    """``evaluate_many`` inside one span, each decision logged."""
    t0 = time.perf_counter_ns()
    if tr is not None:
        with tr.start_as_current_span("policylang.check_many") as span:
            ds = evaluate_many(texts, stage, context)
            actions: dict[str, int] = {}
            ids: list[str] = []
            for d in ds:
                actions[d.action] = actions.get(d.action, 0) + 1
                ids.extend(i for i in rule_ids(d) if i not in ids)
            span.set_attributes({"policylang.stage": stage, "policylang.texts": len(ds),
                                 "policylang.policy_hash": guard.policy_hash, "policylang.rule_ids": ids,
                                 **{f"policylang.actions.{a}": n for a, n in actions.items()}})
    else:
        ds = evaluate_many(texts, stage, context)
    latency = (time.perf_counter_ns() - t0) / 1000
    log = guard._log
    for i, d in enumerate(ds):
        if d.action == "refuse" or d.errors:
            decision_event(d)
        if log is not None:
            t = texts[i] if i < len(texts) and isinstance(texts[i], str) else None
            log.log_check(d, t, call="check_many", latency_us=latency)
    return ds
