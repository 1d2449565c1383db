"""PL305: rules that can never change the decision.

A refusal overrides every other action. So when an earlier rule ``A``

- refuses, is enforced (not ``@mode(shadow)``) and has no ``unless``,
- runs on every stage the later rule ``B`` runs on, and
- fires whenever ``B`` fires (``B``'s condition implies ``A``'s),

then ``B`` cannot change any decision: whenever it fires, ``A`` refuses. Implication is
only claimed where it is decidable by structure, names resolved:

- identical conditions (``and``/``or`` compared as sets);
- ``A: when X`` and ``B: when X and Y`` (``A``'s conjuncts are a subset of ``B``'s);
- ``A: when X or Z`` and ``B: when X and Y`` (one alternative of ``A`` is implied);
- ``B: when P or Q`` when every alternative of ``B`` implies ``A``.

To stay linear on large policies each earlier rule is indexed by one of its conjuncts,
and at most ``MAX_CANDIDATES`` candidates are examined per later rule.
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error
from policylang.check.symbols import Symbols
from policylang.check.util import is_shadow
from policylang.syntax import ast

MAX_CANDIDATES = 64
MAX_ALTERNATIVES = 16


def expr_key(node, syms: Symbols, info) -> tuple:
    """A structural key of an expression: equal keys mean equal conditions (spans ignored)."""
    if isinstance(node, ast.Ref):
        res = syms.resolve(info, node.parts)
        if res is None:
            return ("ref?", node.dotted)
        if res.kind in ("matcher", "topic"):
            return ("sym", res.symbol.qname, res.extra)
        if res.kind == "classifier":
            return ("sym", res.symbol.qname, res.label, res.extra)
        if res.kind == "group":
            return ("pack", res.pack)
        if res.kind == "context":
            return ("ctx", res.attr)
        return (res.kind, res.extra)
    if isinstance(node, ast.Literal):
        return ("lit", type(node.value).__name__, node.value)
    if isinstance(node, ast.ListExpr):
        return ("list", tuple(expr_key(i, syms, info) for i in node.items))
    if isinstance(node, ast.Call):
        return ("call", node.func.value, tuple(expr_key(a, syms, info) for a in node.args))
    if isinstance(node, ast.Compare):
        return ("cmp", node.op, expr_key(node.left, syms, info), expr_key(node.right, syms, info))
    if isinstance(node, ast.And):
        return ("and", frozenset(_conjuncts(node, syms, info)))
    if isinstance(node, ast.Or):
        return ("or", frozenset(expr_key(i, syms, info) for i in _flatten(node, ast.Or)))
    if isinstance(node, ast.Not):
        return ("not", expr_key(node.item, syms, info))
    return ("?", id(node))


def _flatten(node, cls):
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cls):
            stack.extend(reversed(n.items))
        else:
            out.append(n)
    return out


def _conjuncts(node, syms, info) -> frozenset:
    return frozenset(expr_key(n, syms, info) for n in _flatten(node, ast.And))


def alternatives(node, syms, info) -> list[frozenset] | None:
    """The condition as ``[conjunct set, ...]`` joined by `or` (None when too many)."""
    alts = _flatten(node, ast.Or)
    if len(alts) > MAX_ALTERNATIVES:
        return None
    return [_conjuncts(a, syms, info) for a in alts]


def run(ctx: CheckContext):
    syms = ctx.symbols
    # anchor conjunct -> [(conjunct set, rule info)] of earlier enforcing, unconditional refusals
    index: dict[tuple, list] = {}
    for r in ctx.active_rules:
        node = r.node
        later_alts = alternatives(node.when, syms, r.info)
        if later_alts is not None and not is_shadow(node):
            earlier = _find(index, later_alts, set(node.stages))
            if earlier is not None:
                e = earlier.node
                why = "the same condition" if _same(later_alts, earlier, syms) else "a weaker condition"
                yield error(
                    "PL305", f"rule `{node.name.value}` can never change the decision", node.name.span,
                    help=f"rule `{e.name.value}` ({e.name.span}) refuses on the same stages with {why}, "
                         f"and a refusal overrides every other action; remove this rule, or narrow "
                         f"`{e.name.value}` with `unless`",
                    rule_id=r.rule_id, label="shadowed by an earlier refusal",
                )
        if node.action.kind == "refuse" and node.unless is None and not is_shadow(node):
            alts = later_alts
            if alts is None:
                continue
            for conj in alts:
                if not conj:
                    continue
                anchor = min(conj, key=repr)
                index.setdefault(anchor, []).append((conj, r, frozenset(node.stages)))


def _find(index, later_alts, stages):
    """An earlier refusal that fires whenever the later condition holds (one per alternative), or None."""
    found = None
    for conj in later_alts:
        hit = None
        checked = 0
        for k in conj:
            for cand_conj, cand, cand_stages in index.get(k, ()):
                checked += 1
                if checked > MAX_CANDIDATES:
                    break
                if cand_conj <= conj and stages <= cand_stages:
                    hit = cand
                    break
            if hit is not None or checked > MAX_CANDIDATES:
                break
        if hit is None:
            return None
        found = found or hit
    return found


def _same(later_alts, earlier, syms) -> bool:
    e = alternatives(earlier.node.when, syms, earlier.info)
    return e is not None and set(e) == set(later_alts)
