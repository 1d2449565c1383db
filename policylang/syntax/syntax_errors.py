"""Lark exceptions -> coded, located diagnostics (never a Lark traceback)."""

from __future__ import annotations

import difflib

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylang._source import SourceFile
from policylang.diagnostics import Diagnostic, Severity
from policylang.syntax.chars import describe, lookalike

# Terminals described in words.
_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "REGEX": "a regex literal `/.../`",
    "INT": "a number",
    "FLOAT": "a number",
    "COMP_OP": "a comparison (`==`, `<`, ...)",
    "DURATION_UNIT": "`ms` or `s`",
    "CONTEXT_KW": "`context`",
    "$END": "end of file",
}


def describe_terminal(parser: Lark, name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        term = parser.get_terminal(name)
    except KeyError:
        return name.lower()
    pattern = term.pattern
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


def expected_words(parser: Lark, names) -> list[str]:
    seen: list[str] = []
    for n in sorted(names):
        w = describe_terminal(parser, n)
        if w not in seen:
            seen.append(w)
    # keywords first (backticked), then classes of tokens
    return sorted(seen, key=lambda w: (not w.startswith("`"), w))


def _join(words: list[str], limit: int = 8) -> str:
    if len(words) > limit:
        words = words[:limit] + [f"{len(words) - limit} more"]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _unexpected(parser: Lark, tok) -> str:
    if tok.type in _WORDS:
        word = _WORDS[tok.type].removeprefix("a ").removeprefix("an ")
        return f"unexpected {word} `{tok}`"
    return f"unexpected `{tok}`"


def syntax_diagnostic(parser: Lark, source: SourceFile, err: UnexpectedInput) -> Diagnostic:
    text = source.text
    pos = getattr(err, "pos_in_stream", None)
    if pos is None:
        pos = len(text)
    if isinstance(err, UnexpectedCharacters):
        ch = text[pos] if pos < len(text) else ""
        span = source.span_at(pos, pos + 1)
        if ch == '"':
            return Diagnostic(
                "PL002", Severity.ERROR, "string is not closed", span,
                help='close the string with `"` on the same line, or use """triple quotes""" for several lines',
                label="string starts here",
            )
        if ch == "/":
            return Diagnostic(
                "PL002", Severity.ERROR, "regex literal is not closed", span,
                help="close the regex with `/` on the same line; write `\\/` for a slash inside it",
                label="regex starts here",
            )
        allowed = expected_words(parser, err.allowed or ())
        shown = repr(ch)[1:-1] if ch else "end of file"
        help = f"expected {_join(allowed)}" if allowed else None
        odd = describe(ch) if ch and not ch.isascii() else None
        if odd is not None:
            alike = lookalike(ch)
            help = f"{odd}; " + (f"retype it as `{alike}`" if alike else "delete it")
        elif ch and not ch.isascii() and ch.isalpha():
            help = "names use ASCII letters, digits and `_` only; put other text in a string"
        return Diagnostic(
            "PL001", Severity.ERROR, f"unexpected character `{shown}`", span,
            help=help, label="not valid here",
        )
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        expected = err.expected if isinstance(err, UnexpectedEOF) else err.accepts or err.expected
        allowed = expected_words(parser, expected or ())
        end = len(text.rstrip())
        span = source.span_at(end, end)
        return Diagnostic(
            "PL007", Severity.ERROR, "file ends in the middle of a declaration", span,
            help=f"expected {_join(allowed)}" if allowed else None, label="more expected here",
        )
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    start = tok.start_pos if tok.start_pos is not None else pos
    end = tok.end_pos if tok.end_pos is not None else start + len(str(tok))
    allowed = expected_words(parser, err.accepts or err.expected or ())
    help = f"expected {_join(allowed)}" if allowed else None
    keywords = [w[1:-1] for w in allowed if w.startswith("`") and w[1:-1].isidentifier()]
    close = difflib.get_close_matches(str(tok), keywords, n=1, cutoff=0.6) if str(tok).isidentifier() else []
    if close:  # a mistyped keyword: say which one, then what else fits
        help = f"did you mean `{close[0]}`? (expected {_join(allowed, 4)})"
    return Diagnostic(
        "PL001", Severity.ERROR, _unexpected(parser, tok),
        source.span_at(start, end),
        help=help,
        label="not expected here",
    )
