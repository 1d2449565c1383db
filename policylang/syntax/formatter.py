"""``policylang fmt``: one canonical layout for policy files, comments kept.

The formatter works on the token stream (Lark's lexer, comments included), never on the
text's own spacing, so that the layout depends only on the tokens: formatting is
idempotent, and it cannot change what a file means (the tokens, and so the syntax tree,
stay the same; a test checks this on every policy of the docs and examples and on
generated ones). The layout:

* one declaration after another from column 0; annotations on the line above their
  declaration; at most one blank line where the source had blank lines, none elsewhere;
* a rule's ``when``, ``unless``, action and citation, and a test's clauses, one per line,
  indented four spaces; a ``when``/``unless`` longer than the line is broken before
  top-level ``or``/``and`` operators, each line filled up to the width (continuations
  indented eight);
* a matcher's or model's options on its first line when it fits in ``WIDTH`` columns,
  else on one continuation line; a string list that does not fit is written one item per
  line with a trailing comma;
* single spaces between tokens, none inside ``( )``/``[ ]``/``{ }``, before ``,``/``:``, around
  ``.``, between a number and ``ms``/``s``, or between a name and its ``(``;
* a comment on its own line stays on its own line (at the indentation of what follows),
  a comment after code stays after that code, two spaces before ``#``.

Strings, regex literals and numbers are copied as written.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from lark import Lark, Token

from policylang._source import SourceFile
from policylang.syntax import parse
from policylang.syntax.grammar_file import grammar_text

WIDTH = 100
INDENT = "    "

_DECL_KEYWORDS = {"policy", "principle", "use", "include", "normalize", "context", "pattern", "words", "embedder",
                  "classifier", "topic", "rule", "test"}
_RULE_CLAUSES = {"when", "unless", "refuse", "redact", "flag", "allow", "because", "cite"}
_TEST_CLAUSES = {"input", "output", "context", "with", "expect"}
_HEADS = {"pattern", "words", "embedder", "classifier", "topic"}  # `NAME = value options...`
_OPTIONS = {"validate", "kind", "nocase", "wholeword", "fuzzy", "labels", "label", "activation", "tokenizer",
            "max_length", "threads", "on_error", "timeout", "threshold", "examples", "entity", "min_parts", "joins"}
_ATOMS = {"NAME", "STRING", "LONG_STRING", "REGEX", "INT", "FLOAT", "COMP_OP", "DURATION_UNIT", "CONTEXT_KW"}


@dataclass(frozen=True, slots=True)
class Tok:
    type: str
    value: str
    line: int  # 1-based, where the token starts
    end_line: int
    start: int  # offset in the source

    @property
    def keyword(self) -> bool:
        """A keyword of the grammar (not a name that happens to read like one)."""
        return self.type not in ("NAME", "STRING", "LONG_STRING", "REGEX", "COMMENT") and self.value.isidentifier()

    @property
    def is_comment(self) -> bool:
        return self.type == "COMMENT"


@functools.lru_cache(maxsize=1)
def _token_parser():
    """A tree-building parser that keeps every token; comments go to a callback."""
    sink: list = []
    parser = Lark(grammar_text(), parser="lalr", lexer="contextual", keep_all_tokens=True,
                  lexer_callbacks={"COMMENT": lambda tok: (sink.append(tok), tok)[1]})
    return parser, sink


def tokens(text: str) -> list[Tok]:
    """Every token of ``text``, comments included, in source order (Lark's error on bad syntax)."""
    parser, sink = _token_parser()
    sink.clear()
    try:
        tree = parser.parse(text)
        found = [Tok(t.type, str(t), t.line, t.end_line, t.start_pos)
                 for t in list(tree.scan_values(lambda v: isinstance(v, Token))) + sink]
    finally:
        sink.clear()
    found.sort(key=lambda t: t.start)
    return found


# ---------------------------------------------------------------------------- layout
def _space(a: Tok, b: Tok) -> bool:
    """Whether one space separates ``a`` and ``b`` on a line."""
    if b.value in (",", ":", ")", "]", "}", ".") or a.value in ("(", "[", "{", ".", "@"):
        return False
    if b.value == "(" and a.type == "NAME":  # a call, an annotation's arguments
        return False
    if b.type == "DURATION_UNIT":
        return False
    if a.value == "@":
        return False
    return True


def _join(toks: list[Tok]) -> str:
    out = ""
    for i, t in enumerate(toks):
        if i and _space(toks[i - 1], t):
            out += " "
        out += t.value
    return out


def _width(prefix: str, text: str) -> int:
    lines = (prefix + text).split("\n")
    return len(lines[-1]) if len(lines) > 1 else len(prefix) + len(text)


def _split_lists(toks: list[Tok], indent: str) -> list[str]:
    """``toks`` on one line, or with every top-level ``[...]`` string list one item per line."""
    one = indent + _join(toks)
    if _width("", one) <= WIDTH or not any(t.value == "[" for t in toks):
        return [one]
    lines: list[str] = []
    cur: list[Tok] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.value == "[":
            depth, j = 0, i
            while j < len(toks):
                depth += toks[j].value == "["
                depth -= toks[j].value == "]"
                if depth == 0:
                    break
                j += 1
            items = [x for x in toks[i + 1:j] if x.value != ","]
            lines.append(indent + _join(cur + [t]) if cur else indent + "[")
            lines.extend(indent + INDENT + x.value + "," for x in items)
            cur = [toks[j]] if j < len(toks) else []
            i = j + 1
            continue
        cur.append(t)
        i += 1
    if cur:
        lines.append(indent + _join(cur))
    return lines


def _split_expr(toks: list[Tok], indent: str) -> list[str]:
    """A ``when``/``unless`` clause, broken before top-level ``or``/``and`` when too long."""
    one = indent + _join(toks)
    if _width("", one) <= WIDTH:
        return [one]
    parts: list[list[Tok]] = [[]]
    depth = 0
    for k, t in enumerate(toks):
        if t.value in ("(", "["):
            depth += 1
        elif t.value in (")", "]"):
            depth -= 1
        if depth == 0 and k > 1 and t.keyword and t.value in ("or", "and"):
            parts.append([])
        parts[-1].append(t)
    lines = [indent + _join(parts[0])]
    for p in parts[1:]:  # fill each line up to the width, continuation lines start with the operator
        piece = _join(p)
        if len(lines) > 0 and len(lines[-1]) + 1 + len(piece) <= WIDTH:
            lines[-1] += " " + piece
        else:
            lines.append(indent + INDENT + piece)
    return lines


@dataclass
class _Decl:
    toks: list[Tok]  # code tokens, comments removed
    comments: dict  # index of the code token a comment follows -> [(comment tok, own line?)]
    leading: list  # comments on their own lines before the declaration: [(text, blank line before?)]
    gap_after_leading: bool = False


def _clauses(d: _Decl) -> list[tuple[int, int, str]]:
    """``(start, end, kind)`` token ranges of the declaration's lines before width decisions."""
    toks = d.toks
    k = 0
    while k < len(toks) and toks[k].value == "@":  # annotations: `@ NAME ( args )`
        j = k + 2
        if j < len(toks) and toks[j].value == "(":
            depth = 0
            while j < len(toks):
                depth += toks[j].value == "("
                depth -= toks[j].value == ")"
                j += 1
                if depth == 0:
                    break
        k = j
    out = []
    if k:
        out.append((0, k, "annotations"))
    head = toks[k].value if k < len(toks) else ""
    starts = [k]
    if head == "rule":
        clause = _RULE_CLAUSES
    elif head == "test":
        clause = _TEST_CLAUSES
    elif head == "classifier":
        clause = {"entity"}  # a token classifier's `entity KIND [...]`, one per line
    else:
        clause = set()
    depth = 0
    for i in range(k + 1, len(toks)):
        t = toks[i]
        if t.value in ("(", "[", "{"):
            depth += 1
        elif t.value in (")", "]", "}"):
            depth -= 1
        if depth == 0 and t.keyword and t.value in clause:
            prev = toks[i - 1]
            if head == "test" and prev.value == "expect":
                continue  # `expect refuse`
            if head == "rule" and prev.value in ("refuse", "redact", "flag") and t.value in _RULE_CLAUSES - {
                    "because", "cite", "when", "unless"}:
                continue
            starts.append(i)
    starts.append(len(toks))
    for a, b in zip(starts, starts[1:]):
        kind = "head" if a == k else toks[a].value
        out.append((a, b, kind))
    return out


def _decl_lines(d: _Decl) -> list[tuple[str, int, int]]:
    """The declaration's output lines, each with the code-token range it holds."""
    toks = d.toks
    lines: list[tuple[str, int, int]] = []
    for a, b, kind in _clauses(d):
        part = toks[a:b]
        if kind == "annotations":
            lines.append((_join(part), a, b))
            continue
        if kind == "head":
            head = part[0].value if part else ""
            if head in _HEADS:
                opt = next((i for i, t in enumerate(part) if i > 2 and t.keyword and t.value in _OPTIONS
                            and _depth(part, i) == 0), None)
                long_list = any(t.value == "[" for t in part[:opt or 0]) and len(_join(part[:opt or 0])) > WIDTH
                if opt is not None and len(_join(part)) > WIDTH and not long_list:
                    first, rest = part[:opt], part[opt:]
                    for text in _split_lists(first, ""):
                        lines.append((text, a, a + opt))
                    for text in _split_lists(rest, INDENT):
                        lines.append((text, a + opt, b))
                    continue
            for text in _split_lists(part, ""):
                lines.append((text, a, b))
            continue
        if kind in ("when", "unless"):
            for text in _split_expr(part, INDENT):
                lines.append((text, a, b))
            continue
        if kind == "entity" and len(INDENT + _join(part)) > WIDTH:
            # `entity KIND [...]` on its line, `min_parts`/`joins` on a continuation line
            opt = next((i for i, t in enumerate(part) if i > 1 and t.keyword and t.value in ("min_parts", "joins")
                        and _depth(part, i) == 0), None)
            if opt is not None and len(INDENT + _join(part[:opt])) <= WIDTH:
                for text in _split_lists(part[:opt], INDENT):
                    lines.append((text, a, a + opt))
                for text in _split_lists(part[opt:], INDENT * 2):
                    lines.append((text, a + opt, b))
                continue
        for text in _split_lists(part, INDENT):
            lines.append((text, a, b))
    return lines


def _depth(toks: list[Tok], i: int) -> int:
    depth = 0
    for t in toks[:i]:
        depth += t.value in ("(", "[", "{")
        depth -= t.value in (")", "]", "}")
    return depth


def _render_decl(d: _Decl) -> list[str]:
    """Lines of one declaration with its comments put back."""
    out: list[str] = []
    lines = _decl_lines(d)
    # which output line holds code token i (the last line of its range that mentions it)
    line_of: dict[int, int] = {}
    for n, (_text, a, b) in enumerate(lines):
        for i in range(a, b):
            line_of.setdefault(i, n)
    trailing: dict[int, list[str]] = {}
    before: dict[int, list[str]] = {}
    for i, comments in d.comments.items():
        for tok, own in comments:
            if own and i + 1 < len(d.toks):
                before.setdefault(line_of.get(i + 1, len(lines) - 1), []).append(tok.value)
            else:
                trailing.setdefault(line_of.get(i, len(lines) - 1), []).append(tok.value)
    for n, (text, _a, _b) in enumerate(lines):
        indent = text[: len(text) - len(text.lstrip(" "))] or (INDENT if n else "")
        for c in before.get(n, ()):
            out.append(indent + c)
        if n in trailing:
            text = text + "  " + "  ".join(trailing[n])
        out.append(text)
    return out


def format_source(text: str, name: str = "<fmt>") -> str:
    """``text`` in the canonical layout. Raises ``FormatError`` when it does not parse."""
    result = parse(SourceFile(name, text))
    if result.module is None:
        raise FormatError(result.diagnostics)
    bounds = sorted((item.span.start, item.span.end) for item in result.module.items)
    toks = tokens(text)
    decls: list[_Decl] = []
    gaps: list[bool] = []  # a blank line before decls[k]
    pending: list[tuple[Tok, bool]] = []  # comments seen since the last code token
    last_code: Tok | None = None
    prev_end_line = 0
    k = -1  # the declaration the last code token belongs to
    for t in toks:
        if t.is_comment:
            own = last_code is None or t.line > last_code.end_line
            pending.append((t, own))
            continue
        j = k
        while j + 1 < len(bounds) and t.start >= bounds[j + 1][0]:
            j += 1
        if j != k:  # a new declaration starts at t
            own = [(c, o) for c, o in pending if o]
            tail = [(c, o) for c, o in pending if not o]
            if decls and tail:
                decls[-1].comments.setdefault(len(decls[-1].toks) - 1, []).extend(tail)
            first_line = own[0][0].line if own else t.line
            gaps.append(bool(decls) and first_line > prev_end_line + 1)
            lead: list[tuple[str, bool]] = []
            last = first_line
            for c, _o in own:
                lead.append((c.value, c.line > last + 1))
                last = c.end_line
            d = _Decl([], {}, lead)
            d.gap_after_leading = bool(own) and t.line > last + 1
            decls.append(d)
            pending = []
            k = j
        elif pending:
            decls[-1].comments.setdefault(len(decls[-1].toks) - 1, []).extend(pending)
            pending = []
        decls[-1].toks.append(t)
        last_code = t
        prev_end_line = t.end_line
    out: list[str] = []
    for n, d in enumerate(decls):
        if n and gaps[n]:
            out.append("")
        for m, (c, gap) in enumerate(d.leading):
            if m and gap:
                out.append("")
            out.append(c)
        if d.leading and d.gap_after_leading:
            out.append("")
        out.extend(_render_decl(d))
    for c, own in pending:  # comments after the last declaration
        if own or not out:
            if out and c.line > prev_end_line + 1:
                out.append("")
            out.append(c.value)
            prev_end_line = c.end_line
        else:
            out[-1] += "  " + c.value
    return "\n".join(line.rstrip() for line in out) + "\n"


class FormatError(ValueError):
    """The text does not parse; ``diagnostics`` say where."""

    def __init__(self, diagnostics):
        super().__init__("; ".join(d.concise() for d in diagnostics))
        self.diagnostics = tuple(diagnostics)
