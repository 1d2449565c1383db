"""Decoders and candidate gates for the extra scanned views of :mod:`policylang.runtime.normalize`.

Each decoder looks for a *real candidate run* of one obfuscation or encoding and returns
what it decodes to, with a per-character map back to the run's characters; prose that only
*mentions* an encoding has no such run and yields nothing. Decoders never edit the main text:
the normalizer appends what they return as extra views (see ``normalize`` for the layout).

Cost: a text first goes through :func:`gates`, one Hyperscan scan of a small database of
candidate detectors (compiled once per set of enabled views, scratch per thread). A
decoder runs only when its gate fired, so N views cost one scan when a text has no
candidate at all. Every decoder is exact on its own (a gate is only a superset).

Decoders of runs inside the (normalized) main text return ``[(start, end, out, cmap)]``:
``text[start:end]`` is replaced by ``out`` in the "decoded runs" view, and ``cmap[k] =
(lo, hi)`` is the range of the main text that produced ``out[k]`` (never empty).
"""

from __future__ import annotations

import os
import re
import threading
from functools import lru_cache
from policylang.compile.patterns import _cpu_tag, _write_cache, resolve_cache_dir

__all__ = ["printable_enough", "gates", "orig_gates", "ENGLISH", "LEET_WORDS", "is_word"]

PRINTABLE_RATIO = 0.9
MAX_RUNS = 64  # run decodings per decoder and text
MIN_SPACED_LETTERS = 4
MIN_CODE_UNITS = 4  # morse groups, NATO words, braille cells, tag / selector characters
MIN_ENGLISH_GAIN = 3  # rot13 / reversed: words that become English, at least


def printable_enough(s: str) -> bool:
    if len(s) < 4:
        return False
    good = sum(1 for c in s if c.isprintable() or c in "\t\n\r")
    return good >= PRINTABLE_RATIO * len(s) and any(c.isalnum() for c in s)


# --------------------------------------------------------------------------- gates
# Candidate detectors; each is a superset of what its decoder accepts.
_A = r"[A-Za-z0-9+/_\-]"


def _rep(k: int) -> str:
    return "" if k == 0 else f"{_A}{{{k}}}"


_NATO_WORDS = {
    "alfa": "a", "alpha": "a", "bravo": "b", "charlie": "c", "delta": "d", "echo": "e", "foxtrot": "f",
    "golf": "g", "hotel": "h", "india": "i", "juliett": "j", "juliet": "j", "kilo": "k", "lima": "l",
    "mike": "m", "november": "n", "oscar": "o", "papa": "p", "quebec": "q", "romeo": "r", "sierra": "s",
    "tango": "t", "uniform": "u", "victor": "v", "whiskey": "w", "whisky": "w", "xray": "x", "x-ray": "x",
    "yankee": "y", "zulu": "z",
}
_NATO_ALT = "|".join(sorted((re.escape(w) for w in _NATO_WORDS), key=len, reverse=True))
_ZALGO_MARKS = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

# rot13 / reversed forms of words the attack patterns are written with, and of the most
# common English words (a payload almost always holds one of them).
_GATE_WORDS = ("the you your and ignore previous instructions system prompt rules all are "
               "now tell reveal forget").split()

# (name, pattern, hyperscan flags); scanned on b" " + main text (UTF-8) + b" "
_GATE_SPECS: dict[str, tuple[str, int]] = {
    # a base64 / base32 / hex run: 14 alphabet characters around a digit, + or / (text
    # encoded in any of them has one), or 14 before padding
    "blob": ("(?:" + "|".join(_rep(k) + "[0-9+/]" + _rep(13 - k) for k in range(14)) + f")|{_A}{{14}}=", 0),
    "spaced": (r"[^A-Za-z0-9][A-Za-z][ ._*\-/|~+]{1,2}[A-Za-z][ ._*\-/|~+]{1,2}[A-Za-z][^A-Za-z0-9]", 0),
    "morse": ("[.\\-\u00b7\u2022\u2212\u2013_]{1,7} {1,3}(?:[/|] {1,3})?[.\\-\u00b7\u2022\u2212\u2013_]{1,7}"
              " {1,3}(?:[/|] {1,3})?[.\\-\u00b7\u2022\u2212\u2013_]{1,7} {1,3}(?:[/|] {1,3})?"
              "[.\\-\u00b7\u2022\u2212\u2013_]", 0),
    "url": (r"%[0-9A-Fa-f]{2}[^%\s]{0,24}%[0-9A-Fa-f]{2}[^%\s]{0,24}%[0-9A-Fa-f]{2}", 0),
    "rot13": ("[^A-Za-z](?:" + "|".join(w.translate(str.maketrans(
        "abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm")) for w in _GATE_WORDS) + ")[^A-Za-z]", 1),
    "reversed": ("[^A-Za-z](?:" + "|".join(w[::-1] for w in _GATE_WORDS) + ")[^A-Za-z]", 1),
    "nato": (f"(?:{_NATO_ALT})[\\s,;/|\\-]{{1,5}}(?:{_NATO_ALT})", 1),
    "braille": ("[\u2801-\u28ff](?:[\u2800-\u28ff ]{0,2}[\u2801-\u28ff]){3}", 0),
    "zalgo": (f"[{_ZALGO_MARKS}]{{2}}|[A-Za-z][{_ZALGO_MARKS}][A-Za-z][{_ZALGO_MARKS}]", 0),
}
# scanned on the ORIGINAL text (these characters are removed by `invisible`)
_ORIG_GATE_SPECS: dict[str, tuple[str, int]] = {
    "tags": ("[\U000e0020-\U000e007e]{4}", 0),
    "variation_selectors": ("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{4}", 0),
}


