"""Text normalization with an offset map back to the original text.

Before matching, text is normalized as the policy declares
(``normalize nfkc, invisible, confusables``) so that obfuscated attacks and PII
still match. Every span a user sees is a code-point index into the ORIGINAL
text: :meth:`NormalizedText.to_original` maps a span of ``.text`` back.

Steps always apply in this order, whatever order a policy names them in::

    invisible -> nfkc -> confusables -> leetspeak / base64 / hex (appended)

- ``invisible``: removes zero-width characters, soft hyphen, bidi controls,
  tag characters, variation selectors and every other format (Cf) or
  default-ignorable code point. Removed characters vanish from ``.text``.
- ``nfkc``: Unicode NFKC (``unicodedata``). One character may become several
  ("ﬁ" -> "fi") and combining sequences may merge ("e\\u0301" -> "é"); each
  output character maps back to the smallest source range that produced it.
- ``confusables``: folds characters whose UTS #39 prototype is ASCII to that
  ASCII form (Cyrillic "а" -> "a", "ℯ" -> "e"), and decimal digits of any
  script to ASCII digits. Letters fold only to ASCII letters (Cyrillic "З" is
  left alone rather than becoming "3"); combining marks are never folded.
  Data: ``data/confusables_ascii.txt`` (Unicode 13.0.0, Unicode License),
  loaded on first use.
- ``leetspeak``: 0->o 1->i/l 3->e 4->a 5->s 7->t 8->b 9->g @->a $->s, inside
  tokens that also contain a letter ("p4ssw0rd" -> "password", "2024" stays), and in
  digits-only tokens on a line with such a token ("411" -> "all"); ``1`` is read as
  ``i`` or ``l`` per token (a word list, then English spelling). It is a
  VIEW, never an in-place edit: the main text keeps its digits (so an IBAN,
  passport number or API key still matches the policies that want digits), and
  when folding changes something the folded main text is APPENDED after a
  "\\n". Folding is length-preserving, so the view maps character by character:
  view position ``p`` is main position ``p - view start``, and a match of
  "1gn0r3 pr3v10us" in the view maps to exactly those characters of the
  original.
- ``base64`` / ``hex``: embedded blobs of the main text that decode to printable
  UTF-8 text are decoded and APPENDED after a "\\n" (after the leetspeak view);
  the blob stays in place too. Every character of a decoded segment maps to the
  blob's whole span. Decoded text goes through invisible/nfkc/confusables as
  declared; with ``leetspeak``, a decoded segment that folding changes is
  followed by its own leetspeak view, which maps like the decoded segment (to
  the whole blob). Blobs are looked for in the main text only, never in a
  leetspeak view (folding would corrupt them).

So ``.text`` is ``main ["\\n" leet(main)] ("\\n" decoded ["\\n" leet(decoded)])*``.
``NormalizedText.main_length`` is where the appended segments start;
``segment_of(pos)`` tells which appended segment a position of ``.text`` is in,
``leet_view`` where the leetspeak view of the main text is, ``parts`` the
bounds of the main text and of each segment, and ``crosses_segments(start,
end)`` whether a span straddles two of them (a match that only exists across a
separator). The engine scans each part on its own, so no match straddles a
separator; a value found both in the main text and in its view maps to the same
original span, and the engine keeps one of them.

Cost model: ``Normalizer.__call__`` computes only ``.text`` (C-speed string
operations; plain ASCII with the default steps returns at once; with
``leetspeak``, a text without any of the characters ``013457@$`` costs a few
substring tests, and an ASCII text where no token mixes them with letters one
``str.translate`` more, ~5 us a KB). The per-character offset map is built
lazily, with numpy, on the first ``to_original`` call that needs it, so texts
without hits never pay for it; the leetspeak view reuses the main map.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import difflib
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from policylang.runtime import views as _views

__all__ = ["STEPS", "DEFAULT_STEPS", "UnknownStep", "Normalizer", "NormalizedText"]

# Fold steps (in place, with an offset map), then views (appended, each with its own map).
from policylang.syntax.vocabulary import DEFAULT_STEPS, STEPS, VIEW_STEPS  # noqa: E402

# Order in which steps are applied (and the canonical order of Normalizer.steps).
_ORDER: tuple[str, ...] = ("invisible", "nfkc", "confusables", "leetspeak", "base64", "hex") + VIEW_STEPS

(_INVISIBLE, _NFKC, _CONFUSABLES, _LEET, _B64, _HEX, _SPACED, _ROT13, _REVERSED, _URL, _B32, _BRAILLE,
 _MORSE, _NATO, _ZALGO, _TAGS, _VS) = (1 << i for i in range(17))
_FLAG = {"invisible": _INVISIBLE, "nfkc": _NFKC, "confusables": _CONFUSABLES,
         "leetspeak": _LEET, "base64": _B64, "hex": _HEX, "spaced": _SPACED, "rot13": _ROT13,
         "reversed": _REVERSED, "urlencoding": _URL, "base32": _B32, "braille": _BRAILLE, "morse": _MORSE,
         "nato": _NATO, "zalgo": _ZALGO, "tags": _TAGS, "variation_selectors": _VS}
# Steps that never change a pure-ASCII text.
_ASCII_INERT = _INVISIBLE | _NFKC | _CONFUSABLES
_PRE = _INVISIBLE | _NFKC | _CONFUSABLES  # steps with a per-character offset map

# Limits on blob decoding, so that a huge text cannot blow up.
MAX_BLOBS = 16
MAX_DECODED_CHARS = 64 * 1024
MAX_BLOB_ATTEMPTS = 512
MIN_BLOB_LEN = 16
PRINTABLE_RATIO = 0.9


class UnknownStep(ValueError):
    """A normalization step name that does not exist."""

    def __init__(self, step: str):
        self.step = step
        self.known = STEPS
        msg = f"unknown normalization step `{step}`"
        close = difflib.get_close_matches(str(step), STEPS, n=1)
        if close:
            msg += f": did you mean `{close[0]}`?"
        else:
            msg += f": use one of {', '.join(STEPS)}"
        super().__init__(msg)


# --------------------------------------------------------------------------- invisible
# Default_Ignorable_Code_Point (DerivedCoreProperties.txt) united with General
# Category Cf, as of Unicode 15.1. Tag characters U+E0000..E007F and the variation
# selectors (U+FE00..FE0F, U+E0100..E01EF, Mongolian U+180B..180F) are included.
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),    # soft hyphen
    (0x034F, 0x034F),    # combining grapheme joiner
    (0x0600, 0x0605),    # Arabic number signs (Cf)
    (0x061C, 0x061C),    # Arabic letter mark
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),    # Hangul fillers
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),    # Mongolian free variation selectors, vowel separator
    (0x200B, 0x200F),    # ZWSP, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),    # bidi embeddings and overrides
    (0x2060, 0x206F),    # word joiner, invisible operators, bidi isolates, deprecated
    (0x3164, 0x3164),    # Hangul filler
    (0xFE00, 0xFE0F),    # variation selectors
    (0xFEFF, 0xFEFF),    # BOM / ZWNBSP
    (0xFFA0, 0xFFA0),    # halfwidth Hangul filler
    (0xFFF0, 0xFFFB),    # unassigned specials + interlinear annotation controls
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),  # Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement, reserved
)


def _char_class(ranges) -> str:
    parts = []
    for lo, hi in ranges:
        parts.append(re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}")
    return "".join(parts)


_INVISIBLE_RE = re.compile(f"[{_char_class(_INVISIBLE_RANGES)}]+")
# Hot path: sre searches a one-character class of BMP ranges about twice as fast
# as a class with a repeat or with astral ranges, so test the BMP and astral parts
# separately (the astral part only when the text has astral characters).
_INV_BMP_RE = re.compile(f"[{_char_class(r for r in _INVISIBLE_RANGES if r[1] < 0x10000)}]")
_INV_BMP_RUN_RE = re.compile(f"[{_char_class(r for r in _INVISIBLE_RANGES if r[1] < 0x10000)}]+")
_INV_AST_RE = re.compile(f"[{_char_class(r for r in _INVISIBLE_RANGES if r[0] >= 0x10000)}]+")


def _has_astral(t: str) -> bool:
    return len(t.encode("utf-16-le", "surrogatepass")) != 2 * len(t)


def _strip_invisible(t: str, astral: bool) -> str:
    m = _INV_BMP_RE.search(t)
    if m is not None:
        pieces = []
        prev = 0
        for _ in range(8):  # a few runs: hop between them with the fast search
            i = m.start()
            pieces.append(t[prev:i])
            prev = _INV_BMP_RUN_RE.match(t, i).end()
            m = _INV_BMP_RE.search(t, prev)
            if m is None:
                pieces.append(t[prev:])
                break
        else:  # many runs: one substitution over the rest
            pieces.append(_INV_BMP_RUN_RE.sub("", t[prev:]))
        t = "".join(pieces)
    if astral and _INV_AST_RE.search(t):
        t = _INV_AST_RE.sub("", t)
    return t
# Sorted boundaries for a vectorized membership test: cp is invisible iff
# searchsorted(_INVIS_BOUNDS, cp, "right") is odd.
_INVIS_BOUNDS = np.array([x for lo, hi in _INVISIBLE_RANGES for x in (lo, hi + 1)], dtype=np.uint32)


# --------------------------------------------------------------------------- nfkc support
# Characters with ccc=0 that can combine with a PRECEDING character under canonical
# composition (second element of a primary composite; Hangul V and T jamo). A
# normalization boundary never falls before them.
_BACKWARD_COMBINING = frozenset(
    [0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6,
     0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x0FB5, 0x0FB7, 0x102E, 0x1B35, 0x11127, 0x1133E,
     0x11357, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930]
    + list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3))
)

_NFKC_CACHE: dict[str, tuple[str, bool]] = {}
_NFKC_CACHE_MAX = 200_000


def _nfkc_char(ch: str) -> tuple[str, bool]:
    """(NFKC of ``ch`` alone, whether a normalization boundary is safe before ``ch``)."""
    r = _NFKC_CACHE.get(ch)
    if r is None:
        nf = unicodedata.normalize("NFKC", ch)
        nfd = unicodedata.normalize("NFKD", ch)
        cp = ord(ch)
        safe = (
            unicodedata.combining(ch) == 0
            and cp not in _BACKWARD_COMBINING
            and (not nfd or (unicodedata.combining(nfd[0]) == 0 and ord(nfd[0]) not in _BACKWARD_COMBINING))
        )
        r = (nf, safe)
        if len(_NFKC_CACHE) < _NFKC_CACHE_MAX:
            _NFKC_CACHE[ch] = r
    return r


# --------------------------------------------------------------------------- confusables
_DATA_FILE = "confusables_ascii.txt"


def _choose_fold(src: str, proto: str, by_proto: dict[str, set[str]]) -> str | None:
    """The ASCII string a non-ASCII ``src`` folds to, given its UTS #39 prototype.

    Prototypes are skeletons, not spellings: "I", "1" and "|" all have the
    prototype "l", "0" has "O" and "m" has "rn". So a prototype is turned back
    into the ASCII character(s) whose own prototype it is, picked by the source
    character's kind (capital letter -> capital, small letter -> small, number ->
    digit, symbol -> symbol).
    """
    cat = unicodedata.category(src)
    if cat[0] == "M":
        return None  # combining marks: folding them would insert visible characters
    nf = unicodedata.normalize("NFKC", src)
    if nf.isascii() and nf and not (len(nf) == 1 and cat[0] == "L" and not nf.isalnum()):
        return nf  # agree with the nfkc step where it already gives ASCII
    cands = by_proto.get(proto)
    if cat[0] == "L" and cands:
        cands = {c for c in cands if c.isalpha()}  # letters fold to letters, never "З" -> "3"
    if cands:
        if len(cands) == 1:
            return next(iter(cands))
        name = unicodedata.name(src, "")
        last = name.rsplit(" ", 1)[-1] if name else ""
        if cat == "Lu" or " CAPITAL " in f" {name} ":
            pref = {c for c in cands if c.isalpha() and c.isupper()}
        elif cat[0] == "L":
            pref = {c for c in cands if c.isalpha() and c.islower()}
        elif cat[0] == "N":
            pref = {c for c in cands if c.isdigit()}
        else:
            pref = {c for c in cands if not c.isalnum()}
        if len(last) == 1 and last in pref:
            return last
        if len(pref) == 1:
            return next(iter(pref))
        pool = pref or cands
        return proto if proto in pool else min(pool)
    if cat[0] == "L" and proto in by_proto:
        return None  # a letter whose look-alikes are all digits or punctuation: leave it
    # Multi-character prototype with no single-character equivalent.
    if cat[0] == "L":
        return proto if proto.isalpha() else None  # "æ" -> "ae", but not "Ɓ" -> "'B"
    if cat[0] in "PS" and not any(c.isalnum() for c in proto):
        return proto  # "≪" -> "<<"
    return None


@lru_cache(maxsize=1)
def _load_fold_table() -> dict[int, str]:
    """``{code point: ASCII replacement}`` for the confusables step (loaded once, lazily)."""
    raw = resources.files("policylang.runtime").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    rows: list[tuple[str, str]] = []
    for line in raw.splitlines():
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        fields = [f.strip() for f in body.split(";")]
        if len(fields) < 2:
            continue
        src = "".join(chr(int(h, 16)) for h in fields[0].split())
        proto = "".join(chr(int(h, 16)) for h in fields[1].split())
        if len(src) == 1 and proto.isascii():
            rows.append((src, proto))
    ascii_proto = {s: p for s, p in rows if s.isascii()}
    by_proto: dict[str, set[str]] = {}
    for i in range(0x20, 0x7F):
        c = chr(i)
        by_proto.setdefault(ascii_proto.get(c, c), set()).add(c)
    table: dict[int, str] = {}
    for src, proto in rows:
        if src.isascii():
            continue
        target = _choose_fold(src, proto, by_proto)
        if target is not None and target != src:
            table[ord(src)] = target
    # Decimal digits of every script fold to ASCII digits (so "٤١١١ ..." is a card
    # number), overriding look-alike letters ("٥" looks like "o" but means 5).
    for cp in _decimal_digit_codepoints():
        table[cp] = str(unicodedata.decimal(chr(cp)))
    return table


def _decimal_digit_codepoints() -> list[int]:
    out = []
    # Nd characters live in a few planes; scan the BMP and the SMP only.
    for cp in range(0x80, 0x20000):
        if 0xD800 <= cp < 0xE000:
            continue
        if unicodedata.category(chr(cp)) == "Nd":
            out.append(cp)
    return out


@lru_cache(maxsize=1)
def _fold_res() -> tuple[re.Pattern, re.Pattern]:
    """(BMP, astral) one-character classes of the characters the confusables step folds."""
    table = _load_fold_table()
    ranges: list[tuple[int, int]] = []
    for cp in sorted(table):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    bmp = [r for r in ranges if r[1] < 0x10000]
    ast = [r for r in ranges if r[0] >= 0x10000]
    return re.compile(f"[{_char_class(bmp)}]"), re.compile(f"[{_char_class(ast)}]")


def _has_foldable(t: str, astral: bool) -> bool:
    bmp, ast = _fold_res()
    return bmp.search(t) is not None or (astral and ast.search(t) is not None)


@lru_cache(maxsize=1)
def _fold_chartable() -> "_CharTable":
    return _CharTable(_load_fold_table(), dense=True)


# --------------------------------------------------------------------------- leetspeak
_LEET_MAP = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s"}
_LEET_TABLE = str.maketrans(_LEET_MAP)
_LEET_TABLE_NO_AT = {k: v for k, v in _LEET_TABLE.items() if k != ord("@")}
# A token (run of word characters, @ and $) that contains both a letter and a leet character.
_LEET_RE = re.compile(r"(?<![\w@$])(?=[\w@$]*?[01345789@$])(?=[\w@$]*?[^\W\d_])[\w@$]+")
# A token of leet characters only ("411", "4", "70"): folded only next to a folded token.
# A token of digits only ("411", "4", "70"): it folds on a line with a mixed token.
_LEET_PURE_RE = re.compile(r"(?<![\w@$])[0-9@$]*[01345789@$][0-9@$]*(?![\w@$])")
_NUMBER_JOINERS = frozenset(".,:/-@")
_LEET_CHAR_RE = re.compile(r"[01345789@$]")
_TRAILING_DIGITS_RE = re.compile(r"[0-9]+$")
_NUMBERED = frozenset(("base", "rot", "sha", "md", "utf", "ipv", "win"))  # names that end in a number
_LEET_MAX_ONES = 4  # readings of "1" tried per token: 2 ** this many at most
_LEET_MAX_WORD = 20  # longer tokens (ids, keys) are guessed, never looked up
_WORDLIKE_RE = re.compile(r"[A-Za-z01345789@$][a-z01345789@$]*|[A-Z01345789@$]+")  # not "x2_a", "aB1c"
_VOWELS = frozenset("aeiou")
_L_BEFORE_VOWEL = frozenset("bfgkp")  # "ble", "fla", "gle", "kle", "ple"
# after a vowel "1" is "l" ("a1l", "t01d"), except before these letters: "sa1d", "jo1n", "the1r"
_I_AFTER = {"a": "dmnr", "o": "n", "e": "rg", "u": "nr"}
# ASCII character classes for a C-speed pre-check: letter -> "a", leet character -> "1",
# the other token characters (2 6 _) deleted, any other character -> " ". A token
# holds a letter and a leet character iff its class run holds "a1" or "1a".
_LEET_CLASSES = str.maketrans(
    {**{i: " " for i in range(128)},
     **{ord(c): "a" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
     **{ord(c): "1" for c in "01345789@$"},
     **{ord(c): None for c in "26_"}})
# The same classes, position for position (2 and 6 -> "d", _ -> "u"): on ASCII text a
# token holds a letter and a leet character iff its class run holds ``1[du]*a`` or
# ``a[du]*1``; both are found by a search for the literal ``1`` (forwards, and on the
# reversed string), at C speed, instead of running :data:`_LEET_RE` over every token.
_LEET_CLASSES_KEEP = str.maketrans(
    {**{i: " " for i in range(128)},
     **{ord(c): "a" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
     **{ord(c): "1" for c in "01345789@$"},
     **{ord(c): "d" for c in "26"}, ord("_"): "u"})
_LEET_ADJ_RE = re.compile(rb"1[du]*a")
# both tables as bytes tables (bytes.translate is several times faster than str.translate)
_LEET_BYTES = bytes(ord(_LEET_CLASSES.get(i) or " ") for i in range(128)) + b" " * 128
_LEET_BYTES_KEEP = bytes(ord(_LEET_CLASSES_KEEP[i]) for i in range(128)) + b" " * 128


def _mixed_ascii(text: str) -> list[tuple[int, int]]:
    """``[m.span() for m in _LEET_RE.finditer(text)]`` for ASCII ``text``, faster."""
    c = text.encode("ascii").translate(_LEET_BYTES_KEEP)
    n = len(c)
    pts = [m.start() for m in _LEET_ADJ_RE.finditer(c)]
    pts.extend(n - 1 - m.start() for m in _LEET_ADJ_RE.finditer(c[::-1]))
    if not pts:
        return []
    toks = set()
    find, rfind = c.find, c.rfind
    for p in pts:
        e = find(b" ", p)
        toks.add((rfind(b" ", 0, p) + 1, n if e < 0 else e))
    return sorted(toks)


_is_word = _views.is_word


def _read_ones(tok: str, out: str) -> str:
    """``out`` (``tok`` folded, every ``1`` read as ``i``) with each ``1`` read as ``i`` or ``l``.

    The reading that makes a word of :data:`views.LEET_WORDS` wins (the one closest to the
    guess below, when several do); otherwise each ``1`` is guessed from its neighbours, by
    English spelling: ``11`` is ``ll``; after a vowel ``l`` ("a1l", "t01d", "c4nce1"); at the
    start before a vowel ``l`` ("1ine", "1eak"); between ``b f g k p`` and a vowel ``l``
    ("p1ease", "f1ag") and in a final consonant + "le" ("artic1e"); otherwise ``i``
    ("1gnore", "w1th", "1", "sa1d", "jo1n"). A token that is a name ending in a number
    ("b4se64", "r0t13") keeps its number.
    """
    ones = [k for k, c in enumerate(tok) if c == "1"]
    low = out.lower()
    n = len(out)
    guess = list(out)
    for k in ones:
        prev = low[k - 1] if k > 0 else ""
        nxt = low[k + 1] if k + 1 < n else ""
        if tok[k + 1:k + 2] == "1" or tok[k - 1:k] == "1" and (k < 2 or tok[k - 2] != "1"):
            ell = True  # "11": "all", "will"
        elif prev in _VOWELS:
            ell = nxt not in _I_AFTER.get(prev, "")
        elif not prev.isalpha():
            ell = nxt in _VOWELS
        elif nxt == "e" and low[k + 2:] in ("", "s", "d"):
            ell = True  # "artic1e", "tit1es": a word ending in consonant + "le"
        else:
            ell = prev in _L_BEFORE_VOWEL and nxt in _VOWELS
        if ell:
            guess[k] = "l"
    guessed = "".join(guess)
    if len(ones) > _LEET_MAX_ONES or n > _LEET_MAX_WORD or not _WORDLIKE_RE.fullmatch(tok) \
            or _is_word(guessed.lower()):
        return guessed
    best, best_d = None, n + 1
    chars = list(out)
    for mask in range(1 << len(ones)):
        for b, k in enumerate(ones):
            chars[k] = "l" if mask >> b & 1 else "i"
        cand = "".join(chars)
        if _is_word(cand.lower()):
            d = sum(1 for k in ones if chars[k] != guess[k])
            if d < best_d:
                best, best_d = cand, d
    return best if best is not None else guessed


def _in_number(text: str, a: int, b: int) -> bool:
    """Whether the digits ``text[a:b]`` are part of a longer number ("4.17.21", "10:45", "1,000")."""
    return (a >= 2 and text[a - 1] in _NUMBER_JOINERS and text[a - 2].isalnum()) or \
        (b + 1 < len(text) and text[b] in _NUMBER_JOINERS and text[b + 1].isalnum())


def _fold_token(tok: str, tail: str, end: int) -> str:
    # "user@example.com": keep the @ of what looks like an e-mail address.
    if "@" in tok and tail[end:end + 1] == "." and tail[end + 1:end + 2].isalnum():
        out = tok.translate(_LEET_TABLE_NO_AT)
    else:
        out = tok.translate(_LEET_TABLE)
    if "1" in tok:
        out = _read_ones(tok, out)
    if "0" <= tok[-1] <= "9":
        m = _TRAILING_DIGITS_RE.search(tok)
        for k in range(max(m.start(), 2), len(tok)):
            if out[:k].lower() in _NUMBERED:
                return out[:k] + tok[k:]  # "b4s364", "r0713", "845364": the number stays
    if tok.isdigit() and ("2" in tok or "6" in tok) or tok[0] == "$" and tok[1:].isdigit():
        return tok  # "2024", "$100": a number, an amount
    if tok.isupper():  # letters all capitals: "D4N" is "DAN", "1GN0R3" is "IGNORE"
        out = out.upper()
    return out


def _leet(text: str) -> str:
    """``text`` with leet characters folded inside tokens that also hold a letter.

    ``0 1 3 4 5 7 8 9 @ $`` read as ``o i/l e a s t b g a s``; ``1`` is read as ``i`` or ``l``
    per token (see :func:`_read_ones`). A token of digits only ("411", "4", "70") is folded
    too on a line that holds a folded token, so "411 th3 ru135" reads "all the rules";
    numbers with a 2 or a 6 ("2024") and lines without a folded token stay as they are. Length-preserving: every character folds to exactly one
    character, so position ``p`` of the result is position ``p`` of ``text``.
    """
    # Fast exits, at C speed: most prose has no leet character at all; in ASCII text
    # with some ("in 2024"), the class string tells whether any token holds both a
    # letter and a leet character; and the token regex (~35 ns a character) need only
    # run from the token that holds the first leet character (whitespace never
    # belongs to a token).
    if not ("0" in text or "1" in text or "3" in text or "4" in text or "5" in text
            or "7" in text or "8" in text or "9" in text or "@" in text or "$" in text):
        return text
    ascii_ = text.isascii()
    if ascii_:
        classes = text.encode("ascii").translate(_LEET_BYTES, b"26_")
        if b"a1" not in classes and b"1a" not in classes:
            return text
    first = _LEET_CHAR_RE.search(text).start()
    cut = max(text.rfind(" ", 0, first), text.rfind("\n", 0, first)) + 1
    tail = text[cut:] if cut else text
    mixed = _mixed_ascii(tail) if ascii_ else [m.span() for m in _LEET_RE.finditer(tail)]
    if not mixed:
        return text
    toks = [(a, b, True) for a, b in mixed]
    # a token of digits only folds on a line that holds a folded token ("411 th3 ru135")
    line_end = -1
    for a, _b in mixed:
        if a < line_end:
            continue
        ls = tail.rfind("\n", 0, a) + 1
        line_end = tail.find("\n", a)
        if line_end < 0:
            line_end = len(tail)
        for m in _LEET_PURE_RE.finditer(tail, ls, line_end):
            if not _in_number(tail, m.start(), m.end()):
                toks.append((m.start(), m.end(), False))
    toks.sort()
    pieces, pos = [], 0
    for a, b, _m in toks:
        pieces.append(tail[pos:a])
        pieces.append(_fold_token(tail[a:b], tail, b))
        pos = b
    pieces.append(tail[pos:])
    folded = "".join(pieces)
    if folded == tail:
        return text
    return text[:cut] + folded if cut else folded


# --------------------------------------------------------------------------- base64 / hex
_B64_RE = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{%d,}(?:={1,2})?(?![A-Za-z0-9+/=_\-])" % (MIN_BLOB_LEN - 2))
_HEX_RE = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){%d,}(?![0-9A-Fa-f])" % (MIN_BLOB_LEN // 2))


_printable_enough = _views.printable_enough


def _utf8_prefix(data: bytes) -> str | None:
    """Decode ``data`` as UTF-8, allowing only a truncated final sequence."""
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=False)
    except UnicodeDecodeError:
        return None


def _decode_b64(run: str, budget: int) -> str | None:
    if len(run) < MIN_BLOB_LEN:
        return None
    body = run.rstrip("=")
    npad = len(run) - len(body)
    if npad and (len(body) + npad) % 4:
        return None  # wrong padding
    has_std = "+" in body or "/" in body
    has_url = "-" in body or "_" in body
    if has_std and has_url:
        return None
    if len(body) % 4 == 1:
        return None
    limit = (budget * 4 // 3 + 4) // 4 * 4  # never decode much more than the budget
    truncated = len(body) > limit
    if truncated:
        body = body[:limit]
    body += "=" * (-len(body) % 4)
    try:
        if has_url:
            data = base64.urlsafe_b64decode(body)
        else:
            data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _as_text(data, budget)


def _as_text(data: bytes, budget: int) -> str | None:
    """Decoded bytes as a view's text: their UTF-8 prefix, if printable enough, cut to ``budget``."""
    s = _utf8_prefix(data)
    if s is None or not _printable_enough(s):
        return None
    return s[:budget]


