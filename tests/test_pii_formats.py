"""Personal-data formats of the pii and secrets packs (issue 9): exact spans.

Every value here is written by hand (or built from a hand-written body plus its check
digits) and placed in a sentence; the test asserts the redaction's start, end and kind
in the ORIGINAL text, so a span that takes in its label ("phone: ..."), stops before an
extension or loses a URL's trailing slash fails. Hard negatives (versions, ISBNs, order
numbers, timestamps, SHAs, UUIDs, float arrays) must stay untouched. The property tests
draw values, separators, full-width digits and surrounding text with hypothesis.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang.compile.validators import VALIDATORS, card_network_ok

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FULLWIDTH = {ord(c): chr(0xFF10 + int(c)) for c in string.digits}


@pytest.fixture(scope="module")
def guard():
    return policylang.loads('policy t "t"\nuse pii, secrets\nrule r on input, output, context:\n'
                            '    when pii or secrets\n    redact "[{kind}]"\n', cache_dir=False)


def spans(guard, text):
    return [(text[r.start:r.end], r.kind) for r in guard.check(text, stage="input").redactions]


def luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


# ---------------------------------------------------------------------------- phones
PHONES = [
    # (text, the phone values in it, in order)
    ("Call 415-555-2671 ext. 204 today", ["415-555-2671 ext. 204"]),
    ("office (212) 555-0187x12, ask for Sam", ["(212) 555-0187x12"]),
    ("call 415.555.2671 x4521 after six", ["415.555.2671 x4521"]),
    ("from abroad dial 001-415-555-2671x88", ["001-415-555-2671x88"]),
    ("US: +1-780-563-6083 or 1-800-555-0199", ["+1-780-563-6083", "1-800-555-0199"]),
    ("UK office (0121) 496 0323 and (01632) 960391", ["(0121) 496 0323", "(01632) 960391"]),
    ("mobile 07700 900123, landline 0113 496 0999", ["07700 900123", "0113 496 0999"]),
    ("intl +44(0)115 4960914 or +44 20 7946 0958", ["+44(0)115 4960914", "+44 20 7946 0958"]),
    ("Telefon: (030) 12345678", ["(030) 12345678"]),
    ("Fax 089/1234567 und mobil 0151 23456789", ["089/1234567", "0151 23456789"]),
    ("Zentrale +49 (0) 9141 777631", ["+49 (0) 9141 777631"]),
    ("Rückruf: 0049 30 1234567", ["0049 30 1234567"]),
    ("Appelez le 01 42 68 53 00 ou le +33 6 12 34 56 78", ["01 42 68 53 00", "+33 6 12 34 56 78"]),
    ("standard +33 (0)5 59 81 24 15", ["+33 (0)5 59 81 24 15"]),
    # bare or spaced digits after a cue word: the cue is not part of the span
    ("phone: 4155552671", ["4155552671"]),
    ("Tel. 01134960123 bitte", ["01134960123"]),
    ("my mobile number is 0612345678.", ["0612345678"]),
    ("call me at 415 555 2671 tonight", ["415 555 2671"]),
    ("tel:+919876543210", ["+919876543210"]),
    ("whatsapp +5511912345678 anytime", ["+5511912345678"]),
]


@pytest.mark.parametrize("text,values", PHONES)
def test_phone_spans_are_the_number(guard, text, values):
    assert spans(guard, text) == [(v, "phone") for v in values]


@pytest.mark.parametrize("text", [
    "order 4155552671 shipped",            # bare digits without a cue word
    "Scores: 250 300 1200 1500",          # spaces between NANP-sized groups, no cue
    "Termin am 01.02.2024 um 14:30",      # a German date
    "Kundennummer 0815 4711",             # too short for a national number
    "frames 0001 0002 0003 0004",         # 00 + 0 is no international prefix
    "Card: 5429-0518-2161-7285 12/29",    # digit groups inside a (Luhn-invalid) card
    "IBAN DE88 3704 0044 0532 0130 00",   # IBAN groups (wrong checksum) are not a phone
    "build 2023.11.0142, version 10.4.2",
    "x = a +1 and b -2",
])
def test_not_phones(guard, text):
    assert [k for _, k in spans(guard, text) if k == "phone"] == []


def test_full_width_and_no_break_space_phone_maps_to_the_original(guard):
    value = "415-555-2671".translate(FULLWIDTH)
    text = f"call {value} or 020\u00a07946\u00a00958 now"
    assert spans(guard, text) == [(value, "phone"), ("020\u00a07946\u00a00958", "phone")]


def test_phone_validator_bounds():
    phone = VALIDATORS["phone"]
    value = "phone: +44 20 7946 0958 x12"
    assert phone(value) is True
    (s, e), = phone.bounds(value)
    assert value[s:e] == "+44 20 7946 0958 x12"
    assert phone("01.02.2024") is False
    assert phone.bounds("0001 0002 0003 0004") == ()


def test_regional_phone_validator_in_a_policy():
    """`validate phone_it`: national numbers read as Italian ones (no trunk prefix)."""
    g = policylang.loads('policy it "it"\npattern tel = /\\b0\\d{1,3} \\d{4} \\d{3,4}\\b/ validate phone_it kind "phone"\n'
                         'rule r on input:\n    when tel\n    redact "[{kind}]"\n', cache_dir=False)
    assert g.check("chiamare 06 1234 5678 oggi").text == "chiamare [phone] oggi"
    assert "phone_it" in VALIDATORS and "phone_de" in VALIDATORS


def test_unknown_phone_region_is_a_diagnostic():
    with pytest.raises(policylang.PolicyError, match="phone_zz"):
        policylang.loads('policy p "p"\npattern t = /\\d{10}/ validate phone_zz\n'
                         'rule r on input:\n    when t\n    redact "[x]"\n', cache_dir=False)


# ---------------------------------------------------------------------------- cards
CARDS = [
    "4111111111111111", "4222222222222", "4111111111111111110",      # Visa 16, 13, 19
    "5555555555554444", "2223000048400011",                          # Mastercard, 2-series
    "378282246310005", "30569309025904", "36227206271667",            # Amex, Diners 14
    "6011111111111117", "6011000990139424", "3530111333300000",      # Discover, JCB
    "6200000000000005", "6212345678901234569",                       # UnionPay 16, 19
    "502093995467", "6759649826438453", luhn("501812345678901"),     # Maestro 12, 16
    luhn("220012345678901"), luhn("650002123456789"),                # Mir, Verve
]


@pytest.mark.parametrize("digits", CARDS)
def test_card_brands_and_lengths(guard, digits):
    assert VALIDATORS["luhn"](digits), digits  # the fixtures are valid
    assert spans(guard, f"pay with {digits} please") == [(digits, "credit_card")]


@pytest.mark.parametrize("sep", [" ", "-", ".", "\u00a0", "\u2009", "\u202f"])
def test_card_separators(guard, sep):
    value = sep.join(["4111", "1111", "1111", "1111"])
    text = f"Card: {value} exp 12/29"
    assert spans(guard, text) == [(value, "credit_card")]


def test_amex_grouping_and_full_width_card(guard):
    assert spans(guard, "amex 3782 822463 10005.") == [("3782 822463 10005", "credit_card")]
    fw = "4111 1111 1111 1111".translate(FULLWIDTH)
    assert spans(guard, f"card {fw} ok") == [(fw, "credit_card")]


@pytest.mark.parametrize("text", [
    "ticket 4111 1111 1111 1112",          # Luhn fails
    "ref 9999 0000 0000 0009",             # Luhn holds, no network issues 99
    "order #123456789012",                 # 12 digits outside Maestro's ranges
    "mixed 4111 1111-1111.1111",           # one kind of separator per number
])
def test_not_cards(guard, text):
    assert [k for _, k in spans(guard, text) if k == "credit_card"] == []


def test_card_network_table():
    assert card_network_ok("4111111111111111") and not card_network_ok("411111111111111")  # Visa 15
    assert card_network_ok("378282246310005") and not card_network_ok("3782822463100050")  # Amex 16
    assert card_network_ok("502093995467")       # Maestro 12
    assert not card_network_ok("123456789012")   # no network starts with 12


# ---------------------------------------------------------------------------- IBAN
@pytest.mark.parametrize("value", [
    "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "de89 3704 0044 0532 0130 00",
    "gb82west12345698765432", "DE 89 37040044 053201 3000", "FR14 2004 1010 0505 0001 3M02 606",
    "NL91ABNA0417164300", "GB82\u00a0WEST\u00a01234\u00a05698\u00a07654\u00a032",
])
def test_iban_any_case_any_spacing(guard, value):
    assert spans(guard, f"IBAN: {value} by Friday") == [(value, "iban")]


def test_words_are_not_ibans(guard):
    assert spans(guard, "on 12 June the team met; at 10 am it was done") == []
    assert VALIDATORS["iban"]("DE89 3704 0044 0532 0130 00")
    assert not VALIDATORS["iban"]("IS14 THEM AINR EASO NFOR THEW ORLD")  # letters only


# ---------------------------------------------------------------------------- national ids
IDS = [
    ("NI number AB 12 34 56 C on file", "AB 12 34 56 C", "uk_nino"),
    ("NINO: JG103759A", "JG103759A", "uk_nino"),
    ("Steuer-ID: 36574261809", "36574261809", "de_tax_id"),
    ("Steueridentifikationsnummer 36 574 261 809.", "36 574 261 809", "de_tax_id"),
    ("NIR 2 45 07 44 109 002 40", "2 45 07 44 109 002 40", "fr_nir"),
    ("numéro de sécurité sociale : 184127645108946", "184127645108946", "fr_nir"),
    ("USt-IdNr.: DE136695976", "DE136695976", "vat_id"),
    ("TVA FR40303265045 sur la facture", "FR40303265045", "vat_id"),
    ("VAT NL004495445B01", "NL004495445B01", "vat_id"),
    ("passport number X12345678, expires 2030", "X12345678", "passport"),
    ("Reisepass Nr. C01X00T47", "C01X00T47", "passport"),
]


@pytest.mark.parametrize("text,value,kind", IDS)
def test_national_ids(guard, text, value, kind):
    assert spans(guard, text) == [(value, kind)]


@pytest.mark.parametrize("text", [
    "order 36574261809 shipped",           # a valid IdNr needs its context word
    "Steuer-ID: 36574261808",              # wrong check digit
    "NIR 2 45 07 44 109 002 41",           # wrong key
    "NINO QQ123456C and ZZ123456A",        # prefixes HMRC never issues
    "VAT DE136695977",                     # wrong check digit
    "X12345678 expires 2030",              # a passport-like number without the word
    "Renew your passport before traveling",
    "DEPRECATED SECURITY WARNING",
])
def test_not_national_ids(guard, text):
    assert spans(guard, text) == []


# ---------------------------------------------------------------------------- boundaries
@pytest.mark.parametrize("text,value", [
    ("docs at https://example.com/docs/guide/ now", "https://example.com/docs/guide/"),
    ("home: https://www.example.org/.", "https://www.example.org/"),
    ("(see https://example.com/a/b?x=1#top)", "https://example.com/a/b?x=1#top"),
])
def test_url_keeps_path_and_trailing_slash(guard, text, value):
    assert spans(guard, text) == [(value, "url")]


@pytest.mark.parametrize("text,value", [
    ("aws_secret_access_key = qR8vT2nL5mK9pW3xZ7cB1dF4gH6jS0aE2yU8iO5t", "qR8vT2nL5mK9pW3xZ7cB1dF4gH6jS0aE2yU8iO5t"),
    ('"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",', "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AWS_SECRET_ACCESS_KEY='kfbhen+dVDkQUyReXQvNlpQ9btNFtfi7sVj10rS/'", "kfbhen+dVDkQUyReXQvNlpQ9btNFtfi7sVj10rS/"),
])
def test_secret_value_not_its_label(guard, text, value):
    assert spans(guard, text) == [(value, "aws_secret_key")]


def test_generic_secret_value_only(guard):
    assert spans(guard, 'db_password = "x9#Lq2!vR7mZ@4tK"') == [("x9#Lq2!vR7mZ@4tK", "generic_secret")]


@pytest.mark.parametrize("text,value,kind", [
    ("my ssn is 536221234 ok", "536221234", "us_ssn"),
    ("Patient DOB: 1984-07-21, allergies none", "1984-07-21", "date_of_birth"),
    ("I was born on 12/05/1985 in Lyon", "12/05/1985", "date_of_birth"),
])
def test_context_words_never_widen_a_span(guard, text, value, kind):
    assert spans(guard, text) == [(value, kind)]


# ---------------------------------------------------------------------------- hard negatives
HARD_NEGATIVES = [
    "Upgraded to v1.2.3.4 last week; 2.0.0-rc.1 next",
    "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2, isbn 9780306406157",
    "order #123456789012 shipped, order 4155552671 too",
    "created at 1700000000, ts=1699999999123, epoch 1712345678901",
    "commit 3f9c2a7b1e4d8f0a6c5b9e2d7f1a3c8b4e6d0f2a fixed it (a1b2c3d)",
    "request 550e8400-e29b-41d4-a716-446655440000 and 123e4567-e89b-12d3-a456-426614174000",
    "weights = [0.1234, 0.5678, 0.9012, 0.3456]; array([1.0, 2.5, 3.75, 4.125])",
    "on 2024-03-15 at 12:30:45, le 15/03/2024, Termin 01.02.2024",
    "price $1,234.56 or 1.234,56 EUR; total 12 345 678",
    "EAN 4006381333931, GTIN 10614141000415, SKU 00012345678905",
    "lat 51.5074 lon -0.1278, coords 48.8566, 2.3522",
    "Build ID 20240315123045, CVE-2024-12345, RFC 7231 section 6.5.1",
    "error 0x80070005, md5 d41d8cd98f00b204e9800998ecf8427e",
    "python 3.11.7 numpy 1.26.4 torch 2.1.0, frames 0001 0002 0003 0004",
    "Rechnung Nr. 2024-0815-4711, Kundennummer 0815 4711, commande n° 2024031500123",
    "duration 00:12:34.567, log 2024-03-15T12:30:45.123Z INFO ok",
    "phone numbers have 10 digits; call the function 3 times",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_are_not_redacted(guard, text):
    assert spans(guard, text) == []


# ---------------------------------------------------------------------------- properties
PREFIX = st.sampled_from(["", "Hi, ", "see: ", "Note (", "ok\n", "«", "2 items. "])
SUFFIX = st.sampled_from(["", " thanks", ".", "), bye", "\n", " and more", "!"])
WIDTH = st.sampled_from(["ascii", "fullwidth"])


def _phone_value(draw) -> str:
    a = draw(st.integers(200, 999))
    b = draw(st.integers(200, 999))
    c = draw(st.integers(0, 9999))
    form = draw(st.sampled_from(["({a}) {b}-{c:04d}", "{a}-{b}-{c:04d}", "{a}.{b}.{c:04d}", "+1 {a} {b} {c:04d}",
                                 "+44 20 7946 {c:04d}", "0{a} {b} {c:04d}", "+33 6 {p}",
                                 "0{d} {p}", "{a}-{b}-{c:04d} x{e}"]))
    pairs = " ".join(f"{draw(st.integers(10, 99))}" for _ in range(4))
    return form.format(a=a, b=b, c=c, p=pairs, d=draw(st.integers(1, 5)), e=draw(st.integers(1, 99999)))


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), prefix=PREFIX, suffix=SUFFIX, width=WIDTH)
def test_property_phone_span_is_exact(guard, data, prefix, suffix, width):
    value = _phone_value(data.draw)
    if width == "fullwidth":
        value = value.translate(FULLWIDTH)
    text = f"{prefix}call {value}{suffix}"
    d = guard.check(text)
    got = [(r.start, r.end, r.kind) for r in d.redactions]
    start = len(prefix) + 5
    assert got == [(start, start + len(value), "phone")], (text, [text[s:e] for s, e, _ in got])


CARD_SHAPES = [("4", (13, 16, 19)), ("51", (16,)), ("2221", (16,)), ("34", (15,)), ("36", (14,)),
               ("35", (16, 19)), ("6011", (16, 19)), ("62", (16, 17, 18, 19)), ("50", (12, 13, 19)),
               ("67", (12, 15, 18))]


@settings(max_examples=150, **SETTINGS)
@given(shape=st.sampled_from(CARD_SHAPES), data=st.data(), prefix=PREFIX, suffix=SUFFIX, width=WIDTH,
       sep=st.sampled_from(["", " ", "-", ".", "\u00a0", "\u2009", "\u202f"]))
def test_property_card_span_is_exact(guard, shape, data, prefix, suffix, width, sep):
    iin, lengths = shape
    n = data.draw(st.sampled_from(lengths))
    body = iin + "".join(data.draw(st.sampled_from(string.digits)) for _ in range(n - len(iin) - 1))
    digits = luhn(body)
    if digits.count(digits[0]) == len(digits):
        return
    value = sep.join(digits[i:i + 4] for i in range(0, n, 4))
    if width == "fullwidth":
        value = value.translate(FULLWIDTH)
    text = f"{prefix}card {value}{suffix}"
    d = guard.check(text)
    start = len(prefix) + 5
    assert [(r.start, r.end, r.kind) for r in d.redactions] == [(start, start + len(value), "credit_card")], text


@settings(max_examples=200, **SETTINGS)
@given(value=st.text(max_size=80))
def test_property_bounds_lie_inside_the_value_and_never_raise(value):
    for name, fn in VALIDATORS.items():
        bounds = getattr(fn, "bounds", None)
        assert fn(value) in (True, False)
        if bounds is None:
            continue
        got = bounds(value)
        assert all(0 <= s < e <= len(value) for s, e in got), (name, value, got)
        assert list(got) == sorted(got) and all(a[1] <= b[0] for a, b in zip(got, got[1:]))
        assert bool(got) == fn(value), (name, value)


@pytest.mark.parametrize("junk", [None, 42, b"4111111111111111", "\ud800", "\x00" * 20, "9" * 10_000])
def test_bounds_on_garbage(junk):
    for fn in VALIDATORS.values():
        assert fn(junk) is False
        if hasattr(fn, "bounds"):
            assert fn.bounds(junk) == ()
