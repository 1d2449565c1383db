"""Annotations: unknown names (PL111), bad values and repeats (PL210).

Known annotations:

- ``@id("name")``: the rule's stable id (rules only);
- ``@severity(low|medium|high|critical)``: how serious a finding is (rules and matchers);
- ``@mode(enforce|shadow)``: a shadow rule is evaluated and reported but never acts (rules only);
- ``@description("...")``: free text (any declaration).
"""

from __future__ import annotations

import re

from policylang.check.checker import CheckContext, error
from policylang.check.passes.names import did_you_mean
from policylang.check.util import kind_word
from policylang.syntax import ast

SEVERITIES = ("low", "medium", "high", "critical")
MODES = ("enforce", "shadow")
KNOWN = ("id", "severity", "mode", "description")
# where each annotation means something; elsewhere it is a PL111 warning
RULE_ONLY = {"id", "mode"}
RULE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*")

ANNOTATED = (ast.Rule, ast.Pattern, ast.Words, ast.Embedder, ast.Classifier, ast.Topic)


def run(ctx: CheckContext):
    for info in ctx.infos:
        for node in info.module.items:
            if not isinstance(node, ANNOTATED) or not node.annotations:
                continue
            seen: dict[str, ast.Annotation] = {}
            for ann in node.annotations:
                name = ann.name.value
                if name not in KNOWN:
                    if info.active:
                        yield error(
                            "PL111", f"unknown annotation `@{name}`", ann.name.span,
                            help=did_you_mean(name, KNOWN) or f"known annotations: {', '.join('@' + k for k in KNOWN)}",
                        )
                    continue
                if name in seen:
                    yield error("PL210", f"annotation `@{name}` is given twice", ann.span,
                                help=f"the first `@{name}` is at {seen[name].span}; keep one")
                    continue
                seen[name] = ann
                if name in RULE_ONLY and not isinstance(node, ast.Rule):
                    if info.active:
                        yield error("PL111", f"annotation `@{name}` does nothing on a {kind_word(node)}",
                                    ann.name.span, help=f"`@{name}` applies to rules only; remove it")
                    continue
                yield from _value(ann)


def _value(ann: ast.Annotation):
    name = ann.name.value
    args = ann.args
    span = ann.arg_spans[0] if ann.arg_spans else ann.span
    if len(args) != 1:
        example = {"id": '@id("block-pii")', "severity": "@severity(high)", "mode": "@mode(shadow)",
                   "description": '@description("why this exists")'}[name]
        where = ann.arg_spans[1] if len(args) > 1 and len(ann.arg_spans) > 1 else ann.span
        yield error("PL210", f"`@{name}` takes exactly one value, not {len(args)}", where,
                    help=f"write it like `{example}`")
        return
    value = args[0]
    if name == "severity":
        if not isinstance(value, str) or value not in SEVERITIES:
            yield error("PL210", f"`@severity` cannot be `{value}`", span,
                        help=did_you_mean(str(value), SEVERITIES) or f"use one of {', '.join(SEVERITIES)}")
    elif name == "mode":
        if not isinstance(value, str) or value not in MODES:
            yield error("PL210", f"`@mode` cannot be `{value}`", span,
                        help=did_you_mean(str(value), MODES) or "use `enforce` (the default) or `shadow`")
    elif name == "id":
        if not isinstance(value, str) or not RULE_ID.fullmatch(value):
            yield error("PL210", f"`@id` cannot be `{value}`", span,
                        help="an id is a non-empty string of letters, digits, `_`, `-`, `.`, `:` or `/`")
    elif name == "description":
        if not isinstance(value, str):
            yield error("PL210", f"`@description` takes a string, not `{value}`", span,
                        help='write it like `@description("why this exists")`')
