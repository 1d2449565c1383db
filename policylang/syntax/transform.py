"""Parse-time callbacks that build the typed AST (policylang.syntax.ast) with a Span on every node.

The callbacks run *inline* in Lark's LALR parser (``Lark(..., transformer=ToAst())``): no
parse tree is built and no second walk is made, which makes parsing about twice as
fast. Inline callbacks get no ``meta``, so spans come from the children themselves:
every rule that starts or ends with a keyword keeps its keyword tokens (``!`` in the
grammar) and a node's span runs from the start of its first child to the end of its
last one. Intermediate results that are not AST nodes travel as ``_Part`` (value + span).
"""

from __future__ import annotations

import re

from lark import Token, Transformer

from policylang._source import SourceFile, Span
from policylang.diagnostics import Diagnostic, Severity
from policylang.syntax import ast

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", '"': '"', "\\": "\\", "/": "/", "'": "'"}

_EXPR = (ast.Ref, ast.Literal, ast.ListExpr, ast.Call, ast.Compare, ast.And, ast.Or, ast.Not, ast.Str)


def _unescape(body: str, tok_span: Span, diags: list[Diagnostic]) -> str:
    if "\\" not in body:
        return body
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "ux":
            width = 4 if e == "u" else 2
            hexpart = body[i + 2 : i + 2 + width]
            try:
                if len(hexpart) != width:
                    raise ValueError
                out.append(chr(int(hexpart, 16)))
            except ValueError:
                diags.append(_bad_escape(body[i : i + 2 + width], tok_span))
            i += 2 + width
        else:
            diags.append(_bad_escape(body[i : i + 2], tok_span))
            out.append(e)
            i += 2
    return "".join(out)


# PCRE's `\x{2014}` names a code point; Python's `regex` spells it `\U00002014`.
_PCRE_HEX = re.compile(r"(?<!\\)((?:\\\\)*)\\x\{([0-9A-Fa-f]{1,6})\}")


def _pcre_hex(m: "re.Match[str]") -> str:
    code = int(m.group(2), 16)
    return m.group(1) + (f"\\U{code:08X}" if code <= 0x10FFFF else m.group(0)[len(m.group(1)):])


def _bad_escape(seq: str, span: Span) -> Diagnostic:
    return Diagnostic(
        "PL008",
        Severity.ERROR,
        f"unknown escape sequence `{seq}` in string",
        span,
        help='valid escapes are \\n \\t \\r \\0 \\" \\\\ \\xHH and \\uHHHH',
    )


class _Part:
    """An intermediate result (an option, a clause, a stage) with the span it covers."""

    __slots__ = ("kind", "value", "span")

    def __init__(self, kind: str, value, span: Span):
        self.kind = kind
        self.value = value
        self.span = span


def _is_tok(x, type_: str | None = None) -> bool:
    return isinstance(x, Token) and (type_ is None or x.type == type_)


def fix_expr_literals(node):
    """Strings inside expressions arrive as ``ast.Str``; expressions want ``ast.Literal``."""
    if isinstance(node, ast.Str):
        return ast.Literal(node.value, node.span)
    return node


