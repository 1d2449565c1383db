"""PL303: characters that make the policy read differently from what it does.

- bidi controls (U+202A..U+202E, U+2066..U+2069, ...) anywhere, comments included: they
  reorder what an editor shows ("Trojan Source");
- invisible characters (zero-width space, joiners, soft hyphen, other format characters)
  in strings, regex literals and comments: a phrase with a zero-width space inside it
  never matches what it seems to say;
- letters that look like ASCII ones (Cyrillic `а`, Greek `ο`, fullwidth `ａ`) inside a
  regex literal next to ASCII letters: `/pаssword/` never matches `password`.

Names are ASCII by the grammar, so a look-alike letter in a name is already a syntax
error (PL001, with the same explanation). Only the files being checked are scanned.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

from policylang.check.checker import CheckContext, error
from policylang.check.util import qualified
from policylang.syntax import ast
from policylang.syntax.chars import char_name, is_bidi, is_invisible, lookalike

MAX_PER_FILE = 20

_REGIONS = re.compile(
    r'(?P<string>"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*")'
    r"|(?P<regex>/(?![/*])(?:[^/\\\n]|\\.)+/[a-z]*)"
    r"|(?P<comment>#[^\n]*)",
    re.S,
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def run(ctx: CheckContext):
    for info in ctx.infos:
        if info.active:
            yield from _scan(info.module.source)
            yield from _word_files(ctx, info)


def _word_files(ctx: CheckContext, info):
    """Hidden characters in loaded word files, reported once per file at its `file "..."`."""
    for words in info.module.of_type(ast.Words):
        if words.file is None:
            continue
        for n, phrase in enumerate(ctx.word_lists.get(qualified(info, words.name.value), ()), 1):
            if phrase.isascii():
                continue
            odd = next((c for c in phrase if is_bidi(c) or is_invisible(c)), None)
            if odd is not None:
                kind = "a bidi control" if is_bidi(odd) else "an invisible"
                yield error("PL303", f"word file `{words.file.value}` holds {kind} character {char_name(odd)} "
                                     f"in phrase {n} (`{phrase.encode('unicode_escape').decode('ascii')}`)",
                            words.file.span, help="such a phrase only matches text with the same hidden character; "
                                                  "remove the character from the file")
                break


def _scan(source):
    text = source.text
    if text.isascii():
        return
    starts, ends, kinds = [], [], []
    for m in _REGIONS.finditer(text):
        starts.append(m.start())
        ends.append(m.end())
        kinds.append(m.lastgroup)
    found = 0
    for m in _NON_ASCII.finditer(text):
        pos = m.start()
        ch = m.group()
        k = bisect_right(starts, pos) - 1
        region = kinds[k] if k >= 0 and pos < ends[k] else "code"
        d = _judge(text, pos, ch, region)
        if d is None:
            continue
        found += 1
        if found > MAX_PER_FILE:
            continue
        message, help = d
        yield error("PL303", message, source.span_at(pos, pos + 1), help=help, label="here")
    if found > MAX_PER_FILE:
        yield error("PL303", f"{found - MAX_PER_FILE} more suspicious characters in this file",
                    source.span_at(0, 0), help="only the first 20 are shown; fix those and check again")


def _where(region: str) -> str:
    return {"string": "in a string", "regex": "in a regex", "comment": "in a comment"}.get(region, "in the policy")


def _judge(text: str, pos: int, ch: str, region: str):
    if is_bidi(ch):
        return (f"bidi control character {char_name(ch)} {_where(region)}",
                "it makes editors show the text in a different order than it is read; delete it, "
                "or write it as an escape like `\\u202e` inside a string")
    if is_invisible(ch):
        if ord(ch) == 0x200D and _emoji_neighbour(text, pos):
            return None  # a zero-width joiner inside an emoji sequence
        esc = f"\\u{ord(ch):04x}"
        return (f"invisible character {char_name(ch)} {_where(region)}",
                f"a phrase with a hidden character matches only text with the same hidden character; "
                f"delete it, or write `{esc}` in a string if it is meant")
    if region in ("regex", "code"):
        alike = lookalike(ch)
        if alike is not None and (region == "code" or _next_to_ascii_letter(text, pos)):
            return (f"`{ch}` ({char_name(ch)}) looks like `{alike}` {_where(region)}",
                    f"it only matches `{ch}`, never `{alike}`; retype it as `{alike}`")
    return None


def _emoji_neighbour(text: str, pos: int) -> bool:
    for j in (pos - 1, pos + 1):
        if 0 <= j < len(text) and unicodedata.category(text[j]) in ("So", "Sk", "Mn"):
            return True
    return False


def _next_to_ascii_letter(text: str, pos: int) -> bool:
    for j in (pos - 1, pos + 1):
        if 0 <= j < len(text) and text[j].isascii() and text[j].isalpha():
            return True
    return False
