"""Characters that make policy text read differently from what it does.

Used by syntax errors (a look-alike letter inside a name) and by the checker's PL303
pass (bidi controls, invisible characters and look-alike letters in the text).
"""

from __future__ import annotations

import functools
import unicodedata

BIDI = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# Not category Cf, yet shown as nothing (or as a blank) by most editors.
_BLANK = frozenset([0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, 0x2800, 0x180B, 0x180C, 0x180D])

# A fallback for when the Unicode confusables data is not available.
_FALLBACK = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t", "ι": "i", "κ": "k", "Α": "A", "Β": "B", "Ε": "E",
    "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y",
    "Χ": "X", "ı": "i", "ɑ": "a", "ɡ": "g", "ℓ": "l",
}


@functools.lru_cache(maxsize=1)
def _confusables() -> dict[str, str]:
    """``{letter: ASCII look-alike}`` from the UTS #39 subset shipped with the runtime."""
    table = dict(_FALLBACK)
    try:
        from importlib import resources

        raw = resources.files("policylang.runtime").joinpath("data", "confusables_ascii.txt").read_text("utf-8")
    except Exception:  # noqa: BLE001 - the data file is optional here
        return table
    for line in raw.splitlines():
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        fields = [f.strip() for f in body.split(";")]
        if len(fields) < 2:
            continue
        try:
            src = "".join(chr(int(h, 16)) for h in fields[0].split())
            proto = "".join(chr(int(h, 16)) for h in fields[1].split())
        except ValueError:
            continue
        if len(src) == 1 and not src.isascii() and unicodedata.category(src)[0] == "L" and proto.isalnum():
            table.setdefault(src, proto)
    return table


def is_bidi(ch: str) -> bool:
    return ord(ch) in BIDI


def is_invisible(ch: str) -> bool:
    """Zero-width and other format characters (bidi controls excluded), and blank fillers."""
    o = ord(ch)
    if o in BIDI:
        return False
    return unicodedata.category(ch) == "Cf" or o in _BLANK


def lookalike(ch: str) -> str | None:
    """The ASCII letter or digit a non-ASCII letter is easily mistaken for, if any."""
    if ch.isascii():
        return None
    nf = unicodedata.normalize("NFKC", ch)
    if nf != ch and nf.isascii() and nf.isalnum():
        return nf  # fullwidth and mathematical letters
    if unicodedata.category(ch)[0] != "L":
        return None
    return _confusables().get(ch)


def char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character').lower()}"


def describe(ch: str) -> str | None:
    """A short description when ``ch`` is suspicious in policy text, else None."""
    if is_bidi(ch):
        return f"bidi control character {char_name(ch)}"
    if is_invisible(ch):
        return f"invisible character {char_name(ch)}"
    alike = lookalike(ch)
    if alike is not None:
        return f"`{ch}` ({char_name(ch)}) looks like `{alike}`"
    return None
