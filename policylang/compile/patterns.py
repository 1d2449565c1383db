"""Build the one Hyperscan database that holds every pattern, literal and word list.

Each :class:`PatternSpec` becomes one Hyperscan expression (ids are the spec ids) and,
when needed, one :mod:`regex` pattern with the same meaning. The per-spec strategy
("kind") is picked here; :mod:`policylang.runtime.scan` runs it.

Kinds (block mode)
------------------
``SOM``      ``spans=True`` and Hyperscan accepts ``HS_FLAG_SOM_LEFTMOST``: exact start and
             end from Hyperscan, no regex at scan time.
``NOSOM``    ``spans=True`` but SOM fails (usually "Pattern is too large", e.g. ``\\S+@\\S+``
             with ``ucp``): compiled without SOM; Hyperscan reports every end offset and the
             starts are found with :mod:`regex` over a bounded window ending at those ends
             (``PL403`` warning).
``SINGLE``   ``spans=False``: ``HS_FLAG_SINGLEMATCH`` (cheapest); the first hit's span is
             found with :mod:`regex` only for specs that fired.
``LATE``     block mode, a ``spans=True`` regex (or fuzzy literal): ``HS_FLAG_SINGLEMATCH`` in
             the main database, like a detection, plus a database of its own compiled with
             ``HS_FLAG_SOM_LEFTMOST`` that is scanned over a text only when the spec fired
             there, for the exact spans. Tracking the leftmost start at every position costs
             a whole-database scan 2-20x per pattern for shapes that start with a class run
             (``[\\w.+-]+@...``, ``\\b[a-z0-9_]*(?:password|...)``: measured on the reference
             workload, the three packs' database scanned in 24.9 µs a message with SOM and
             14.3 µs without); most texts hold no match, so they no longer pay for it.
``CONFIRM``  Hyperscan refuses the pattern (back-references, lookaround, atomic groups,
             possessive quantifiers, ``\\b`` with ``ucp``...): compiled with
             ``HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH``; when a candidate fires, the real
             regex runs over that text (``PL402`` warning). A ``wholeword fuzzy`` literal
             with ``ucp`` uses this path too (Hyperscan rejects ``\\b`` in UCP mode), silently.
``TAIL``     stream mode only: the spec cannot be compiled for streaming at all; the regex
             runs over the retained tail of the stream after every chunk.

Flag choices
------------
* ``HS_FLAG_UTF8`` is always on (except for ``fuzzy`` specs: Hyperscan refuses UTF-8 with
  approximate matching, so those are byte-oriented and the edit distance counts bytes), so
  ``.`` and classes consume whole characters and matches end on character boundaries.
  UTF8 combines with SOM; some patterns only get "Pattern is too large" (then ``NOSOM``).
* ``HS_FLAG_UCP`` only when ``spec.ucp``. Without it ``\\w``/``\\d``/``\\s``/``\\b`` are ASCII in
  both engines (``regex.ASCII``). Hyperscan's caseless matching folds non-ASCII letters
  (simple folding) even without UCP, ``regex.ASCII`` does not, so caseless non-ASCII
  literals are compiled for regex without ``ASCII`` (literals have no classes, and their
  wholeword guards use explicit ASCII classes), and caseless non-ASCII *regexes* get a
  second, Unicode-folding regex used when the ASCII one cannot explain a Hyperscan hit.
* ``caseless``/``dotall``/``multiline`` map to ``HS_FLAG_CASELESS``/``DOTALL``/``MULTILINE``
  and ``regex.IGNORECASE``/``DOTALL``/``MULTILINE``.
* Expressions are handed to Hyperscan as ASCII only: non-ASCII characters and NUL become
  ``\\x{...}`` (the binding passes a C string, so a raw NUL would truncate the pattern).
  Literals are escaped into the regex API (every non-word character as ``\\x{...}``) so that
  all specs share one ``hs_compile_ext_multi`` database. ``wholeword`` literals are compiled
  bare, with SOM (every occurrence, exact start), and "no word character touches it" is
  checked on the bytes around each hit by the scanner (:func:`edge_literal`): a ``\\b``
  wrapper makes each word a regex, and a large list takes minutes to compile. Only
  ``wholeword fuzzy`` literals keep ``\\b``/``\\B`` on each side (``\\b`` when the edge
  character is a word character).

Compilation: all specs are first compiled together optimistically (SOM / SINGLEMATCH). If
that fails, each spec is compiled alone to pick its kind and to name the culprits (the
Hyperscan error does not say which pattern failed). Specs that cannot be compiled at all
(``PL201``/``PL202``/``PL401``) raise :class:`PatternSetError` naming every one.

Disk cache: the serialized database (``hyperscan.dumpb``) plus a JSON header (mode, kinds,
warnings, digests) is stored under ``sha256(spec fields, hyperscan version, mode, machine,
CPU features, format version)``. A file that is corrupt, truncated, for another version or
unreadable is ignored and rewritten (tmp file + ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import platform
import struct
import sys
import tempfile
import unicodedata
import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Sequence

import hyperscan as hs
import regex

__all__ = [
    "PatternSpec",
    "PatternProblem",
    "PatternSetError",
    "check_pattern",
    "PatternDatabase",
    "compile_pattern_database",
    "top_level_branches",
]

# --------------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """One pattern, literal or word of a loaded policy set.

    ``id`` is dense (0..n-1) and indexes the caller's matcher table. ``expression`` is a
    regex in Python ``regex``/PCRE syntax, or plain text when ``literal`` is true.
    ``spans=False`` marks a detection-only spec (cheaper); its first hit still has a
    correct span. Detection-only specs with the same ``group`` (>= 0) are the top-level
    alternatives of one pattern (:func:`top_level_branches`): a scan reports only the one
    whose first match ends first, as the whole pattern's first hit would be.
    """

    id: int
    expression: str
    literal: bool = False
    caseless: bool = False
    dotall: bool = False
    multiline: bool = False
    ucp: bool = False
    wholeword: bool = False
    fuzzy: int = 0
    spans: bool = True
    group: int = -1


@dataclass(frozen=True, slots=True)
class PatternProblem:
    """What is wrong with, or degraded about, one pattern (code ``PL2xx``/``PL4xx``)."""

    code: str
    message: str


class PatternSetError(Exception):
    """Some specs cannot be compiled at all; ``problems`` lists ``(spec id, problem)``."""

    def __init__(self, problems: Sequence[tuple[int, PatternProblem]]):
        self.problems: list[tuple[int, PatternProblem]] = list(problems)
        lines = [f"pattern {i}: {p.code} {p.message}" for i, p in self.problems[:5]]
        if len(self.problems) > 5:
            lines.append(f"and {len(self.problems) - 5} more")
        super().__init__("; ".join(lines) if lines else "patterns cannot be compiled")

    def __reduce__(self):
        return (PatternSetError, (self.problems,))


# --------------------------------------------------------------------------- kinds

SOM, NOSOM, SINGLE, CONFIRM, TAIL, LATE = 0, 1, 2, 3, 4, 5
KIND_NAMES = ("som", "nosom", "single", "confirm", "tail", "late")

#: characters of regex context searched before a Hyperscan end when a start must be found
#: by regex and the pattern's width is unbounded
DEFAULT_WINDOW = 4096

_FORMAT = 3  # 2: match widths in the header; 3: the LATE specs' own databases after the main one
_MAGIC = b"PLHS\x01"
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ASCII_WORD_CLASS = "[0-9A-Za-z_]"
_PROBES = (
    "",
    "a",
    "\n",
    "a b\nA1_-.,;:!?\t\"'()[]{}<>/\\|@#$%^&*+=~` x\u00e9\u00a0\u00df\u65e5\U0001f642\x00z\r\n9",
)


def _clean(msg: object) -> str:
    """An error text as a diagnostic fragment: one line, no final period."""
    text = " ".join(str(msg).split())
    return text[:-1] if text.endswith(".") else text


# --------------------------------------------------------------------------- regex side


def _leading_flags(pattern: str) -> tuple[str, str]:
    """Split global inline flags such as ``(?i)`` off the front of ``pattern``."""
    m = regex.match(r"\(\?[aiLmsuxV0-9]+\)", pattern)
    if m is None:
        return "", pattern
    return m.group(0), pattern[m.end() :]


# A detection-only regex at least this long is split into its top-level alternatives.
SPLIT_MIN_CHARS = 256
_SAFE_GROUPS = ("(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>")
# back-references, named lists and quoting tie a branch to the rest of the pattern
_UNSPLITTABLE = regex.compile(r"\\(?:[1-9]|[gkNQ])")


def top_level_branches(pattern: str) -> list[str] | None:
    """The top-level alternatives of ``pattern`` (``a|b(c|d)`` -> ``["a", "b(c|d)"]``), each
    with the pattern's leading inline flags, or None when it has none or its syntax does
    not allow a safe split (verbose flag, named or conditional groups, back-references,
    POSIX classes, unbalanced parentheses).

    A detection-only pattern fires when any of its alternatives does, so each alternative
    can be a Hyperscan expression of its own: Hyperscan then says which one fired, and the
    first hit's span is found with that alternative's (small) regex instead of the whole
    one's. Compiling a jailbreak-pack pattern for :mod:`regex` (forwards and reversed) took
    ~20-45 ms at its first hit in each process; one alternative takes ~1 ms.
    """
    head, body = _leading_flags(pattern)
    if "x" in head or "[:" in body or _UNSPLITTABLE.search(body):
        return None
    out: list[str] = []
    depth = start = i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # a class: "|" and parentheses inside are literal
            i += 1
            if i < n and body[i] == "^":
                i += 1
            if i < n and body[i] == "]":
                i += 1
            while i < n and body[i] != "]":
                i += 2 if body[i] == "\\" else 1
            if i >= n:
                return None
        elif c == "(":
            if body.startswith("(?", i) and not body.startswith(_SAFE_GROUPS, i):
                return None
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return None
        elif c == "|" and depth == 0:
            out.append(body[start:i])
            start = i + 1
        i += 1
    out.append(body[start:])
    if depth or len(out) < 2 or not all(out):
        return None
    return [head + b for b in out]


def _regex_flags(spec: PatternSpec, *, unicode: bool = False) -> int:
    flags = regex.V0
    if spec.caseless:
        flags |= regex.IGNORECASE
    if spec.dotall:
        flags |= regex.DOTALL
    if spec.multiline:
        flags |= regex.MULTILINE
    if not spec.ucp and not unicode and not spec.literal:
        flags |= regex.ASCII
    return flags


def regex_source(spec: PatternSpec) -> tuple[str, int]:
    """The :mod:`regex` pattern and flags with the same meaning as the Hyperscan expression."""
    if spec.literal:
        body = regex.escape(spec.expression)
        if spec.fuzzy:
            body = f"(?:{body}){{e<={spec.fuzzy}}}"
        if spec.wholeword:
            word = r"\w" if spec.ucp else _ASCII_WORD_CLASS
            body = f"(?<!{word})(?:{body})(?!{word})"
        # literals carry no classes: Unicode case folding, like Hyperscan's caseless
        return body, _regex_flags(spec)
    pattern = spec.expression
    if spec.fuzzy:
        head, rest = _leading_flags(pattern)
        pattern = f"{head}(?:{rest}){{e<={spec.fuzzy}}}"
    return pattern, _regex_flags(spec)


def regex_fallback_source(spec: PatternSpec) -> tuple[str, int] | None:
    """A Unicode-folding twin for caseless, non-UCP regexes with non-ASCII text (see module doc)."""
    if spec.literal or spec.ucp or not spec.caseless or spec.expression.isascii():
        return None
    pattern, _ = regex_source(spec)
    return pattern, _regex_flags(spec, unicode=True)


def compile_regex(spec: PatternSpec) -> Any:
    pattern, flags = regex_source(spec)
    return regex.compile(pattern, flags)


def _matches_empty(rx: Any) -> bool:
    for probe in _PROBES:
        for m in rx.finditer(probe):
            if m.start() == m.end():
                return True
    return False


def _max_width(spec: PatternSpec) -> int | None:
    """An upper bound on a match's length in characters, None when unbounded or unknown."""
    if spec.literal:
        return len(spec.expression) + spec.fuzzy
    try:
        if sys.version_info >= (3, 11):
            import re._parser as sre_parse  # type: ignore[import-not-found]
        else:  # pragma: no cover
            import sre_parse  # type: ignore[no-redef]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hi = sre_parse.parse(spec.expression).getwidth()[1]
    except Exception:
        return None
    if hi >= 1 << 20:
        return None
    return hi + spec.fuzzy


