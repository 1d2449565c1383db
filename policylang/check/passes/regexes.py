"""Regex literals: unknown flags (PL206), invalid regexes (PL201), patterns that match the
empty string (PL202), and negated classes that read like a word (PL304).

Patterns are compiled with the ``regex`` module and the literal's flags: ``i`` (ignore
case), ``s`` (dot matches newline), ``m`` (``^``/``$`` at line breaks), ``u`` (Unicode
classes), ``x`` (verbose). Patterns found broken here are recorded in
``ctx.facts["bad_patterns"]`` so the Hyperscan pass does not report them again.
"""

from __future__ import annotations

import regex

from policylang._source import Span
from policylang.check.checker import CheckContext, error
from policylang.check.passes.hyperscan import simple_regex
from policylang.check.util import qualified
from policylang.syntax import ast

FLAGS = {"i": regex.IGNORECASE, "s": regex.DOTALL, "m": regex.MULTILINE, "u": regex.UNICODE, "x": regex.VERBOSE}
FLAG_WORDS = "`i` (ignore case), `s` (dot matches newline), `m` (multi-line), `u` (Unicode), `x` (verbose)"
VOWELS = set("aeiouyAEIOUY")


def run(ctx: CheckContext):
    bad: set[str] = ctx.facts.setdefault("bad_patterns", set())
    skip = set(bad)  # reported by an earlier pass
    for info in ctx.infos:
        source = info.module.source
        if source.name.startswith("<pack:") and not (info.active and ctx.facts.get("verify_pack_patterns", True)):
            # a built-in pack brought in by `use` (or loaded by `load()`): shipped, and checked
            # in full by its own tests (`policylang check PACK`); re-parsing its regexes on
            # every run cost ~0.5 s
            continue
        for node in info.module.items:
            if isinstance(node, ast.Words):
                fuzzy = node.options.fuzzy or 0
                for w in node.words:
                    if w.value == "":
                        yield error("PL202", f"word list `{node.name.value}` holds an empty phrase", w.span,
                                    help="an empty phrase matches everywhere; remove it")
                    elif len(w.value) <= fuzzy:
                        yield error("PL202", f"phrase `{w.value}` is no longer than `fuzzy {fuzzy}`", w.span,
                                    help="within that edit distance it matches the empty string; "
                                         "lower `fuzzy` or remove the phrase")
                continue
            if not isinstance(node, ast.Pattern):
                continue
            qname = qualified(info, node.name.value)
            if qname in skip:
                continue
            raw = source.text[node.regex_span.start:node.regex_span.end]
            close = raw.rfind("/")
            flags = 0
            flag_ok = True
            for k, ch in enumerate(node.flags):
                if ch not in FLAGS:
                    flag_ok = False
                    at = node.regex_span.start + close + 1 + k
                    yield error("PL206", f"unknown regex flag `{ch}`", source.span_at(at, at + 1),
                                help=f"flags are {FLAG_WORDS}", label="unknown flag")
                elif ch in node.flags[:k]:
                    at = node.regex_span.start + close + 1 + k
                    yield error("PL206", f"regex flag `{ch}` is given twice", source.span_at(at, at + 1),
                                help="give each flag once")
                else:
                    flags |= FLAGS[ch]
            if node.options.nocase:
                flags |= regex.IGNORECASE
            if not flag_ok:
                bad.add(qname)
            if flag_ok and "x" not in node.flags and simple_regex(node.regex):
                # valid and never empty by construction: skip the (slow, pure Python) regex parse
                if info.active:
                    yield from _negated_classes(source, node, raw, close)
                continue
            try:
                compiled = regex.compile(node.regex, flags)
            except regex.error as err:
                bad.add(qname)
                yield error(
                    "PL201", f"pattern `{node.name.value}` is not a valid regex: {_lower(err.msg)}",
                    _error_span(source, node, raw, close, err.pos),
                    help="check the regex syntax; write `\\/` for a slash and `\\\\` for a backslash",
                    label=_lower(err.msg),
                )
                continue
            except (OverflowError, RecursionError, MemoryError, ValueError) as err:
                bad.add(qname)
                yield error("PL201", f"pattern `{node.name.value}` is not a valid regex: {_lower(str(err))}",
                            node.regex_span, help="simplify the regex")
                continue
            if _matches_empty(compiled):
                bad.add(qname)
                yield error(
                    "PL202", f"pattern `{node.name.value}` matches the empty string", node.regex_span,
                    help="it would match at every position of every text; require at least one character "
                         "(e.g. `+` instead of `*`)",
                    label="can match nothing",
                )
            if info.active:
                yield from _negated_classes(source, node, raw, close)


