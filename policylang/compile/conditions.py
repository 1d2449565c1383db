"""Condition expressions -> small Python programs (closures over an evaluation frame).

A rule's ``when``/``unless`` is compiled once; evaluation is a chain of closure calls,
with no tree walking per text. Values:

* a matcher or pack reference is a boolean (did it match);
* ``count(m)`` and ``len(text)`` are integers;
* a classifier (or head) reference is its label's score (0..1); a topic reference its
  best cosine similarity. Used as a boolean, a classifier score means ``>= 0.5`` and a
  topic score means ``>= threshold``. A score that failed (the model crashed, timed out,
  or output NaN, infinity or a value outside [0, 1]) raises ``ModelFailed`` when read,
  so the evaluator applies ``on_error``: a comparison never sees NaN;
* ``context.a.b`` is the request-context value, or ``None`` when absent. A comparison
  with ``None`` is false (``!=`` true), so a missing attribute never grants an exception.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from policylang.check.symbols import ModuleInfo, Resolution, Symbols, context_value_problem
from policylang.syntax import ast


class ModelFailed(Exception):
    """A model needed by a condition failed or timed out; the evaluator applies on_error."""

    def __init__(self, model: int, reason: str):
        super().__init__(reason)
        self.model = model
        self.reason = reason


class Frame:
    """What a condition program reads: hits per matcher, model scores, request context."""

    __slots__ = ("hits", "scores", "context", "text_len", "tool")

    def __init__(self, hits: Mapping[int, list], scores: Mapping[int, Any], context: Mapping, text_len: int,
                 tool: "ToolView | None" = None):
        self.hits = hits
        self.scores = scores  # model index -> np.ndarray of label scores | float | ModelFailed
        self.context = context
        self.text_len = text_len
        self.tool = tool  # stages tool_call / tool_result: the call's name (and arguments)

    def score(self, model: int, label: int | None):
        value = self.scores.get(model)
        if isinstance(value, ModelFailed):
            raise value
        if value is None:
            raise ModelFailed(model, "model was not run")
        if isinstance(value, dict):  # classifier: label -> score; None -> the default label
            return value[label]
        return value  # topic: best cosine similarity


Program = Callable[[Frame], Any]


class ToolView:
    """What ``tool.name`` and ``tool.args.PATH`` read. ``leaves``: (path, start, end) of every
    string argument in the scan text (the string values in order, joined by newlines)."""

    __slots__ = ("name", "args", "leaves")

    def __init__(self, name: str, args: Mapping | None = None, leaves: tuple = ()):
        self.name = name
        self.args = args
        self.leaves = leaves

    def arg(self, path: tuple[str, ...]):
        v: Any = self.args
        for p in path:
            if not isinstance(v, Mapping):
                return None
            v = v.get(p)
            if v is None:
                return None
        return v

    def spans_under(self, path: tuple[str, ...]) -> list[tuple[int, int]]:
        n = len(path)
        return [(a, b) for p, a, b in self.leaves if p[:n] == path]


@dataclass
class ModelRef:
    """A model a rule needs, and how a reference to it reads."""

    index: int
    label: str | None  # classifier label (None: the default label); None for topics
    bool_threshold: float
    matcher: int | None = None  # token classifiers: the matcher entry that holds the entity's spans


@dataclass
class CompileInfo:
    """What compiling one condition found out: matchers it reads positively, models it needs."""

    matchers: list[int] = field(default_factory=list)  # referenced outside `not`
    models: list[int] = field(default_factory=list)


_CMP = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}


class ConditionCompiler:
    """Compiles expressions of one module. ``matcher_index``/``model_ref`` come from the plan."""

    def __init__(self, symbols: Symbols, info: ModuleInfo, matcher_index: Callable[[str], int],
                 group_members: Callable[[str], list[int]], model_ref: Callable[[Resolution], ModelRef],
                 trace: Callable[[Any, Program], Program] | None = None):
        # ``trace(node, program)`` may wrap the program of every leaf condition (a matcher,
        # a score, a comparison): ``policylang test --coverage`` records which leaves were
        # ever true. None (the default) compiles exactly the programs below.
        self.trace = trace
        self.symbols = symbols
        self.info = info
        self.matcher_index = matcher_index
        self.group_members = group_members
        self.model_ref = model_ref

    # -------------------------------------------------------------- entry
    def compile_condition(self, when, unless) -> tuple[Program, CompileInfo]:
        ci = CompileInfo()
        w = self._bool(when, ci, positive=True)
        if unless is None:
            return w, ci
        u = self._bool(unless, ci, positive=False)
        return (lambda f: bool(w(f)) and not u(f)), ci

    # -------------------------------------------------------------- booleans
    def _bool(self, node, ci: CompileInfo, positive: bool) -> Program:
        program = self._bool_of(node, ci, positive)
        if self.trace is not None and not isinstance(node, (ast.Or, ast.And, ast.Not)):
            program = self.trace(node, program)
        return program

    def _bool_of(self, node, ci: CompileInfo, positive: bool) -> Program:
        if isinstance(node, ast.Or):
            parts = [self._bool(n, ci, positive) for n in node.items]
            return lambda f: any(p(f) for p in parts)
        if isinstance(node, ast.And):
            parts = [self._bool(n, ci, positive) for n in node.items]
            return lambda f: all(p(f) for p in parts)
        if isinstance(node, ast.Not):
            inner = self._bool(node.item, ci, not positive)
            return lambda f: not inner(f)
        if isinstance(node, ast.Ref):
            res = self._resolve(node)
            if res.kind == "matcher":
                idx = self.matcher_index(res.symbol.qname)
                if positive:
                    ci.matchers.append(idx)
                return lambda f: idx in f.hits
            if res.kind == "group":
                members = tuple(self.group_members(res.pack))
                if positive:
                    ci.matchers.extend(members)
                return lambda f: any(i in f.hits for i in members)
            if res.kind in ("classifier", "topic"):
                ref = self.model_ref(res)
                ci.models.append(ref.index)
                idx, label, thr = ref.index, ref.label, ref.bool_threshold
                if ref.matcher is not None:  # an entity of a token classifier: true when it found spans
                    mi = ref.matcher
                    if positive:
                        ci.matchers.append(mi)
                    return lambda f: f.score(idx, label) is not None and mi in f.hits
                return lambda f: f.score(idx, label) >= thr
        value = self._value(node, ci, positive)
        return lambda f: bool(value(f))

    # -------------------------------------------------------------- values
    def _value(self, node, ci: CompileInfo, positive: bool) -> Program:
        if isinstance(node, ast.Literal):
            v = node.value
            return lambda f: v
        if isinstance(node, ast.ListExpr):
            items = [self._value(n, ci, positive) for n in node.items]
            return lambda f: [i(f) for i in items]
        if isinstance(node, ast.Compare):
            left = self._value(node.left, ci, positive)
            right = self._value(node.right, ci, positive)
            if node.op in ("in", "not in"):
                negate = node.op == "not in"
                within = self._matcher_in_arg(node, ci, positive and not negate)
                if within is not None:
                    return (lambda f: not within(f)) if negate else within

                def _in(f):
                    lv, rv = left(f), right(f)
                    try:
                        found = lv is not None and lv in rv
                    except TypeError:
                        found = False
                    return not found if negate else found

                return _in
            op = _CMP[node.op]
            ne = node.op == "!="

            def _cmp(f):
                lv, rv = left(f), right(f)
                if lv is None or rv is None:
                    return ne and lv is not rv
                try:
                    return op(lv, rv)
                except TypeError:
                    return ne
            return _cmp
        if isinstance(node, ast.Call):
            fn = node.func.value
            arg = node.args[0] if node.args else None
            if fn == "len":
                return lambda f: f.text_len
            if fn == "count" and isinstance(arg, ast.Ref):
                res = self._resolve(arg)
                if res.kind == "classifier":  # a token classifier's entity: its number of spans
                    ref = self.model_ref(res)
                    ci.models.append(ref.index)
                    idx, label, mi = ref.index, ref.label, ref.matcher
                    if positive and mi is not None:
                        ci.matchers.append(mi)
                    return lambda f: (f.score(idx, label), len(f.hits.get(mi, ())))[1]
                if res.kind == "matcher":
                    idx = self.matcher_index(res.symbol.qname)
                    if positive:
                        ci.matchers.append(idx)
                    return lambda f: len(f.hits.get(idx, ()))
                members = tuple(self.group_members(res.pack))
                if positive:
                    ci.matchers.extend(members)
                return lambda f: sum(len(f.hits.get(i, ())) for i in members)
            raise ValueError(f"cannot compile call `{fn}`")  # the checker rejects these first
        if isinstance(node, ast.Ref):
            res = self._resolve(node)
            if res.kind == "context":
                path = res.attr

                def _ctx(f):
                    v: Any = f.context
                    for p in path:
                        if isinstance(v, Mapping):
                            v = v.get(p)
                        else:
                            v = getattr(v, p, None)
                        if v is None:
                            return None
                    return v
                return _ctx
            if res.kind in ("classifier", "topic"):
                ref = self.model_ref(res)
                ci.models.append(ref.index)
                idx, label = ref.index, ref.label
                return lambda f: f.score(idx, label)
            if res.kind == "text":
                return lambda f: f.text_len
            if res.kind == "tool":
                attr = res.attr
                if attr == ("name",):
                    return lambda f: f.tool.name if f.tool is not None else None
                path = attr[1:]
                return lambda f: f.tool.arg(path) if f.tool is not None else None
            return self._bool(node, ci, positive)
        return self._bool(node, ci, positive)

    def _matcher_in_arg(self, node: ast.Compare, ci: CompileInfo, positive: bool) -> Program | None:
        """``M in tool.args.PATH``: a hit of matcher (or pack) M inside a string under PATH."""
        left, right = node.left, node.right
        if not (isinstance(left, ast.Ref) and isinstance(right, ast.Ref)):
            return None
        rres = self.symbols.resolve(self.info, right.parts)
        if rres is None or rres.kind != "tool" or rres.attr[:1] != ("args",):
            return None
        lres = self.symbols.resolve(self.info, left.parts)
        if lres is None or lres.kind not in ("matcher", "group"):
            return None
        members = ((self.matcher_index(lres.symbol.qname),) if lres.kind == "matcher"
                   else tuple(self.group_members(lres.pack)))
        if positive:
            ci.matchers.extend(members)
        path = rres.attr[1:]

        def _within(f):
            if f.tool is None:
                return False
            spans = f.tool.spans_under(path)
            if not spans:
                return False
            for m in members:
                for a, b in f.hits.get(m, ()):
                    if any(s <= a and b <= e for s, e in spans):
                        return True
            return False
        return _within

    def _resolve(self, ref: ast.Ref) -> Resolution:
        res = self.symbols.resolve(self.info, ref.parts)
        if res is None:
            raise ValueError(f"undefined name `{ref.dotted}`")  # the checker rejects these first
        if res.kind == "embedder":
            raise ValueError(f"embedder `{ref.dotted}` has no score")  # PL113 rejects these first
        return res


# ------------------------------------------------------------------ request context declarations
class ContextSchema:
    """The ``context NAME: TYPE`` declarations of a policy set, for the runtime.

    ``problems(context)`` says, per declared attribute the application passed with a value
    its declaration rules out, what is wrong (a missing or None attribute is absent, as
    without declarations). Attributes nobody declared are not looked at.
    """

    __slots__ = ("decls", "readers")

    def __init__(self, decls: dict, readers: dict):
        self.decls = decls  # name -> [ast.ContextDecl, ...] (several when composed files repeat it)
        self.readers = readers  # rule order -> frozenset of the attribute names its condition reads

    def __bool__(self) -> bool:
        return bool(self.decls)

    def problems(self, context: Mapping) -> dict[str, str]:
        out: dict[str, str] = {}
        if not isinstance(context, Mapping):
            return out
        for name, decls in self.decls.items():
            value = context.get(name)
            if value is None:
                continue
            for d in decls:
                problem = context_value_problem(d, value)
                if problem is not None:
                    out[name] = (f"context attribute `{name}` {problem} "
                                 f"(`context {name}: {d.type.value}` at {d.span.file}:{d.span.line})")
                    break
        return out


def context_schema(policy_set) -> ContextSchema:
    """The context declarations of every loaded module, and which rule reads which attribute."""
    decls: dict[str, list] = {}
    for info in policy_set.infos:
        for d in info.module.of_type(ast.ContextDecl):
            lst = decls.setdefault(d.name.value, [])
            if d not in lst:
                lst.append(d)
    readers: dict[int, frozenset] = {}
    if decls:
        for order, r in enumerate(policy_set.rules):
            names = {n.parts[1] for root in (r.node.when, r.node.unless) if root is not None
                     for n in ast.walk(root) if isinstance(n, ast.Ref) and len(n.parts) > 1
                     and n.parts[0] == "context" and n.parts[1] in decls}
            if names:
                readers[order] = frozenset(names)
    return ContextSchema(decls, readers)