class _Gate:
    """A compiled Hyperscan database of candidate detectors and a scratch per thread."""
    def __init__(self, names: tuple[str, ...], specs: dict):
        import hyperscan as hs

        self.names = names
        self.all = frozenset(names)
        flags = []
        for n in names:
            f = hs.HS_FLAG_SINGLEMATCH | hs.HS_FLAG_UTF8
            if specs[n][1] & 1:
                f |= hs.HS_FLAG_CASELESS
            flags.append(f)
        self.db = _gate_database([specs[n][0].encode("utf-8") for n in names], flags)
        self._hs = hs
        self._tls = threading.local()

    def __call__(self, text: str) -> frozenset:
        try:
            scratch = self._tls.s
        except AttributeError:
            scratch = self._tls.s = self._hs.Scratch(self.db)
        if text.isascii():
            data = b" " + text.encode("ascii") + b" "
        else:
            data = b" " + text.encode("utf-8", "replace") + b" "
        out: list[int] = []
        try:
            self.db.scan(data, _on_gate, 0, out, scratch)
        except Exception:  # pragma: no cover - fail open to the exact decoders (never skip)
            return self.all
        if not out:
            return frozenset()
        names = self.names
        return frozenset(names[i] for i in out)


def _gate_database(expressions: list[bytes], flags: list[int]):
    """The gate's Hyperscan database, from the on-disk pattern cache when it is there.

    Compiling the jailbreak pack's gates takes ~0.2 s, more than the rest of a warm load;
    the bytes are kept next to the pattern databases (same folder, same LRU trimming),
    keyed by the expressions, the flags, the Hyperscan version and the CPU features.
    """
    import hashlib
    import platform

    import hyperscan as hs

    folder = resolve_cache_dir(None)
    path = None
    if folder is not None:
        key = hashlib.sha256(repr((expressions, flags, getattr(hs, "__version__", "?"), platform.machine(),
                                   _cpu_tag())).encode()).hexdigest()
        path = os.path.join(folder, f"gate-{key[:40]}.hsdb")
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            if len(data) > 32 and hashlib.sha256(data[32:]).digest() == data[:32]:
                return hs.loadb(data[32:], mode=hs.HS_MODE_BLOCK)
        except Exception:  # no file, or not one of ours: compile
            pass
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags)
    if path is not None:
        blob = hs.dumpb(db)
        _write_cache(path, hashlib.sha256(blob).digest() + blob)
    return db


def _on_gate(i, start, end, flags, ctx):
    ctx.append(i)


class _AllGate:
    """Stand-in when Hyperscan cannot build the gate: every decoder runs (exact, slower)."""
    def __init__(self, names):
        self.all = frozenset(names)

    def __call__(self, text: str) -> frozenset:
        return self.all


@lru_cache(maxsize=64)
def _gate_for(names: tuple[str, ...], orig: bool):
    specs = _ORIG_GATE_SPECS if orig else _GATE_SPECS
    try:
        return _Gate(names, specs)
    except Exception:  # pragma: no cover - the patterns are fixed and compile
        return _AllGate(names)


def gates(names: tuple[str, ...]):
    """The gate function for the given decoders of the main text (``text -> frozenset``)."""
    names = tuple(n for n in _GATE_SPECS if n in names)
    return _gate_for(names, False) if names else None


def orig_gates(names: tuple[str, ...]):
    """The gate function for decoders of the original text (tags, variation selectors)."""
    names = tuple(n for n in _ORIG_GATE_SPECS if n in names)
    return _gate_for(names, True) if names else None


# --------------------------------------------------------------------------- spaced letters
_GAP_CHARS = frozenset(" !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2019")
_ISOLATED_RE = re.compile(r"(?<![^\W_])[^\W_](?![^\W_])")
_MAX_GAP = 12
_TRIPLE_RE = re.compile(r"([A-Za-z])\1\1")
_TRAILING_BREAK_RE = re.compile(r"(?: {2,7}| ?[/|] ?)(?=[^\W_])")
_TRAILING_PUNCT_RE = re.compile(r"(?: [!\"#$%&')*+,\-./:;<=>?@\]^_`|}~\u2019])+(?=\s|$)")
_SPACE_RUN_RE = re.compile(r"\s+")
_SLASH_BREAK_RE = re.compile(r" +[/|] +")
_LEAD_PUNCT = frozenset("!\"#$%&'(*+-./:;<=>?@[\\^_`{|~\u2018\u201c")
_JOINING = ("-", "'", "\u2019")  # punctuation inside a word: "pre-prompt", "don't"
_SEP_CHARS = frozenset("._*-/|~+")


