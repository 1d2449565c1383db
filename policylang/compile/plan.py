"""Stage 3: a checked PolicySet -> a Plan.

* every pattern and every word of every matcher goes into ONE Hyperscan database
  (``policylang.compile.patterns``); spec ids map back to matchers;
* every rule condition becomes a closure program (``conditions.py``);
* every classifier/topic becomes a ModelEntry; the runtime loads each model once and
  runs it once per text, whatever the number of rules that read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from policylang._resources import model_location
from policylang._source import Span
from policylang.check.checker import PolicySet
from policylang.check.symbols import Resolution, refs_in
from policylang.compile.conditions import CompileInfo, ConditionCompiler, ModelRef, Program
from policylang.compile.validators import VALIDATORS
from policylang.diagnostics import Diagnostic, Severity
from policylang.errors import PolicyCompileError
from policylang.syntax import ast

STAGES = ("input", "output", "context", "tool_call", "tool_result")


@dataclass(frozen=True)
class MatcherEntry:
    index: int
    qname: str  # "order_id", "pii.email"
    kind: str  # redaction kind: `kind "..."` or the local name
    validators: tuple[Callable[[str], bool], ...]
    span: Span


@dataclass(frozen=True)
class ModelEntry:
    index: int
    qname: str
    node: ast.Classifier | ast.Topic | ast.Embedder
    path: str
    on_error: str  # refuse | allow | flag
    timeout_ms: float | None
    labels: tuple[str, ...] = ()  # classifiers (filled when the model loads, if not declared)
    threshold: float = 0.5  # topics: boolean threshold
    examples: tuple[str, ...] = ()
    embedder: int | None = None  # heads and topics on a declared embedder: its entry's index
    entities: tuple[tuple[str, tuple[str, ...]], ...] = ()  # token classifiers: (entity, its types)
    entity_min_parts: tuple[tuple[str, int], ...] = ()  # (entity, fewest distinct types a span holds)
    entity_joins: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (entity, untagged words that belong to it)

    @property
    def is_ner(self) -> bool:
        return isinstance(self.node, ast.Classifier) and self.node.is_ner

    @property
    def is_topic(self) -> bool:
        return isinstance(self.node, ast.Topic)

    @property
    def is_embedder(self) -> bool:
        return isinstance(self.node, ast.Embedder)

    @property
    def is_head(self) -> bool:
        return isinstance(self.node, ast.Classifier) and self.node.is_head


@dataclass(frozen=True)
class CompiledRule:
    order: int
    rule_id: str
    node: ast.Rule
    stages: frozenset[str]
    action: ast.Action
    condition: Program
    matchers: tuple[int, ...]  # matcher indices whose hits are this rule's evidence / redaction targets
    models: tuple[int, ...]  # model indices the condition reads
    file: str
    line: int
    principles: tuple[tuple[str, str], ...]  # (principle qname, text)
    cite: str | None
    severity: str | None
    shadow: bool
    message: str | None
    gate: frozenset[int] | None = None  # the rule can only fire when one of these matchers hit
    turns: int = 1  # turns of the stage the condition sees: 1 the current text, k the last k, 0 all


@dataclass
class Plan:
    policy_set: PolicySet
    matchers: tuple[MatcherEntry, ...]
    spec_matcher: tuple[int, ...]  # pattern spec id -> matcher index
    # a policylang.compile.patterns.PatternDatabase from compile_plan(); the Guard replaces it
    # by the runtime's scanner over it (policylang.runtime.scan.CompiledPatterns)
    patterns: object
    models: tuple[ModelEntry, ...]
    rules: tuple[CompiledRule, ...]
    by_stage: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    normalize: tuple[str, ...] = ()
    # per stage: rules that must always be evaluated, and gated rules by matcher index
    ungated: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    gated_by: dict[str, dict[int, tuple[CompiledRule, ...]]] = field(default_factory=dict)
    # per stage: rules whose condition sees several turns (`over last N turns`); never gated
    scoped: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)
    # (model index, label, span of the reference, rule id): checked once the model's labels are known
    label_refs: tuple[tuple[int, str, Span, str], ...] = ()
    # token classifiers: model index -> {entity read by a rule: matcher entry holding its spans}
    entity_matchers: dict[int, dict[str, int]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return self.policy_set.digest


def _matcher_kind(node) -> str:
    if node.options.kind is not None:
        return node.options.kind.value
    return node.name.value


def _uses_spans(policy_set: PolicySet) -> set[str]:
    """Matchers whose every match is needed (redaction, count, validators)."""
    need: set[str] = set()
    for r in policy_set.rules:
        wants_all = r.node.action.kind == "redact"
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            res = policy_set.symbols.resolve(r.info, ref.parts)
            if res is None:
                continue
            if res.kind == "matcher" and wants_all:
                need.add(res.symbol.qname)
            elif res.kind == "group" and wants_all:
                need.update(s.qname for s in policy_set.symbols.in_namespace(res.pack, (ast.Pattern, ast.Words)))
        for call in _calls(r.node):
            for a in call.args:
                if isinstance(a, ast.Ref):
                    res = policy_set.symbols.resolve(r.info, a.parts)
                    if res and res.kind == "matcher":
                        need.add(res.symbol.qname)
                    elif res and res.kind == "group":
                        need.update(s.qname for s in policy_set.symbols.in_namespace(res.pack, (ast.Pattern, ast.Words)))
    return need


def _calls(rule: ast.Rule):
    return [n for n in ast.rule_nodes(rule) if isinstance(n, ast.Call)]


def compile_plan(policy_set: PolicySet, *, cache_dir=None, trace_conditions=None) -> Plan:
    """Compile a checked policy set. Raises PolicyCompileError naming the rule's pattern on failure.

    ``trace_conditions(rule_info)`` may return a ``trace(node, program)`` wrapper for the
    rule's leaf conditions (test coverage); None compiles plain programs."""
    from policylang.compile.patterns import (  # lazy: hyperscan
        SPLIT_MIN_CHARS, PatternSetError, PatternSpec, compile_pattern_database, top_level_branches,
    )

    syms = policy_set.symbols
    need_spans = _uses_spans(policy_set)

    # ---------------------------------------------------------------- matchers -> specs
    matchers: list[MatcherEntry] = []
    index_of: dict[str, int] = {}
    specs: list[PatternSpec] = []
    spec_matcher: list[int] = []
    for sym in syms.table.values():
        node = sym.node
        if not isinstance(node, (ast.Pattern, ast.Words)):
            continue
        idx = len(matchers)
        opts = node.options
        matchers.append(MatcherEntry(
            idx, sym.qname, _matcher_kind(node),
            tuple(VALIDATORS[v.value] for v in opts.validators),
            node.name.span,
        ))
        index_of[sym.qname] = idx
        spans = sym.qname in need_spans or bool(opts.validators)
        if isinstance(node, ast.Pattern):
            flags = node.flags
            expression = node.regex if "x" not in flags else "(?x)" + node.regex + "\n"
            # a long detection-only regex: one spec per top-level alternative (the rule
            # fires when any does; see top_level_branches)
            branches = (top_level_branches(expression)
                        if not spans and not opts.wholeword and not opts.fuzzy
                        and len(expression) >= SPLIT_MIN_CHARS else None)
            group = len(specs) if branches else -1
            for expr in branches or (expression,):
                specs.append(PatternSpec(
                    id=len(specs), expression=expr, literal=False,
                    caseless="i" in flags or opts.nocase, dotall="s" in flags, multiline="m" in flags,
                    ucp="u" in flags, wholeword=opts.wholeword, fuzzy=opts.fuzzy or 0, spans=spans,
                    group=group,
                ))
                spec_matcher.append(idx)
        else:
            for word in policy_set.word_lists.get(sym.qname, ()):
                specs.append(PatternSpec(
                    id=len(specs), expression=word, literal=True, caseless=opts.nocase,
                    wholeword=opts.wholeword, fuzzy=opts.fuzzy or 0, spans=spans,
                ))
                spec_matcher.append(idx)
    try:
        patterns = compile_pattern_database(specs, cache_dir=cache_dir)
    except PatternSetError as err:
        diags = []
        for spec_id, problem in err.problems:
            m = matchers[spec_matcher[spec_id]]
            node = syms.get(m.qname).node
            span = node.regex_span if isinstance(node, ast.Pattern) else node.span
            diags.append(Diagnostic(problem.code, Severity.ERROR, problem.message, span))
        raise PolicyCompileError("policy could not be compiled", diags) from None

    # ---------------------------------------------------------------- models
    models: list[ModelEntry] = []
    model_index: dict[str, int] = {}

    def embedder_entry(emb) -> ModelEntry:
        """The entry of a declared embedder (made when a head or topic first names it)."""
        if emb.qname not in model_index:
            emb_path = model_location(emb.info.module.source.name, emb.node.path.value)
            model_index[emb.qname] = len(models)
            models.append(ModelEntry(len(models), emb.qname, emb.node, emb_path, "refuse",
                                     emb.node.options.timeout_ms))
        return models[model_index[emb.qname]]

    for sym in syms.table.values():
        node = sym.node
        if not isinstance(node, (ast.Classifier, ast.Topic)):
            continue
        o = node.options
        shared = syms.embedder_of(sym.info, node.on if isinstance(node, ast.Classifier) else node.embedder)
        emb_entry = embedder_entry(shared) if shared is not None else None
        if isinstance(node, ast.Topic) and emb_entry is not None:
            path = emb_entry.path  # a topic on an embedder has no folder of its own
        else:
            path = model_location(sym.info.module.source.name, node.path.value)
        model_index[sym.qname] = len(models)
        models.append(ModelEntry(
            len(models), sym.qname, node, path, o.on_error,
            emb_entry.timeout_ms if emb_entry is not None else o.timeout_ms,
            labels=tuple(s.value for s in o.labels) if o.labels else (),
            threshold=o.threshold if o.threshold is not None else 0.5,
            examples=tuple(s.value for s in o.examples),
            embedder=emb_entry.index if emb_entry is not None else None,
            entities=tuple((n.value, tuple(t.value for t in ts)) for n, ts in o.entities),
            entity_min_parts=tuple((n.value, k) for n, k in o.entity_min_parts),
            entity_joins=tuple((n.value, tuple(w.value for w in ws)) for n, ws in o.entity_joins),
        ))

    entity_matchers: dict[int, dict[str, int]] = {}

    def entity_matcher(entry: ModelEntry, label: str) -> int:
        """The matcher entry (no pattern: the model fills its hits) of one entity a rule reads."""
        by_label = entity_matchers.setdefault(entry.index, {})
        if label not in by_label:
            by_label[label] = len(matchers)
            matchers.append(MatcherEntry(len(matchers), f"{entry.qname}.{label}", label, (), entry.node.name.span))
        return by_label[label]

    def model_ref(res: Resolution) -> ModelRef:
        entry = models[model_index[res.symbol.qname]]
        if entry.is_topic:
            return ModelRef(entry.index, None, entry.threshold)
        label = res.label
        if entry.is_ner:
            return ModelRef(entry.index, label, 0.5, entity_matcher(entry, label) if label is not None else None)
        if label is None and entry.node.options.label is not None:
            label = entry.node.options.label.value
        return ModelRef(entry.index, label, 0.5)

    def group_members(pack: str) -> list[int]:
        return [index_of[s.qname] for s in syms.in_namespace(pack, (ast.Pattern, ast.Words))]

    # ---------------------------------------------------------------- rules
    rules: list[CompiledRule] = []
    for order, r in enumerate(policy_set.rules):
        trace = trace_conditions(r) if trace_conditions is not None else None
        cc = ConditionCompiler(syms, r.info, index_of.__getitem__, group_members, model_ref, trace)
        program, ci = cc.compile_condition(r.node.when, r.node.unless)
        principles = []
        cite = None
        if r.node.citation is not None:
            for p in r.node.citation.principles:
                ps = syms.principle(r.info, p.value)
                if ps is not None:
                    principles.append((ps.qname, ps.node.text))
            if r.node.citation.text is not None:
                cite = r.node.citation.text.value
        sev = r.node.annotation("severity")
        mode = r.node.annotation("mode")
        act = r.node.action
        rules.append(CompiledRule(
            order=order, rule_id=r.rule_id, node=r.node, stages=frozenset(r.node.stages), action=act,
            condition=program, matchers=tuple(dict.fromkeys(ci.matchers)), models=tuple(dict.fromkeys(ci.models)),
            file=r.info.module.source.name, line=r.node.span.line, principles=tuple(principles), cite=cite,
            severity=str(sev.args[0]) if sev and sev.args else None,
            shadow=bool(mode and mode.args and mode.args[0] == "shadow"),
            message=act.message.value if act.message is not None else None,
            gate=_gate(r.node.when, r.info, syms, index_of, group_members),
            turns=1 if r.node.scope is None else (r.node.scope.turns if r.node.scope.turns is not None else 0),
        ))
    label_refs = []
    for r in policy_set.rules:
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            res = syms.resolve(r.info, ref.parts)
            if res is not None and res.kind == "classifier":
                entry = models[model_index[res.symbol.qname]]
                label = res.label or (entry.node.options.label.value if entry.node.options.label else None)
                if label is not None:
                    label_refs.append((entry.index, label, ref.span, r.rule_id))
    plan = Plan(policy_set, tuple(matchers), tuple(spec_matcher), patterns, tuple(models), tuple(rules),
                normalize=policy_set.normalize, label_refs=tuple(label_refs), entity_matchers=entity_matchers)
    plan.by_stage = {s: tuple(r for r in rules if s in r.stages) for s in STAGES}
    for stage, stage_rules in plan.by_stage.items():
        plan.scoped[stage] = tuple(r for r in stage_rules if r.turns != 1)
        stage_rules = tuple(r for r in stage_rules if r.turns == 1)
        plan.ungated[stage] = tuple(r for r in stage_rules if r.gate is None)
        index: dict[int, list[CompiledRule]] = {}
        for r in stage_rules:
            for m in r.gate or ():
                index.setdefault(m, []).append(r)
        plan.gated_by[stage] = {m: tuple(rs) for m, rs in index.items()}
    return plan