def window_for(spec: PatternSpec, width: int | None = -1) -> int:
    """Characters of text searched before a Hyperscan end to find the start with regex."""
    if width == -1:
        width = _max_width(spec)
    return DEFAULT_WINDOW if width is None else max(width, 1)


# --------------------------------------------------------------------------- Hyperscan side


class _NotExpressible(ValueError):
    pass


def _escape_char(ch: str, utf8: bool) -> str:
    if utf8 or ord(ch) < 0x80:
        return "\\x{%x}" % ord(ch)
    return "(?:" + "".join("\\x%02x" % b for b in ch.encode("utf-8", "surrogatepass")) + ")"


_ASCII_ESCAPES = {c: "\\x{%x}" % c for c in range(128) if chr(c) not in _ASCII_WORD}


def _literal_body(text: str, utf8: bool) -> str:
    if text.isascii():  # the common case, in C (large word lists)
        return text.translate(_ASCII_ESCAPES)
    return "".join(ch if ch in _ASCII_WORD else _escape_char(ch, utf8) for ch in text)


_PY_ONLY = ("\\u", "\\U", "\\N", "\\Z", "{,")
_HEX = frozenset("0123456789abcdefABCDEF")


def _to_hs_regex(pattern: str, utf8: bool) -> str:
    """Rewrite a Python ``regex`` pattern as pure-ASCII PCRE for Hyperscan.

    NUL and non-ASCII characters become ``\\x{...}`` (the binding passes a C string); the
    Python-only spellings ``\\uXXXX``, ``\\UXXXXXXXX``, ``\\N{NAME}``, ``\\Z`` (absolute end, PCRE
    ``\\z``) and ``{,n}`` (PCRE reads it as text) get their PCRE equivalents.
    """
    if pattern.isascii() and "\x00" not in pattern and not any(t in pattern for t in _PY_ONLY):
        return pattern
    out: list[str] = []

    def code_point(code: int) -> None:
        if code >= 0x80 and not utf8:
            raise _NotExpressible("approximate (fuzzy) regexes cannot hold non-ASCII characters; use a word list")
        out.append("\\x{%x}" % code)

    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            width = 4 if nxt == "u" else 8 if nxt == "U" else 0
            if width and i + 2 + width <= n and all(c in _HEX for c in pattern[i + 2 : i + 2 + width]):
                code_point(int(pattern[i + 2 : i + 2 + width], 16))
                i += 2 + width
                continue
            if nxt == "N" and pattern.startswith("{", i + 2) and pattern.find("}", i + 3) > 0:
                close = pattern.find("}", i + 3)
                try:
                    code_point(ord(unicodedata.lookup(pattern[i + 3 : close])))
                    i = close + 1
                    continue
                except KeyError:
                    pass  # Hyperscan will refuse it, as regex does
            if nxt == "Z" and not in_class:
                out.append("\\z")
            elif nxt == "\x00" or ord(nxt) >= 0x80:
                code_point(ord(nxt))
            else:
                out.append(ch + nxt)
            i += 2
            continue
        if ch == "\x00" or ord(ch) >= 0x80:
            code_point(ord(ch))
            i += 1
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch == "[" and pattern.startswith("[:", i):
                close = pattern.find(":]", i + 2)
                if close > 0:
                    out.append(pattern[i : close + 2])
                    i = close + 2
                    continue
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1  # a leading ] is a member
            out.append(pattern[i:j])
            in_class = True
            i = j
            continue
        if ch == "{" and pattern.startswith("{,", i):
            m = regex.match(r"\{,(\d+)\}", pattern[i:])
            if m is not None:
                out.append("{0,%s}" % m.group(1))
                i += m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


