"""PL301: matchers, models and principles of the checked files that nothing uses.

Only definitions of user files (not packs) are reported: a pack offers many matchers
and a policy picks the ones it needs.
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error
from policylang.check.symbols import refs_in
from policylang.check.util import kind_word
from policylang.syntax import ast


def run(ctx: CheckContext):
    syms = ctx.symbols
    used: set[str] = set()
    for r in ctx.all_rules:
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            res = syms.resolve(r.info, ref.parts)
            if res is not None and res.symbol is not None:
                used.add(res.symbol.qname)
        if r.node.citation is not None:
            for p in r.node.citation.principles:
                sym = syms.principle(r.info, p.value)
                if sym is not None:
                    used.add(sym.qname)
    for info in ctx.infos:  # an embedder is used by the heads and topics declared on it
        for node in info.module.items:
            ref = node.on if isinstance(node, ast.Classifier) else (
                node.embedder if isinstance(node, ast.Topic) else None)
            emb = syms.embedder_of(info, ref)
            if emb is not None:
                used.add(emb.qname)
    for sym in syms.table.values():
        if sym.namespace or not sym.info.active or sym.qname in used:
            continue
        node = sym.node
        what = kind_word(node)
        if isinstance(node, ast.Principle):
            yield error("PL301", f"principle `{sym.local}` is never cited", node.name.span,
                        help=f"cite it from a rule with `because {sym.local}`, or remove it", label="never cited")
        else:
            yield error("PL301", f"{what} `{sym.local}` is never used", node.name.span,
                        help=("declare a head or topic on it, or remove it" if isinstance(node, ast.Embedder)
                              else "use it in a rule's `when`, or remove it"), label="never used")
