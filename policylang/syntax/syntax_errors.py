"""Lark exceptions -> coded, located diagnostics (never a Lark traceback)."""

from __future__ import annotations

import difflib
import functools
import re

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from policylang._source import SourceFile
from policylang.diagnostics import Diagnostic, Severity
from policylang.syntax.chars import describe, lookalike
from policylang.syntax.parser import parse_items

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
    try:
        named = named_mistake(parser, source, err)
    except Exception:  # pragma: no cover - a bug in a hint must not hide the error itself
        named = None
    if named is not None:
        return named
    return _generic(parser, source, err)


def _generic(parser: Lark, source: SourceFile, err: UnexpectedInput) -> Diagnostic:
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


# ---------------------------------------------------------------- common mistakes, named in words
#
# ``named_mistake`` recognises the mistakes people make most (tests/test_syntax_errors.py
# names each one) and says what to write instead. Two kinds of evidence:
#   - the text around the error (a `'`, `&&`, a `,` before a keyword the lexer then read
#     as a name, ...), and
#   - the parser state, compared with small broken examples by Lark's ``match_examples``
#     (a rule without `on STAGE`, without `when`, without an action, ...).
# Anything not recognised falls through to the generic "unexpected X, expected Y".

STAGES = ("input", "output", "context", "tool_call", "tool_result")
ACTIONS = ("refuse", "redact", "flag", "allow")
DECLARATIONS = ("policy", "principle", "use", "include", "normalize", "pattern", "words", "embedder",
                "classifier", "topic", "rule", "test", "context")
ANNOTATIONS = ("id", "severity", "mode", "description", "owner", "tags")
_QUOTES = {"\u201c": "left double quotation mark", "\u201d": "right double quotation mark",
           "\u201e": "double low-9 quotation mark", "\u2018": "left single quotation mark",
           "\u2019": "right single quotation mark", "`": "backtick"}
_OPERATORS = {"&&": "and", "||": "or", "&": "and", "|": "or", "!": "not"}
_IDENT = re.compile(r"[A-Za-z0-9_]")
_CODE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*', re.S)

# label -> broken examples; each fails in the parser state that the label names.
_EXAMPLES = {
    "rule-without-stage": ["rule r:\n when a\n allow", "rule r when a\n allow", "rule r\n when a\n allow",
                           'rule r refuse "x"', "rule r\n", "@id(x)\nrule r:\n when a\n allow",
                           "@id(x)\nrule r when a\n allow", "@id(x)\nrule r\n when a\n allow"],
    "rule-without-when": ["rule r on input:\n allow", 'rule r on input:\n refuse "x"', "rule r on input:\n a",
                          "rule r on input:\n because p", "rule r on input:\n", "@id(x)\nrule r on input:\n allow",
                          '@id(x)\nrule r on input:\n refuse "x"', "@id(x)\nrule r on input:\n because p"],
    "rule-without-action": ["rule r on input:\n when a\n because p", 'rule r on input:\n when a\n cite "x"',
                            "rule r on input:\n when a\n\nrule s on input:\n when a\n allow",
                            'rule r on input:\n when a\n\ntest "t":\n expect allow', "rule r on input:\n when a\n@id(x)"],
    "because-without-name": ["rule r on input:\n when a\n allow\n because\n@id(x)",
                             "rule r on input:\n when a\n allow\n because\n"],
}


def _example_parse(text: str):
    parse_items(SourceFile("<example>", text))


@functools.lru_cache(maxsize=1)
def _example_states() -> tuple[tuple[str, int, frozenset, str], ...]:
    """``(label, LALR state, accepted terminals, token type)`` of each broken example."""
    out = []
    for label, texts in _EXAMPLES.items():
        for t in texts:
            try:
                _example_parse(t)
            except (UnexpectedToken, UnexpectedEOF) as ex:
                tok = getattr(ex, "token", None)
                out.append((label, ex.state.position, frozenset(getattr(ex, "accepts", None) or ()),
                            tok.type if tok is not None else "$END"))
    return tuple(out)


