"""Validators: checks run on pattern hits (``pattern card = /.../ validate luhn``).

Each validator takes the matched text and returns whether it is a plausible
instance of the thing the pattern looks for. Validators never raise: garbage,
including non-``str`` input, gives ``False``.

==============  ==================================================================
``luhn``        payment card: 12-19 digits (spaces/dashes allowed), Luhn checksum,
                not one repeated digit
``iban``        IBAN: country length table, mod-97 checksum, spaces allowed
``us_ssn``      US Social Security number: area not 000/666/9xx, group not 00,
                serial not 0000, dashes or spaces or none; known fakes rejected
``ipv4``        dotted quad, octets 0-255, no leading zeros
``ipv6``        any IPv6 address the ``ipaddress`` module accepts (not ``::``)
``public_ip``   IPv4/IPv6 that is globally routable (not private, loopback,
                link-local, reserved, documentation, multicast ...)
``email``       ``local@domain.tld`` with a letter TLD of 2+ characters
``high_entropy`` a secret-looking value (the part after ``=``/``:`` if any): 16+
                characters, Shannon entropy >= 3.5 bits/char, mixed classes
``jwt``         three base64url parts, the header is JSON with ``alg``
``aba_routing`` US ABA routing number checksum and prefix ranges
``date``        a real calendar date: d/m/y, m/d/y, y-m-d (``/ - .``), or with a
                month name ("12 Jan 2024", "January 12, 2024")
==============  ==================================================================
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = ["VALIDATORS", "Validator"]

Validator = Callable[[str], bool]


def _safe(fn: Validator) -> Validator:
    """Never raise; anything that is not a ``str`` is not valid."""

    @functools.wraps(fn)
    def wrapper(value: str) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return bool(fn(value))
        except Exception:  # noqa: BLE001 - a validator must never break a scan
            return False

    return wrapper


def _ascii_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


# --------------------------------------------------------------------------- luhn
_CARD_SEP = re.compile(r"[ \-]")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# The number at the end of a match, after any keyword the pattern took in ("card: 4111 ...").
_CARD_TAIL_RE = re.compile(r"(?<![\d-])\d[\d -]*$")


@_safe
def luhn(value: str) -> bool:
    m = _CARD_TAIL_RE.search(value.strip())
    if m is None:
        return False
    digits = _CARD_SEP.sub("", m.group())
    if not _ascii_digits(digits) or not 12 <= len(digits) <= 19:
        return False
    if digits.count(digits[0]) == len(digits):
        return False
    return _luhn_ok(digits)


# --------------------------------------------------------------------------- iban
# Lengths from the SWIFT IBAN registry for the countries that use IBANs most.
IBAN_LENGTHS: Mapping[str, int] = MappingProxyType({
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
})
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


@_safe
def iban(value: str) -> bool:
    s = value.replace(" ", "").replace("\u00a0", "").upper()
    if not s.isascii() or not _IBAN_RE.fullmatch(s):
        return False
    expected = IBAN_LENGTHS.get(s[:2])
    if expected is not None and len(s) != expected:
        return False
    if expected is None and not 15 <= len(s) <= 34:
        return False
    if s[2:4] in ("00", "01", "99"):
        return False  # check digits are 02..98
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


# --------------------------------------------------------------------------- us_ssn
# The number at the end of a match, after any keyword the pattern took in ("SSN: ...").
_SSN_RE = re.compile(r"(?:^|(?<=[^\d\- ])|(?<=[^\d\-] ))(\d{3})([- ]?)(\d{2})([- ]?)(\d{4})$")
_SSN_FAKES = frozenset({"078051120", "219099999"})  # Woolworth wallet card, SSA ad


@_safe
def us_ssn(value: str) -> bool:
    m = _SSN_RE.search(value.strip())
    if m is None or not m.group().isascii():
        return False
    if "-" in (m.group(2), m.group(4)) and m.group(2) != m.group(4):
        return False  # "123-45 6789", "123-456789" (spaces may be left out one by one)
    area, group, serial = m.group(1), m.group(3), m.group(5)
    if area in ("000", "666") or area[0] == "9":
        return False
    if group == "00" or serial == "0000":
        return False
    return area + group + serial not in _SSN_FAKES


# --------------------------------------------------------------------------- ip
_IPV4_RE = re.compile(r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])(?:\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])){3}")


@_safe
def ipv4(value: str) -> bool:
    return _IPV4_RE.fullmatch(value.strip()) is not None


def _parse_ipv6(value: str) -> ipaddress.IPv6Address | None:
    s = value.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    if not s.isascii() or ":" not in s or s.count(":") < 2:
        return None
    try:
        addr = ipaddress.IPv6Address(s)
    except ValueError:
        return None
    if addr.packed == bytes(16):  # "::" alone shows up in code ("std::vector")
        return None
    return addr


@_safe
def ipv6(value: str) -> bool:
    return _parse_ipv6(value) is not None


@_safe
def public_ip(value: str) -> bool:
    s = value.strip()
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    if _IPV4_RE.fullmatch(s):
        addr = ipaddress.IPv4Address(s)
    else:
        addr = _parse_ipv6(s)
        if addr is None:
            return False
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None:
            addr = mapped
    return addr.is_global and not addr.is_multicast


# --------------------------------------------------------------------------- email
_EMAIL_RE = re.compile(
    r"(?P<local>[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*)"
    r"@(?P<domain>(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?P<tld>[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59}))"
)
# File extensions that are not TLDs, from "icon@2x.png"-style names.
_NOT_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff",
                       "css", "js", "mjs", "ts", "tsx", "jsx", "json", "html", "htm", "txt", "pdf",
                       "yaml", "yml", "xml", "csv", "lock", "min"})


@_safe
def email(value: str) -> bool:
    s = value.strip()
    if len(s) > 254:
        return False
    m = _EMAIL_RE.fullmatch(s)
    if m is None:
        return False
    if len(m.group("local")) > 64:
        return False
    if "_" in m.group("domain"):
        return False
    if m.group("tld").lower() in _NOT_TLDS:
        return False
    return True


# --------------------------------------------------------------------------- high_entropy
_QUOTES = "\"'`"
_SEP_RE = re.compile(r"=>|:=|[=:]")


def shannon_entropy(s: str) -> float:
    """Shannon entropy of ``s`` in bits per character."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def _secret_like(s: str) -> bool:
    s = s.strip().strip(_QUOTES).strip().rstrip(",;").strip(_QUOTES)
    if len(s) < 16 or any(c.isspace() for c in s):
        return False
    classes = (any(c.islower() for c in s) + any(c.isupper() for c in s)
               + any(c.isdigit() for c in s))
    if classes < 2:
        return False
    return shannon_entropy(s) >= 3.5