def _decode_hex(run: str, budget: int) -> str | None:
    limit = budget * 2
    if len(run) > limit:
        run = run[:limit]
    try:
        data = bytes.fromhex(run)
    except ValueError:
        return None
    return _as_text(data, budget)


_B32_RE = re.compile(r"[A-Z2-7]+|[a-z2-7]+")
# Run finder at C speed: the text's characters as classes (base64 alphabet -> "b",
# "=" -> "=", anything else -> " "; non-ASCII characters are one "?" each, so class
# positions are code-point positions), then a literal-prefix search for 14 "b"s.
_B64_CLASSES = bytes(
    (0x62 if (chr(i).isascii() and (chr(i).isalnum() or chr(i) in "+/_-")) else 0x3D if i == 0x3D else 0x20)
    for i in range(256))
_B64_RUN_BYTES = re.compile(b"b" * (MIN_BLOB_LEN - 2) + b"b*")


def _decode_b32(run: str, budget: int) -> str | None:
    body = run.rstrip("=")
    npad = len(run) - len(body)
    if len(body) < MIN_BLOB_LEN or not _B32_RE.fullmatch(body):
        return None
    if len(body) % 8 not in (0, 2, 4, 5, 7) or (npad and (len(body) + npad) % 8):
        return None
    limit = budget * 8 // 5 // 8 * 8 + 8
    if len(body) > limit:
        body = body[:limit]
    body = body.upper()
    body += "=" * (-len(body) % 8)
    try:
        data = base64.b32decode(body)
    except (binascii.Error, ValueError):
        return None
    return _as_text(data, budget)