def _gate(node, info, syms, index_of, group_members) -> frozenset[int] | None:
    """Matchers of which at least one must hit for ``node`` to be true; None if unknown.

    Lets the evaluator skip most rules on texts with no hits: a text that matched
    nothing only evaluates the ungated rules (context, length, `not`, models).
    """
    if isinstance(node, ast.Ref):
        res = syms.resolve(info, node.parts)
        if res is not None and res.kind == "matcher":
            return frozenset((index_of[res.symbol.qname],))
        if res is not None and res.kind == "group":
            return frozenset(group_members(res.pack))
        return None
    if isinstance(node, ast.Or):
        out: set[int] = set()
        for item in node.items:
            g = _gate(item, info, syms, index_of, group_members)
            if g is None:
                return None
            out |= g
        return frozenset(out)
    if isinstance(node, ast.And):
        gates = [g for g in (_gate(i, info, syms, index_of, group_members) for i in node.items) if g is not None]
        return min(gates, key=len) if gates else None
    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Call) and node.left.func.value == "count":
        # count(m) > k (k >= 0) or count(m) >= k (k >= 1) needs a hit of m
        right = node.right
        if isinstance(right, ast.Literal) and isinstance(right.value, (int, float)) and not isinstance(right.value, bool):
            if (node.op == ">" and right.value >= 0) or (node.op == ">=" and right.value >= 1) or (
                node.op == "==" and right.value >= 1
            ):
                arg = node.left.args[0] if node.left.args else None
                if arg is not None:
                    return _gate(arg, info, syms, index_of, group_members)
    return None
