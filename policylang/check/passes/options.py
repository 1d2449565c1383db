"""Options of declarations: validators (PL109), normalize steps (PL110), bad option values (PL210),
run options on a head or topic that shares an embedder's run (PL220).

Validator and normalization step names are the language's (``policylang.syntax.vocabulary``).
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error, known_normalize_steps
from policylang.check.passes.names import did_you_mean
from policylang.check.util import qualified
from policylang.syntax import ast
from policylang.syntax.vocabulary import VALIDATOR_NAMES

MAX_FUZZY = 3  # Hyperscan edit distance grows the automaton fast; more than 3 is never what you want


def validator_names() -> tuple[str, ...]:
    return VALIDATOR_NAMES


def run(ctx: CheckContext):
    validators = validator_names()
    steps, _ = known_normalize_steps()
    for info in ctx.infos:
        for node in info.module.items:
            if isinstance(node, ast.Normalize):
                seen: set[str] = set()
                for step in node.steps:
                    if step.value not in steps:
                        yield error("PL110", f"unknown normalization step `{step.value}`", step.span,
                                    help=did_you_mean(step.value, steps) or f"steps: {', '.join(steps)}")
                    elif step.value in seen:
                        yield error("PL210", f"normalization step `{step.value}` is listed twice", step.span,
                                    help="list each step once")
                    seen.add(step.value)
            elif isinstance(node, (ast.Pattern, ast.Words)):
                found = list(_matcher(node, validators))
                if any(d.code == "PL210" for d in found):  # e.g. a fuzzy distance Hyperscan would refuse
                    ctx.facts.setdefault("bad_patterns", set()).add(qualified(info, node.name.value))
                yield from found
            elif isinstance(node, ast.Embedder):
                yield from _embedder(node)
            elif isinstance(node, (ast.Classifier, ast.Topic)):
                yield from _model(node)
            elif isinstance(node, ast.Rule):
                yield from _rule(node)


def _matcher(node, validators):
    o = node.options
    for v in o.validators:
        if v.value not in validators:
            yield error("PL109", f"unknown validator `{v.value}`", v.span,
                        help=did_you_mean(v.value, validators) or f"validators: {', '.join(validators)}")
    if o.fuzzy is not None and not 0 <= o.fuzzy <= MAX_FUZZY:
        yield error("PL210", f"`fuzzy {o.fuzzy}` is too large", o.fuzzy_span or node.name.span,
                    help=f"the edit distance must be between 0 and {MAX_FUZZY}")
    if o.kind is not None and not o.kind.value.strip():
        yield error("PL210", "`kind` is empty", o.kind.span, help='name the kind of data, e.g. `kind "email"`')


# Options of the embedding run itself: on a head or a topic declared on an embedder they
# would change a run that other heads and topics share, so they belong to the embedder.
RUN_OPTIONS = ("tokenizer", "max_length", "threads", "timeout_ms")


def _option_word(key: str) -> str:
    return "timeout" if key == "timeout_ms" else key


def _embedder(node: ast.Embedder):
    o = node.options
    for key, given in (("labels", o.labels is not None), ("label", o.label is not None),
                       ("activation", o.activation is not None), ("threshold", o.threshold is not None),
                       ("examples", bool(o.examples)), ("on_error", o.on_error_span is not None)):
        if given:
            yield error("PL210", f"`{key}` does not apply to an embedder", node.name.span,
                        help=f"an embedder only embeds; set `{key}` on the head or topic declared on it")
    yield from _run_options(node, "embedder")


def _run_options(node, what: str):
    o = node.options
    for key in ("max_length", "threads"):
        value = getattr(o, key)
        if value is not None and value < 1:
            yield error("PL210", f"`{key}` must be at least 1, not {value}", node.name.span,
                        help=f"remove `{key}` to use the default")
    if o.timeout_ms is not None and o.timeout_ms <= 0:
        yield error("PL210", f"{what} `timeout` must be positive", node.name.span,
                    help="give a timeout such as `timeout 200ms`, or leave it out")


def _shared_run_options(node, ref: ast.Ref):
    """PL220: run options on a head or topic that shares its embedder's run."""
    what = "head" if isinstance(node, ast.Classifier) else "topic"
    for key in RUN_OPTIONS:
        if getattr(node.options, key) is not None:
            word = _option_word(key)
            yield error("PL220", f"`{word}` of {what} `{node.name.value}` belongs to its embedder `{ref.dotted}`",
                        node.name.span,
                        help=f"one embedding run serves every head and topic on `{ref.dotted}`: "
                             f"set `{word}` on `embedder {ref.dotted.split('.')[-1]} = embed ...`")


