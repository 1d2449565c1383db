"""Name resolution: undefined and duplicate names, unknown packs and principles, word lists.

Also loads word lists (through the environment) into ``ctx.word_lists``: the compiler
needs them and the PL209/PL205 checks live here.
"""

from __future__ import annotations

import difflib

from policylang.check.checker import CheckContext, error
from policylang.check.symbols import refs_in
from policylang._resources import pack_names
from policylang.check.util import kind_word
from policylang.syntax import ast

FUNCTIONS = {"count": 1, "len": 1}


def did_you_mean(name: str, candidates) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def run(ctx: CheckContext):
    syms = ctx.symbols
    for first, second in syms.duplicates:
        yield error(
            "PL102", f"`{second.local}` is defined twice", second.node.name.span,
            help=f"the first definition is at {first.node.name.span}", label="defined again here",
        )
    for info in ctx.infos:
        for use in info.module.of_type(ast.Use):
            for pack in use.packs:
                if pack.value not in syms.namespaces:
                    yield error(
                        "PL104", f"unknown pack `{pack.value}`", pack.span,
                        help=did_you_mean(pack.value, pack_names()) or f"built-in packs: {', '.join(pack_names())}",
                    )
        for words in info.module.of_type(ast.Words):
            qname = f"{info.namespace}.{words.name.value}" if info.namespace else words.name.value
            if words.file is not None:
                if ctx.env is None:
                    continue
                loaded = ctx.env.read_words(info.module.source.name, words.file.value)
                if loaded.error:
                    yield error(loaded.code, loaded.error, words.file.span,
                                help=loaded.help or "paths are relative to the policy file")
                    continue
                items = loaded.words
            else:
                items = tuple(w.value for w in words.words)
            if not items:
                yield error("PL209", f"word list `{words.name.value}` is empty", words.span,
                            help="add at least one phrase, or remove the list")
                continue
            ctx.word_lists.setdefault(qname, items)

        for node in info.module.items:
            ref = node.on if isinstance(node, ast.Classifier) else (
                node.embedder if isinstance(node, ast.Topic) else None)
            if ref is not None and syms.embedder_of(info, ref) is None:
                yield _unknown_embedder(syms, info, node, ref)

    seen_ids: dict[str, ast.Rule] = {}
    for r in ctx.all_rules:
        if r.rule_id in seen_ids and r.info.active:
            yield error(
                "PL103", f"rule id `{r.rule_id}` is used twice", r.node.name.span,
                help=f"the first rule with this id is at {seen_ids[r.rule_id].name.span}", rule_id=r.rule_id,
            )
        seen_ids.setdefault(r.rule_id, r.node)
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            res = syms.resolve(r.info, ref.parts)
            if res is None:
                head = ref.parts[0]
                if head in r.info.uses and head not in syms.namespaces:
                    continue  # `use` of an unknown pack: PL104 says it once
                hint = did_you_mean(ref.dotted, syms.candidates(r.info))
                if hint is None and head in syms.namespaces and head not in r.info.uses:
                    hint = f"add `use {head}` to this policy"
                if hint is None:
                    hint = _defined_elsewhere(syms, r.info, head)
                yield error("PL101", f"undefined name `{ref.dotted}`", ref.span, help=hint,
                            label="not defined", rule_id=r.rule_id)
        for call in _calls(r.node):
            if call.func.value not in FUNCTIONS:
                yield error("PL107", f"unknown function `{call.func.value}`", call.func.span,
                            help=did_you_mean(call.func.value, FUNCTIONS) or "functions: count(matcher), len(text)",
                            rule_id=r.rule_id)
        if r.node.citation is not None:
            for p in r.node.citation.principles:
                if syms.principle(r.info, p.value) is None:
                    visible = [s.local for (ns, _), s in syms.table.items()
                               if isinstance(s.node, ast.Principle) and ns in (r.info.namespace, "")]
                    hint = did_you_mean(p.value, [n for n in visible if n != p.value])
                    if hint is None:
                        elsewhere = [s for s in syms.table.values()
                                     if isinstance(s.node, ast.Principle) and s.local == p.value]
                        if elsewhere:
                            where = elsewhere[0].namespace or elsewhere[0].info.module.source.name
                            hint = (f"`{p.value}` is a principle of `{where}`; principles are not shared "
                                    f"between policies: declare it here with `principle {p.value} \"text\"`")
                    yield error("PL105", f"unknown principle `{p.value}`", p.span,
                                help=hint or "declare it with `principle NAME \"text\"`", rule_id=r.rule_id)


def _defined_elsewhere(syms, info, name: str) -> str | None:
    """A hint for a name that another user policy of the set defines (it needs `include`)."""
    for (ns, local), sym in syms.table.items():
        if local != name or ns == info.namespace or isinstance(sym.node, ast.Principle):
            continue
        src = sym.info.module.source.name
        if not src.startswith("<pack:"):  # a built-in pack gets "add `use`" instead
            return (f"`{name}` is defined in policy `{ns or src}` ({src}); each policy file is its own "
                    f"namespace: add `include \"{src}\"` and write `{ns or 'NAME'}.{name}`")
    return None


def _calls(rule: ast.Rule):
    return [n for n in ast.rule_nodes(rule) if isinstance(n, ast.Call)]


def _unknown_embedder(syms, info, node, ref: ast.Ref):
    """PL112: a head's ``on`` or a topic's ``embed NAME`` that names no declared embedder."""
    what = "head" if isinstance(node, ast.Classifier) else "topic"
    res = syms.resolve(info, ref.parts)
    embedders = [s.local for s in syms.in_namespace(info.namespace, ast.Embedder)]
    for pack in info.uses:
        embedders.extend(f"{pack}.{s.local}" for s in syms.in_namespace(pack, ast.Embedder))
    if res is not None and res.symbol is not None and not res.extra:
        message = f"`{ref.dotted}` is a {kind_word(res.symbol.node)}, not an embedder"
        label = "not an embedder"
    else:
        message = f"unknown embedder `{ref.dotted}`"
        label = "not declared"
    hint = did_you_mean(ref.dotted, embedders) if embedders else None
    if hint is None:
        hint = (f"embedders: {', '.join(embedders)}" if embedders else
                f'declare it first: `embedder {ref.dotted.split(".")[-1]} = embed "builtin:minilm"`')
    return error("PL112", f"{message} (the {what} `{node.name.value}` is declared on it)", ref.span,
                 help=hint, label=label)
