"""Rule actions: redaction templates with unknown placeholders (PL207) and ``redact`` rules
whose condition names no matcher (PL214: there would be no span to redact).

A replacement template may use ``{kind}`` (the matcher's ``kind``, else its name),
``{rule}`` (the rule id) and ``{matcher}`` (the matcher's name). Other braces are kept
as written, but ``{word}`` is almost always a misspelt placeholder.
"""

from __future__ import annotations

import re

from policylang.check.checker import CheckContext, error
from policylang.check.passes.names import did_you_mean
from policylang.check.symbols import refs_in

PLACEHOLDERS = ("kind", "rule", "matcher")
_TOKEN = re.compile(r"\{([A-Za-z_ ]*)\}")


def template_problems(template: str):
    """``(message, help)`` for each problem in a redaction template."""
    for m in _TOKEN.finditer(template):
        name = m.group(1).strip()
        if name not in PLACEHOLDERS:
            hint = did_you_mean(name, PLACEHOLDERS)
            yield (f"unknown placeholder `{m.group()}` in redaction template",
                   (hint + " " if hint else "") + "placeholders are `{kind}`, `{rule}` and `{matcher}`")


def run(ctx: CheckContext):
    syms = ctx.symbols
    for r in ctx.all_rules:
        action = r.node.action
        if action.kind != "redact":
            continue
        if action.op == "replace" and action.template is not None:
            for message, help in template_problems(action.template.value):
                yield error("PL207", message, action.template.span, help=help, rule_id=r.rule_id)
        has_matcher = False
        unresolved = False
        for ref in refs_in(r.node.when):
            res = syms.resolve(r.info, ref.parts)
            if res is None:
                unresolved = True
            elif res.kind in ("matcher", "group") or (res.kind == "classifier" and res.symbol.node.is_ner):
                has_matcher = True  # a token classifier's entities are spans, like a matcher's hits
                break
        if not has_matcher and not unresolved:
            yield error(
                "PL214", f"rule `{r.node.name.value}` redacts, but its condition names no matcher", action.span,
                help="redaction removes what a pattern, word list or pack matched; add one to `when`, "
                     "or use `refuse` or `flag` instead", rule_id=r.rule_id, label="nothing to redact",
            )