def _model(node):
    o = node.options
    what = "classifier" if isinstance(node, ast.Classifier) else "topic"
    shared = node.on if isinstance(node, ast.Classifier) else node.embedder
    if shared is not None:
        yield from _shared_run_options(node, shared)
    if isinstance(node, ast.Classifier):
        yield from _entities(node)
        if o.examples:
            yield error("PL210", "`examples` applies to topics only", o.examples[0].span,
                        help="a classifier's model decides its labels; use `topic NAME = embed ...` for examples")
        if o.labels is not None:
            if not o.labels:
                yield error("PL210", f"classifier `{node.name.value}` declares no labels", node.name.span,
                            help='list the model\'s output labels in order, e.g. `labels ["benign", "injection"]`')
            seen: set[str] = set()
            for lab in o.labels:
                if lab.value in seen:
                    yield error("PL210", f"label `{lab.value}` is listed twice", lab.span, help="list each label once")
                seen.add(lab.value)
            if o.label is not None and o.label.value not in seen:
                yield error("PL108", f"label `{o.label.value}` is not among the labels of `{node.name.value}`",
                            o.label.span,
                            help=did_you_mean(o.label.value, seen) or f"labels: {', '.join(sorted(seen))}")
    else:
        if o.labels is not None or o.label is not None or o.activation is not None:
            yield error("PL210", "`labels`, `label` and `activation` apply to classifiers only", node.name.span,
                        help="a topic scores the similarity of the text to its `examples`")
        if not o.examples:
            yield error("PL210", f"topic `{node.name.value}` has no examples", node.name.span,
                        help='add `examples ["a typical question", ...]`: the topic fires on texts similar to them')
        elif any(not e.value.strip() for e in o.examples):
            bad = next(e for e in o.examples if not e.value.strip())
            yield error("PL210", "topic example is empty", bad.span, help="remove the empty example")
    if shared is None:
        yield from _run_options(node, what)


def _entities(node: ast.Classifier):
    """`entity` options: on token classifiers only, named once each, with types listed once."""
    o = node.options
    if not node.is_ner:
        if o.entities:
            yield error("PL210", "`entity` applies to token classifiers only", o.entities[0][0].span,
                        help=f'declare the model as a token classifier: `classifier {node.name.value} = ner "DIR"`')
        return
    if o.label is not None:
        yield error("PL210", "`label` does not apply to a token classifier", o.label.span,
                    help=f"read an entity instead: `{node.name.value}.ENTITY`")
    seen: set[str] = set()
    for name, types in o.entities:
        if name.value in seen:
            yield error("PL210", f"entity `{name.value}` is declared twice", name.span, help="declare each entity once")
        seen.add(name.value)
        if not types:
            yield error("PL210", f"entity `{name.value}` lists no entity types", name.span,
                        help='list the model\'s entity types it is made of, e.g. `["GIVEN_NAME", "SURNAME"]`')
        listed: set[str] = set()
        for t in types:
            if t.value in listed:
                yield error("PL210", f"entity type `{t.value}` is listed twice", t.span, help="list each type once")
            listed.add(t.value)
    for name, words in o.entity_joins:
        for w in words:
            if not w.value.strip() or any(c.isspace() for c in w.value.strip()):
                yield error("PL210", f"`joins` word `{w.value}` of entity `{name.value}` is not one word", w.span,
                            help='list single words such as "Suite" or "Apt."')
    counts = {name.value: len({t.value for t in types}) for name, types in o.entities}
    for name, k in o.entity_min_parts:
        if not 1 <= k <= counts.get(name.value, 0):
            yield error("PL210", f"`min_parts {k}` of entity `{name.value}` is not between 1 and the "
                                 f"{counts.get(name.value, 0)} types it lists", name.span,
                        help="a span can hold at most one of each listed type")


def _rule(rule: ast.Rule):
    seen: set[str] = set()
    for st in rule.stages:
        if st in seen:
            yield error("PL210", f"stage `{st}` is listed twice", rule.name.span, help="list each stage once")
        seen.add(st)
    a = rule.action
    if a.kind == "redact" and a.op == "mask" and len(a.mask_char) != 1:
        yield error("PL210", f"mask character `{a.mask_char}` is not one character", a.span,
                    help='write `mask with "*"`')
