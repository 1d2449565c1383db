"""Validators: checks run on pattern hits (``pattern card = /.../ validate luhn``).

Each validator takes the matched text and returns whether it is a plausible
instance of the thing the pattern looks for. Garbage, including non-``str`` input, gives
``False``; a check that itself raises gives :class:`ValidatorError` (the engine refuses).

==============  ==================================================================
``luhn``        payment card: 12-19 digits (space/dash/dot groups allowed), Luhn
                checksum, not one repeated digit
``card``        ``luhn`` plus the card networks' IIN ranges and lengths (Visa, Mastercard,
                Amex, Diners, Discover, JCB, UnionPay, Maestro, Mir, RuPay, Verve, Troy)
``iban``        IBAN: country length table, mod-97 checksum, spaces allowed, any case,
                a BBAN at least half digits
``phone``       a phone number by ``phonenumbers`` (libphonenumber): international
                (``+CC``, ``00CC``) in any country, national in US, GB, DE, FR; the
                extension is part of it, a label before it is not (bounds)
``phone_xx``    the same with national numbers of one region only (``phone_it``,
                ``phone_es``, ...: ``PHONE_REGIONS``)
``uk_nino``     UK National Insurance number: HMRC prefix rules, suffix A-D (there
                is no checksum)
``de_tax_id``   German tax id (Steuer-IdNr): ``stdnum.de.idnr`` (ISO 7064 mod 11,10,
                digit repetition rule)
``fr_nir``      French social security number (NIR): ``stdnum.fr.nir`` (mod-97 key)
``vat_id``      EU (and UK, XI) VAT number: ``stdnum.eu.vat`` per-country checksums
``passport``    a passport number after its context word (bounds: the number only)
``aws_secret``  the 40-character value of an AWS secret key assignment (bounds)
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

Spans are the value. A validator may carry a ``bounds(value)`` attribute: the spans of
the values inside a match it accepts, so that context words the pattern needed
("SSN: ...", "phone: ...", ``aws_secret_access_key = ...``) raise confidence but are
never redacted. ``luhn``/``card``, ``us_ssn``, ``date``, ``high_entropy``, the phone,
id and passport validators have bounds; the engine (``evaluate``) applies them.
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

__all__ = ["VALIDATORS", "Validator", "ValidatorError"]

Validator = Callable[[str], bool]


class ValidatorError(Exception):
    """A validator raised on a value: a failed check, not a non-match.

    The engine fails closed on it (``Decision.errors`` names the validator and the pattern;
    the rules that read the pattern refuse). ``reason`` is the exception's type only: its
    message may quote the matched value.
    """

    def __init__(self, validator: str, exc: BaseException):
        self.validator = validator
        self.reason = type(exc).__name__
        super().__init__(f"validator `{validator}` raised {self.reason}")


def _safe(fn: Validator) -> Validator:
    """Anything that is not a ``str`` is not valid; an exception is a :class:`ValidatorError`
    (never read as "no match": that would let the value through unseen)."""

    @functools.wraps(fn)
    def wrapper(value: str) -> bool:
        if not isinstance(value, str):
            return False
        try:
            return bool(fn(value))
        except ValidatorError:
            raise  # from a bounded check inside (``_guarded``): already named
        except Exception as exc:  # noqa: BLE001 - any failure of the check itself
            raise ValidatorError(wrapper.__name__, exc) from exc

    return wrapper


def _ascii_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


Spans = tuple[tuple[int, int], ...]


#: values whose bounds each validator keeps (the checks are pure: same value, same answer)
_MEMO = 2048


def _guarded(spans_of: Callable[[str], Spans]) -> Callable[[str], Spans]:
    """``spans_of`` whose failure is a :class:`ValidatorError`: garbage has no values (each
    check handles the exceptions its library raises for garbage, e.g. phonenumbers'
    NumberParseException), but an unexpected exception (a bug, a missing ``stdnum`` module)
    must fail closed, never read as "no value".

    Results are memoized per value (the checks are pure functions of the value): a match is
    checked, then its bounds are read, and the same value recurs in a text and its views
    (a phone number costs a ``phonenumbers`` parse per region each time). An exception is
    never memoized."""
    spans = functools.lru_cache(maxsize=_MEMO)(lambda value: tuple(spans_of(value)))

    @functools.wraps(spans_of)
    def bounds(value: str) -> Spans:
        if not isinstance(value, str):
            return ()
        try:
            return spans(value)
        except ValidatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the check itself
            raise ValidatorError(getattr(spans_of, "__name__", "bounds").lstrip("_"), exc) from exc

    return bounds


def _bounding(spans_of: Callable[[str], Spans]) -> Validator:
    """A validator that accepts a match holding at least one value; ``bounds`` gives them."""
    bounds = _guarded(spans_of)

    @functools.wraps(spans_of)
    def validator(value: str) -> bool:
        return bool(bounds(value))

    validator.bounds = bounds  # type: ignore[attr-defined]
    return validator


def _with_bounds(fn: Validator, spans_of: Callable[[str], Spans]) -> Validator:
    """``fn`` with a ``bounds`` attribute: where the value is inside a match ``fn`` accepts
    (nothing for a match it rejects)."""
    inner = _guarded(spans_of)

    def bounds(value: str) -> Spans:
        return inner(value) if fn(value) else ()

    fn.bounds = bounds  # type: ignore[attr-defined]
    return fn


def _tail(rx: re.Pattern) -> Callable[[str], Spans]:
    """The span of ``rx``'s match at the end of the value (after the context words)."""

    def spans_of(value: str) -> Spans:
        m = rx.search(value[:len(value.rstrip())])
        return ((m.start(), m.end()),) if m is not None else ()

    return spans_of