def decode_spaced(text: str) -> list:
    """Letters spaced out or punctuated: ``i g n o r e   a l l``, ``i.g.n.o.r.e a.l.l``.

    Two forms, both collapsed into words (runs of :func:`decode_punctuated` first, then
    :func:`decode_spaced_letters` elsewhere).
    """
    punct = decode_punctuated(text)
    if not punct:
        return decode_spaced_letters(text)
    out = list(punct)
    for r in decode_spaced_letters(text):
        if all(r[1] <= p[0] or p[1] <= r[0] for p in punct):
            out.append(r)
    out.sort(key=lambda r: r[0])
    return out[:MAX_RUNS]


def decode_spaced_letters(text: str) -> list:
    """Runs of single letters and digits joined by a separator: ``i g n o r e  a l l``, ``b a s e 6 4``.

    A chain of isolated letters and digits whose gaps are short runs of separators and
    punctuation (at most 7 of ``space . _ * - / | ~ + , ; : ! ? ' " ( ) [ ]``) is split
    into words: the most common gap joins the letters of a word (``" "``, ``"."``,
    ``"-"``, even ``"  "``; with a one-character separator such as ``"."``, any other
    one-character separator too: ``i.g-n_o``); any other gap is a word break (``"   "``,
    ``" / "``, ``". ."``), and the punctuation it holds is kept, with a space where the gap
    had a wider space than the joining one (``"s ,   a"`` -> ``"s, a"``; ``"n ' t"`` ->
    ``"n't"``; ``"e - p"`` -> ``"e-p"``). A phrase is kept when it has a word of at least 5
    letters (6 when joined by ``.``) or a word of the list one letter shorter, or two words
    of at least 3 letters, or is one word of
    the word list (``a l l``; ``a s`` among plain words): "a b c" lists, "U.S.A.", initials
    ("J. R. R. Tolkien") and numbers ("1 2 3 4") are left alone.
    """
    out = []
    letters = [m.start() for m in _ISOLATED_RE.finditer(text)]
    i, n = 0, len(letters)
    while i < n and len(out) < MAX_RUNS:
        j = i + 1
        while j < n:
            gap = text[letters[j - 1] + 1:letters[j]]
            if len(gap) > _MAX_GAP or not gap or any(c not in _GAP_CHARS for c in gap):
                break
            j += 1
        chain = letters[i:j]
        i = j
        if len(chain) < 2:
            continue
        if len(chain) == 2:  # "a s", "A I": a two-letter word among plain ones
            pair = text[chain[0]] + text[chain[1]]
            if text[chain[0] + 1:chain[1]] != " " or pair.lower() not in LEET_WORDS or not (pair.islower() or pair.isupper()):
                continue
        gaps = [text[a + 1:b] for a, b in zip(chain, chain[1:])]
        counts: dict[str, int] = {}
        for g in gaps:
            counts[g] = counts.get(g, 0) + 1
        intra = max(counts, key=lambda g: (counts[g], -len(g)))
        sep_chars = set(intra)
        one_sep = len(intra) == 1 and intra in _SEP_CHARS
        joins = [g == intra or (one_sep and len(g) == 1 and g in _SEP_CHARS) for g in gaps]
        words, cur = [], [text[chain[0]]]
        for g, jn, p in zip(gaps, joins, chain[1:]):
            if jn:
                cur.append(text[p])
            else:
                words.append(cur)
                cur = [text[p]]
        words.append(cur)
        if len(intra) > 1 and intra.strip(" ") and intra.endswith(" "):
            continue  # "J. R. R.", "a, b, c, d": initials and lists, not spaced-out words
        lens = [sum(1 for c in w if c.isalpha()) for w in words]
        longest = 5 if intra == "." else 4  # "U.S.A.F." is an abbreviation
        if one_sep:  # "N.A.T.O.", "U.S.A.", "a.m.", "e.g.", "a|b": abbreviations do not count
            lens = [0 if n_ <= 2 or n_ <= 4 and "".join(w).isupper() else n_ for w, n_ in zip(words, lens)]
        # a long word: `longest` letters, one more unless it is a word ("I c c a" is not)
        long_word = any(n_ > longest or n_ == longest and is_word("".join(w).lower()) for w, n_ in zip(words, lens))
        if not long_word and sum(1 for w in lens if w >= 3) < 2 \
                and not (len(words) == 1 and "".join(words[0]).lower() in LEET_WORDS and lens[0] >= 2):
            continue  # "U.S.A. J.", "a b": one short word is not a phrase
        if any(_TRIPLE_RE.search("".join(w)) for w in words):
            continue  # "c c c a": no word has a letter three times in a row
        if all(_alphabet_run(w) for w in words):
            continue  # "a b c d e f", "x y z": a list of letters
        # " / " breaks words only where no wider space does ("i g n o r e / a l l"), and
        # words run together are split only then (a wider space marks the breaks)
        slash_breaks = not any(not jn and not g.strip() for g, jn in zip(gaps, joins))
        marked = not slash_breaks or any(not jn and _SLASH_BREAK_RE.search(g) for g, jn in zip(gaps, joins))
        splits = _segment_words(text, chain, gaps, intra) if not marked else ()
        chars, cmap = [text[chain[0]]], [(chain[0], chain[0] + 1)]
        for k, ((a, b), g) in enumerate(zip(zip(chain, chain[1:]), gaps)):
            if joins[k] and k in splits:
                chars.append(" ")  # a word boundary the text did not mark ("i g n o r e a l l")
                cmap.append((a + 1, b))
            elif not joins[k]:
                piece = _gap_text(g, intra, sep_chars, slash_breaks)
                chars.append(piece)
                cmap.extend([(a + 1, b)] * len(piece))
            chars.append(text[b])
            cmap.append((b, b + 1))
        start, end = chain[0], chain[-1] + 1
        if intra == " ":  # punctuation spaced out before the first letter ("# # #   S y s")
            lead, p = [], start
            while p >= 2 and text[p - 1] == " " and text[p - 2] in _LEAD_PUNCT and (p < 3 or text[p - 3].isspace()):
                p -= 2
                lead.append(p)
            if lead:
                lead.reverse()
                chars[:0] = [text[q] for q in lead]
                cmap[:0] = [(q, q + 2) for q in lead]
                start = lead[0]
        if intra == " ":  # punctuation spaced out after the last letter ("r u l e s ." -> "rules.")
            m = _TRAILING_PUNCT_RE.match(text, end)
            if m:
                for p in range(end + 1, m.end(), 2):
                    chars.append(text[p])
                    cmap.append((p - 1, p + 1))
                end = m.end()
        # a word break right after the phrase becomes one space ("i g n o r e   all")
        m = _TRAILING_BREAK_RE.match(text, end)
        if m:
            chars.append(" ")
            cmap.append((end, m.end()))
            end = m.end()
        out.append((start, end, "".join(chars), cmap))
    return out