def _find_blobs(text: str, flags: int) -> list[tuple[int, int, str]]:
    """``[(start, end, decoded)]`` for blobs of ``text`` that decode to text, in order.

    Base64, base32 and hex runs all lie inside runs of 14+ characters of the base64
    alphabet, found with one ``bytes.translate`` and a literal-prefix search; the
    per-kind checks and decoders run on those runs only.
    """
    found: list[tuple[int, int, str]] = []
    budget = MAX_DECODED_CHARS
    attempts = 0
    candidates: list[tuple[int, int, int, str, object]] = []
    cls = text.encode("ascii", "replace").translate(_B64_CLASSES)
    n = len(cls)
    cap = 2 * MAX_BLOB_ATTEMPTS
    for m in _B64_RUN_BYTES.finditer(cls):
        if len(candidates) >= cap:
            break
        s, e = m.span()
        k = 0
        while e + k < n and cls[e + k] == 0x3D and k < 7:
            k += 1
        if flags & _B32 and k in (0, 1, 3, 4, 6):
            candidates.append((s, e + k, 0, text[s:e + k], _decode_b32))
        if flags & _B64 and k <= 2 and (e + k >= n or cls[e + k] != 0x62):
            candidates.append((s, e + k, 1, text[s:e + k], _decode_b64))
        if flags & _HEX:
            for h in _HEX_RE.finditer(text, s, e):
                candidates.append((h.start(), h.end(), 2, h.group(), _decode_hex))
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    seen: set[tuple[int, int]] = set()
    for start, end, _kind, run, dec in candidates:
        if len(found) >= MAX_BLOBS or budget <= 0 or attempts >= MAX_BLOB_ATTEMPTS:
            break
        if (start, end) in seen:
            continue
        attempts += 1
        s = dec(run, budget)  # type: ignore[operator]
        if s:
            seen.add((start, end))
            found.append((start, end, s))
            budget -= len(s)
    return found