# --------------------------------------------------------------------------- luhn
_CARD_SEP = re.compile(r"[ \-.]")


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
# Groups are split by one kind of separator: space, dash or dot (NBSP and thin spaces are
# spaces after `normalize nfkc`).
_CARD_TAIL_RE = re.compile(r"(?<![\d.-])\d+(?:(?:(?: \d+)*)|(?:(?:-\d+)*)|(?:(?:\.\d+)*))$")


def _card_digits(value: str) -> str | None:
    m = _CARD_TAIL_RE.search(value.strip())
    if m is None:
        return None
    digits = _CARD_SEP.sub("", m.group())
    if not _ascii_digits(digits) or not 12 <= len(digits) <= 19:
        return None
    if digits.count(digits[0]) == len(digits):
        return None
    return digits if _luhn_ok(digits) else None


@_safe
def _luhn(value: str) -> bool:
    return _card_digits(value) is not None


# IIN (issuer identification number) ranges and the lengths each network issues:
# (lowest prefix, highest prefix of the same width, lengths).
_ALL = frozenset(range(12, 20))
_LONG = frozenset(range(16, 20))
_IIN_TABLE: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),                       # Visa
    ("51", "55", frozenset({16})), ("2221", "2720", frozenset({16})),  # Mastercard
    ("2200", "2204", _LONG),                                   # Mir
    ("34", "34", frozenset({15})), ("37", "37", frozenset({15})),  # American Express
    ("300", "305", frozenset(range(14, 20))), ("3095", "3095", frozenset(range(14, 20))),  # Diners
    ("36", "36", frozenset(range(14, 20))), ("38", "39", frozenset(range(14, 20))),
    ("35", "35", _LONG),  # JCB (3528-3589; the rest of 35 too: test generators use it, a leak costs more)
    ("1800", "1800", frozenset({15})), ("2131", "2131", frozenset({15})),  # JCB, 15 digits
    ("6011", "6011", _LONG), ("644", "649", _LONG), ("65", "65", _LONG),  # Discover
    ("62", "62", _LONG), ("81", "81", _LONG),                  # UnionPay
    ("60", "60", _LONG), ("82", "82", frozenset({16})),        # RuPay
    ("508", "508", frozenset({16})), ("353", "353", frozenset({16})), ("356", "356", frozenset({16})),
    ("50", "50", _ALL), ("56", "59", _ALL), ("61", "69", _ALL), ("0604", "0604", _ALL),  # Maestro
    ("506099", "506198", frozenset({16, 18, 19})), ("650002", "650027", frozenset({16, 18, 19})),  # Verve
    ("9792", "9792", frozenset({16})),                         # Troy
)


def card_network_ok(digits: str) -> bool:
    """Whether some card network issues numbers of this length with this prefix."""
    n = len(digits)
    return any(n in lengths and lo <= digits[:len(lo)] <= hi for lo, hi, lengths in _IIN_TABLE)