class ToAst(Transformer):
    """Builds AST nodes while Lark parses. ``source`` and ``diagnostics`` are set per parse
    (the parser module serializes parses with a lock); escape diagnostics land in
    ``diagnostics``."""

    def __init__(self, source: SourceFile | None = None):
        super().__init__(visit_tokens=False)
        self.source = source or SourceFile("<string>", "")
        self.diagnostics: list[Diagnostic] = []

    def reset(self, source: SourceFile) -> None:
        self.source = source
        self.diagnostics = []

    # ---------------------------------------------------------------- spans
    def _tok_span(self, tok: Token) -> Span:
        return Span(self.source.name, tok.start_pos, tok.end_pos, tok.line, tok.column, tok.end_line, tok.end_column)

    @staticmethod
    def _first(x):
        """(start, line, col) of a child, or None."""
        if isinstance(x, Token):
            return x.start_pos, x.line, x.column
        sp = getattr(x, "span", None)
        if sp is not None:
            return sp.start, sp.line, sp.col
        return None

    @staticmethod
    def _last(x):
        if isinstance(x, Token):
            return x.end_pos, x.end_line, x.end_column
        sp = getattr(x, "span", None)
        if sp is not None:
            return sp.end, sp.end_line, sp.end_col
        return None

    def _span(self, children) -> Span:
        first = last = None
        for c in children:
            if c is not None:
                first = self._first(c)
                if first is not None:
                    break
        for c in reversed(children):
            if c is not None:
                last = self._last(c)
                if last is not None:
                    break
        if first is None or last is None:
            return self.source.span_at(0, 0)
        return Span(self.source.name, first[0], last[0], first[1], first[2], last[1], last[2])

    # ---------------------------------------------------------------- tokens
    def name(self, children):
        tok = children[0]
        return ast.Name(str(tok), self._tok_span(tok))

    def _as_name(self, tok) -> ast.Name:
        if isinstance(tok, ast.Name):
            return tok
        return ast.Name(str(tok), self._tok_span(tok))

    def string(self, children):
        tok = children[0]
        span = self._tok_span(tok)
        raw = str(tok)
        body = raw[3:-3] if tok.type == "LONG_STRING" else raw[1:-1]
        return ast.Str(_unescape(body, span, self.diagnostics), span)

    def number(self, children):
        tok = children[0]
        value = int(tok) if tok.type == "INT" else float(tok)
        return ast.Literal(value, self._tok_span(tok))

    def string_list(self, children):
        items = tuple(c for c in children if isinstance(c, ast.Str))
        return _Part("list", items, self._span(children))

    # ---------------------------------------------------------------- header
    def start(self, children):
        return tuple(children)

    def policy_decl(self, children):
        name = self._as_name(next(c for c in children if _is_tok(c, "NAME")))
        desc = next((c for c in children if isinstance(c, ast.Str)), None)
        return ast.PolicyDecl(name, desc.value if desc is not None else None, self._span(children))

    def principle_decl(self, children):
        name = self._as_name(next(c for c in children if _is_tok(c, "NAME")))
        text = next(c for c in children if isinstance(c, ast.Str))
        return ast.Principle(name, text.value, self._span(children))

    def use_decl(self, children):
        return ast.Use(tuple(c for c in children if isinstance(c, ast.Name)), self._span(children))

    def include_decl(self, children):
        return ast.Include(tuple(c for c in children if isinstance(c, ast.Str)), self._span(children))

    def normalize_decl(self, children):
        return ast.Normalize(tuple(c for c in children if isinstance(c, ast.Name)), self._span(children))

    def context_decl(self, children):
        name, type_ = (c for c in children if isinstance(c, ast.Name))
        allowed = next((c.value for c in children if isinstance(c, _Part) and c.kind == "list"), None)
        return ast.ContextDecl(name, type_, allowed, self._span(children))

    # ---------------------------------------------------------------- matchers
    @staticmethod
    def _annotations(children):
        return tuple(c for c in children if isinstance(c, ast.Annotation))

    @staticmethod
    def _parts(children, kind):
        return [c for c in children if isinstance(c, _Part) and c.kind == kind]

    def _matcher_options(self, children) -> ast.MatcherOptions:
        kw: dict = {}
        for part in self._parts(children, "opt"):
            key, value = part.value
            if key == "validators":
                kw["validators"] = kw.get("validators", ()) + value
            elif key == "fuzzy":
                kw["fuzzy"], kw["fuzzy_span"] = value
            else:
                kw[key] = value
        return ast.MatcherOptions(**kw)

    def pattern_decl(self, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        regex_tok = next(c for c in children if _is_tok(c, "REGEX"))
        raw = str(regex_tok)
        close = raw.rindex("/")
        body = _PCRE_HEX.sub(_pcre_hex, raw[1:close].replace("\\/", "/"))
        flags = raw[close + 1 :]
        return ast.Pattern(
            name, body, flags, self._tok_span(regex_tok), self._matcher_options(children),
            self._annotations(children), self._span(children),
        )

    def words_decl(self, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        words, file = self._parts(children, "source")[0].value
        return ast.Words(name, words, file, self._matcher_options(children), self._annotations(children),
                         self._span(children))

    def words_inline(self, children):
        return _Part("source", (children[0].value, None), self._span(children))

    def words_file(self, children):
        s = next(c for c in children if isinstance(c, ast.Str))
        return _Part("source", ((), s), self._span(children))

    def _opt(self, children, key, value):
        return _Part("opt", (key, value), self._span(children))

    def opt_validate(self, children):
        return self._opt(children, "validators", tuple(c for c in children if isinstance(c, ast.Name)))

    def opt_kind(self, children):
        return self._opt(children, "kind", children[-1])

    def opt_nocase(self, children):
        return self._opt(children, "nocase", True)

    def opt_wholeword(self, children):
        return self._opt(children, "wholeword", True)

    def opt_fuzzy(self, children):
        tok = children[-1]
        return _Part("opt", ("fuzzy", (int(tok), self._tok_span(tok))), self._span(children))

    # ---------------------------------------------------------------- models
    def _model_options(self, children) -> ast.ModelOptions:
        kw: dict = {}
        for part in self._parts(children, "mopt"):
            for key, value in part.value:
                kw[key] = kw.get(key, ()) + value if key.startswith("entit") else value
        return ast.ModelOptions(**kw)

    def _model(self, cls, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        path = next(c for c in children if isinstance(c, ast.Str))
        return cls(name, path, self._model_options(children), self._annotations(children), self._span(children))

    def embedder_decl(self, children):
        return self._model(ast.Embedder, children)

    def classifier_decl(self, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        kind, path, on = self._parts(children, "source")[0].value
        return ast.Classifier(name, path, self._model_options(children), self._annotations(children),
                              self._span(children), on=on, source=kind)

    def onnx_source(self, children):
        path = next(c for c in children if isinstance(c, ast.Str))
        return _Part("source", ("onnx", path, None), self._span(children))

    def ner_source(self, children):
        path = next(c for c in children if isinstance(c, ast.Str))
        return _Part("source", ("ner", path, None), self._span(children))

    def head_source(self, children):
        path = next(c for c in children if isinstance(c, ast.Str))
        on = next(c for c in children if isinstance(c, ast.Ref))
        return _Part("source", ("head", path, on), self._span(children))

    def model_ref(self, children):
        toks = [c for c in children if _is_tok(c, "NAME")]
        return ast.Ref(tuple(str(t) for t in toks), self._span(toks))

    def topic_decl(self, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        path = next((c for c in children if isinstance(c, ast.Str)), None)
        ref = next((c for c in children if isinstance(c, ast.Ref)), None)
        return ast.Topic(name, path, self._model_options(children), self._annotations(children),
                         self._span(children), embedder=ref)

    def _mopt(self, children, *pairs):
        return _Part("mopt", pairs, self._span(children))

    def opt_labels(self, children):
        return self._mopt(children, ("labels", children[-1].value))

    def opt_label(self, children):
        return self._mopt(children, ("label", children[-1]))

    def opt_activation(self, children):
        return self._mopt(children, ("activation", children[-1]))

    def opt_tokenizer(self, children):
        return self._mopt(children, ("tokenizer", children[-1]))

    def opt_max_length(self, children):
        return self._mopt(children, ("max_length", int(children[-1])))

    def opt_threads(self, children):
        return self._mopt(children, ("threads", int(children[-1])))

    def opt_on_error(self, children):
        name = children[-1]
        return self._mopt(children, ("on_error", name.value), ("on_error_span", name.span))

    def on_error_action(self, children):
        return self._as_name(children[0])

    def opt_timeout(self, children):
        num = next(c for c in children if isinstance(c, ast.Literal))
        unit = children[-1]
        value = float(num.value) * (1.0 if str(unit) == "ms" else 1000.0)
        return self._mopt(children, ("timeout_ms", value))

    def opt_threshold(self, children):
        num = children[-1]
        return self._mopt(children, ("threshold", float(num.value)), ("threshold_span", num.span))

    def opt_examples(self, children):
        return self._mopt(children, ("examples", children[-1].value))

    def opt_entity(self, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        lists = [c for c in children if isinstance(c, _Part) and c.kind == "list"]
        parts = [int(c) for c in children if isinstance(c, Token) and c.type == "INT"]
        pairs = [("entities", ((name, tuple(lists[0].value)),))]
        if parts:
            pairs.append(("entity_min_parts", ((name, parts[0]),)))
        if len(lists) > 1:
            pairs.append(("entity_joins", ((name, tuple(lists[1].value)),)))
        return self._mopt(children, *pairs)

    # ---------------------------------------------------------------- rules
    def rule_decl(self, children):
        name = next(c for c in children if isinstance(c, ast.Name))
        stages = tuple(p.value for p in self._parts(children, "stage"))
        when = unless = action = citation = scope = None
        for c in children:
            if isinstance(c, ast.TurnScope):
                scope = c
            elif isinstance(c, _Part):
                if c.kind == "unless":
                    unless = fix_expr_literals(c.value)
            elif isinstance(c, ast.Action):
                action = c
            elif isinstance(c, ast.Citation):
                citation = c
            elif isinstance(c, _EXPR) and c is not name and when is None:
                when = fix_expr_literals(c)
        return ast.Rule(name, stages, when, unless, action, citation, self._annotations(children),
                        self._span(children), scope)

    def scope_last(self, children):
        return ast.TurnScope(int(next(c for c in children if _is_tok(c, "INT"))), self._span(children))

    def scope_all(self, children):
        return ast.TurnScope(None, self._span(children))

    def stage(self, children):
        tok = children[0]
        return _Part("stage", str(tok), self._tok_span(tok))

    def unless_clause(self, children):
        return _Part("unless", children[-1], self._span(children))

    def refuse_action(self, children):
        msg = children[1] if len(children) > 1 else None
        return ast.Action("refuse", self._span(children), message=msg)

    def flag_action(self, children):
        msg = children[1] if len(children) > 1 else None
        return ast.Action("flag", self._span(children), message=msg)

    def allow_action(self, children):
        return ast.Action("allow", self._span(children))

    def redact_action(self, children):
        span = self._span(children)
        op = children[1] if len(children) > 1 else None
        if op is None:
            return ast.Action("redact", span, op="replace", template=None)
        kind, kw = op.value
        return ast.Action("redact", span, op=kind, **kw)

    def redact_replace(self, children):
        return _Part("op", ("replace", {"template": children[-1]}), self._span(children))

    def redact_mask(self, children):
        kw: dict = {}
        for part in self._parts(children, "mask"):
            key, value = part.value
            kw[key] = value
        return _Part("op", ("mask", kw), self._span(children))

    def mask_keep(self, children):
        return _Part("mask", ("keep", int(children[-1])), self._span(children))

    def mask_char(self, children):
        return _Part("mask", ("mask_char", children[-1].value), self._span(children))

    def redact_hash(self, children):
        return _Part("op", ("hash", {}), self._span(children))

    def redact_remove(self, children):
        return _Part("op", ("remove", {}), self._span(children))

    def because(self, children):
        return ast.Citation(tuple(c for c in children if isinstance(c, ast.Name)), None, self._span(children))

    def cite(self, children):
        return ast.Citation((), children[-1], self._span(children))

    def annotation(self, children):
        name_tok = next(c for c in children if _is_tok(c, "NAME"))
        values = []
        spans = []
        for a in children:
            if isinstance(a, (ast.Str, ast.Literal, ast.Name)):
                values.append(a.value)
                spans.append(a.span)
        return ast.Annotation(self._as_name(name_tok), tuple(values), self._span(children), tuple(spans))

    # ---------------------------------------------------------------- expressions
    def or_expr(self, children):
        return ast.Or(tuple(map(fix_expr_literals, children)), self._span(children))

    def and_expr(self, children):
        return ast.And(tuple(map(fix_expr_literals, children)), self._span(children))

    def not_(self, children):
        return ast.Not(fix_expr_literals(children[-1]), self._span(children))

    def compare(self, children):
        left, op, right = children
        return ast.Compare(str(op), fix_expr_literals(left), fix_expr_literals(right), self._span(children))

    def in_(self, children):
        left, right = children
        return ast.Compare("in", fix_expr_literals(left), fix_expr_literals(right), self._span(children))

    def not_in(self, children):
        left, right = children
        return ast.Compare("not in", fix_expr_literals(left), fix_expr_literals(right), self._span(children))

    def operand(self, children):
        """``( expr )``: the expression itself (the parentheses only group)."""
        inner = [c for c in children if not isinstance(c, Token)]
        return fix_expr_literals(inner[0])

    def true(self, children):
        return ast.Literal(True, self._span(children))

    def false(self, children):
        return ast.Literal(False, self._span(children))

    def list_(self, children):
        items = tuple(fix_expr_literals(c) for c in children if c is not None and not isinstance(c, Token))
        return ast.ListExpr(items, self._span(children))

    def ref(self, children):
        return ast.Ref(tuple(c.value for c in children), self._span(children))

    def context_ref(self, children):
        return self._as_name(children[0])

    def call(self, children):
        func_tok = children[0]
        args = tuple(fix_expr_literals(a) for a in children[1:] if a is not None and not isinstance(a, Token))
        return ast.Call(self._as_name(func_tok), args, self._span(children))

    # ---------------------------------------------------------------- tests
    def test_decl(self, children):
        name = next(c for c in children if isinstance(c, ast.Str))
        expect = children[-1]
        stage = text = None
        context: list = []
        for part in self._parts(children, "clause"):
            kind, value = part.value
            if kind == "with":
                context.extend(value)
            else:
                stage, text = kind, value
        return ast.Test(name, stage, text, tuple(context), expect, self._span(children))

    def test_input(self, children):
        return _Part("clause", ("input", children[-1]), self._span(children))

    def test_output(self, children):
        return _Part("clause", ("output", children[-1]), self._span(children))

    def test_context_text(self, children):
        return _Part("clause", ("context", children[-1]), self._span(children))

    def test_with(self, children):
        return _Part("clause", ("with", [c for c in children if isinstance(c, tuple)]), self._span(children))

    def pair(self, children):
        name, value = children
        if isinstance(value, (ast.Str, ast.Literal)):
            value = value.value
        return (name.value, value)

    def expect_clause(self, children):
        action = self._parts(children, "expect")[0].value
        rules = []
        text = None
        seen_text_kw = False
        for c in children:
            if _is_tok(c) and str(c) == "text" and not isinstance(c, ast.Name):
                seen_text_kw = True
            elif isinstance(c, ast.Name):
                rules.append(c)
            elif isinstance(c, ast.Str) and seen_text_kw:
                text = c
        return ast.Expect(action, tuple(rules), text, self._span(children))

    def expect_action(self, children):
        tok = children[0]
        return _Part("expect", str(tok), self._tok_span(tok))

    def expect_rule(self, children):
        tok = children[0]
        return ast.Name(tok.value, tok.span)