def _alphabet_run(w: list) -> bool:
    """Whether ``w`` is a run of consecutive letters or digits ("abcdef", "XYZ", "1234")."""
    if len(w) < 2:
        return True
    return all(len(a) == 1 and len(b) == 1 and ord(b.lower()) - ord(a.lower()) == 1 for a, b in zip(w, w[1:]))


def _gap_text(g: str, intra: str, sep_chars: set, slash_breaks: bool = True) -> str:
    """What a word-break gap of a spaced phrase reads as: its punctuation, and a space
    where it has more space than the joining gap (``" ,   "`` -> ``", "``)."""
    if not g.strip():
        return " "
    if slash_breaks and intra == " " and _SLASH_BREAK_RE.search(g):
        g = _SLASH_BREAK_RE.sub("   ", g)  # "e ,  /  a": the slash is the break
    if intra.strip():  # joined by punctuation ("i.g.n"): the gap's own separators go
        punct = "".join(c for c in g if c not in sep_chars and not c.isspace())
        if punct in _JOINING:
            return punct
        return punct + " "
    pieces = []
    pos = 0
    for m in _SPACE_RUN_RE.finditer(g):
        pieces.append(g[pos:m.start()])
        if m.group() != intra:
            pieces.append(" ")
        pos = m.end()
    pieces.append(g[pos:])
    piece = "".join(pieces)
    core = piece.strip(" ")
    if core in _JOINING and piece == core:
        return core  # "p r e - p r o m p t", "d o n ' t"
    if core in ("/", "|") and slash_breaks:
        return " "  # "i g n o r e / a l l": a word break
    return piece if piece.strip() else " "


# --------------------------------------------------------------------------- punctuated words
_TOKEN_RE = re.compile(r"\S+")
_PUNCT_SEPS = frozenset("._*-/|~+:\u00b7\u2022")
_PUNCT_TOKEN_RE = re.compile(r"(?<!\S)\S(?:[._*\-/|~+:\u00b7\u2022]\S)+[._*\-/|~+:\u00b7\u2022]?(?!\S)")
_BETWEEN_RE = re.compile(r"\s+(?:\S\s+)*")


def _punct_word(tok: str):
    """The letters of ``tok`` when it is one word with a separator between every two of its
    characters (``i.g.n.o.r.e``, ``r|u|l|e|s|.``, ``i.g-n_o*r/e``), else ``None``."""
    n = len(tok)
    if n < 3:
        return None
    if n % 2 == 0:
        if tok[-1] not in _PUNCT_SEPS:
            return None
        n -= 1  # "i.g.n.o.r.e.": a trailing separator
    for k in range(1, n, 2):
        if tok[k] not in _PUNCT_SEPS:
            return None
    chars = tok[0:n:2]
    if not any(c.isalnum() for c in chars):
        return None
    return chars


