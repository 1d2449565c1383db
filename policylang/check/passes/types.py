"""Types of condition expressions: PL204 (type mismatch), PL208 (argument count), PL203
(score thresholds outside [0, 1]) and PL108 (classifier labels).

The value types, as the compiler evaluates them:

============  =========================================================================
matcher       a pattern, word list or pack: true when it matched; ``count(m)`` counts
score         a classifier reference (``injection``, ``injection.malicious``): 0..1;
              used alone as a condition it means ``>= 0.5``
topic         a topic reference: its similarity, 0..1; alone it means ``>= threshold``
number        number literals, ``count(...)``, ``len(text)``
string        string literals
bool          ``true``/``false`` and every comparison, ``and``, ``or``, ``not``
list          ``[...]``, the right side of ``in``
text          ``text``, only as the argument of ``len``
any           ``context.ATTR``: whatever the caller passes
argument      ``tool.args.PATH`` (stage ``tool_call``): a JSON value of the call; ``M in
              tool.args.PATH`` asks whether matcher M hit inside it
============  =========================================================================

``tool.name`` is a string.
"""

from __future__ import annotations

from policylang._labels import entity_types
from policylang.check.checker import CheckContext, error
from policylang.check.passes.names import did_you_mean
from policylang.check.symbols import ModuleInfo
from policylang.syntax import ast

MATCHER, SCORE, TOPIC, NUMBER, STRING, BOOL, LIST, TEXT, ANY, UNKNOWN, ARG = (
    "matcher", "score", "topic", "number", "string", "bool", "list", "text", "any", "unknown", "argument",
)
CONDITIONS = {MATCHER, SCORE, TOPIC, BOOL, ANY, UNKNOWN, ARG}
NUMERIC = {NUMBER, SCORE, TOPIC, ANY, UNKNOWN, ARG}
SCORES = {SCORE, TOPIC}
ARITY = {"count": 1, "len": 1}
ORDER_OPS = {"<", "<=", ">", ">="}


def run(ctx: CheckContext):
    for info in ctx.infos:
        for node in info.module.items:
            if isinstance(node, (ast.Classifier, ast.Topic)):
                t = node.options.threshold
                if t is not None and not 0.0 <= t <= 1.0:
                    yield error("PL203", f"threshold `{_num(t)}` is outside [0, 1]",
                                node.options.threshold_span or node.name.span,
                                help="scores are probabilities (classifiers) or cosine similarities (topics) "
                                     "between 0 and 1; e.g. `threshold 0.8`", label="out of range")
    for r in ctx.all_rules:
        typer = _Typer(ctx, r.info, r.rule_id)
        for root in (r.node.when, r.node.unless):
            if root is None:
                continue
            t = typer.infer(root)
            typer.need_condition(root, t)
        yield from typer.diags


def _num(v) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _show(node) -> str:
    if isinstance(node, ast.Ref):
        return node.dotted
    if isinstance(node, ast.Literal):
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        if isinstance(node.value, str):
            return '"' + node.value + '"'
        return _num(node.value)
    if isinstance(node, ast.Call):
        return f"{node.func.value}(" + ", ".join(_show(a) for a in node.args) + ")"
    if isinstance(node, ast.ListExpr):
        return "[...]"
    return "this expression"


