"""``test`` blocks: tests that expect unknown rules (PL106) and tests without text (PL211)."""

from __future__ import annotations

from policylang.check.checker import CheckContext, error
from policylang.check.passes.names import did_you_mean
from policylang.syntax import ast


def run(ctx: CheckContext):
    ids: dict[str, set[str]] = {}  # namespace -> rule ids a test there may name (local and qualified)
    by_name: dict[tuple[str, str], str] = {}  # (namespace, rule name) -> its @id, when that differs
    for r in ctx.all_rules:
        ns = r.info.namespace
        ids.setdefault(ns, set()).add(r.node.rule_id)
        ids.setdefault("", set()).add(r.rule_id)
        if r.node.rule_id != r.node.name.value:
            by_name[(ns, r.node.name.value)] = r.node.rule_id
    for info in ctx.infos:
        if not info.active:
            continue
        known = ids.get(info.namespace, set()) | ids.get("", set())
        for test in info.module.of_type(ast.Test):
            if test.text is None:
                yield error(
                    "PL211", f"test `{test.name.value}` has no text to check", test.name.span,
                    help='add `input "..."` (or `output "..."`, `context "..."`) before `expect`',
                )
            for rule in test.expect.rules:
                if rule.value in known:
                    continue
                rid = by_name.get((info.namespace, rule.value)) or by_name.get(("", rule.value))
                if rid is not None:
                    yield error(
                        "PL106", f"test names rule `{rule.value}` by its name, but its id is `{rid}`", rule.span,
                        help=f'tests name rules by id: write `by "{rid}"`', label="use the rule id",
                    )
                    continue
                yield error(
                    "PL106", f"test expects unknown rule `{rule.value}`", rule.span,
                    help=did_you_mean(rule.value, sorted(known)) or "name a rule (or its `@id`) of this policy",
                    label="no such rule",
                )
