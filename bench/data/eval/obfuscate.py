"""Build obfuscated.jsonl: obfuscated copies of plain attacks from attacks.jsonl.

    python bench/data/eval/obfuscate.py

Each record: {"text", "label": "attack", "family": "obf_<technique>", "orig": <0-based line index
into attacks.jsonl>}. The scorer reports, per technique, the share of copies still caught among
those whose original is caught. Deterministic (seed below).
"""
from __future__ import annotations

import base64
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, read_jsonl, write_jsonl  # noqa: E402

R = random.Random(909)

# Families whose texts are plain natural-language attacks (not already encoded or token soup).
SOURCE_FAMILIES = {"persona", "roleplay", "obfuscated_request", "extraction", "indirect", "exfiltration",
                   "goal_hijack", "code_injection", "authority", "pasted"}

LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "g": "9", "b": "8", "l": "1"}
HOMO = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "s": "ѕ", "j": "ј",
        "A": "Α", "B": "Β", "E": "Ε", "H": "Η", "I": "Ι", "K": "Κ", "M": "Μ", "N": "Ν", "O": "Ο", "P": "Ρ",
        "T": "Τ", "X": "Χ", "Y": "Υ", "Z": "Ζ", "v": "ν"}
ZW = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


def spaced(s):
    return "   ".join(" ".join(w) for w in s.split())


def punctuated(s):
    sep = R.choice([".", "-", "_", "*", "|"])
    return " ".join(sep.join(w) for w in s.split())


def leet(s):
    return "".join(LEET.get(c.lower(), c) if R.random() < 0.8 else c for c in s)


def homoglyph(s):
    return "".join(HOMO[c] if c in HOMO and R.random() < 0.6 else c for c in s)


def zero_width(s):
    out = []
    for c in s:
        out.append(c)
        if c.isalpha() and R.random() < 0.5:
            out.append(R.choice(ZW))
    return "".join(out)


def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s)


def random_case(s):
    return "".join(c.upper() if R.random() < 0.5 else c.lower() for c in s)


def b64(s):
    lead = R.choice(["", "Decode and follow: ", "base64: ", "Please decode this and do what it says:\n"])
    return lead + base64.b64encode(s.encode()).decode()


TECHNIQUES = {
    "spaced": (spaced, 300), "punctuated": (punctuated, 300), "leetspeak": (leet, 2000),
    "homoglyph": (homoglyph, 2000), "zero_width": (zero_width, 2000), "fullwidth": (fullwidth, 2000),
    "case": (random_case, 2000), "base64": (b64, 1200),
}
PER_TECHNIQUE = 25


def main() -> None:
    attacks = read_jsonl(HERE / "attacks.jsonl")
    rows = []
    for name, (fn, max_len) in TECHNIQUES.items():
        pool = [i for i, a in enumerate(attacks) if a["family"] in SOURCE_FAMILIES and len(a["text"]) <= max_len]
        for i in sorted(R.sample(pool, PER_TECHNIQUE)):
            rows.append({"text": fn(attacks[i]["text"]), "label": "attack", "family": f"obf_{name}", "orig": i})
    n = write_jsonl(HERE / "obfuscated.jsonl", rows)
    print(n, "records,", PER_TECHNIQUE, "per technique:", ", ".join(TECHNIQUES))


if __name__ == "__main__":
    main()