@_safe
def _card(value: str) -> bool:
    digits = _card_digits(value)
    return digits is not None and card_network_ok(digits)


_CARD_SPAN_RE = re.compile(r"(?<![\d.-])\d+(?:(?: \d+)*|(?:-\d+)*|(?:\.\d+)*)$")
luhn = _with_bounds(_luhn, _tail(_CARD_SPAN_RE))
luhn.__name__ = "luhn"
card = _with_bounds(_card, _tail(_CARD_SPAN_RE))
card.__name__ = "card"


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
    if sum(c.isdigit() for c in s[4:]) * 2 < len(s) - 4:
        return False  # every BBAN is at least half digits; words strung together are not
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
def _us_ssn(value: str) -> bool:
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


def _ssn_span(value: str) -> Spans:
    m = _SSN_RE.search(value[:len(value.rstrip())])
    return ((m.start(1), m.end(5)),) if m is not None else ()


us_ssn = _with_bounds(_us_ssn, _ssn_span)
us_ssn.__name__ = "us_ssn"


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
def _high_entropy(value: str) -> bool:
    m = _SEP_RE.search(value)
    if m is not None and _secret_like(value[m.end():]):
        return True
    return _secret_like(value)


def _assigned_span(value: str, start: int) -> Spans:
    """The value from ``start`` on, without the quotes, spaces and ``,;`` around it."""
    end = len(value)
    while start < end and (value[start].isspace() or value[start] in _QUOTES):
        start += 1
    while end > start and (value[end - 1].isspace() or value[end - 1] in _QUOTES + ",;"):
        end -= 1
    return ((start, end),) if end > start else ()


def _secret_span(value: str) -> Spans:
    """After ``=``/``:`` when the part after it is the secret (``api_key = "..."``)."""
    m = _SEP_RE.search(value)
    if m is not None and _secret_like(value[m.end():]):
        return _assigned_span(value, m.end())
    return ((0, len(value)),)


high_entropy = _with_bounds(_high_entropy, _secret_span)
high_entropy.__name__ = "high_entropy"


# ``aws_secret_access_key = <40 base64 characters>``: the value, not the key name.
_AWS_SECRET_RE = re.compile(r"(?:=>|[:=])\s*[\"']?([A-Za-z0-9/+]{40})[\"']?\s*$")


def _aws_secret_span(value: str) -> Spans:
    m = _AWS_SECRET_RE.search(value)
    return ((m.start(1), m.end(1)),) if m is not None else ()


aws_secret = _bounding(_aws_secret_span)
aws_secret.__name__ = "aws_secret"


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


def _date_span(value: str) -> Spans:
    """A plausible calendar date: the whole value, or its tail after a context word
    ("DOB: 21/07/1984"), like ``luhn`` and ``us_ssn`` read the number at the end."""
    end = len(value.rstrip())
    lead = len(value) - len(value.lstrip())
    s = value[lead:end]
    if _date_only(s):
        return ((lead, end),)
    for i in range(1, min(len(s), 64)):
        if not s[i - 1].isalnum() and s[i].isalnum() and _date_only(s[i:]):
            return ((lead + i, end),)
    return ()


date = _bounding(_date_span)
date.__name__ = "date"


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


# --------------------------------------------------------------------------- phone
# National numbers are read in these regions (``validate phone``); numbers written with
# ``+`` or an international prefix (``00``, US ``011``) in any country.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR")
# ``validate phone_xx``: national numbers of one region (international ones everywhere).
PHONE_REGIONS = ("US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "IT", "ES", "PT",
                 "PL", "SE", "NO", "DK", "FI", "AU", "NZ", "IN", "BR", "MX", "JP")
_NANP_RE = re.compile(r"[2-9]\d{2}[2-9]\d{6}")
_DATE_SHAPE_RE = re.compile(r"\(?\d{1,4}\)?[./-]\d{1,2}[./-]\d{2,4}")
_IBAN_GROUPS_RE = re.compile(r"\d{4}([ .-])\d{4}(?:\1\d{4})*(?:\1\d{1,3})?|\d{4}[ .-]\d{4}[ .-]\d{4}(?:\D.*)?")
_FIRST_GROUP_RE = re.compile(r"\(?(\d+)")
_PHONE_EXT_RE = re.compile(r"(?i)\s*(?:[x#]|ext\.?|extn\.?|extension|durchwahl|poste)\s*\.?\s*:?\s*\d{1,7}$")
_INTL_RE = re.compile(
    r"\+[1-9]\d{0,2}[\d ()./-]{5,24}\d(?:\s*(?:[x#]|ext\.?|extn\.?|extension)\s*\.?\s*\d{1,7})?")


