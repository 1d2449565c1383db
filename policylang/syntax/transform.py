"""Lark parse tree -> typed AST (policylang.syntax.ast), with a Span on every node."""

from __future__ import annotations

from lark import Token, Transformer_NonRecursive, Tree, v_args

from policylang._source import SourceFile, Span
from policylang.diagnostics import Diagnostic, Severity
from policylang.syntax import ast

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", '"': '"', "\\": "\\", "/": "/", "'": "'"}


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


def _bad_escape(seq: str, span: Span) -> Diagnostic:
    return Diagnostic(
        "PL008",
        Severity.ERROR,
        f"unknown escape sequence `{seq}` in string",
        span,
        help='valid escapes are \\n \\t \\r \\0 \\" \\\\ \\xHH and \\uHHHH',
    )


class ToAst(Transformer_NonRecursive):
    """Builds AST nodes. Collects string-escape diagnostics in ``self.diagnostics``."""

    def __init__(self, source: SourceFile):
        super().__init__(visit_tokens=True)
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    # ---------------------------------------------------------------- spans
    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return self.source.span_at(0, 0)
        return Span(
            self.source.name,
            meta.start_pos,
            meta.end_pos,
            meta.line,
            meta.column,
            meta.end_line,
            meta.end_column,
        )

    def _tok_span(self, tok: Token) -> Span:
        return Span(
            self.source.name,
            tok.start_pos,
            tok.end_pos,
            tok.line,
            tok.column,
            tok.end_line,
            tok.end_column,
        )

    # ---------------------------------------------------------------- tokens
    def name(self, children):
        tok = children[0]
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
        return tuple(c for c in children if c is not None)

    # ---------------------------------------------------------------- header
    @v_args(meta=True)
    def start(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def policy_decl(self, meta, children):
        name = children[0]
        desc = children[1] if len(children) > 1 else None
        return ast.PolicyDecl(name, desc.value if desc is not None else None, self._span(meta))

    @v_args(meta=True)
    def principle_decl(self, meta, children):
        name, text = children
        return ast.Principle(name, text.value, self._span(meta))

    @v_args(meta=True)
    def use_decl(self, meta, children):
        return ast.Use(tuple(children), self._span(meta))

    @v_args(meta=True)
    def normalize_decl(self, meta, children):
        return ast.Normalize(tuple(children), self._span(meta))

    # ---------------------------------------------------------------- matchers
    def _split_annotations(self, children):
        anns = tuple(c for c in children if isinstance(c, ast.Annotation))
        rest = [c for c in children if not isinstance(c, ast.Annotation)]
        return anns, rest

    def _matcher_options(self, opts) -> ast.MatcherOptions:
        kw: dict = {}
        for key, value in opts:
            if key == "validators":
                kw["validators"] = kw.get("validators", ()) + value
            else:
                kw[key] = value
        return ast.MatcherOptions(**kw)

    @v_args(meta=True)
    def pattern_decl(self, meta, children):
        anns, rest = self._split_annotations(children)
        name, regex_tok, *opts = rest
        raw = str(regex_tok)
        close = raw.rindex("/")
        body = raw[1:close].replace("\\/", "/")
        flags = raw[close + 1 :]
        return ast.Pattern(
            name, body, flags, self._tok_span(regex_tok), self._matcher_options(opts), anns, self._span(meta)
        )

    @v_args(meta=True)
    def words_decl(self, meta, children):
        anns, rest = self._split_annotations(children)
        name, (words, file), *opts = rest
        return ast.Words(name, words, file, self._matcher_options(opts), anns, self._span(meta))

    def words_inline(self, children):
        return (children[0], None)

    def words_file(self, children):
        return ((), children[0])

    def opt_validate(self, children):
        return ("validators", tuple(children))

    def opt_kind(self, children):
        return ("kind", children[0])

    def opt_nocase(self, children):
        return ("nocase", True)

    def opt_wholeword(self, children):
        return ("wholeword", True)

    def opt_fuzzy(self, children):
        return ("fuzzy", int(children[0]))

    # ---------------------------------------------------------------- models
    def _model_options(self, opts) -> ast.ModelOptions:
        kw: dict = {}
        for pair in opts:
            for key, value in pair:
                kw[key] = value
        return ast.ModelOptions(**kw)

    @v_args(meta=True)
    def classifier_decl(self, meta, children):
        anns, rest = self._split_annotations(children)
        name, path, *opts = rest
        return ast.Classifier(name, path, self._model_options(opts), anns, self._span(meta))

    @v_args(meta=True)
    def topic_decl(self, meta, children):
        anns, rest = self._split_annotations(children)
        name, path, *opts = rest
        return ast.Topic(name, path, self._model_options(opts), anns, self._span(meta))

    def opt_labels(self, children):
        return (("labels", children[0]),)

    def opt_label(self, children):
        return (("label", children[0]),)

    def opt_activation(self, children):
        return (("activation", children[0]),)

    def opt_tokenizer(self, children):
        return (("tokenizer", children[0]),)

    def opt_max_length(self, children):
        return (("max_length", int(children[0])),)

    def opt_threads(self, children):
        return (("threads", int(children[0])),)

    def opt_on_error(self, children):
        tok = children[0]
        return (("on_error", str(tok)), ("on_error_span", tok.span if isinstance(tok, ast.Name) else None))

    def on_error_action(self, children):
        tok = children[0]
        return ast.Name(str(tok), self._tok_span(tok))

    def opt_timeout(self, children):
        num, unit = children
        value = float(num.value) * (1.0 if str(unit) == "ms" else 1000.0)
        return (("timeout_ms", value),)

    def opt_threshold(self, children):
        num = children[0]
        return (("threshold", float(num.value)), ("threshold_span", num.span))

    def opt_examples(self, children):
        return (("examples", children[0]),)

    # ---------------------------------------------------------------- rules
    @v_args(meta=True)
    def rule_decl(self, meta, children):
        anns, rest = self._split_annotations(children)
        name = rest[0]
        stages = tuple(c for c in rest[1:] if isinstance(c, str))
        when = unless = action = citation = None
        for c in rest[1:]:
            if isinstance(c, str):
                continue
            if isinstance(c, tuple) and c and c[0] == "unless":
                unless = fix_expr_literals(c[1])
            elif isinstance(c, ast.Action):
                action = c
            elif isinstance(c, ast.Citation):
                citation = c
            elif when is None:
                when = fix_expr_literals(c)
        return ast.Rule(name, stages, when, unless, action, citation, anns, self._span(meta))

    def stage(self, children):
        return str(children[0])

    def unless_clause(self, children):
        return ("unless", children[0])

    @v_args(meta=True)
    def refuse_action(self, meta, children):
        return ast.Action("refuse", self._span(meta), message=children[0] if children else None)

    @v_args(meta=True)
    def flag_action(self, meta, children):
        return ast.Action("flag", self._span(meta), message=children[0] if children else None)

    @v_args(meta=True)
    def allow_action(self, meta, children):
        return ast.Action("allow", self._span(meta))

    @v_args(meta=True)
    def redact_action(self, meta, children):
        op = children[0] if children else None
        span = self._span(meta)
        if op is None:
            return ast.Action("redact", span, op="replace", template=None)
        kind, kw = op
        return ast.Action("redact", span, op=kind, **kw)

    def redact_replace(self, children):
        return ("replace", {"template": children[0]})

    def redact_mask(self, children):
        kw: dict = {}
        for key, value in children:
            kw[key] = value
        return ("mask", kw)

    def mask_keep(self, children):
        return ("keep", int(children[0]))

    def mask_char(self, children):
        return ("mask_char", children[0].value)

    def redact_hash(self, children):
        return ("hash", {})

    def redact_remove(self, children):
        return ("remove", {})

    @v_args(meta=True)
    def because(self, meta, children):
        return ast.Citation(tuple(children), None, self._span(meta))

    @v_args(meta=True)
    def cite(self, meta, children):
        return ast.Citation((), children[0], self._span(meta))

    @v_args(meta=True)
    def annotation(self, meta, children):
        name_tok, *args = children
        values = []
        for a in args:
            if a is None:
                continue
            if isinstance(a, ast.Str):
                values.append(a.value)
            elif isinstance(a, ast.Literal):
                values.append(a.value)
            elif isinstance(a, ast.Name):
                values.append(a.value)
        return ast.Annotation(ast.Name(str(name_tok), self._tok_span(name_tok)), tuple(values), self._span(meta))

    # ---------------------------------------------------------------- expressions
    @v_args(meta=True)
    def or_expr(self, meta, children):
        return ast.Or(tuple(map(fix_expr_literals, children)), self._span(meta))

    @v_args(meta=True)
    def and_expr(self, meta, children):
        return ast.And(tuple(map(fix_expr_literals, children)), self._span(meta))

    @v_args(meta=True)
    def not_(self, meta, children):
        return ast.Not(fix_expr_literals(children[0]), self._span(meta))

    @v_args(meta=True)
    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(str(op), fix_expr_literals(left), fix_expr_literals(right), self._span(meta))

    @v_args(meta=True)
    def in_(self, meta, children):
        return ast.Compare("in", *map(fix_expr_literals, children), self._span(meta))

    @v_args(meta=True)
    def not_in(self, meta, children):
        return ast.Compare("not in", *map(fix_expr_literals, children), self._span(meta))

    @v_args(meta=True)
    def true(self, meta, children):
        return ast.Literal(True, self._span(meta))

    @v_args(meta=True)
    def false(self, meta, children):
        return ast.Literal(False, self._span(meta))

    @v_args(meta=True)
    def list_(self, meta, children):
        return ast.ListExpr(tuple(fix_expr_literals(c) for c in children if c is not None), self._span(meta))

    @v_args(meta=True)
    def ref(self, meta, children):
        return ast.Ref(tuple(c.value for c in children), self._span(meta))

    def context_ref(self, children):
        tok = children[0]
        return ast.Name(str(tok), self._tok_span(tok))

    @v_args(meta=True)
    def call(self, meta, children):
        func_tok, *args = children
        return ast.Call(
            ast.Name(str(func_tok), self._tok_span(func_tok)),
            tuple(fix_expr_literals(a) for a in args if a is not None),
            self._span(meta),
        )

    # ---------------------------------------------------------------- tests
    @v_args(meta=True)
    def test_decl(self, meta, children):
        name, *clauses = children
        expect = clauses[-1]
        stage = text = None
        context: list = []
        for kind, value in clauses[:-1]:
            if kind == "with":
                context.extend(value)
            else:
                stage, text = kind, value
        return ast.Test(name, stage, text, tuple(context), expect, self._span(meta))

    def test_input(self, children):
        return ("input", children[0])

    def test_output(self, children):
        return ("output", children[0])

    def test_context_text(self, children):
        return ("context", children[-1])

    def test_with(self, children):
        return ("with", [c for c in children if c is not None])

    def pair(self, children):
        name, value = children
        if isinstance(value, (ast.Str, ast.Literal)):
            value = value.value
        return (name.value, value)

    @v_args(meta=True)
    def expect_clause(self, meta, children):
        action = str(children[0])
        rules = tuple(c for c in children[1:] if isinstance(c, ast.Name))
        texts = [c for c in children[1:] if isinstance(c, ast.Str)]
        return ast.Expect(action, rules, texts[0] if texts else None, self._span(meta))

    def expect_action(self, children):
        return str(children[0])


def fix_expr_literals(node):
    """Strings inside expressions arrive as ``ast.Str``; expressions want ``ast.Literal``."""
    if isinstance(node, ast.Str):
        return ast.Literal(node.value, node.span)
    return node
