"""PL223 and PL224: references to a tool call in rules.

* PL223: ``tool.`` in a rule that does not run only on tool stages (``on tool_call``,
  ``on tool_result``), or ``tool.args`` in a rule that runs on ``tool_result`` (a result
  has no arguments). On other stages there is no tool call, the value is always missing
  and the condition silently never holds.
* PL224: one argument path compared with a number in one place and with a string in
  another (``tool.args.amount > 100`` and ``tool.args.amount == "100"``): one of the two
  never holds, since arguments keep their JSON type (``"100"`` is not ``100``).
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error
from policylang.syntax import ast

TOOL_STAGES = {"tool_call", "tool_result"}


def _tool_refs(ctx: CheckContext, r):
    for node in ast.rule_nodes(r.node):
        if isinstance(node, ast.Ref) and node.parts[0] == "tool":
            res = ctx.symbols.resolve(r.info, node.parts)
            if res is not None and res.kind == "tool":
                yield node


def run(ctx: CheckContext):
    seen: dict[tuple[str, ...], tuple[str, ast.Literal, str]] = {}  # path -> (kind, literal, rule id)
    for r in ctx.all_rules:
        stages = set(r.node.stages)
        for ref in _tool_refs(ctx, r):
            other = sorted(stages - TOOL_STAGES)
            if other:
                yield error(
                    "PL223", f"`{ref.dotted}` in a rule on `{other[0]}`: there is no tool call there", ref.span,
                    help="run the rule `on tool_call` (name and arguments) or `on tool_result` (name), "
                         "or split it into a rule per stage", label="always missing here", rule_id=r.rule_id)
            elif ref.parts[1:2] == ("args",) and "tool_result" in stages:
                yield error(
                    "PL223", f"`{ref.dotted}` in a rule on `tool_result`: a tool result has no arguments",
                    ref.span, help="read arguments in a rule `on tool_call`; a result rule may read `tool.name`",
                    label="always missing here", rule_id=r.rule_id)
        for node in ast.rule_nodes(r.node):
            if not isinstance(node, ast.Compare):
                continue
            for side, lit in ((node.left, node.right), (node.right, node.left)):
                if not (isinstance(side, ast.Ref) and side.parts[:2] == ("tool", "args") and len(side.parts) > 2):
                    continue
                if not isinstance(lit, ast.Literal) or isinstance(lit.value, bool):
                    continue
                kind = "string" if isinstance(lit.value, str) else "number"
                path = side.parts[2:]
                first = seen.get(path)
                if first is None:
                    seen[path] = (kind, lit, r.rule_id)
                elif first[0] != kind:
                    where = f"{first[1].span.file}:{first[1].span.line}"
                    yield error(
                        "PL224", f"`{side.dotted}` is compared with a {kind} here and with a {first[0]} at {where}",
                        lit.span, help="tool arguments keep their JSON type (`\"100\"` is not `100`): "
                                       f"compare `{side.dotted}` with one kind of value everywhere",
                        label=f"a {kind}", rule_id=r.rule_id)
