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


def run_tests(guard, select: str | None = None) -> list[TestResult]:
    """Run every test block of the guard's entry policies against the guard itself.

    ``select`` keeps the tests whose name contains it (case-insensitive), like ``pytest -k``.
    """
    results = []
    for t in guard.plan.policy_set.tests:
        node = t.node
        if select is not None and select.lower() not in node.name.value.lower():
            continue
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


# ---------------------------------------------------------------------------- coverage
@dataclass
class RuleCoverage:
    rule_id: str
    span: Span
    fired: bool = False
    branches: dict = None  # leaf span -> [Span, ever true?]

    def __post_init__(self):
        if self.branches is None:
            self.branches = {}


class Coverage:
    """Which rules the tests fire and which leaf conditions they ever make true.

    Pass ``coverage.tracer`` as ``trace_conditions=`` when building the guard (it wraps
    the leaf programs of each rule's ``when``/``unless``), run the tests, then
    ``record(results)`` and ``report()``. A *branch* is a leaf condition: a matcher, a
    score, a comparison; it is covered when some test made it true.
    """

    def __init__(self):
        self.rules: dict[str, RuleCoverage] = {}

    def tracer(self, rule_info):
        rc = self.rules.setdefault(rule_info.rule_id, RuleCoverage(rule_info.rule_id, rule_info.node.span))
        active = [True]

        def trace(node, program):
            key = (node.span.start, node.span.end)
            slot = rc.branches.setdefault(key, [node.span, False])

            def traced(frame):
                value = program(frame)
                if value and active[0]:
                    slot[1] = True
                return value

            return traced

        return trace

    def record(self, results) -> None:
        for r in results:
            if r.decision is None:
                continue
            for c in r.decision.citations:
                if c.rule_id in self.rules:
                    self.rules[c.rule_id].fired = True

    def report(self) -> list[dict]:
        """Per file: rules and branches, covered and not, and the percentage."""
        files: dict[str, dict] = {}
        for rc in self.rules.values():
            f = files.setdefault(rc.span.file, {"file": rc.span.file, "rules": 0, "rules_covered": 0,
                                                "branches": 0, "branches_covered": 0, "not_covered": []})
            f["rules"] += 1
            f["rules_covered"] += rc.fired
            if not rc.fired:
                f["not_covered"].append({"line": rc.span.line, "rule": rc.rule_id, "what": "rule never fired"})
            for span, hit in rc.branches.values():
                f["branches"] += 1
                f["branches_covered"] += hit
                if not hit:
                    f["not_covered"].append({"line": span.line, "col": span.col, "rule": rc.rule_id,
                                             "what": "condition never true"})
        for f in files.values():
            total = f["rules"] + f["branches"]
            f["percent"] = round(100.0 * (f["rules_covered"] + f["branches_covered"]) / total, 1) if total else 100.0
            f["not_covered"].sort(key=lambda x: (x["line"], x.get("col", 0)))
        return sorted(files.values(), key=lambda f: f["file"])


def junit_xml(results: list[TestResult], name: str = "policylang") -> str:
    """The results as JUnit XML (one testsuite; a failure's problems in its message)."""
    from xml.sax.saxutils import quoteattr

    failed = sum(1 for r in results if not r.passed)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites><testsuite name={quoteattr(name)} tests="{len(results)}" failures="{failed}" errors="0">']
    for r in results:
        case = (f'<testcase classname={quoteattr(r.span.file)} name={quoteattr(r.name)} '
                f'file={quoteattr(r.span.file)} line="{r.span.line}"')
        if r.passed:
            out.append(case + "/>")
        else:
            msg = "; ".join(r.problems)
            out.append(case + f"><failure message={quoteattr(msg)}/></testcase>")
    out.append("</testsuite></testsuites>")
    return "\n".join(out) + "\n"


def result_json(r: TestResult) -> dict:
    return {"name": r.name, "file": r.span.file, "line": r.span.line, "passed": r.passed,
            "problems": list(r.problems), "action": r.decision.action if r.decision else None}