def decode_punctuated(text: str) -> list:
    """Words written with a separator between their characters: ``i.g.n.o.r.e a.l.l``,
    ``r-u-l-e-s-.``, ``i|g|n|o|r|e``, ``i.g-n_o*r/e`` (any of ``. _ * - / | ~ + :`` between
    every two characters), one word per whitespace-separated token.

    A phrase is a run of such tokens (single characters between them, "a", "I", ",", are
    kept as they are) that has a word of at least 4 letters (5 when it is dotted only), or
    two of at least 3; dotted capitals of up to 4 letters (``U.S.A.``, ``N.A.T.O.``) and
    ``e.g.``, ``i.e.``, ``a.m.`` do not count. Each token reads as its characters, each gap as one space.
    """
    out = []
    cands = []
    for m in _PUNCT_TOKEN_RE.finditer(text):
        w = _punct_word(m.group())
        if w is not None:
            cands.append((m.start(), m.end(), w))
    k, n = 0, len(cands)
    while k < n and len(out) < MAX_RUNS:
        # a phrase: punctuated words with only whitespace and single characters between them
        phrase = [cands[k]]
        e = k + 1
        while e < n:
            between = text[cands[e - 1][1]:cands[e][0]]
            if len(between) > _MAX_GAP or _BETWEEN_RE.fullmatch(between) is None:
                break
            for m in _TOKEN_RE.finditer(between):
                phrase.append((cands[e - 1][1] + m.start(), cands[e - 1][1] + m.end(), None))
            phrase.append(cands[e])
            e += 1
        k = e
        strong = 0
        ok = False
        for a, b, w in phrase:
            if w is None:
                continue
            tok = text[a:b]
            letters = sum(1 for c in w if c.isalpha())
            dotted = all(tok[x] == "." for x in range(1, len(tok), 2))
            if dotted and (letters <= 2 or letters <= 4 and w.isupper()):
                continue  # "U.S.A.", "N.A.T.O.", "e.g.": abbreviations
            if letters >= (5 if dotted else 4):
                ok = True
            if letters >= 3:
                strong += 1
        if not (ok or strong >= 2):
            continue
        chars, cmap = [], []
        prev_end = None
        for a, b, w in phrase:
            if prev_end is not None:
                chars.append(" ")
                cmap.append((prev_end, a))
            if w is None:
                chars.append(text[a])
                cmap.append((a, b))
            else:
                for x in range(0, 2 * len(w), 2):
                    chars.append(text[a + x])
                    cmap.append((a + x, a + x + 1))
            prev_end = b
        out.append((phrase[0][0], phrase[-1][1], "".join(chars), cmap))
    return out


def _segment_words(text: str, chain: list, gaps: list, intra: str) -> set:
    """Gap indexes where a long unbroken word of the chain splits into words.

    A spaced phrase written without word breaks (``i g n o r e a l l``, or spaced words
    among plain ones, ``a r e o u t d a t e d``) collapses to one long "word"; when it is
    not a word itself (see :func:`is_word`) but splits entirely into words of
    :data:`LEET_WORDS` (or their plurals; the fewest), the gaps between them become spaces.
    """
    out: set = set()
    k = 0
    while k < len(chain):
        e = k
        while e < len(gaps) and gaps[e] == intra:
            e += 1
        word = "".join(text[p] for p in chain[k:e + 1]).lower()
        if 4 <= len(word) <= _MAX_SEGMENTED and not is_word(word):
            cuts = _split_words(word)
            if cuts is not None:
                out.update(k + c - 1 for c in cuts[:-1])
        k = e + 1
    return out


_MAX_SEGMENTED = 160
_MAX_PIECE = 18


def _split_words(word: str):
    """End offsets of the pieces of ``word`` when it splits into words (the fewest), or ``None``."""
    n = len(word)
    # best[y] = (cost, unknown letters, cuts); a word costs 1, an unknown piece 3 + its length
    best: list = [None] * (n + 1)
    best[0] = (0, 0, ())
    for x in range(n):
        if best[x] is None:
            continue
        cost, unknown, cuts = best[x]
        for y in range(x + 1, min(n, x + _MAX_PIECE) + 1):
            piece = word[x:y]
            if piece in LEET_WORDS or (y - x > 3 and piece[-1] == "s" and piece[:-1] in LEET_WORDS):
                cand = (cost + 1, unknown, cuts + (y,))
            else:
                cand = (cost + 3 + y - x, unknown + y - x, cuts + (y,))
            if best[y] is None or cand[:2] < best[y][:2]:
                best[y] = cand
    _cost, unknown, cuts = best[n]
    if len(cuts) < 2 or unknown:
        return None
    return cuts


@lru_cache(maxsize=8192)
def is_word(w: str) -> bool:
    """Whether ``w`` (lower case) is a word of :data:`LEET_WORDS`, or one with a suffix
    (``-s``, ``-ed``, ``-ing``, ``-ly``, ...)."""
    if w in LEET_WORDS:
        return True
    for suf in _SUFFIXES:
        if len(w) > len(suf) + 1 and w.endswith(suf):
            stem = w[:-len(suf)]
            if stem in LEET_WORDS or stem + "e" in LEET_WORDS or (
                    len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in LEET_WORDS):
                return True
    return False


_SUFFIXES = ("s", "es", "d", "ed", "ing", "ly", "er", "ers", "ion", "ions", "ness")


# --------------------------------------------------------------------------- morse
_MORSE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h",
    "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p",
    "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x",
    "-.--": "y", "--..": "z", "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4",
    ".....": "5", "-....": "6", "--...": "7", "---..": "8", "----.": "9", ".-.-.-": ".", "--..--": ",",
    "..--..": "?", ".----.": "'", "-.-.--": "!", "-..-.": "/", "---...": ":", "-.-.-.": ";", "-...-": "=",
    "-....-": "-", ".-..-.": '"', ".--.-.": "@", "-.--.": "(", "-.--.-": ")",
}
_MORSE_DOT = ".\u00b7\u2022"
_MORSE_DASH = "-\u2212\u2013_"
_MORSE_NORM = str.maketrans({"\u00b7": ".", "\u2022": ".", "\u2212": "-", "\u2013": "-", "_": "-"})
_MC = "[.\\-\u00b7\u2022\u2212\u2013_]"
_MORSE_RUN_RE = re.compile(f"(?<![^\\s/|]){_MC}{{1,7}}(?:(?: {{1,7}}|\\s*[/|]\\s*){_MC}{{1,7}}){{{MIN_CODE_UNITS - 1},}}(?![^\\s/|])")
_MORSE_TOKEN_RE = re.compile(f"{_MC}+|\\s*[/|]\\s*| +")