_UTF8_ESCAPES = frozenset("SWDHVNPpXCxoRuUcg0123456789")


def _needs_utf8(spec: PatternSpec) -> bool:
    """Whether HS_FLAG_UTF8 can change what this spec matches.

    A pattern made only of ASCII literals, ASCII classes (no negation, no ``.``) and
    non-UCP shorthands (``\\w``, ``\\d``, ``\\s``, ``\\b``) can only match ASCII bytes, so it
    matches the same with or without UTF8, and compiles much faster and smaller without.
    """
    if spec.fuzzy:
        return False
    if spec.ucp or not spec.expression.isascii() or "\x00" in spec.expression:
        return True
    if spec.literal:
        return False
    p = spec.expression
    i, n = 0, len(p)
    in_class = False
    while i < n:
        ch = p[i]
        if ch == "\\":
            if i + 1 < n and p[i + 1] in _UTF8_ESCAPES:
                return True
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch == "[" and p.startswith("[:^", i):
                return True
            i += 1
            continue
        if ch == ".":
            return True
        if ch == "[":
            j = i + 1
            if j < n and p[j] == "^":
                return True
            if j < n and p[j] == "]":
                j += 1  # a leading ] is a literal member
            in_class = True
            i = j
            continue
        i += 1
    return False


def hs_expression(spec: PatternSpec, kind: int, *, stream: bool = False) -> tuple[bytes, int, tuple]:
    """Expression bytes, flags and ext tuple for ``spec`` compiled as ``kind``."""
    utf8 = _needs_utf8(spec)
    if spec.literal:
        body = _literal_body(spec.expression, utf8)
        if spec.wholeword and not spec.ucp and spec.fuzzy:
            first, last = spec.expression[0], spec.expression[-1]
            body = ("\\b" if first in _ASCII_WORD else "\\B") + body + ("\\b" if last in _ASCII_WORD else "\\B")
        expr = body
    else:
        expr = _to_hs_regex(spec.expression, utf8)
    flags = hs.HS_FLAG_UTF8 if utf8 else 0
    if spec.caseless:
        flags |= hs.HS_FLAG_CASELESS
    if spec.dotall:
        flags |= hs.HS_FLAG_DOTALL
    if spec.multiline:
        flags |= hs.HS_FLAG_MULTILINE
    if spec.ucp and utf8:
        flags |= hs.HS_FLAG_UCP
    if kind == SOM:
        flags |= hs.HS_FLAG_SOM_LEFTMOST
    elif kind == SINGLE or kind == LATE:
        flags |= hs.HS_FLAG_SINGLEMATCH
    elif kind == CONFIRM:
        if not spec.literal:
            flags |= hs.HS_FLAG_PREFILTER
        if not stream:
            flags |= hs.HS_FLAG_SINGLEMATCH
    ext = (hs.HS_EXT_FLAG_EDIT_DISTANCE, 0, 0, 0, spec.fuzzy, 0) if spec.fuzzy else (0, 0, 0, 0, 0, 0)
    return expr.encode("ascii"), flags, ext


