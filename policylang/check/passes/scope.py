"""PL225: a rule's conversation scope (``over last N turns``, ``over all turns``) that cannot work.

``over last 0 turns`` sees nothing; a scope on ``tool_call`` or ``tool_result`` has no
turns (tool calls are checked one at a time). ``over last 1 turns`` is the default and
needs no clause: PL225 as well, so a scope always means more than one turn.
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error

NO_TURNS = {"tool_call", "tool_result"}


def run(ctx: CheckContext):
    for r in ctx.all_rules:
        scope = r.node.scope
        if scope is None:
            continue
        if scope.turns is not None and scope.turns < 2:
            yield error(
                "PL225", f"`over last {scope.turns} turns` sees no earlier turn", scope.span,
                help="write `over last N turns` with N >= 2, `over all turns`, or leave the scope out "
                     "(the current text only)", label="not a conversation scope", rule_id=r.rule_id)
        bad = sorted(set(r.node.stages) & NO_TURNS)
        if bad:
            yield error(
                "PL225", f"a rule on `{bad[0]}` cannot look over turns: tool calls are checked one at a time",
                scope.span, help="leave the scope out, or put the rule on `input`, `output` or `context`",
                label="no turns here", rule_id=r.rule_id)