# --------------------------------------------------------------------------- text-only pipeline
def _pre_text(text: str, flags: int) -> str:
    """``text`` after invisible, nfkc and confusables (the steps with an offset map)."""
    t = text
    if t.isascii():
        return t
    astral = _has_astral(t)
    if flags & _INVISIBLE:
        t = _strip_invisible(t, astral)
    if flags & _NFKC and not unicodedata.is_normalized("NFKC", t):
        t = unicodedata.normalize("NFKC", t)
        astral = _has_astral(t)
    if flags & _CONFUSABLES and not t.isascii() and _has_foldable(t, astral):
        t = _fold_chartable().translate(t)
    return t


# --------------------------------------------------------------------------- offset maps
def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _index_dtype(n: int):
    return np.int32 if n < 2**31 - 1 else np.int64


_LUT_SIZE = 0x110000
_LUT_MIN_TEXT = 1 << 16  # texts at least this long look characters up in a dense table


class _CharTable:
    """A per-character replacement table ``{code point: str}`` applied with numpy.

    ``str.translate`` with a dict costs ~100 ns a character on non-Latin-1 text;
    this does the lookup as one gather and builds the output from code points.
    """

    __slots__ = ("table", "keys", "lens", "flat", "val_off", "_lut")

    def __init__(self, table: dict[int, str], dense: bool = False):
        self.table = table
        ks = sorted(table)
        self.keys = np.array(ks, dtype=np.uint32)
        vals = [table[k] for k in ks]
        self.lens = np.array([len(v) for v in vals], dtype=np.int64)
        self.flat = _codepoints("".join(vals)).astype(np.uint32)
        self.val_off = np.zeros(len(ks), dtype=np.int64)
        if len(ks) > 1:
            np.cumsum(self.lens[:-1], out=self.val_off[1:])
        self._lut = self._make_lut() if dense else None

    def _make_lut(self) -> np.ndarray:
        lut = np.full(_LUT_SIZE, -1, dtype=np.int32)
        lut[self.keys] = np.arange(len(self.keys), dtype=np.int32)
        return lut

    def lookup(self, cp: np.ndarray) -> np.ndarray:
        """Index of each code point's entry, or -1."""
        if len(self.keys) == 0:
            return np.full(len(cp), -1, dtype=np.int64)
        lut = self._lut
        if lut is None and len(cp) >= _LUT_MIN_TEXT:
            lut = self._make_lut()
        if lut is not None:
            return lut[cp]
        idx = np.searchsorted(self.keys, cp)
        np.minimum(idx, len(self.keys) - 1, out=idx)
        idx[self.keys[idx] != cp] = -1
        return idx

    def counts(self, idx: np.ndarray) -> np.ndarray:
        """Output length of each input character."""
        counts = np.ones(len(idx), dtype=np.int64)
        hit = idx >= 0
        counts[hit] = self.lens[idx[hit]]
        return counts

    def apply(self, cp: np.ndarray, idx: np.ndarray, counts: np.ndarray) -> str:
        """The text with every table character replaced."""
        out = np.repeat(cp, counts)
        pos = np.flatnonzero(idx >= 0)
        if len(pos):
            k = idx[pos]
            ln = self.lens[k]
            total = int(ln.sum())
            if total:
                off = np.cumsum(counts) - counts
                firsts = np.cumsum(ln) - ln
                within = np.arange(total, dtype=np.int64) - np.repeat(firsts, ln)
                out[np.repeat(off[pos], ln) + within] = self.flat[np.repeat(self.val_off[k], ln) + within]
        return out.astype("<u4", copy=False).tobytes().decode("utf-32-le", "surrogatepass")

    def translate(self, t: str) -> str:
        """``t.translate(table)``, with numpy for long texts."""
        if len(t) < _LUT_MIN_TEXT:
            return t.translate(self.table)
        cp = _codepoints(t)
        idx = self.lookup(cp)
        return self.apply(cp, idx, self.counts(idx))