def _internal_confirm(spec: PatternSpec) -> bool:
    """Specs that always go through regex confirmation, with no warning."""
    return spec.literal and spec.wholeword and spec.ucp and bool(spec.fuzzy)


def edge_literal(spec: PatternSpec) -> bool:
    """A ``wholeword`` literal without ``fuzzy``: compiled as the bare literal (SOM), its word
    boundaries checked in Python on each hit (see :mod:`policylang.runtime.scan`).

    Wrapping each word in ``\\b...\\b`` turns a literal set Hyperscan compiles in seconds into
    100k separate regexes (measured: 5k words 15 s, 100k words > 300 s); bare literals with
    SOM compile 100k words in about 5 s.
    """
    return spec.literal and spec.wholeword and not spec.fuzzy


def _late_candidate(spec: PatternSpec) -> bool:
    """A spec whose spans block mode finds with its own SOM database, after it fired
    (:data:`LATE`): a regex or a fuzzy literal with ``spans``. A plain literal's start is
    its end minus its length, which SOM tracks for free."""
    return spec.spans and (not spec.literal or bool(spec.fuzzy))


def _optimistic_kind(spec: PatternSpec, stream: bool = False) -> int:
    if _internal_confirm(spec):
        return CONFIRM
    if not stream and _late_candidate(spec):
        return LATE
    return SOM if spec.spans or edge_literal(spec) else SINGLE


def stream_mode(kinds: Sequence[int]) -> int:
    mode = hs.HS_MODE_STREAM
    if SOM in kinds:
        mode |= hs.HS_MODE_SOM_HORIZON_LARGE
    return mode


def build_database(specs: Sequence[PatternSpec], kinds: Sequence[int], mode: int) -> hs.Database | None:
    """Compile the specs whose kind uses Hyperscan into one database (None when there is none)."""
    stream = bool(mode & hs.HS_MODE_STREAM)
    exprs, ids, flags, exts = [], [], [], []
    for spec, kind in zip(specs, kinds):
        if kind == TAIL:
            continue
        e, f, x = hs_expression(spec, kind, stream=stream)
        exprs.append(e)
        ids.append(spec.id)
        flags.append(f)
        exts.append(x)
    if not exprs:
        return None
    db = hs.Database(mode=mode)
    any_ext = any(x[0] for x in exts)
    db.compile(expressions=exprs, ids=ids, flags=flags, ext=exts if any_ext else None)
    return db


def _try(spec: PatternSpec, kind: int, mode: int) -> str | None:
    """Compile one spec alone; the error text, or None when it compiles."""
    try:
        build_database([spec], [kind], mode)
    except _NotExpressible as exc:
        return _clean(exc)
    except hs.error as exc:
        return _clean(exc)
    except (TypeError, ValueError, UnicodeError) as exc:
        return _clean(exc)
    return None