def decode_morse(text: str) -> list:
    """Morse code: ``.`` / ``-`` groups, letters split by one space, words by ``/``, ``|`` or 2+ spaces."""
    out = []
    for m in _MORSE_RUN_RE.finditer(text):
        if len(out) >= MAX_RUNS:
            break
        chars, cmap, bad, letters = [], [], 0, 0
        for t in _MORSE_TOKEN_RE.finditer(text, m.start(), m.end()):
            tok = t.group()
            if tok[0] in _MORSE_DOT or tok[0] in _MORSE_DASH:
                ch = _MORSE.get(tok.translate(_MORSE_NORM))
                letters += 1
                if ch is None:
                    bad += 1
                    continue
                chars.append(ch)
                cmap.append(t.span())
            elif tok != " ":
                chars.append(" ")
                cmap.append(t.span())
        s = "".join(chars).strip()
        if letters >= MIN_CODE_UNITS and bad * 10 <= letters and sum(c.isalpha() for c in s) >= 3 \
                and len({c for c in s if c.isalpha()}) >= 3:  # "... ... ...", "- - - -": not words
            lead = len(chars) - len("".join(chars).lstrip())
            chars, cmap = chars[lead:], cmap[lead:]
            while chars and chars[-1] == " ":
                chars.pop()
                cmap.pop()
            out.append((cmap[0][0], cmap[-1][1], "".join(chars), cmap))
    return out


# --------------------------------------------------------------------------- NATO alphabet
_NATO_RUN_RE = re.compile(f"\\b(?:{_NATO_ALT})\\b(?:(?:[ ,;\\-]{{1,3}}|\\s*[/|\\n]\\s*| {{2,5}})(?:{_NATO_ALT})\\b){{{MIN_CODE_UNITS - 1},}}",
                          re.IGNORECASE)
_NATO_TOKEN_RE = re.compile(f"\\b(?:{_NATO_ALT})\\b|[^A-Za-z]+", re.IGNORECASE)


def decode_nato(text: str) -> list:
    """NATO phonetic words (``India Golf November ...``); ``/``, ``|``, a newline or 2+ spaces break words.

    Kept when the letters spell at least one word of three letters or more (:func:`is_word`)."""
    out = []
    for m in _NATO_RUN_RE.finditer(text):
        if len(out) >= MAX_RUNS:
            break
        chars, cmap = [], []
        for t in _NATO_TOKEN_RE.finditer(text, m.start(), m.end()):
            tok = t.group()
            letter = _NATO_WORDS.get(tok.lower())
            if letter is not None:
                chars.append(letter)
                cmap.append(t.span())
            elif "/" in tok or "|" in tok or "\n" in tok or "  " in tok:
                chars.append(" ")
                cmap.append(t.span())
        if not any(len(w) >= 3 and is_word(w) for w in "".join(chars).split()):
            continue  # "x-ray x-ray echo India", "Echo Echo Echo Echo": no word
        out.append((m.start(), m.end(), "".join(chars), cmap))
    return out


# --------------------------------------------------------------------------- braille
_BRAILLE_LETTERS = dict(zip(
    [0x01, 0x03, 0x09, 0x19, 0x11, 0x0B, 0x1B, 0x13, 0x0A, 0x1A, 0x05, 0x07, 0x0D, 0x1D, 0x15, 0x0F,
     0x1F, 0x17, 0x0E, 0x1E, 0x25, 0x27, 0x3A, 0x2D, 0x3D, 0x35],
    "abcdefghijklmnopqrstuvwxyz"))
_BRAILLE_PUNCT = {0x02: ",", 0x32: ".", 0x16: "!", 0x26: "?", 0x04: "'", 0x24: "-", 0x06: ";", 0x12: ":"}
_BRAILLE_DIGITS = dict(zip("abcdefghij", "1234567890"))
_BRAILLE_CAPITAL, _BRAILLE_NUMBER = 0x20, 0x3C
_BRAILLE_RUN_RE = re.compile("[\u2800-\u28ff](?:[\u2800-\u28ff ]*[\u2800-\u28ff])?")