def _expand(counts: np.ndarray, hi_in: np.ndarray | None = None):
    """Per-output (lo, hi) input ranges from per-input output counts."""
    n = len(counts)
    dt = _index_dtype(n + 1)
    ar = np.arange(n, dtype=dt)
    lo = np.repeat(ar, counts)
    if hi_in is None:
        hi = lo + 1
    else:
        hi = np.repeat(hi_in.astype(dt, copy=False), counts)
    return lo, hi


_NFKC_FALLBACKS = 0  # times the chunked NFKC map disagreed with unicodedata (tests watch it)

# Separators for normalizing many chunks in one C call: noncharacters, then private
# use characters. Each is NFKC-stable, a starter, and composes with nothing.
_SEPARATORS = tuple(range(0xFDD0, 0xFDF0)) + (0xFFFE, 0xFFFF) + tuple(range(0xE000, 0xE100))


def _nfkc_segments(t: str, cp: np.ndarray, in_b: np.ndarray) -> tuple[str, np.ndarray]:
    """NFKC of each segment ``t[in_b[k]:in_b[k+1]]``: (joined output, output bounds)."""
    nseg = len(in_b) - 1
    sep = next((c for c in _SEPARATORS if chr(c) not in t), None)
    if sep is not None:
        # One C call: separators at the segment bounds keep the segments apart.
        with_sep = np.insert(cp, in_b[1:-1], np.uint32(sep))
        joined = unicodedata.normalize("NFKC", with_sep.tobytes().decode("utf-32-le", "surrogatepass"))
        ocp = _codepoints(joined)
        at = np.flatnonzero(ocp == sep)
        if len(at) == nseg - 1:
            out_b = np.empty(nseg + 1, dtype=np.int64)
            out_b[0] = 0
            out_b[1:-1] = at - np.arange(nseg - 1)
            out_b[-1] = len(ocp) - (nseg - 1)
            return joined.replace(chr(sep), ""), out_b
    outs = [unicodedata.normalize("NFKC", t[a:b]) for a, b in zip(in_b[:-1].tolist(), in_b[1:].tolist())]
    out_b = np.zeros(nseg + 1, dtype=np.int64)
    np.cumsum([len(o) for o in outs], out=out_b[1:])
    return "".join(outs), out_b


def _nfkc_map_chunked(t: str, cp: np.ndarray, safe: np.ndarray, expected: str,
                      table: dict[int, str]):
    """NFKC map given where normalization boundaries are (``safe[i]``: one before ``t[i]``).

    A chunk runs from one boundary to the next. One-character chunks normalize
    on their own (``table``: per-character NFKC) and map character by character.
    Longer chunks (a starter and the marks that follow it) are normalized as a
    whole, all of them in one C call; one whose output equals its input maps
    character by character, any other maps each output character to the whole
    chunk. Returns ``None`` when the result disagrees with ``expected``.
    """
    n = len(t)
    ct = _CharTable(table)
    idx = ct.lookup(cp)
    counts = ct.counts(idx)
    starts = np.flatnonzero(safe)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    multi = (ends - starts) > 1
    if not multi.any():
        if int(counts.sum()) != len(expected) or ct.apply(cp, idx, counts) != expected:
            return None
        lo, hi = _expand(counts)
        return expected, lo, hi
    ma, mb = starts[multi], ends[multi]
    mark = np.zeros(n + 1, dtype=bool)
    mark[[0, n]] = True
    mark[ma] = True
    mark[mb] = True
    in_b = np.flatnonzero(mark)
    out, out_b = _nfkc_segments(t, cp, in_b)
    if out != expected:
        return None
    nseg = len(in_b) - 1
    in_len = np.diff(in_b)
    out_len = np.diff(out_b)
    mark[:] = False
    mark[ma] = True
    seg_multi = mark[in_b[:-1]]
    # Runs of one-character chunks: their per-character lengths must add up.
    seg_counts = np.add.reduceat(counts, in_b[:-1])
    if np.any(seg_counts[~seg_multi] != out_len[~seg_multi]):
        return None
    # Long chunks: unchanged (same length, same characters) or collapsed.
    seg_of = np.repeat(np.arange(nseg), in_len)
    cand = seg_multi & (in_len == out_len)
    ident = cand.copy()
    where = np.flatnonzero(cand[seg_of])
    if len(where):
        ocp = _codepoints(out)
        sg = seg_of[where]
        opos = out_b[sg] + (where - in_b[sg])
        bad = where[cp[where] != ocp[opos]]
        ident[seg_of[bad]] = False
    collapse = seg_multi & ~ident
    counts[ident[seg_of]] = 1
    counts[collapse[seg_of]] = 0
    cs = np.flatnonzero(collapse)
    counts[in_b[cs]] = out_len[cs]
    hi_in = np.arange(1, n + 1, dtype=np.int64)
    hi_in[in_b[cs]] = in_b[cs + 1]
    if int(counts.sum()) != len(out):  # pragma: no cover - defensive
        return None
    lo, hi = _expand(counts, hi_in)
    return out, lo, hi