def _is_empty_error(msg: str) -> bool:
    return "empty buffer" in msg or "vacuous" in msg


def classify(spec: PatternSpec, mode: int = hs.HS_MODE_BLOCK) -> tuple[int | None, list[PatternProblem]]:
    """Pick the kind of one spec by compiling it alone in ``mode``.

    Returns ``(kind, problems)``; ``kind`` is None when the spec cannot be compiled at all
    (then ``problems`` holds the error). Block mode never returns ``TAIL``.
    """
    stream = bool(mode & hs.HS_MODE_STREAM)
    problems: list[PatternProblem] = []
    if _internal_confirm(spec):
        err = _try(spec, CONFIRM, mode)
        if err is None:
            return CONFIRM, problems
        return _fail(spec, err, stream)
    first = SOM if spec.spans or edge_literal(spec) else SINGLE
    err1 = _try(spec, first, mode | (hs.HS_MODE_SOM_HORIZON_LARGE if stream and first == SOM else 0))
    if err1 is None:
        if first == SOM and not stream and _late_candidate(spec) and _try(spec, LATE, mode) is None:
            return LATE, problems  # compiles with SOM alone: its own database will
        return first, problems
    if _is_empty_error(err1) or "Start of match is not currently supported for patterns which match an empty" in err1:
        return None, [PatternProblem("PL202", "the pattern matches the empty string")]
    if first == SOM:
        err2 = _try(spec, NOSOM, mode)
        if err2 is None:
            problems.append(
                PatternProblem(
                    "PL403",
                    f"hyperscan cannot report where matches of this pattern start ({err1}); "
                    "the start is found with regex instead",
                )
            )
            return NOSOM, problems
    else:
        err2 = err1
    if _is_empty_error(err2):
        return None, [PatternProblem("PL202", "the pattern matches the empty string")]
    err3 = _try(spec, CONFIRM, mode)
    if err3 is None:
        problems.append(
            PatternProblem(
                "PL402",
                f"hyperscan cannot compile this pattern ({err2}); it is prefiltered by hyperscan "
                "and confirmed with regex, which is slower",
            )
        )
        return CONFIRM, problems
    return _fail(spec, err2 if not _is_empty_error(err3) else err3, stream)


def _fail(spec: PatternSpec, err: str, stream: bool) -> tuple[int | None, list[PatternProblem]]:
    if stream:
        return TAIL, [
            PatternProblem(
                "PL402",
                f"hyperscan cannot compile this pattern for streaming ({err}); "
                "streams confirm it with regex over the retained tail",
            )
        ]
    if _is_empty_error(err):
        return None, [PatternProblem("PL202", "the pattern matches the empty string")]
    return None, [PatternProblem("PL401", f"hyperscan cannot compile this pattern: {err}")]


def _regex_problems(spec: PatternSpec) -> list[PatternProblem]:
    """PL201/PL202 found by the regex engine alone (no Hyperscan)."""
    if spec.fuzzy < 0:
        return [PatternProblem("PL201", "the edit distance cannot be negative")]
    if spec.literal:
        if spec.expression == "" or len(spec.expression) <= spec.fuzzy:
            return [PatternProblem("PL202", "the pattern matches the empty string")]
        return []
    try:
        rx = compile_regex(spec)
    except Exception as exc:  # regex.error, OverflowError, RecursionError...
        return [PatternProblem("PL201", f"invalid regular expression: {_clean(exc)}")]
    try:
        if _matches_empty(rx):
            return [PatternProblem("PL202", "the pattern matches the empty string")]
    except Exception:  # pragma: no cover - probes are tiny
        pass
    return []


def check_pattern(spec: PatternSpec, *, cache_dir: str | os.PathLike | None | bool = None) -> list[PatternProblem]:
    """Compile ``spec`` alone (regex, then Hyperscan) and say what is wrong or degraded.

    Errors: ``PL201`` invalid regex, ``PL202`` matches the empty string, ``PL401``
    Hyperscan cannot compile it at all. Warnings: ``PL402`` regex confirmation path,
    ``PL403`` start of match found by regex. Never raises.
    """
    try:
        problems = _regex_problems(spec)
        if problems:
            return problems
        # Compiling one large pattern can take seconds; going through compile_pattern_database
        # puts the verdict in the on-disk database cache, so the next check is instant.
        try:
            compiled = compile_pattern_database([dataclasses.replace(spec, id=0)], cache_dir=cache_dir)
        except PatternSetError as err:
            return [p for _, p in err.problems]
        return [p for _, p in compiled.warnings]
    except Exception as exc:  # the checker must never crash on a pattern
        return [PatternProblem("PL901", f"internal error while checking this pattern: {_clean(exc)}")]


# --------------------------------------------------------------------------- compile


def _classify_all(specs: Sequence[PatternSpec], mode: int) -> list[tuple[int | None, list[PatternProblem]]]:
    """:func:`classify` each spec; Hyperscan compiles release the GIL, so use the cores."""
    workers = min(len(specs), os.cpu_count() or 1, 8)
    if workers <= 1 or len(specs) < 4:
        return [classify(s, mode) for s in specs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="policylang-hs") as pool:
        return list(pool.map(lambda s: classify(s, mode), specs))