def _matching_example(err: UnexpectedInput) -> str | None:
    """The label of the example that fails like ``err`` does.

    Lark's ``UnexpectedInput.match_examples`` compares parser states by stack depth as well
    as by LALR state, and annotations (`@id(...) @severity(high)`) before a rule deepen the
    stack, so it matches only unannotated rules. This is the same match on the state alone:
    the state and the accepted terminals (``use_accepts``), an example with the same token
    type preferred.
    """
    if not isinstance(err, (UnexpectedToken, UnexpectedEOF)) or getattr(err, "state", None) is None:
        return None
    tok = getattr(err, "token", None)
    ttype = tok.type if tok is not None else "$END"
    accepts = frozenset(getattr(err, "accepts", None) or ())
    fallback = None
    for label, position, acc, example_type in _example_states():
        if position != err.state.position or acc != accepts:
            continue
        if example_type == ttype:
            return label
        fallback = fallback or label
    return fallback


@functools.lru_cache(maxsize=4)
def _code_only(text: str) -> str:
    """``text`` with comments blanked (same length), so looking back skips them."""
    return _CODE.sub(lambda m: " " * len(m.group()) if m.group().startswith("#") else m.group(), text)


def _back(code: str, pos: int) -> int:
    """End of the last code character before ``pos`` (whitespace and comments skipped)."""
    return len(code[:pos].rstrip())


def _word_before(code: str, end: int) -> tuple[str, int]:
    """The identifier ending at ``end`` and its start ('' when there is none)."""
    start = end
    while start > 0 and _IDENT.match(code[start - 1]):
        start -= 1
    return code[start:end], start


def _did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean `{close[0]}`? " if close else ""


def _ticks(words) -> str:
    return _join([f"`{w}`" for w in words], 10)


def _err(source: SourceFile, start: int, end: int, message: str, help: str | None, label: str) -> Diagnostic:
    return Diagnostic("PL001", Severity.ERROR, message, source.span_at(start, end), help=help, label=label)