class _Typer:
    def __init__(self, ctx: CheckContext, info: ModuleInfo, rid: str):
        self.ctx = ctx
        self.info = info
        self.rid = rid
        self.diags = []

    def err(self, code, message, span, help=None, label=None):
        self.diags.append(error(code, message, span, help=help, label=label, rule_id=self.rid))

    # ------------------------------------------------------------------ infer
    def infer(self, node) -> str:
        if isinstance(node, ast.Literal):
            v = node.value
            if isinstance(v, bool):
                return BOOL
            return STRING if isinstance(v, str) else NUMBER
        if isinstance(node, ast.Ref):
            return self.ref(node)
        if isinstance(node, ast.ListExpr):
            for item in node.items:
                t = self.infer(item)
                if t not in (STRING, NUMBER, ANY, UNKNOWN):
                    self.err("PL204", f"`{_show(item)}` cannot be a list item", item.span,
                             help="lists hold strings and numbers, e.g. `[\"admin\", \"support\"]`")
            return LIST
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, (ast.And, ast.Or)):
            for item in node.items:
                self.need_condition(item, self.infer(item))
            return BOOL
        if isinstance(node, ast.Not):
            self.need_condition(node.item, self.infer(node.item))
            return BOOL
        return UNKNOWN

    def ref(self, node: ast.Ref) -> str:
        res = self.ctx.symbols.resolve(self.info, node.parts)
        if res is None:
            return UNKNOWN  # PL101, from the names pass
        if res.kind in ("matcher", "group"):
            if res.extra:
                what = "pack" if res.kind == "group" else "matcher"
                self.err("PL204", f"`{node.dotted}` is not a name: `{node.parts[0]}` is a {what} and has no parts",
                         node.span, help=f"write `{'.'.join(node.parts[:len(node.parts) - len(res.extra)])}`")
                return UNKNOWN
            return MATCHER
        if res.kind == "classifier" and res.symbol.node.is_ner:
            return self.entity(node, res)
        if res.kind == "classifier":
            if res.extra:
                self.err("PL204", f"`{node.dotted}` has too many parts", node.span,
                         help="a classifier reference is `NAME` or `NAME.LABEL`")
                return UNKNOWN
            if res.label is not None:
                self.label(node, res)
            return SCORE
        if res.kind == "topic":
            if res.extra:
                self.err("PL204", f"`{node.dotted}` is not a name: topic `{res.symbol.local}` has no parts",
                         node.span, help=f"write `{node.parts[0]}`")
                return UNKNOWN
            return TOPIC
        if res.kind == "embedder":
            self.err("PL113", f"embedder `{res.symbol.local}` has no score: a rule cannot read it", node.span,
                     help="declare a head (`classifier NAME = head \"DIR\" on "
                          f"{res.symbol.local}`) or a topic (`topic NAME = embed {res.symbol.local} ...`) "
                          "on it, and use that name", label="an embedder, not a score")
            return UNKNOWN
        if res.kind == "context":
            if not res.attr:
                self.err("PL204", "`context` needs an attribute", node.span,
                         help="name the request-context attribute, e.g. `context.role`")
                return UNKNOWN
            return ANY
        if res.kind == "tool":
            if res.attr == ("name",):
                return STRING
            if res.attr[:1] == ("args",):
                return ARG
            self.err("PL204", f"`{node.dotted}` is not a tool attribute", node.span,
                     help="a rule on `tool_call` reads `tool.name` and `tool.args.PATH` "
                          "(e.g. `tool.args.amount`); one on `tool_result` reads `tool.name`",
                     label="not `tool.name` or `tool.args...`")
            return UNKNOWN
        if res.kind == "text":
            if res.extra:
                self.err("PL204", f"`{node.dotted}` is not a name: `text` has no parts", node.span,
                         help="use `len(text)` for the length of the text")
                return UNKNOWN
            return TEXT
        return UNKNOWN

    def entity(self, node: ast.Ref, res) -> str:
        """A token classifier's entity (`names.person`, or an entity type `names.CITY`): a matcher."""
        cls: ast.Classifier = res.symbol.node
        groups = [name.value for name, _ in cls.options.entities]
        if res.label is None or res.extra:
            self.err("PL204", f"`{node.dotted}` is not an entity: a token classifier is read as "
                              f"`{res.symbol.local}.ENTITY`", node.span,
                     help=f"name one of its entities: {', '.join(f'`{res.symbol.local}.{g}`' for g in groups)}"
                          if groups else "declare `entity NAME [\"TYPE\", ...]` or name an entity type of the model")
            return UNKNOWN
        if cls.options.labels is not None:
            names = groups + [t for t in entity_types([lab.value for lab in cls.options.labels]) if t not in groups]
            if res.label not in names:
                src = self.info.module.source
                tail = len(res.label)
                span = src.span_at(node.span.end - tail, node.span.end) if node.span.end - node.span.start > tail \
                    else node.span
                self.err("PL108", f"token classifier `{res.symbol.local}` has no entity `{res.label}`", span,
                         help=did_you_mean(res.label, names) or f"its entities are {', '.join(names)}",
                         label="not one of its entities")
        return MATCHER

    def label(self, node: ast.Ref, res):
        cls: ast.Classifier = res.symbol.node
        labels = cls.options.labels
        if labels is None:
            return
        names = [lab.value for lab in labels]
        if res.label not in names:
            # point at the label part of the reference
            span = node.span
            src = self.info.module.source
            tail = len(res.label)
            span = src.span_at(span.end - tail, span.end) if span.end - span.start > tail else span
            self.err("PL108", f"classifier `{res.symbol.local}` has no label `{res.label}`", span,
                     help=did_you_mean(res.label, names) or f"its labels are {', '.join(names)}",
                     label="not one of its labels")

    def call(self, node: ast.Call) -> str:
        fn = node.func.value
        if fn not in ARITY:
            for a in node.args:
                self.infer(a)
            return UNKNOWN  # PL107, from the names pass
        if len(node.args) != ARITY[fn]:
            what = "a matcher or pack" if fn == "count" else "`text`"
            self.err("PL208", f"`{fn}` takes 1 argument, not {len(node.args)}", node.span,
                     help=f"call it with {what}: `{fn}({'pii.email' if fn == 'count' else 'text'})`")
            for a in node.args:
                self.infer(a)
            return NUMBER
        arg = node.args[0]
        t = self.infer(arg)
        if fn == "count":
            if t not in (MATCHER, UNKNOWN) or not isinstance(arg, ast.Ref):
                self.err("PL204", f"`count` needs a matcher or pack, not `{_show(arg)}`", arg.span,
                         help="`count(m)` is the number of matches of pattern, word list or pack `m`",
                         label=f"this is {_article(t)}")
        else:
            if t not in (TEXT, UNKNOWN):
                self.err("PL204", f"`len` needs `text`, not `{_show(arg)}`", arg.span,
                         help="`len(text)` is the length of the text in characters",
                         label=f"this is {_article(t)}")
        return NUMBER

    def compare(self, node: ast.Compare) -> str:
        lt, rt = self.infer(node.left), self.infer(node.right)
        op = node.op
        if op in ("in", "not in"):
            if rt == ARG:  # a value in an argument (list or string), or a matcher's hit inside it
                if lt not in (STRING, NUMBER, ANY, UNKNOWN, MATCHER, ARG):
                    self.err("PL204", f"`{_show(node.left)}` cannot be looked up in a tool argument",
                             node.left.span, help="write a string, a number, or a matcher: `pii.email in tool.args.to`",
                             label=f"this is {_article(lt)}")
                return BOOL
            if rt not in (LIST, ANY, UNKNOWN):
                self.err("PL204", f"`{op}` needs a list on the right, not `{_show(node.right)}`", node.right.span,
                         help='write the choices as a list: `context.role in ["admin", "support"]`',
                         label=f"this is {_article(rt)}")
            if lt not in (STRING, NUMBER, ANY, UNKNOWN, ARG):
                self.err("PL204", f"`{_show(node.left)}` cannot be looked up in a list", node.left.span,
                         help="`in` tests a string, number or context attribute against a list",
                         label=f"this is {_article(lt)}")
            return BOOL
        self.threshold(node, lt, rt)
        if op in ORDER_OPS:
            for side, t in ((node.left, lt), (node.right, rt)):
                if t not in NUMERIC:
                    self.err("PL204", f"`{_show(side)}` is {_article(t)} and cannot be compared with `{op}`",
                             side.span, help=_order_help(side, t), label=f"this is {_article(t)}")
            return BOOL
        # == and !=
        groups = [_group(lt), _group(rt)]
        if None not in groups and groups[0] != groups[1]:
            bad, bt = (node.left, lt) if lt in (MATCHER, LIST, TEXT) else (node.right, rt)
            self.err("PL204", f"cannot compare {_article(lt)} with {_article(rt)} using `{op}`", bad.span,
                     help=_order_help(bad, bt) if bt in (MATCHER, TEXT) else
                     "both sides of `==` and `!=` must be of the same kind",
                     label=f"this is {_article(bt)}")
        elif LIST in (lt, rt):
            side = node.left if lt == LIST else node.right
            self.err("PL204", f"a list cannot be compared with `{op}`", side.span,
                     help="to test membership write `x in [...]`")
        return BOOL

    def threshold(self, node: ast.Compare, lt: str, rt: str):
        for score_t, other in ((lt, node.right), (rt, node.left)):
            if score_t in SCORES and isinstance(other, ast.Literal) and not isinstance(other.value, (bool, str)):
                v = other.value
                if not 0.0 <= v <= 1.0:
                    self.err("PL203", f"threshold `{_num(v)}` is outside [0, 1]", other.span,
                             help="classifier and topic scores are between 0 and 1; "
                                  f"e.g. `> {0.9 if v > 1 else 0.1}`", label="out of range")

    # ------------------------------------------------------------------ conditions
    def need_condition(self, node, t: str):
        if t in CONDITIONS:
            return
        if t == NUMBER:
            hint = f"compare it, e.g. `{_show(node)} > 0`"
        elif t == STRING:
            hint = 'compare a context attribute with it, e.g. `context.role == "admin"`'
        elif t == TEXT:
            hint = "use a matcher, or `len(text) > N` for long texts"
        elif t == LIST:
            hint = "test membership: `context.role in [...]`"
        else:
            hint = None
        self.err("PL204", f"`{_show(node)}` is {_article(t)}, not a condition", node.span, help=hint,
                 label="not true or false")


def _group(t: str):
    if t in (ANY, UNKNOWN, ARG):
        return None
    if t in (NUMBER, SCORE, TOPIC):
        return "number"
    if t in (BOOL, MATCHER):
        return "bool"
    if t in (STRING,):
        return "string"
    return t  # list, text: comparable with nothing but themselves (then still odd)


def _article(t: str) -> str:
    return {
        MATCHER: "a matcher (true or false)", SCORE: "a classifier score", TOPIC: "a topic score",
        NUMBER: "a number", STRING: "a string", BOOL: "true or false", LIST: "a list", TEXT: "the text",
        ANY: "a context value", UNKNOWN: "unknown", ARG: "a tool argument",
    }[t]


def _order_help(node, t: str) -> str:
    if t == MATCHER:
        return f"count its matches instead: `count({_show(node)}) > N`"
    if t == TEXT:
        return "compare the length instead: `len(text) > N`"
    if t == STRING:
        return "strings can only be compared with `==`, `!=` and `in`"
    if t == LIST:
        return "lists can only be used on the right of `in`"
    return "compare numbers, scores, `count(...)` or `len(text)`"