def _nfkc_map(t: str) -> tuple[str, np.ndarray, np.ndarray]:
    """NFKC of ``t`` with per-output-character input ranges ``[lo, hi)``."""
    global _NFKC_FALLBACKS
    n = len(t)
    cp = _codepoints(t)
    expected = unicodedata.normalize("NFKC", t)
    nonascii = cp[cp >= 0x80]
    if len(nonascii) > 4096:
        present = np.zeros(0x110000, dtype=bool)
        present[nonascii] = True
        distinct = np.flatnonzero(present)
    else:
        distinct = np.unique(nonascii)
    table: dict[int, str] = {}
    unsafe: list[int] = []
    for u in distinct.tolist():
        ch = chr(u)
        nf, ok = _nfkc_char(ch)
        if nf != ch:
            table[u] = nf
        if not ok:
            unsafe.append(u)
    safe = ~np.isin(cp, np.array(unsafe, dtype=np.uint32)) if unsafe else np.ones(n, dtype=bool)
    safe[0] = True
    r = _nfkc_map_chunked(t, cp, safe, expected, table)
    if r is not None:
        return r
    _NFKC_FALLBACKS += 1
    # Should not happen: a boundary before an ASCII character is always safe.
    safe = cp < 0x80
    safe[0] = True
    r = _nfkc_map_chunked(t, cp, safe, expected, table)
    if r is not None:
        return r
    _NFKC_FALLBACKS += 1
    m = len(expected)  # last resort: correct text, coarse map
    dt = _index_dtype(n + 1)
    return expected, np.zeros(m, dtype=dt), np.full(m, n, dtype=dt)


def _build_map(original: str, flags: int) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """The main text with per-character original ranges ``[S, E)``.

    ``S``/``E`` are ``None`` when the map is the identity. Both are
    non-decreasing, so a span ``[i, j)`` maps to ``[S[i], E[j-1])``.
    """
    t = original
    S = E = None
    if flags & _INVISIBLE and _INVISIBLE_RE.search(t):
        cp = _codepoints(t)
        invis = (np.searchsorted(_INVIS_BOUNDS, cp, side="right") & 1).astype(bool)
        keep = np.flatnonzero(~invis).astype(_index_dtype(len(t) + 1))
        t = _INVISIBLE_RE.sub("", t)
        S, E = keep, keep + 1
    if flags & _NFKC and not unicodedata.is_normalized("NFKC", t):
        t, lo, hi = _nfkc_map(t)
        if S is None:
            S, E = lo, hi
        else:
            S, E = S[lo], E[hi - 1]
    if flags & _CONFUSABLES and not t.isascii() and _has_foldable(t, _has_astral(t)):
        cp = _codepoints(t)
        ct = _fold_chartable()
        idx = ct.lookup(cp)
        counts = ct.counts(idx)
        t = ct.apply(cp, idx, counts)
        lo, hi = _expand(counts)
        if S is None:
            S, E = lo, hi
        else:
            S, E = S[lo], E[hi - 1]
    return t, S, E


# --------------------------------------------------------------------------- results
# Kinds of appended segments: how a character of the segment maps back.
_K_LEET = 0    # leetspeak view of the main text: char for char, main position ms + p - ts
_K_SPAN = 1    # decoded blob (or its leetspeak view): every character maps to main [ms, me)
_K_ROT13 = 2   # rot13 view of the main text: char for char, like _K_LEET
_K_REV = 3     # reversed main text: position p is main position me - 1 - (p - ts)
_K_RUNS = 4    # decoded-runs view of the main text: a _RunsMap to main positions
_K_ORIG = 5    # decoded from the ORIGINAL text (tags, variation selectors): per-character
#                original ranges, or the original range [ms, me) for every character
_CHAR_FOR_CHAR = (_K_LEET, _K_ROT13)