def named_mistake(parser: Lark, source: SourceFile, err: UnexpectedInput) -> Diagnostic | None:
    """A diagnostic naming a common mistake, or None when the error is not one of them."""
    text = source.text
    code = _code_only(text)
    if isinstance(err, UnexpectedCharacters):
        return _named_character(source, text, err.pos_in_stream)
    if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        end = _back(code, len(code))
        word, wstart = _word_before(code, end)
        if word == "because":
            return _because_without_name(source, wstart)
        if code[end - 1:end] == ",":
            return _err(source, end - 1, end, "the file ends with a `,`", "delete the `,`, or add the item after it",
                        "trailing comma")
        return None
    if not isinstance(err, UnexpectedToken):
        return None
    tok = err.token
    start = tok.start_pos if tok.start_pos is not None else err.pos_in_stream
    end = tok.end_pos if tok.end_pos is not None else start + len(str(tok))
    value = str(tok)
    allowed = expected_words(parser, err.accepts or err.expected or ())
    prev_end = _back(code, start)
    prev, prev_start = _word_before(code, prev_end)

    # a keyword glued to more letters: the contextual lexer reads `inputs` as `input` + `s`
    if start > 0 and _IDENT.match(text[start - 1]) and value[:1] and _IDENT.match(value[0]):
        word, wstart = _word_before(text, end)
        while end < len(text) and _IDENT.match(text[end]):
            end += 1
        word = text[wstart:end]
        if prev in STAGES and prev_start == wstart:
            return _unknown_stage(source, wstart, end, word)
        return _err(source, wstart, end, f"unexpected name `{word}`",
                    f"{_did_you_mean(word, [w[1:-1] for w in allowed if w.startswith('`')])}"
                    f"expected {_join(allowed, 6)}", "not expected here")

    # a keyword the lexer read as a name, because the clause before it needs one
    if prev in DECLARATIONS + ACTIONS + ("when", "unless", "because", "cite") and prev_start < start:
        before_end = _back(code, prev_start)
        before, before_start = _word_before(code, before_end)
        if code[before_end - 1:before_end] == ",":
            return _trailing_comma(source, text, before_end - 1, prev)
        if before == "because":
            return _because_without_name(source, before_start)
        if before in ("when", "unless"):
            return _err(source, before_start, before_end, f"`{before}` has no condition",
                        f"write the condition after `{before}`, e.g. `{before} jailbreak or pii.email`",
                        "condition expected after this")

    if value == "=" and "COMP_OP" in (err.accepts or err.expected or ()):
        return _err(source, start, end, "`=` is not a comparison; compare with `==`",
                    "write `==` (or `!=`, `<`, `<=`, `>`, `>=`)", "write `==` here")

    if value in ("]", ")", "}") and code[prev_end - 1:prev_end] == ",":
        return _err(source, prev_end - 1, prev_end, f"a `,` before `{value}`: the list has no item after it",
                    "delete the `,`", "trailing comma")

    if tok.type == "NAME" and "`tool_call`" in allowed:
        return _unknown_stage(source, start, end, value)

    if tok.type in ("STRING", "LONG_STRING"):
        if allowed == [_WORDS["REGEX"]]:
            inner = value.strip('"')
            return _err(source, start, end, "a pattern is a regex literal `/.../`, not a string",
                        f"write `/{inner}/`", "regex expected")
        if allowed == ["a number"]:
            return _err(source, start, end, f"`{value}` is a string; a number is expected here",
                        f"write the number without quotes: `{value.strip(chr(34))}`", "number expected")
        if allowed == ["a name"] and prev == "because":
            return _err(source, start, end, "`because` takes principle names, not a string",
                        f"write `because {value.strip(chr(34))}` (a declared `principle`), or `cite {value}` "
                        "to cite free text", "principle name expected")

    if tok.type == "NAME" and all(f"`{a}`" in allowed for a in ACTIONS):
        if "`by`" in allowed or allowed == [f"`{a}`" for a in sorted(ACTIONS)]:
            return _err(source, start, end, f"unknown expected outcome `{value}`",
                        f"{_did_you_mean(value, ACTIONS, 0.5)}a test expects {_ticks(ACTIONS)}", "not an action")
        if text.count("\n", prev_end, start) == 0 and prev:
            return _err(source, start, end, f"`{prev}` and `{value}` need `and` or `or` between them",
                        f"write `{prev} or {value}` or `{prev} and {value}`; an action goes on the next line",
                        "`and` / `or` expected before this")
        return _err(source, start, end, f"unknown action `{value}`",
                    f"{_did_you_mean(value, ACTIONS, 0.5)}a rule's action is {_ticks(ACTIONS)}", "not an action")

    if tok.type == "NAME" and value in ANNOTATIONS and text[end:end + 1] == "(" and "`@`" in allowed:
        return _err(source, start, end, f"annotations start with `@`: `@{value}(...)`",
                    f"write `@{value}{text[end:text.find(')', end) + 1] or '(...)'}`", "`@` missing")

    label = _matching_example(err)
    if label == "rule-without-stage" and prev == "on" and re.match(r"\w*", text[start:]).group() in STAGES:  # `rule on input:`: `on` read as the name
        return _err(source, prev_start, prev_end, "a rule needs a name",
                    "write `rule NAME on input:`, e.g. `rule no_jailbreak on input:`", "name expected before `on`")
    if label == "rule-without-stage":
        return _err(source, start, end, "a rule needs the stages it runs on",
                    "write `rule NAME on input:` or `rule NAME on output:` (also `context`, `tool_call`, "
                    "`tool_result`; several with `,`)", "`on STAGE:` expected before this")
    if label == "rule-without-when":
        return _err(source, start, end, "a rule needs a condition: `when ...`",
                    "write `when CONDITION` on the line after `rule NAME on STAGE:`, e.g. `when jailbreak`",
                    "`when` expected here")
    if label == "rule-without-action":
        return _err(source, start, end, "a rule needs an action after its condition",
                    f"add {_ticks(ACTIONS)} before `{value}`, e.g. `refuse \"I can't help with that.\"`",
                    "action expected before this")
    if label == "because-without-name":
        return _because_without_name(source, prev_start)

    # a line that stops before its end: point after its last character
    if (allowed and len(allowed) <= 3 and text.count("\n", prev_end, start) > 0
            and all(w.startswith("`") or w == "a string" for w in allowed)):
        line = source.span_at(prev_end, prev_end).line
        if "`:`" in allowed:
            return _err(source, prev_end, prev_end, f"missing `:` at the end of line {line}",
                        f"end line {line} with `:`", "`:` expected here")
        return _err(source, prev_end, prev_end, f"line {line} ends before {_join(allowed)}",
                    f"add {_join(allowed)} at the end of line {line}", "expected here")
    return None