def _build_side(specs: Sequence[PatternSpec], kinds: Sequence[int], mode: int) -> dict[int, Any]:
    """The own SOM database of each :data:`LATE` spec, by spec id (None where SOM fails)."""
    late = [specs[i] for i, k in enumerate(kinds) if k == LATE]

    def one(spec: PatternSpec):
        try:
            return build_database([spec], [SOM], mode)
        except (hs.error, _NotExpressible, TypeError, ValueError, UnicodeError):
            return None

    workers = min(len(late), os.cpu_count() or 1, 8)
    if workers <= 1 or len(late) < 4:
        return {s.id: one(s) for s in late}
    from concurrent.futures import ThreadPoolExecutor  # Hyperscan compiles release the GIL

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="policylang-hs") as pool:
        return dict(zip((s.id for s in late), pool.map(one, late)))


def plan_database(specs: Sequence[PatternSpec], mode: int
                  ) -> tuple[hs.Database | None, list[int], list[tuple[int, PatternProblem]], dict[int, Any]]:
    """Kinds, database and the :data:`LATE` specs' own databases (``{spec id: db}``) for
    ``specs`` in ``mode``; raises :class:`PatternSetError`."""
    db, kinds, warnings = _plan_main(specs, mode)
    if LATE not in kinds:
        return db, kinds, warnings, {}
    side = _build_side(specs, kinds, mode)
    failed = [i for i, d in side.items() if d is None]
    if failed:  # SOM alone fails (rare: the optimistic pass did not compile them alone)
        for i, (kind, problems) in zip(failed, _classify_all([specs[i] for i in failed], mode)):
            kinds[i] = kind if kind is not None else NOSOM
            warnings.extend((i, p) for p in problems)
            del side[i]
        db = build_database(specs, kinds, mode)
    return db, kinds, warnings, side


def _plan_main(specs: Sequence[PatternSpec], mode: int) -> tuple[hs.Database | None, list[int], list[tuple[int, PatternProblem]]]:
    stream = bool(mode & hs.HS_MODE_STREAM)
    kinds = [_optimistic_kind(s, stream) for s in specs]
    warnings: list[tuple[int, PatternProblem]] = []
    if not specs:
        return None, kinds, warnings

    def attempt() -> tuple[hs.Database | None, str | None]:
        m = stream_mode(kinds) if stream else mode
        try:
            return build_database(specs, kinds, m), None
        except (hs.error, _NotExpressible, TypeError, ValueError, UnicodeError) as exc:
            return None, _clean(exc)

    db, err = attempt()
    if err is None:
        return db, kinds, warnings
    # find the culprits: regexes first (literals rarely fail), then literals
    errors: list[tuple[int, PatternProblem]] = []
    for group in (False, True):
        todo = [(idx, spec) for idx, spec in enumerate(specs) if spec.literal == group]
        for (idx, spec), (kind, problems) in zip(todo, _classify_all([s for _, s in todo], mode)):
            if kind is None:
                errors.extend((spec.id, p) for p in problems)
            else:
                kinds[idx] = kind
                warnings.extend((spec.id, p) for p in problems)
        if errors:
            raise PatternSetError(errors)
        db, err = attempt()
        if err is None:
            return db, kinds, warnings
    # every spec compiles alone but not together: find the first prefix that fails
    lo, hi = 1, len(specs)
    while lo < hi:
        mid = (lo + hi) // 2
        m = stream_mode(kinds[:mid]) if stream else mode
        try:
            build_database(specs[:mid], kinds[:mid], m)
            lo = mid + 1
        except Exception:
            hi = mid
    culprit = specs[lo - 1]
    raise PatternSetError(
        [(culprit.id, PatternProblem("PL401", f"hyperscan cannot compile this pattern together with the others: {err}"))]
    )


def _validate_ids(specs: Sequence[PatternSpec]) -> None:
    for idx, spec in enumerate(specs):
        if not isinstance(spec, PatternSpec) or not isinstance(spec.expression, str):
            raise TypeError(f"spec at index {idx} is not a PatternSpec with a str expression")
        if spec.id != idx:
            raise ValueError(f"pattern ids must be dense 0..n-1 in order; spec at index {idx} has id {spec.id}")


_spec_row = operator.attrgetter(*(f.name for f in fields(PatternSpec)))  # every field, in order