def _lower(msg: str | None) -> str:
    msg = (msg or "invalid pattern").strip().rstrip(".")
    return msg[:1].lower() + msg[1:]


def _matches_empty(compiled) -> bool:
    try:
        return compiled.search("", timeout=0.2) is not None
    except TimeoutError:
        return False


def _body_to_raw(raw: str, close: int, pos: int) -> int:
    """Offset in the literal text (slashes included) of offset ``pos`` in the unescaped body."""
    i, b = 1, 0
    while i < close and b < pos:
        i += 2 if raw.startswith("\\/", i) else 1
        b += 1
    return i


def _error_span(source, node: ast.Pattern, raw: str, close: int, pos) -> Span:
    if pos is None:
        return node.regex_span
    at = node.regex_span.start + min(_body_to_raw(raw, close, pos), close)
    return source.span_at(at, at + 1)


def _negated_classes(source, node: ast.Pattern, raw: str, close: int):
    """PL304: ``[^company.com]`` excludes letters, not the word ``company``."""
    body = raw[1:close]
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if c != "[":
            i += 1
            continue
        # a character class starts at i
        j = i + 1
        negated = j < n and body[j] == "^"
        if negated:
            j += 1
        start_content = j
        if j < n and body[j] == "]":  # `[]...]` / `[^]...]`: a literal bracket first
            j += 1
        while j < n and body[j] != "]":
            if body[j] == "\\":
                j += 2
            elif body[j] == "[" and body.startswith("[:", j):
                end = body.find(":]", j + 2)
                j = end + 2 if end >= 0 else j + 1
            else:
                j += 1
        content = body[start_content:j]
        if negated:
            word = _wordish_run(content)
            if word is not None:
                at = node.regex_span.start + 1 + i
                end = node.regex_span.start + 1 + min(j + 1, n)
                yield error(
                    "PL304", f"negated class `[^{content}]` excludes single characters, not the word `{word}`",
                    source.span_at(at, end),
                    help=f"`[^...]` matches one character that is none of those listed; to exclude `{word}` "
                         f"use a negative lookahead like `(?!{word})` or an `unless` clause",
                    label="a set of characters, not a word",
                )
        i = j + 1


def _wordish_run(content: str) -> str | None:
    """The longest run of 4+ ASCII letters (not escapes, not ranges) with a vowel and a consonant."""
    best = None
    k, n = 0, len(content)
    run_start = None
    runs = []
    while k < n:
        ch = content[k]
        if ch == "\\":
            if run_start is not None:
                runs.append(content[run_start:k])
                run_start = None
            k += 2
            continue
        in_range = (k + 1 < n and content[k + 1] == "-") or (k > 0 and content[k - 1] == "-")
        if ch.isascii() and ch.isalpha() and not in_range:
            if run_start is None:
                run_start = k
        else:
            if run_start is not None:
                runs.append(content[run_start:k])
                run_start = None
        k += 1
    if run_start is not None:
        runs.append(content[run_start:])
    for r in runs:
        if len(r) >= 4 and any(c in VOWELS for c in r) and any(c not in VOWELS for c in r):
            if len(set(r.lower())) >= 3 and (best is None or len(r) > len(best)):
                best = r
    return best