@_safe
def high_entropy(value: str) -> bool:
    m = _SEP_RE.search(value)
    if m is not None and _secret_like(value[m.end():]):
        return True
    return _secret_like(value)


# --------------------------------------------------------------------------- jwt
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@_safe
def jwt(value: str) -> bool:
    parts = value.strip().split(".")
    if len(parts) != 3:
        return False
    header, payload, signature = parts
    if not header or not payload:
        return False
    if not all(_B64URL_RE.fullmatch(p) for p in parts):
        return False
    if any(len(p) % 4 == 1 for p in parts):
        return False
    try:
        head = json.loads(_b64url_decode(header))
        _b64url_decode(payload)
        if signature:
            _b64url_decode(signature)
    except (binascii.Error, ValueError):
        return False
    return isinstance(head, dict) and isinstance(head.get("alg"), str)


# --------------------------------------------------------------------------- aba_routing
def _aba_prefix_ok(p: int) -> bool:
    return 0 <= p <= 12 or 21 <= p <= 32 or 61 <= p <= 72 or p == 80


@_safe
def aba_routing(value: str) -> bool:
    s = value.strip().replace("-", "")
    if len(s) != 9 or not _ascii_digits(s) or s == "000000000":
        return False
    if not _aba_prefix_ok(int(s[:2])):
        return False
    d = [ord(c) - 48 for c in s]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return total % 10 == 0


# --------------------------------------------------------------------------- date
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_NUM_DATE_RE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})")
_NAMED_DMY_RE = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[ \-]([A-Za-z]{3,9})\.?,?[ \-](\d{2}|\d{4})")
_NAMED_MDY_RE = re.compile(r"([A-Za-z]{3,9})\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})")
_MIN_YEAR, _MAX_YEAR = 1900, 2100


def _year(s: str) -> int | None:
    if len(s) == 4:
        y = int(s)
        return y if _MIN_YEAR <= y <= _MAX_YEAR else None
    if len(s) == 2:
        y = int(s)
        return 2000 + y if y < 70 else 1900 + y
    return None


def _real(y: int | None, m: int, d: int) -> bool:
    if y is None:
        return False
    try:
        datetime.date(y, m, d)
    except ValueError:
        return False
    return True


def _month(name: str) -> int | None:
    n = name.lower()
    full = {"january", "february", "march", "april", "may", "june", "july", "august",
            "september", "october", "november", "december", "sept"}
    if n[:3] in _MONTHS and (len(n) == 3 or n in full):
        return _MONTHS[n[:3]]
    return None


@_safe
def date(value: str) -> bool:
    """A plausible calendar date: the whole value, or its tail after a context word
    ("DOB: 21/07/1984"), like ``luhn`` and ``us_ssn`` read the number at the end."""
    s = value.strip() if isinstance(value, str) else ""
    if _date_only(s):
        return True
    for i in range(1, min(len(s), 64)):
        if not s[i - 1].isalnum() and s[i].isalnum() and _date_only(s[i:]):
            return True
    return False


def _date_only(s: str) -> bool:
    if not s or not s.isascii():
        return False
    m = _NUM_DATE_RE.fullmatch(s)
    if m is not None:
        a, _, b, c = m.groups()
        if len(a) == 4:  # y-m-d
            return len(c) <= 2 and _real(_year(a), int(b), int(c))
        if len(a) > 2 or len(c) not in (2, 4):
            return False
        y = _year(c)
        # d/m/y or m/d/y: plausible if either reading is a real date
        return _real(y, int(b), int(a)) or _real(y, int(a), int(b))
    m = _NAMED_DMY_RE.fullmatch(s)
    if m is not None:
        mo = _month(m.group(2))
        return mo is not None and _real(_year(m.group(3)), mo, int(m.group(1)))
    m = _NAMED_MDY_RE.fullmatch(s)
    if m is not None:
        mo = _month(m.group(1))
        return mo is not None and _real(_year(m.group(3)), mo, int(m.group(2)))
    return False


VALIDATORS: Mapping[str, Validator] = MappingProxyType({
    "luhn": luhn,
    "iban": iban,
    "us_ssn": us_ssn,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "public_ip": public_ip,
    "email": email,
    "high_entropy": high_entropy,
    "jwt": jwt,
    "aba_routing": aba_routing,
    "date": date,
})