def _named_character(source: SourceFile, text: str, pos: int) -> Diagnostic | None:
    ch = text[pos] if pos < len(text) else ""
    if ch == "'":
        close = text.find("'", pos + 1)
        nl = text.find("\n", pos)
        if close != -1 and (nl == -1 or close < nl):
            inner = text[pos + 1:close].replace('"', '\\"')
            return _err(source, pos, close + 1, "strings use double quotes", f'write "{inner}"',
                        "single-quoted string")
        return _err(source, pos, pos + 1, "strings use double quotes", 'write the string as "..."',
                    "single quote")
    if ch in _QUOTES:
        return _err(source, pos, pos + 1, f"`{ch}` ({_QUOTES[ch]}) does not start a string",
                    'strings use straight double quotes `"`: retype the quotes (editors and word processors '
                    "turn them curly)", "not a string quote")
    two = text[pos:pos + 2]
    op = two if two in _OPERATORS else ch if ch in _OPERATORS else None
    if op is not None:
        return _err(source, pos, pos + len(op), f"`{op}` is written `{_OPERATORS[op]}` in policylang",
                    f"write `{_OPERATORS[op]}`", f"write `{_OPERATORS[op]}`")
    if ch == "-" and pos > 0 and _IDENT.match(text[pos - 1]) and _IDENT.match(text[pos + 1:pos + 2] or " "):
        start, end = pos, pos
        while start > 0 and (_IDENT.match(text[start - 1]) or text[start - 1] == "-"):
            start -= 1
        while end < len(text) and (_IDENT.match(text[end]) or text[end] == "-"):
            end += 1
        word = text[start:end]
        return _err(source, pos, pos + 1, f"names cannot hold `-`: `{word}`",
                    f"write `{word.replace('-', '_')}` (letters, digits and `_`); an `@id(\"{word}\")` may hold `-`",
                    "not valid in a name")
    return None


def _unknown_stage(source: SourceFile, start: int, end: int, word: str) -> Diagnostic:
    return _err(source, start, end, f"unknown stage `{word}`",
                f"{_did_you_mean(word, STAGES, 0.5)}a rule runs on {_ticks(STAGES)}", "not a stage")


def _because_without_name(source: SourceFile, at: int) -> Diagnostic:
    return _err(source, at, at + len("because"), "`because` needs a principle name",
                "write `because PRINCIPLE` with a declared `principle`, or drop the line", "principle name expected")


def _trailing_comma(source: SourceFile, text: str, comma: int, keyword: str) -> Diagnostic:
    return _err(source, comma, comma + 1, f"a `,` ends the list, so `{keyword}` was read as a list item",
                "delete the `,` at the end of the list", "trailing comma")
