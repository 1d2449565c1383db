"""Runs the ``test`` blocks written in policies (``policylang test``)."""

from __future__ import annotations

from dataclasses import dataclass

from policylang._source import Span
from policylang.decision import Decision


@dataclass(frozen=True)
class TestResult:
    name: str
    span: Span
    passed: bool
    problems: tuple[str, ...]
    decision: Decision | None

    __test__ = False  # not a pytest class


def run_tests(guard) -> list[TestResult]:
    """Run every test block of the guard's active policies against the guard itself."""
    results = []
    for t in guard.plan.policy_set.tests:
        node = t.node
        if node.text is None:
            results.append(TestResult(node.name.value, node.span, False, ("test has no text",), None))
            continue
        context = dict(node.context)
        decision = guard.check(node.text.value, stage=node.stage or "input", context=context)
        problems = []
        exp = node.expect
        if decision.action != exp.action:
            why = ", ".join(f"{c.rule_id} ({c.action})" for c in decision.citations if not c.shadow) or "no rule fired"
            problems.append(f"expected {exp.action}, got {decision.action} ({why})")
        fired = [c.rule_id for c in decision.citations]
        prefix = f"{t.info.namespace}." if t.info.namespace else ""
        for r in exp.rules:
            want = r.value if r.value in fired else prefix + r.value
            if want not in fired:
                problems.append(f"expected rule `{r.value}` to fire; fired: {', '.join(fired) or 'none'}")
        if exp.text is not None and decision.text != exp.text.value:
            problems.append(f"expected text {exp.text.value!r}, got {decision.text!r}")
        results.append(TestResult(node.name.value, node.span, not problems, tuple(problems), decision))
    return results