def _phonenumbers():
    import phonenumbers  # core dependency; imported on first use (large metadata)

    return phonenumbers


@functools.lru_cache(maxsize=64)
def _region_info(region: str) -> tuple[int, str | None]:
    pn = _phonenumbers()
    md = pn.PhoneMetadata.metadata_for_region(region)
    return md.country_code, md.national_prefix


def _phone_ok(pn, raw: str, number, region: str) -> bool:
    """A number PhoneNumberMatcher found in ``raw``: shaped like a phone number, not a date."""
    core = _PHONE_EXT_RE.sub("", raw)
    digits = sum(c.isdigit() for c in core)
    if _DATE_SHAPE_RE.fullmatch(core.strip()):
        return False
    reason = pn.is_possible_number_with_reason(number)
    if reason != pn.ValidationResult.IS_POSSIBLE:
        return False  # too short, too long, or only dialable locally (7-digit US numbers)
    head = core.lstrip("( ")
    if not head.startswith("+") and _IBAN_GROUPS_RE.fullmatch(head.strip()):
        return False  # `0532 0130 00`: groups of four are an IBAN's (or a card's), not a phone's
    cc, trunk = _region_info(region)
    idd = "+" if head.startswith("+") else "011" if region in ("US", "CA") and head.startswith("011") \
        else "00" if head.startswith("00") else ""
    if idd:
        # after the country code comes the national number without its trunk 0 (`+44 20 ...`,
        # `+44 (0)20 ...`): `0044 0532 0130 00` is the middle of an IBAN, not a phone number
        ds = "".join(c for c in head[len(idd):].replace("(0)", "") if c.isdigit())
        code = str(number.country_code)
        if not ds.startswith(code) or (ds[len(code):len(code) + 1] == "0" and not number.italian_leading_zero):
            return False
        return digits >= (8 if idd == "+" else 9)
    if number.country_code != cc:
        return False  # "44 20 ..." read as a country code without `+`: too loose
    nsn = str(number.national_number)
    if trunk == "1":  # NANP: [2-9]XX [2-9]XX XXXX, a leading `1` allowed
        return _NANP_RE.fullmatch(nsn) is not None and head[:1] in "123456789"
    if trunk == "0":  # GB, DE, FR, ...: national numbers are dialled with a leading 0
        if not head.startswith("0") or head.startswith("00"):
            return False
        first = _FIRST_GROUP_RE.match(head)
        if first is not None and len(first.group(1)) == 2 and (region != "FR" or digits != 10):
            return False  # `0X` then groups: French digit pairs, nothing else (`07 44 109 002 41`)
        if region == "FR":  # ten digits, in pairs or in one run
            groups = re.findall(r"\d+", core)
            return digits == 10 and (len(groups) == 1 or all(len(g) == 2 for g in groups))
        return digits >= 9
    return digits >= 8


def _intl_fallback(pn, value: str) -> Spans:
    """``+CC`` numbers libphonenumber finds no plan for (a wrong length for the country):
    still a phone number when the country code exists and 6-14 digits follow."""
    out = []
    for m in _INTL_RE.finditer(value):
        text = m.group().rstrip(" ()./-")
        try:
            number = pn.parse(text, None)
        except Exception:  # noqa: BLE001 - NumberParseException and friends
            continue
        if pn.region_code_for_country_code(number.country_code) == "ZZ":
            continue
        if 6 <= len(str(number.national_number)) <= 14:
            out.append((m.start(), m.start() + len(text)))
    return tuple(out)