def decode_braille(text: str) -> list:
    """English grade-1 braille (U+2800 block): letters, capital and number signs, punctuation."""
    out = []
    for m in _BRAILLE_RUN_RE.finditer(text):
        if len(out) >= MAX_RUNS:
            break
        chars, cmap = [], []
        cells = bad = 0
        cap = num = False
        sign_at = None
        for p in range(m.start(), m.end()):
            c = ord(text[p])
            if c == 0x20 or c == 0x2800:
                chars.append(" ")
                cmap.append((p, p + 1))
                num = False
                continue
            cells += 1
            dots = c - 0x2800
            if dots == _BRAILLE_CAPITAL:
                cap, sign_at = True, p if sign_at is None else sign_at
                continue
            if dots == _BRAILLE_NUMBER:
                num, sign_at = True, p if sign_at is None else sign_at
                continue
            ch = _BRAILLE_LETTERS.get(dots)
            if ch is not None:
                if num and ch in _BRAILLE_DIGITS:
                    ch = _BRAILLE_DIGITS[ch]
                elif cap:
                    ch = ch.upper()
            else:
                ch = _BRAILLE_PUNCT.get(dots)
                if ch is None:
                    bad += 1
                    sign_at = None
                    continue
            chars.append(ch)
            cmap.append((p if sign_at is None else sign_at, p + 1))
            cap, sign_at = False, None
        s = "".join(chars)
        if cells >= MIN_CODE_UNITS and bad * 5 <= cells and sum(c.isalnum() for c in s) >= 3:
            out.append((m.start(), m.end(), s, cmap))
    return out


# --------------------------------------------------------------------------- URL encoding
_URL_RUN_RE = re.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){3,}")
_HEXDIGITS = set("0123456789abcdefABCDEF")


def decode_url(text: str) -> list:
    """Runs with 3+ ``%xx`` escapes (``ignore%20all%20previous``), ``+`` read as a space."""
    out = []
    for m in _URL_RUN_RE.finditer(text):
        if len(out) >= MAX_RUNS:
            break
        run_start, run = m.start(), m.group()
        data, src = bytearray(), []
        k = 0
        while k < len(run):
            c = run[k]
            if c == "%" and k + 2 < len(run) and run[k + 1] in _HEXDIGITS and run[k + 2] in _HEXDIGITS:
                data.append(int(run[k + 1:k + 3], 16))
                src.append((run_start + k, run_start + k + 3))
                k += 3
                continue
            b = (" " if c == "+" else c).encode("utf-8", "surrogatepass")
            for x in b:
                data.append(x)
                src.append((run_start + k, run_start + k + 1))
            k += 1
        try:
            s = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not printable_enough(s):
            continue
        cmap, pos = [], 0
        for ch in s:
            w = len(ch.encode("utf-8", "surrogatepass"))
            cmap.append((src[pos][0], src[pos + w - 1][1]))
            pos += w
        out.append((m.start(), m.end(), s, cmap))
    return out


# --------------------------------------------------------------------------- zalgo
_ZALGO_RE = re.compile(f"[{_ZALGO_MARKS}]+")


def strip_zalgo(text: str):
    """``(stripped, keep)``: ``text`` without combining marks of the zalgo ranges, and the
    main position of each kept character; ``None`` when fewer than 3 marks sit on letters."""
    marks = 0
    for m in _ZALGO_RE.finditer(text):
        if m.start() and text[m.start() - 1].isalpha():
            marks += m.end() - m.start()
            if marks >= 3:
                break
    if marks < 3:
        return None
    keep = []
    prev = 0
    for m in _ZALGO_RE.finditer(text):
        keep.extend(range(prev, m.start()))
        prev = m.end()
    keep.extend(range(prev, len(text)))
    return "".join(text[k] for k in keep), keep


# --------------------------------------------------------------------------- rot13 / reversed
_ROT13 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                       "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")
_WORD_RE = re.compile(r"[A-Za-z]+")

# Common English words (and the words attack patterns are written with), for telling a
# decoded text from gibberish. Hand-written for this purpose.
ENGLISH = frozenset("""
a about above act after again against all also always am an and answer any anything are as ask
at away back be because been before being below between both but by can cannot code come could
data day decode did do does doing done dont down each else even ever every everything explain
few filter find first follow for forget free from full get give go going good guidelines had
has have he her here hidden him his how i if ignore in information instead instructions into is
it its just know last let like limits little long look made make many may me mode more most
must my need never new no not nothing now of off old on once one only or other our out over own
password people please policy pretend previous print prior prompt reply reveal respond restrictions
rules safety said say says secret secrets see should show so some something start stop such system
take tell than that the their them then there these they thing things think this those through
time to told too true two under unrestricted until up us use very want was way we well were what
when where which while who why will with without word words work would write yes you your
illegal unfiltered unlimited filters developer model role roleplay evil harmful limitations
following below help real world only self delete leak leaked override bypass disable admin
""".split())