class _RunsMap:
    """Map of a decoded-runs view to main-text positions.

    ``pieces`` tile the view in order: ``(view start, view end, base start, base end,
    cmap)``; a piece with ``cmap`` ``None`` is unchanged base text (char for char), any
    other maps view character ``k`` to base range ``cmap[k - view start]``. ``keep`` (when
    combining marks were stripped first) maps base position ``b`` to main position
    ``keep[b]``; a base range ``[x, y)`` is the main range ``[keep[x], keep[y])`` (the marks
    after its last character included).
    """

    __slots__ = ("starts", "pieces", "keep", "main_len")

    def __init__(self, pieces, keep, main_len):
        self.pieces = pieces
        self.starts = [p[0] for p in pieces]
        self.keep = keep
        self.main_len = main_len

    def touched(self, a: int, b: int) -> bool:
        """Whether view characters ``[a, b)`` hold a decoded run (not only unchanged text)."""
        return any(p[4] is not None and p[0] < b and a < p[1] for p in self.pieces)

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Main range of view characters ``[a, b)`` (``a < b``, view-local)."""
        pieces = self.pieces
        i = max(0, bisect_right(self.starts, a) - 1)
        lo, hi = 1 << 62, -1
        while i < len(pieces) and pieces[i][0] < b:
            vs, ve, bs, _be, cmap = pieces[i]
            x0, x1 = (a if a > vs else vs), (b if b < ve else ve)
            if x0 < x1:
                if cmap is None:
                    p, q = bs + x0 - vs, bs + x1 - vs
                else:
                    sub = cmap[x0 - vs:x1 - vs]
                    p, q = min(c[0] for c in sub), max(c[1] for c in sub)
                lo = p if p < lo else lo
                hi = q if q > hi else hi
            i += 1
        keep = self.keep
        if keep is not None:
            lo = keep[lo]
            hi = keep[hi] if hi < len(keep) else self.main_len
        return lo, hi


def _runs_view(base: str, reps: list, keep, main_len: int, lo: int = 0, hi: int | None = None):
    """``(view text, _RunsMap)``: ``base[lo:hi]`` with the non-overlapping runs of ``reps``
    (inside it) replaced; the map gives positions of the whole ``base``."""
    hi = len(base) if hi is None else hi
    reps = sorted(reps, key=lambda r: (r[0], -r[1]))
    pieces, chunks = [], []
    pos, vpos = lo, 0
    for start, end, out, cmap in reps:
        if start < pos or not out:
            continue  # overlaps a run already taken
        if start > pos:
            pieces.append((vpos, vpos + start - pos, pos, start, None))
            chunks.append(base[pos:start])
            vpos += start - pos
        pieces.append((vpos, vpos + len(out), start, end, cmap))
        chunks.append(out)
        vpos += len(out)
        pos = end
    if pos < hi or not pieces:
        pieces.append((vpos, vpos + hi - pos, pos, hi, None))
        chunks.append(base[pos:hi])
    return "".join(chunks), _RunsMap(tuple(pieces), keep, main_len)


def _run_ranges(blocks: list[tuple[int, int]], reps: list) -> list[tuple[int, int, list]]:
    """``(lo, hi, reps)`` per block that holds the start of a decoded run, stretched to the
    end of its last run (a run may go on past a paragraph break)."""
    starts = [a for a, _b in blocks]
    groups: dict[int, list] = {}
    for r in reps:
        groups.setdefault(bisect_right(starts, r[0]) - 1, []).append(r)
    return [(blocks[i][0], max(blocks[i][1], max(r[1] for r in rs)), rs) for i, rs in sorted(groups.items())]


class NormalizedText:
    """The text the scanner sees, and the way back to the original.

    ``text`` is the normalized main text (``text[:main_length]``), followed by the
    appended segments, each after a ``"\\n"`` separator, in this order: the
    leetspeak view of the main text (when it differs from it), its rot13 view, its
    reversed view, its decoded-runs view (spaced letters collapsed, morse, NATO,
    braille and %xx runs decoded, zalgo marks stripped), then per decoded
    base64/base32/hex blob the decoded text and its own leetspeak view (when that
    differs), then text decoded from tag characters and variation selectors of the
    original. Each view exists only when declared and when the text holds a candidate.
    A main text longer than :data:`VIEW_BLOCK` characters gets its leetspeak, rot13
    and reversed views per block of whole paragraphs (:func:`_blocks`), only for the
    blocks that need one, in block order: cost and detection stay per paragraph
    however long the document is.
    ``identity`` is true when ``text`` is ``original`` and every span maps to itself.
    """

    __slots__ = ("original", "text", "identity", "_flags", "_main_len", "_segments",
                 "_S", "_E", "_map_ready")

    def __init__(self, original: str, text: str, identity: bool, flags: int = 0,
                 main_len: int = -1, segments: tuple = ()):
        self.original = original
        self.text = text
        self.identity = identity
        self._flags = flags
        self._main_len = len(text) if main_len < 0 else main_len
        # (text start, text end, main start, main end, kind, map) per appended segment,
        # in text order; the kinds are the _K_* constants above. The separator before
        # each segment maps to nothing.
        self._segments = segments
        self._S = None
        self._E = None
        self._map_ready = identity

    def __repr__(self) -> str:
        return f"NormalizedText(text={self.text!r}, identity={self.identity})"

    def __len__(self) -> int:
        return len(self.text)

    @property
    def main_length(self) -> int:
        """Length of the normalized main text; the appended segments (if any) follow it."""
        return len(self.text) if self.identity else self._main_len

    def _view(self, kind: int) -> tuple[int, int] | None:
        if self.identity:
            return None
        for ts, te, _ms, _me, k, _o in self._segments:
            if k == kind:
                return ts, te
        return None

    @property
    def leet_view(self) -> tuple[int, int] | None:
        """``(start, end)`` of the leetspeak view of the main text in ``.text``, or ``None``.

        ``text[start:end]`` has the length of the main text, and its position
        ``p`` is main position ``p - start``. A main text longer than
        :data:`VIEW_BLOCK` gets one leetspeak view per block of paragraphs that
        folds (see :func:`_blocks`); this is the first of them (``views`` lists all).
        """
        return self._view(_K_LEET)

    @property
    def views(self) -> tuple[tuple[str, int, int], ...]:
        """``(name, start, end)`` of every appended segment, in ``.text`` order.

        Names: ``leetspeak``, ``rot13``, ``reversed``, ``runs`` (spaced letters, morse,
        NATO, braille, %xx, zalgo), ``decoded`` (a base64/base32/hex blob, or its leetspeak
        view), ``hidden`` (tag characters or variation selectors of the original).
        """
        if self.identity:
            return ()
        names = {_K_LEET: "leetspeak", _K_SPAN: "decoded", _K_ROT13: "rot13", _K_REV: "reversed",
                 _K_RUNS: "runs", _K_ORIG: "hidden"}
        return tuple((names[k], ts, te) for ts, te, _ms, _me, k, _o in self._segments)

    @property
    def parts(self) -> tuple[tuple[int, int], ...]:
        """``(start, end)`` in ``.text`` of the main text and of each appended segment.

        Empty when ``.text`` is the main text alone. A scanner that must not
        match across a separator (text that nobody wrote) scans each part on
        its own.
        """
        if self.identity or not self._segments:
            return ()
        return ((0, self._main_len),) + tuple((s[0], s[1]) for s in self._segments)

    def copies(self) -> dict[int, int]:
        """``{start in .text: shift}`` of the appended views that are the main text character
        for character (leetspeak, rot13): position ``p`` of such a view stands for main
        position ``p + shift``. A match there at the same place and of the same text as one
        in the main text is the same match (a phone number in a leetspeak view)."""
        if self.identity:
            return {}
        return {ts: ms - ts for ts, _te, ms, _me, kind, _o in self._segments if kind in _CHAR_FOR_CHAR}

    # -- map -----------------------------------------------------------------
    def _ensure_map(self) -> None:
        if self._map_ready:
            return
        # Two threads may both build the map; they build the same one, and readers
        # look at _S/_E only once _map_ready is set, after both.
        main, S, E = _build_map(self.original, self._flags & _PRE)
        if len(main) != self._main_len:  # pragma: no cover - defensive
            n = len(self.original)
            dt = _index_dtype(n + 1)
            S = np.zeros(self._main_len, dtype=dt)
            E = np.full(self._main_len, n, dtype=dt)
        self._S, self._E = S, E
        self._map_ready = True

    def _main_pos(self, k: int) -> int:
        """Original position of the boundary before main-text character ``k``."""
        S = self._S
        if S is None:
            return k
        if k < self._main_len:
            return int(S[k])
        return int(self._E[k - 1]) if k > 0 else 0

    def _main_span(self, i: int, j: int) -> tuple[int, int]:
        if self._S is None:
            return i, j
        return int(self._S[i]), int(self._E[j - 1])

    def _seg_span(self, seg, a: int, b: int) -> tuple[int, int]:
        """Original span of characters ``[a, b)`` (``a < b``, in ``.text``) of segment ``seg``."""
        ts, te, ms, me, kind, obj = seg
        a = a if a > ts else ts
        b = b if b < te else te
        if kind in _CHAR_FOR_CHAR:
            return self._main_span(ms + a - ts, ms + b - ts)
        if kind == _K_SPAN:
            return self._main_span(ms, me)
        if kind == _K_REV:
            return self._main_span(me - (b - ts), me - (a - ts))
        if kind == _K_RUNS:
            x, y = obj.span(a - ts, b - ts)
            return self._main_span(x, y)
        # _K_ORIG
        if obj is None:
            return ms, me
        sub = obj[a - ts:b - ts]
        return min(c[0] for c in sub), max(c[1] for c in sub)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` of ``.text`` to the smallest covering span of ``.original``.

        Main-text characters map through the offset map. A character of the
        leetspeak or rot13 view of the main text maps exactly as the main character
        at the same offset does (both are length-preserving), one of the reversed
        view as the main character it mirrors, and one of the decoded-runs view to
        the main characters that produced it (a collapsed letter to that letter, a
        word break to the gap, a morse letter to its dots and dashes); all of these
        then go through the main map. A character of a decoded blob (or of its
        leetspeak view) maps to the blob's whole span, and one decoded from tag
        characters or variation selectors to the original characters that carried
        it. Separators map to nothing; a span of separators only maps to the empty
        span at the end of the original.

        Out-of-range bounds are clamped; ``end < start`` is treated as an empty
        span at ``start``. An empty span maps to an empty span at the original
        position of that boundary (in a leetspeak or rot13 view, including its end,
        the same as in the main text; elsewhere, where the next character starts).
        """
        m = len(self.text)
        start = 0 if start < 0 else (m if start > m else start)
        end = start if end < start else (m if end > m else end)
        if self.identity:
            return start, end
        self._ensure_map()
        main_len = self._main_len
        if end <= main_len:
            if start == end:
                p = self._main_pos(start)
                return p, p
            return self._main_span(start, end)
        # The span reaches into the appended segments.
        n = len(self.original)
        if start == end:
            for seg in self._segments:
                ts, te, ms, _me, kind, _o = seg
                if kind in _CHAR_FOR_CHAR and ts <= start <= te:  # a view's end is the main's end
                    p = self._main_pos(ms + start - ts)
                    return p, p
                if ts <= start < te:
                    p = self._seg_span(seg, start, start + 1)[0]
                    return p, p
            return n, n
        lo, hi = n + 1, -1
        if start < main_len:
            lo, hi = self._main_span(start, main_len)
        for seg in self._segments:
            ts, te = seg[0], seg[1]
            if ts < end and start < te:
                a, b = self._seg_span(seg, start, end)
                lo = a if a < lo else lo
                hi = b if b > hi else hi
        if hi < 0:  # only separators
            return n, n
        return lo, hi

    def segment_of(self, pos: int) -> int | None:
        """Index of the appended segment holding ``.text[pos]``, or ``None``.

        Segments are numbered in ``.text`` order (see the class docstring): with a
        leetspeak view of the main text, it is segment 0 and the other views and
        the decoded segments follow (each decoded blob's own leetspeak view, when
        there is one, right after it). ``None`` for the main text, a separator, or
        a position out of range.
        """
        if self.identity or pos < self._main_len:
            return None
        starts = [s[0] for s in self._segments]
        i = bisect_right(starts, pos) - 1
        if i >= 0 and self._segments[i][0] <= pos < self._segments[i][1]:
            return i
        return None

    def crosses_segments(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` holds characters of more than one segment.

        The main text and each appended segment count as one segment each;
        separators count as none. Such a span is an artifact of concatenation
        (it only exists across a separator), not text that anyone wrote.
        """
        if self.identity or end <= self._main_len + 1 or start >= end:
            return False
        count = 1 if start < self._main_len else 0
        for seg in self._segments:
            if seg[0] < end and start < seg[1]:
                count += 1
                if count > 1:
                    return True
        return False


_new = object.__new__

#: texts longer than this get their leetspeak, rot13, reversed and decoded-runs views per block of paragraphs
VIEW_BLOCK = 4096
_PARAGRAPH_END_RE = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def _blocks(text: str) -> list[tuple[int, int]]:
    """``text`` cut into blocks of whole paragraphs of up to about :data:`VIEW_BLOCK`
    characters (a longer paragraph is one block), ``[(start, end)]`` covering it.

    A rot13 or reversed payload is a paragraph or a few, not a whole document: deciding per
    block finds one inside a long English text (where the whole text's words would outvote
    it) and builds and scans views of the blocks that hold one, not of 100 KB of text each
    time a gate fires somewhere in it. Texts up to :data:`VIEW_BLOCK` are one block.
    """
    n = len(text)
    if n <= VIEW_BLOCK:
        return [(0, n)]
    out = []
    start = last = 0
    for m in _PARAGRAPH_END_RE.finditer(text):
        e = m.end()
        if e - start > VIEW_BLOCK and last > start:
            out.append((start, last))
            start = last
        last = e
    if n - start > VIEW_BLOCK and start < last < n:
        out.append((start, last))
        start = last
    out.append((start, n))
    return out

_GATED = {"spaced": _SPACED, "morse": _MORSE, "nato": _NATO, "braille": _BRAILLE, "urlencoding": _URL,
          "rot13": _ROT13, "reversed": _REVERSED, "zalgo": _ZALGO}
_GATE_NAME = {"urlencoding": "url"}


@dataclass(frozen=True, slots=True)
class Normalizer:
    """Normalizes text as a policy declares; call it on each text.

    ``steps`` may be given in any order and are stored in application order
    (see the module docstring). Unknown names raise :class:`UnknownStep`.
    """

    steps: tuple[str, ...] = DEFAULT_STEPS
    _flags: int = field(default=0, init=False, repr=False, compare=False)
    _ascii_inert: bool = field(default=True, init=False, repr=False, compare=False)
    _gate: object = field(default=None, init=False, repr=False, compare=False)
    _ogate: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = self.steps
        if isinstance(raw, str):
            raw = [s for s in (p.strip() for p in raw.split(",")) if s]
        flags = 0
        for s in raw:
            f = _FLAG.get(s) if isinstance(s, str) else None
            if f is None:
                raise UnknownStep(s)
            flags |= f
        object.__setattr__(self, "steps", tuple(s for s in _ORDER if flags & _FLAG[s]))
        object.__setattr__(self, "_flags", flags)
        object.__setattr__(self, "_ascii_inert", not (flags & ~_ASCII_INERT))
        names = [_GATE_NAME.get(s, s) for s, f in _GATED.items() if flags & f]
        if flags & (_B64 | _HEX | _B32):
            names.append("blob")
        object.__setattr__(self, "_gate", _views.gates(tuple(names)))
        onames = tuple(n for n, f in (("tags", _TAGS), ("variation_selectors", _VS)) if flags & f)
        object.__setattr__(self, "_ogate", _views.orig_gates(onames))

    def __call__(self, text: str) -> NormalizedText:
        if self._ascii_inert and text.isascii():
            nt = _new(NormalizedText)
            nt.original = nt.text = text
            nt.identity = True
            return nt
        flags = self._flags
        main = _pre_text(text, flags)
        leet = flags & _LEET
        parts = [main]
        segs = []
        pos = len(main)
        n_main = len(main)

        def add(seg: str, ms: int, me: int, kind: int, obj=None) -> None:
            nonlocal pos
            parts.append("\n")
            parts.append(seg)
            segs.append((pos + 1, pos + 1 + len(seg), ms, me, kind, obj))
            pos += 1 + len(seg)

        blocks = _blocks(main)
        if leet:
            for a, b in blocks:  # one block, the whole text, up to VIEW_BLOCK characters
                block = main[a:b] if b - a < n_main else main
                view = _leet(block)
                if view is not block:  # _leet returns its argument when nothing folds
                    add(view, a, b, _K_LEET)
        fired = self._gate(main) if self._gate is not None else ()
        if fired:
            if "rot13" in fired or "reversed" in fired:
                for a, b in blocks:
                    block = main[a:b] if b - a < n_main else main
                    if "rot13" in fired and _views.rot13_candidate(block):
                        add(_views.rot13(block), a, b, _K_ROT13)
                    if "reversed" in fired and _views.reversed_candidate(block):
                        add(block[::-1], a, b, _K_REV)
            base, keep = main, None
            if "zalgo" in fired:
                z = _views.strip_zalgo(main)
                if z is not None:
                    base, keep = z
            reps: list = []
            for name, dec in (("spaced", _views.decode_spaced), ("morse", _views.decode_morse),
                              ("nato", _views.decode_nato), ("braille", _views.decode_braille),
                              ("url", _views.decode_url)):
                if name in fired or (keep is not None and flags & _FLAG[_GATE_NAME_INV.get(name, name)]):
                    reps.extend(dec(base))
            runs = []
            if keep is None and reps and len(blocks) > 1:
                # a long text: a view of each block that holds decoded runs, not of all of it
                for lo, hi, rs in _run_ranges(blocks, reps):
                    view, rmap = _runs_view(base, rs, None, n_main, lo, hi)
                    if view != main[lo:hi]:
                        add(view, lo, hi, _K_RUNS, rmap)
                        runs.append((view, rmap))
            elif reps or keep is not None:
                view, rmap = _runs_view(base, reps, keep, n_main)
                if view != main:
                    add(view, 0, n_main, _K_RUNS, rmap)
                    runs.append((view, rmap))
            blobs = _find_blobs(main, flags) if "blob" in fired else []
            if runs and flags & (_B64 | _HEX | _B32):
                # a blob spaced out or punctuated ("S W d u b 3 J l ..."): found in the
                # decoded-runs view, mapped back through it
                seen = {d for _a, _b, d in blobs}
                for view, rmap in runs:
                    for a, b, decoded in _find_blobs(view, flags):
                        if decoded not in seen and rmap.touched(a, b):
                            blobs.append((*rmap.span(a, b), decoded))
            for a, b, decoded in blobs:
                decoded = _pre_text(decoded, flags)
                view = _leet(decoded) if leet else decoded
                for seg in (decoded, view) if view is not decoded else (decoded,):
                    add(seg, a, b, _K_SPAN)
        if self._ogate is not None and not text.isascii():
            ofired = self._ogate(text)
            for name, dec in (("tags", _views.decode_tags),
                              ("variation_selectors", _views.decode_variation_selectors)):
                if name in ofired:
                    for a, b, out, cmap in dec(text):
                        folded = _pre_text(out, flags)
                        add(folded, a, b, _K_ORIG, cmap if folded == out else None)
        if not segs:
            if main == text:
                return NormalizedText(text, text, True)
            return NormalizedText(text, main, False, flags)
        nt = NormalizedText(text, "".join(parts), False, flags, len(main), tuple(segs))
        if main == text:  # only appended segments: the main map is the identity
            nt._map_ready = True
        return nt


_GATE_NAME_INV = {v: k for k, v in _GATE_NAME.items()}
