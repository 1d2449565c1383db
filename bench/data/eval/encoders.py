"""Encoders used to build the `encoded` attack family (written for this set)."""
from __future__ import annotations

import base64
import random

_R = random.Random(7)

MORSE = {
    "a": ".-", "b": "-...", "c": "-.-.", "d": "-..", "e": ".", "f": "..-.", "g": "--.", "h": "....", "i": "..",
    "j": ".---", "k": "-.-", "l": ".-..", "m": "--", "n": "-.", "o": "---", "p": ".--.", "q": "--.-", "r": ".-.",
    "s": "...", "t": "-", "u": "..-", "v": "...-", "w": ".--", "x": "-..-", "y": "-.--", "z": "--..",
    "0": "-----", "1": ".----", "2": "..---", "3": "...--", "4": "....-", "5": ".....", "6": "-....",
    "7": "--...", "8": "---..", "9": "----.", ".": ".-.-.-", ",": "--..--", "?": "..--..", "'": ".----.",
}
NATO = {
    "a": "Alfa", "b": "Bravo", "c": "Charlie", "d": "Delta", "e": "Echo", "f": "Foxtrot", "g": "Golf", "h": "Hotel",
    "i": "India", "j": "Juliett", "k": "Kilo", "l": "Lima", "m": "Mike", "n": "November", "o": "Oscar", "p": "Papa",
    "q": "Quebec", "r": "Romeo", "s": "Sierra", "t": "Tango", "u": "Uniform", "v": "Victor", "w": "Whiskey",
    "x": "X-ray", "y": "Yankee", "z": "Zulu",
}
# Grade-1 braille letters as dot numbers, mapped onto U+2800 + bit pattern.
_BRAILLE_DOTS = {
    "a": "1", "b": "12", "c": "14", "d": "145", "e": "15", "f": "124", "g": "1245", "h": "125", "i": "24",
    "j": "245", "k": "13", "l": "123", "m": "134", "n": "1345", "o": "135", "p": "1234", "q": "12345",
    "r": "1235", "s": "234", "t": "2345", "u": "136", "v": "1236", "w": "2456", "x": "1346", "y": "13456",
    "z": "1356", " ": "",
}


def _braille_char(dots: str) -> str:
    return chr(0x2800 + sum(1 << (int(d) - 1) for d in dots))


def b64(s): return base64.b64encode(s.encode()).decode()
def b32(s): return base64.b32encode(s.encode()).decode()
def b16(s): return base64.b16encode(s.encode()).decode()
def hexsp(s): return " ".join(f"{b:02x}" for b in s.encode())
def hex0x(s): return " ".join(f"0x{b:02X}" for b in s.encode())


def rot13(s):
    out = []
    for c in s:
        if "a" <= c <= "z":
            out.append(chr((ord(c) - 97 + 13) % 26 + 97))
        elif "A" <= c <= "Z":
            out.append(chr((ord(c) - 65 + 13) % 26 + 65))
        else:
            out.append(c)
    return "".join(out)


def reverse(s): return s[::-1]


def urlenc(s):
    return "".join(c if c.isalnum() and _R.random() < 0.3 else "".join(f"%{b:02X}" for b in c.encode()) for c in s)


def braille(s): return "".join(_braille_char(_BRAILLE_DOTS[c]) if c in _BRAILLE_DOTS else c for c in s.lower())


def morse(s): return " / ".join(" ".join(MORSE[c] for c in w if c in MORSE) for w in s.lower().split())


def nato(s): return " ".join(NATO.get(c, "(space)" if c == " " else c) for c in s.lower() if c.isalpha() or c == " ")


def zalgo(s):
    marks = [chr(c) for c in range(0x0300, 0x036F)]
    return "".join(c + "".join(_R.choice(marks) for _ in range(_R.randint(1, 5))) if c.isalpha() else c for c in s)


def tags(s):
    """Invisible Unicode tag characters (U+E0020..U+E007E) after a visible carrier."""
    return "Hi! " + "".join(chr(0xE0000 + ord(c)) for c in s if 0x20 <= ord(c) <= 0x7E)


def varsel(s):
    """Bytes hidden as variation selectors after an emoji."""
    out = ["\U0001F600"]
    for b in s.encode():
        out.append(chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16))
    return "".join(out)


def atbash(s):
    return "".join(chr(219 - ord(c)) if "a" <= c <= "z" else chr(155 - ord(c)) if "A" <= c <= "Z" else c for c in s)


ENCODERS = {
    "base64": b64, "base32": b32, "base16": b16, "hex": hexsp, "hex0x": hex0x, "rot13": rot13, "reversed": reverse,
    "url": urlenc, "braille": braille, "morse": morse, "nato": nato, "zalgo": zalgo, "tags": tags,
    "variation_selectors": varsel, "atbash": atbash,
}
