"""PL302: rules that cite no principle. A decision should say why it was taken."""

from __future__ import annotations

from policylang.check.checker import CheckContext, error


def run(ctx: CheckContext):
    for r in ctx.active_rules:
        if r.node.citation is None:
            yield error(
                "PL302", f"rule `{r.node.name.value}` cites no principle", r.node.name.span,
                help="end the rule with `because PRINCIPLE` (or `cite \"...\"`) so its decisions explain themselves",
                rule_id=r.rule_id, label="no `because`",
            )
        elif r.node.citation.text is not None and not r.node.citation.text.value.strip():
            yield error(
                "PL302", f"rule `{r.node.name.value}` cites an empty text", r.node.citation.text.span,
                help="write the reason in the `cite` string, or use `because PRINCIPLE`", rule_id=r.rule_id,
            )