def specs_digest(specs: Sequence[PatternSpec]) -> str:
    rows = [_spec_row(s) for s in specs]
    payload = json.dumps(rows, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


_CPU_TAG: str | None = None


def _cpu_tag() -> str:
    global _CPU_TAG
    if _CPU_TAG is None:
        tag = ""
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("flags"):
                        have = set(line.split(":", 1)[1].split())
                        tag = ",".join(f for f in ("ssse3", "sse4_2", "popcnt", "avx2", "bmi2", "avx512f", "avx512bw", "avx512vbmi") if f in have)
                        break
        except OSError:
            pass
        _CPU_TAG = tag
    return _CPU_TAG


_CODE_DIGEST: str | None = None


def _code_digest() -> str:
    """Digest of this module's source: what it hands Hyperscan and the widths it stores.

    A change in the translation, in the kinds or in the width analysis misses the cache
    without anyone remembering to bump ``_FORMAT``.
    """
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        try:
            with open(__file__, "rb") as fh:
                _CODE_DIGEST = hashlib.sha256(fh.read()).hexdigest()
        except OSError:  # pragma: no cover - a zipped install
            from importlib.metadata import version

            _CODE_DIGEST = "policylang-" + version("policylang")
    return _CODE_DIGEST


def cache_key(specs: Sequence[PatternSpec], mode: int, digest: str | None = None) -> str:
    parts = [
        str(_FORMAT),
        digest or specs_digest(specs),
        _code_digest(),
        str(getattr(hs, "__version__", "?")),
        str(getattr(regex, "__version__", "?")),
        "py%d.%d" % sys.version_info[:2],  # the match widths come from this Python's sre parser
        str(mode),
        platform.machine(),
        _cpu_tag(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def resolve_cache_dir(cache_dir: str | os.PathLike | None | bool) -> str | None:
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        env = os.environ.get("POLICYLANG_CACHE_DIR")
        if env:
            return env
        import platformdirs  # honours XDG_CACHE_HOME (Linux), ~/Library/Caches (macOS), %LOCALAPPDATA%

        return os.path.join(platformdirs.user_cache_dir("policylang", appauthor=False), "hs")
    return os.fspath(cache_dir)


#: The database cache is trimmed to this size (least recently used first) after each write;
#: ``$POLICYLANG_CACHE_MAX_MB`` overrides it.
DEFAULT_CACHE_MAX_BYTES = 256 * 1024 * 1024


def cache_max_bytes() -> int:
    raw = os.environ.get("POLICYLANG_CACHE_MAX_MB")
    try:
        return int(float(raw) * 1024 * 1024) if raw else DEFAULT_CACHE_MAX_BYTES
    except ValueError:
        return DEFAULT_CACHE_MAX_BYTES


def evict(directory: str, max_bytes: int | None = None, keep: str | None = None) -> int:
    """Delete least recently used ``*.hsdb`` files until the folder holds at most
    ``max_bytes`` (never ``keep``, the file just written). Returns the bytes freed."""
    limit = cache_max_bytes() if max_bytes is None else max_bytes
    entries = []
    try:
        with os.scandir(directory) as it:
            for e in it:
                if e.name.endswith(".hsdb") and e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, e.path))
    except OSError:
        return 0
    total = sum(size for _, size, _ in entries)
    freed = 0
    for _, size, path in sorted(entries):
        if total - freed <= limit:
            break
        if keep is not None and os.path.abspath(path) == os.path.abspath(keep):
            continue
        try:
            os.unlink(path)
            freed += size
        except OSError:
            pass
    return freed


def pack(digest: str, mode: int, kinds: Sequence[int], warnings: Sequence[tuple[int, PatternProblem]], blob: bytes,
         widths: Sequence[int | None], side: dict[int, bytes] | None = None) -> bytes:
    """The cache file (and shipping) format: magic, a JSON header, the main database's
    serialized bytes, then each :data:`LATE` spec's own database (``side``: spec id -> bytes)."""
    side = side or {}
    tail = b"".join(side[i] for i in sorted(side))
    header = {
        "format": _FORMAT,
        "specs": digest,
        "mode": mode,
        "kinds": list(kinds),
        "widths": list(widths),
        "warnings": [[i, p.code, p.message] for i, p in warnings],
        "main": len(blob),
        "side": [[i, len(side[i])] for i in sorted(side)],
        "blob_sha256": hashlib.sha256(blob + tail).hexdigest(),
        "hyperscan": str(getattr(hs, "__version__", "?")),
    }
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return _MAGIC + struct.pack("<I", len(raw)) + raw + blob + tail


def unpack(data: bytes, digest: str, mode: int | None = None
           ) -> tuple[int, list[int], list[tuple[int, PatternProblem]], bytes, tuple[int | None, ...], dict[int, bytes]]:
    """Parse a packed database: ``(mode, kinds, warnings, main blob, widths, side blobs)``;
    raises ValueError on any mismatch or corruption."""
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 4:
        raise ValueError("not a policylang pattern database")
    (hlen,) = struct.unpack_from("<I", data, len(_MAGIC))
    start = len(_MAGIC) + 4
    if start + hlen > len(data):
        raise ValueError("truncated pattern database")
    header = json.loads(data[start : start + hlen].decode("utf-8"))
    blob = data[start + hlen :]
    if header.get("format") != _FORMAT:
        raise ValueError("pattern database format differs")
    if header.get("specs") != digest:
        raise ValueError("pattern database was built for other patterns")
    if mode is not None and header.get("mode") != mode:
        raise ValueError("pattern database was built for another mode")
    if header.get("blob_sha256") != hashlib.sha256(blob).hexdigest():
        raise ValueError("pattern database is corrupt")
    if header.get("hyperscan") != str(getattr(hs, "__version__", "?")):
        raise ValueError("pattern database was built by another hyperscan version")
    kinds = [int(k) for k in header["kinds"]]
    warnings = [(int(i), PatternProblem(str(c), str(m))) for i, c, m in header["warnings"]]
    widths = tuple(None if w is None else int(w) for w in header["widths"])
    if len(widths) != len(kinds):
        raise ValueError("pattern database header is inconsistent")
    pos = int(header["main"])
    main, side = blob[:pos], {}
    for i, size in header["side"]:
        i, size = int(i), int(size)
        if not 0 <= i < len(kinds) or kinds[i] != LATE or size <= 0:
            raise ValueError("pattern database header is inconsistent")
        side[i] = blob[pos:pos + size]
        pos += size
    if pos != len(blob) or sorted(side) != [i for i, k in enumerate(kinds) if k == LATE]:
        raise ValueError("pattern database header is inconsistent")
    return int(header["mode"]), kinds, warnings, main, widths, side


def load_blob(blob: bytes, mode: int) -> hs.Database:
    db = hs.loadb(blob, mode=mode)
    db.scratch = hs.Scratch(db)  # a loaded database has no scratch
    return db


def _read_cache(path: str, digest: str, mode: int, n: int):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            os.utime(path)  # a hit is a use: eviction removes the least recently used first
        except OSError:
            pass
        stored_mode, kinds, warnings, blob, widths, side_blobs = unpack(data, digest)
        if len(kinds) != n:
            return None
        if stored_mode != mode and not (mode & hs.HS_MODE_STREAM and stored_mode & hs.HS_MODE_STREAM):
            return None
        db = load_blob(blob, stored_mode) if blob else None
        if db is None and any(k != TAIL for k in kinds):
            return None
        side = {i: load_blob(b, stored_mode) for i, b in side_blobs.items()}
        return db, kinds, warnings, widths, side
    except Exception:
        return None


def _write_cache(path: str, data: bytes) -> None:
    try:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
            evict(directory, keep=path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except Exception:
        pass  # a cache that cannot be written is no cache, not an error


def compile_database(specs: Sequence[PatternSpec], mode: int, cache_dir: str | None, widths=None
                     ) -> "PatternDatabase":
    """The database (and its plan) of ``specs`` for block or stream ``mode``, from the disk
    cache in ``cache_dir`` when it holds it.

    ``widths`` (one :func:`_max_width` per spec) are stored with the database so that a
    cache hit needs no regex parsing at all; computed here when not given.
    """
    specs = tuple(specs)
    digest = specs_digest(specs)
    path = None
    if cache_dir is not None and specs:
        path = os.path.join(cache_dir, cache_key(specs, mode, digest) + ".hsdb")
        cached = _read_cache(path, digest, mode, len(specs))
        if cached is not None:
            db, kinds, warnings, stored, side = cached
            return PatternDatabase(specs, db, tuple(kinds), tuple(warnings), tuple(stored), True, cache_dir, path, side)
    db, kinds, warnings, side = plan_database(specs, mode)
    if widths is None:
        widths = tuple(_max_width(s) for s in specs)
    if path is not None:
        real_mode = stream_mode(kinds) if mode & hs.HS_MODE_STREAM else mode
        blob = hs.dumpb(db) if db is not None else b""
        _write_cache(path, pack(digest, real_mode, kinds, warnings, blob, widths,
                                {i: hs.dumpb(d) for i, d in side.items()}))
    return PatternDatabase(specs, db, tuple(kinds), tuple(warnings), tuple(widths), False, cache_dir, path, side)


@dataclass(frozen=True)
class PatternDatabase:
    """What the compile stage makes of a pattern set: the block-mode Hyperscan database and
    its plan, no scanner yet.

    ``specs``; ``db`` (``hyperscan.Database`` or None for no specs); ``kinds`` (per spec, how a
    Hyperscan report becomes a match: SOM, NOSOM, SINGLE, CONFIRM, TAIL, LATE); ``side`` (the
    LATE specs' own SOM databases, by spec id); ``warnings``
    (``(spec id, PatternProblem)``, PL402/PL403); ``widths`` (per spec, a bound on a match's
    length in characters, None where unbounded); ``from_cache``, ``cache_dir``, ``cache_path``
    (the disk cache). The runtime builds its scanner from this:
    ``policylang.runtime.scan.CompiledPatterns.from_database(pdb)``.
    """

    specs: tuple[PatternSpec, ...]
    db: Any
    kinds: tuple[int, ...]
    warnings: tuple[tuple[int, PatternProblem], ...]
    widths: tuple[int | None, ...]
    from_cache: bool = False
    cache_dir: str | None = None
    cache_path: str | None = None
    side: dict[int, Any] = dataclasses.field(default_factory=dict, compare=False)


def compile_pattern_database(
    specs: Sequence[PatternSpec], *, cache_dir: str | os.PathLike | None | bool = None
) -> PatternDatabase:
    """Compile every spec into one Hyperscan block-mode database.

    ``cache_dir``: None → ``$POLICYLANG_CACHE_DIR`` or ``~/.cache/policylang/hs``; False →
    no disk cache; else that directory. Raises :class:`PatternSetError` naming every spec
    that cannot be compiled (``PL201``, ``PL202``, ``PL401``); ``PL402``/``PL403`` warnings
    are kept on ``PatternDatabase.warnings``. The scanner over it is the runtime's
    (``policylang.runtime.scan.compile_patterns`` does both steps).
    """
    specs = tuple(specs)
    _validate_ids(specs)
    directory = resolve_cache_dir(cache_dir)
    if directory is not None and specs:
        # a database in the cache was written only after these very specs (same digest,
        # same regex and Hyperscan versions, same code) passed every check below: a warm
        # load parses no regex at all
        digest = specs_digest(specs)
        path = os.path.join(directory, cache_key(specs, hs.HS_MODE_BLOCK, digest) + ".hsdb")
        cached = _read_cache(path, digest, hs.HS_MODE_BLOCK, len(specs))
        if cached is not None:
            db, kinds, warnings, widths, side = cached
            return PatternDatabase(specs, db, tuple(kinds), tuple(warnings), tuple(widths), from_cache=True,
                                   cache_dir=directory, cache_path=path, side=side)
    errors: list[tuple[int, PatternProblem]] = []
    for spec in specs:
        errors.extend((spec.id, p) for p in _regex_problems(spec))
    if errors:
        # name every spec that cannot be compiled, the Hyperscan failures too
        bad = {i for i, _ in errors}
        try:
            plan_database([s for s in specs if s.id not in bad], hs.HS_MODE_BLOCK)
        except PatternSetError as more:
            errors.extend(more.problems)
        raise PatternSetError(sorted(errors, key=lambda item: item[0]))
    return compile_database(specs, hs.HS_MODE_BLOCK, directory)