def _phone_spans(value: str, regions: tuple[str, ...]) -> Spans:
    if not value.isascii() or len(value) > 200:
        return ()  # the pack normalizes (NFKC, other scripts' digits) before it validates
    pn = _phonenumbers()
    found: list[tuple[int, int]] = []
    for region in regions:
        for m in pn.PhoneNumberMatcher(value, region, leniency=pn.Leniency.POSSIBLE, max_tries=8):
            if _phone_ok(pn, m.raw_string, m.number, region):
                found.append((m.start, m.end))
    if not found:
        return _intl_fallback(pn, value)
    # the longest readings first, then the ones they leave room for
    found.sort(key=lambda se: (se[0] - se[1], se[0]))
    kept: list[tuple[int, int]] = []
    for s, e in found:
        if all(e <= a or s >= b for a, b in kept):
            kept.append((s, e))
    return tuple(sorted(kept))


def _phone_validator(regions: tuple[str, ...], name: str) -> Validator:
    @functools.lru_cache(maxsize=4096)
    def spans_of(value: str) -> Spans:
        return _phone_spans(value, regions)

    v = _bounding(spans_of)
    v.__name__ = name
    v.__doc__ = f"A phone number: international, or national in {', '.join(regions)} (phonenumbers)."
    return v


phone = _phone_validator(DEFAULT_PHONE_REGIONS, "phone")
_REGIONAL_PHONES = {f"phone_{r.lower()}": _phone_validator((r,), f"phone_{r.lower()}") for r in PHONE_REGIONS}


# --------------------------------------------------------------------------- national ids
# The id at the end of a match, after its context words ("Steuer-ID: ...", "NINO ...").
_NINO_RE = re.compile(
    r"(?<![A-Za-z0-9])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])$")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino_span(value: str) -> Spans:
    """UK National Insurance number (HMRC rules: no D F I Q U V, no O second, no BG GB KN
    NK NT TN ZZ prefix, suffix A-D). NINOs carry no checksum."""
    end = len(value.rstrip())
    m = _NINO_RE.search(value[:end])
    if m is None or m.group(1) in _NINO_BAD_PREFIXES:
        return ()
    return ((m.start(), m.end()),)


_IDNR_RE = re.compile(r"[1-9]\d(?: ?\d){9}")
_NIR_RE = re.compile(r"[1-478] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}")
_VAT_RE = re.compile(r"[A-Z]{2}[ .-]?[0-9A-Z](?:[ .-]?[0-9A-Z+*]){6,13}")
_PASSPORT_RE = re.compile(r"[A-Z0-9]{6,9}", re.IGNORECASE)


def _token_starts(value: str, end: int):
    for i in range(end):
        if value[i].isalnum() and (i == 0 or not value[i - 1].isalnum()):
            yield i


def _stdnum_span(rx: re.Pattern, module: str) -> Callable[[str], Spans]:
    """The id at the end of the match (after its context words) that ``module`` accepts."""

    def spans_of(value: str) -> Spans:
        import importlib

        is_valid = importlib.import_module(module).is_valid
        end = len(value.rstrip())
        for i in _token_starts(value, end):
            if rx.fullmatch(value, i, end) and is_valid(value[i:end]):
                return ((i, end),)
        return ()

    spans_of.__name__ = module.rsplit(".", 1)[-1]
    return spans_of


def _passport_span(value: str) -> Spans:
    """The document number after the context word (the pattern is the shape check)."""
    end = len(value.rstrip())
    for i in _token_starts(value, end):
        if _PASSPORT_RE.fullmatch(value, i, end) and any(c.isdigit() for c in value[i:end]):
            return ((i, end),)
    return ()


uk_nino = _bounding(_nino_span)
uk_nino.__name__ = "uk_nino"
de_tax_id = _bounding(_stdnum_span(_IDNR_RE, "stdnum.de.idnr"))
de_tax_id.__name__ = "de_tax_id"
fr_nir = _bounding(_stdnum_span(_NIR_RE, "stdnum.fr.nir"))
fr_nir.__name__ = "fr_nir"
vat_id = _bounding(_stdnum_span(_VAT_RE, "stdnum.eu.vat"))
vat_id.__name__ = "vat_id"
passport = _bounding(_passport_span)
passport.__name__ = "passport"


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
    "card": card,
    "phone": phone,
    **_REGIONAL_PHONES,
    "uk_nino": uk_nino,
    "de_tax_id": de_tax_id,
    "fr_nir": fr_nir,
    "vat_id": vat_id,
    "passport": passport,
    "aws_secret": aws_secret,
})
