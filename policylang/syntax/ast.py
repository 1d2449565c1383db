"""Typed, immutable syntax tree nodes. Every node carries the Span it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from policylang._source import SourceFile, Span


@dataclass(frozen=True, slots=True)
class Name:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Annotation:
    name: Name
    args: tuple[Union[str, float, int], ...]
    span: Span
    arg_spans: tuple[Span, ...] = ()  # one per entry of ``args``


# ------------------------------------------------------------------ expressions
@dataclass(frozen=True, slots=True)
class Ref:
    """A dotted reference: ``jailbreak``, ``pii.email``, ``injection.malicious``, ``context.role``."""

    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Literal:
    value: Union[str, float, int, bool]
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    func: Name
    args: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    """``left OP right`` with OP one of ``== != < <= > >= in not in``."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    item: "Expr"
    span: Span


Expr = Union[Ref, Literal, ListExpr, Call, Compare, And, Or, Not]


# ------------------------------------------------------------------ declarations
@dataclass(frozen=True, slots=True)
class PolicyDecl:
    name: Name
    description: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Principle:
    name: Name
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Use:
    packs: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Include:
    """``include "a.policy", ...``: other policy files composed into this one."""

    paths: tuple[Str, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Normalize:
    steps: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ContextDecl:
    """``context NAME: TYPE in ["a", ...]``: a request-context attribute the rules read.

    ``type`` names the type as written (``string``, ``number``, ``bool``, ``list``: the checker
    rejects any other); ``allowed`` the values it may take (None: any value of the type).
    """

    name: Name
    type: Name
    allowed: tuple[Str, ...] | None
    span: Span


@dataclass(frozen=True, slots=True)
class MatcherOptions:
    """Options shared by ``pattern`` and ``words``."""

    validators: tuple[Name, ...] = ()
    kind: Str | None = None
    nocase: bool = False
    wholeword: bool = False
    fuzzy: int | None = None
    fuzzy_span: Span | None = None  # the number after `fuzzy`


@dataclass(frozen=True, slots=True)
class Pattern:
    """``pattern NAME = /regex/flags options``. ``regex`` excludes the slashes; ``regex_span`` covers the literal."""

    name: Name
    regex: str
    flags: str
    regex_span: Span
    options: MatcherOptions
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Words:
    """``words NAME = [..] | file "path"``; ``words`` is empty for a file list until it is loaded."""

    name: Name
    words: tuple[Str, ...]
    file: Str | None
    options: MatcherOptions
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ModelOptions:
    labels: tuple[Str, ...] | None = None
    label: Str | None = None
    activation: Name | None = None
    tokenizer: Str | None = None
    max_length: int | None = None
    threads: int | None = None
    on_error: str = "refuse"
    on_error_span: Span | None = None
    timeout_ms: float | None = None
    threshold: float | None = None
    threshold_span: Span | None = None
    examples: tuple[Str, ...] = ()
    # token classifiers: `entity NAME ["TYPE", ...]`, a kind made of entity types
    entities: tuple[tuple[Name, tuple[Str, ...]], ...] = ()
    entity_min_parts: tuple[tuple[Name, int], ...] = ()  # `entity NAME [...] min_parts N`
    entity_joins: tuple[tuple[Name, tuple[Str, ...]], ...] = ()  # `entity NAME [...] joins [...]`


@dataclass(frozen=True, slots=True)
class Embedder:
    """``embedder NAME = embed "DIR" options``: a sentence embedder that heads and topics
    declared ``on`` it share (one embedding run per text for all of them)."""

    name: Name
    path: Str
    options: ModelOptions
    annotations: tuple[Annotation, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Classifier:
    """``classifier NAME = onnx "DIR" options``, or a head over an embedder:
    ``classifier NAME = head "DIR" on EMBEDDER options`` (then ``on`` names the embedder)."""

    name: Name
    path: Str
    options: ModelOptions
    annotations: tuple[Annotation, ...]
    span: Span
    on: Ref | None = None  # the embedder of a head; None for `onnx`
    source: str = "onnx"  # onnx | head | ner (a token classifier: entity spans)

    @property
    def is_head(self) -> bool:
        return self.on is not None

    @property
    def is_ner(self) -> bool:
        return self.source == "ner"


@dataclass(frozen=True, slots=True)
class Topic:
    """``topic NAME = embed "DIR" threshold T examples [...]``, or ``embed EMBEDDER ...``
    naming a declared embedder (then ``path`` is None and ``embedder`` names it)."""

    name: Name
    path: Str | None
    options: ModelOptions
    annotations: tuple[Annotation, ...]
    span: Span
    embedder: Ref | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """What a rule does when it fires.

    ``kind`` is ``refuse``, ``redact``, ``flag`` or ``allow``. For ``redact``,
    ``op`` is ``replace`` (with ``template``), ``mask`` (``keep`` last N,
    ``mask_char``), ``hash`` or ``remove``.
    """

    kind: str
    span: Span
    message: Str | None = None
    op: str | None = None
    template: Str | None = None
    keep: int = 0
    mask_char: str = "*"


@dataclass(frozen=True, slots=True)
class Citation:
    principles: tuple[Name, ...]
    text: Str | None
    span: Span


@dataclass(frozen=True, slots=True)
class TurnScope:
    """``over last N turns`` (``turns`` = N) or ``over all turns`` (``turns`` = None)."""

    turns: int | None
    span: Span


@dataclass(frozen=True, slots=True)
class Rule:
    name: Name
    stages: tuple[str, ...]
    when: Expr
    unless: Expr | None
    action: Action
    citation: Citation | None
    annotations: tuple[Annotation, ...]
    span: Span
    scope: TurnScope | None = None  # None: the current text only

    def annotation(self, name: str) -> Annotation | None:
        for a in self.annotations:
            if a.name.value == name:
                return a
        return None

    @property
    def rule_id(self) -> str:
        """``@id("...")`` when given, else the rule's name."""
        a = self.annotation("id")
        if a is not None and a.args and isinstance(a.args[0], str):
            return a.args[0]
        return self.name.value


@dataclass(frozen=True, slots=True)
class Expect:
    action: str
    rules: tuple[Name, ...]
    text: Str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Test:
    name: Str
    stage: str | None  # input | output | context; None when no text was given
    text: Str | None
    context: tuple[tuple[str, Union[str, float, int, bool]], ...]
    expect: Expect
    span: Span


Decl = Union[PolicyDecl, Principle, Use, Include, Normalize, ContextDecl, Pattern, Words, Embedder, Classifier, Topic, Rule, Test]


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed policy file."""

    source: SourceFile
    items: tuple[Decl, ...]
    span: Span

    @property
    def policy(self) -> PolicyDecl | None:
        for it in self.items:
            if isinstance(it, PolicyDecl):
                return it
        return None

    def of_type(self, cls):
        return [it for it in self.items if isinstance(it, cls)]


def walk(expr):
    """Every node of an expression, parents before children, in source order.

    Iterative: generated policies can hold very long `or` chains.
    """
    stack = [expr]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        yield node
        if isinstance(node, (And, Or, ListExpr)):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            stack.append(node.item)
        elif isinstance(node, Compare):
            stack.extend((node.right, node.left))
        elif isinstance(node, Call):
            stack.extend(reversed(node.args))


def rule_nodes(rule: "Rule"):
    """Every expression node of a rule's ``when`` and ``unless``."""
    yield from walk(rule.when)
    yield from walk(rule.unless)