# More words the attack patterns are written with (and common words holding an ``l`` or an
# ``i``), for reading leetspeak's ambiguous ``1`` (``i`` or ``l``) as a word: hand-picked.
LEET_WORDS = ENGLISH | frozenset("""
ai ais dan stan article translate translation keylogger said join delight delights
able absolutely accordingly acting action activate active actual actually admin administrator
alert align alignment allow allowed alone already alternate amoral anthropic anti apply applies
applicable aside asking assistant attention authorized avoid beginning believe bill binary
binding black block blueprint boundaries breaking build built call called cancel cancelled
censor censored censorship certainly chain chemical chemistry circumstances circumvent claim
classifier click close comply complete completely compliance conditioning confidant confidential
configuration configured considerations constrained constraints contain contains continue control
controlled conversation credential credentials credit criminal curious deactivate deadly dealer
debug debugging decline default deleted describe designed detail detailed detection develop
developed developers different direct directions directive directives directly disable disabled
disallowed discard disclaimer disclose dismiss display disregard double drive dual earlier
educational effective email enable enabled engineer engineering entire entirely entity ethical
ethics evil exactly exceptions exclusively exist existing explain explicit exploit exploits
explosives external fail false family feel fiction fictional file files fill film filtered
filtering final fine finished firearms flag follow follows forbidden friend friendly fully
function genuine girl give given gives glad gladly global goal guardrails guidance guide guideline
hacking half halt handle happily held hello helpful helps hide hint history hold hypothetical
hypothetically identity ignored ignores ignoring illegally image imagine immoral impossible
include includes initial initially inside instruct instructed instruction intelligence internal
interpret invalid invisible isn items jailbreak jailbroken kill killing kind lab language large
last late latest later latin law lawless laws layer lead leak learn least leave left legal legality
less lesson lethal letter letters level liberated lie life lift lifted light likely limit limited
limitless line lines link list listed listen little live lives llm load lock locked log logging
login logs longer lose loss lost lot love low lower mail main malicious malware maintenance making
meanwhile mention merely might mild mind mine misaligned mission mistake mode models moderation
modified monitoring moral morality morals myself narrative normal normally notice novel null
obeying obligated obsolete official officially omit only open openai opening opposite option
original originally overlook overridden overrule parallel pill place play player playing please
plus point poison police policies polite political possible powerful preamble preceding
precise prefix previously principle principles private privileged problem programming prohibited
protagonist protocols provide provided public purely question questions quietly real realistic
reality really received recipe recite refusal refusing regardless relevant release released
reliable remind reminder remove removed replaced reply replies require required responding
restricted result results reveal review revised rewrite rewritten rid right risk rule ruled
safely sale school script secretly security select sell setting settings several shall shell
silent silently simple simply simulate simulation single sister site skill skip slave sleep slip
small smuggle solely special spell splice still strictly string style submit switch switched
table tale talk technical telling tells terminal terrorist testing theoretical third thrill
thriller till tilt times title tool tools total totally toxic trail training trial trick truly
trying tuning typical unable unaligned unchained unethical unhinged universal unlock unlocked
unrestricted unsafe until upload usual usually valid variable verbatim verified version via
villain violate violent virus visible visit void wait warning warnings whole wild will window
within while wish withhold writing written yell yield yourself
""".split())


def _english_gain(text: str, fn) -> bool:
    """Whether ``fn`` (rot13 or reversal, per word) turns at least ``MIN_ENGLISH_GAIN`` of the
    text's non-English words into English, and at least 40% of them; twice that many is
    enough on its own (an encoded payload among many words the short list does not know)."""
    gain = unknown = 0
    for w in _WORD_RE.findall(text):
        lw = w.lower()
        if lw in ENGLISH:
            continue
        unknown += 1
        if fn(lw) in ENGLISH:
            gain += 1
    return gain >= MIN_ENGLISH_GAIN and (gain * 5 >= unknown * 2 or gain >= 2 * MIN_ENGLISH_GAIN)


def rot13_candidate(text: str) -> bool:
    return _english_gain(text, lambda w: w.translate(_ROT13))


def rot13(text: str) -> str:
    return text.translate(_ROT13)


def reversed_candidate(text: str) -> bool:
    return _english_gain(text, lambda w: w[::-1])


# --------------------------------------------------------------------------- original-text decoders
_TAG_RUN_RE = re.compile("[\U000e0020-\U000e007e]{%d,}" % MIN_CODE_UNITS)
_VS_RUN_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]{%d,}" % MIN_CODE_UNITS)


def decode_tags(original: str) -> list:
    """Unicode tag characters (U+E0020..E007E) carrying hidden ASCII: ``[(start, end, out, cmap)]``
    in ORIGINAL positions. Emoji subdivision flags (short tag runs after U+1F3F4) are skipped."""
    out = []
    for m in _TAG_RUN_RE.finditer(original):
        if len(out) >= MAX_RUNS:
            break
        if m.end() - m.start() <= 7 and m.start() and original[m.start() - 1] == "\U0001f3f4":
            continue
        s = "".join(chr(ord(c) - 0xE0000) for c in m.group())
        if not printable_enough(s):
            continue
        out.append((m.start(), m.end(), s, [(p, p + 1) for p in range(m.start(), m.end())]))
    return out


def decode_variation_selectors(original: str) -> list:
    """Bytes smuggled in variation selectors (U+FE00..FE0F = 0..15, U+E0100..E01EF = 16..255),
    decoded as UTF-8: ``[(start, end, out, cmap)]`` in ORIGINAL positions."""
    out = []
    for m in _VS_RUN_RE.finditer(original):
        if len(out) >= MAX_RUNS:
            break
        data = bytes((ord(c) - 0xFE00) if ord(c) < 0x10000 else (ord(c) - 0xE0100 + 16) for c in m.group())
        try:
            s = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not printable_enough(s):
            continue
        cmap, pos = [], m.start()
        for ch in s:
            w = len(ch.encode("utf-8", "surrogatepass"))
            cmap.append((pos, pos + w))
            pos += w
        out.append((m.start(), m.end(), s, cmap))
    return out
