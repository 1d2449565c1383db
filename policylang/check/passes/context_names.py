"""PL306: a context attribute that is probably a misspelling of another.

Context attributes are free-form (the application sets them), so a rule reading
``context.teir`` where every other place says ``tier`` compiles and silently never fires.
This pass collects every attribute name the checked files mention (in rule conditions
and in test ``context`` lines) and warns about a name that is close to another one and
that no test sets, when the other one is set by a test or used more often.

Where the policy declares its context attributes (``context tier: string``), the
context_types pass reports an undeclared one as an error (PL307) instead: rules of the
modules it saw are skipped here.
"""

from __future__ import annotations

import difflib
from collections import Counter

from policylang.check.checker import CheckContext, error
from policylang.check.symbols import refs_in
from policylang.syntax import ast


def run(ctx: CheckContext):
    uses: Counter[str] = Counter()
    first: dict[str, ast.Ref] = {}
    rule_of: dict[str, str] = {}
    declared = ctx.facts.get("context_declared_modules", ())
    for r in ctx.active_rules:
        if r.info.module.source.name in declared:
            continue
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            if len(ref.parts) > 1 and ref.parts[0] == "context":
                name = ref.parts[1]
                uses[name] += 1
                first.setdefault(name, ref)
                rule_of.setdefault(name, r.rule_id)
    set_by_tests: Counter[str] = Counter()
    for info in ctx.infos:
        if not info.active:
            continue
        for t in info.module.of_type(ast.Test):
            for key, _value in t.context:
                set_by_tests[key.split(".")[0]] += 1
    known = set(uses) | set(set_by_tests)
    for name, ref in first.items():
        if name in set_by_tests:
            continue
        others = [o for o in known if o != name]
        close = difflib.get_close_matches(name, others, n=1, cutoff=0.75)
        if not close:
            continue
        other = close[0]
        weight = uses[other] + 2 * set_by_tests[other]
        if weight <= uses[name] and not set_by_tests[other]:
            continue
        yield error(
            "PL306", f"context attribute `{name}` looks like a misspelling of `{other}`", ref.span,
            help=(f"`{other}` is " + ("set by the tests" if set_by_tests[other] else f"read {uses[other]} times")
                  + f" and `{name}` only here; a context attribute nobody sets is never present, "
                  "so the condition never holds"),
            label="misspelled?", rule_id=rule_of[name],
        )
