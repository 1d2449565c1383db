"""Tests for policylang.compile.validators."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.compile.validators import VALIDATORS

REQUIRED = {"luhn", "iban", "us_ssn", "ipv4", "ipv6", "public_ip", "email", "high_entropy",
            "jwt", "aba_routing", "date"}


def _b64url(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


JWT = f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url({'sub': '42'})}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

GOOD = {
    "luhn": ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559",
             "card: 4111 1111 1111 1111",
             "378282246310005", "6011111111111117", "4012888888881881"],
    "iban": ["GB82WEST12345698765432", "GB82 WEST 1234 5698 7654 32", "gb82west12345698765432",
             "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
             "BE68539007547034", "CH9300762011623852957", "ES9121000418450200051332",
             "IT60X0542811101000000123456", "NO9386011117947", "PL61109010140000071219812874",
             "MT84MALT011000012345MTLCAST001S", "SA0380000000608010167519"],
    "us_ssn": ["123-45-6789", "123456789", "123 45 6789", "001-01-0001", "665-99-9999", "899-12-3456",
               "SSN: 536-22-1234", "social security number 536 22 1234"],
    "ipv4": ["192.168.1.1", "8.8.8.8", "0.0.0.0", "255.255.255.255", "10.0.0.254"],
    "ipv6": ["2001:db8::1", "::1", "fe80::1%eth0", "[2606:4700:4700::1111]", "::ffff:192.0.2.1",
             "2001:0db8:85a3:0000:0000:8a2e:0370:7334"],
    "public_ip": ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"],
    "email": ["john.doe@example.com", "a+tag@sub.example.co.uk", "x_y-z@mail.example.org",
              "josé@exämple.de", "user@xn--bcher-kva.com"],
    "high_entropy": ['api_key = "sk-9fQ2xLr8TzW4mBn7Kp3VhY6c"', "secret: Zm9vYmFyYmF6cXV4MTIzNDU2",
                     "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "a3f1c9e07b5d48e2a6f0b1c3d5e7f9a2",
                     "AWS_SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                     "client_secret => 'sk-9fQ2xLr8TzW4mBn7Kp3VhY6c'", "token := Zm9vYmFyYmF6cXV4MTIzNDU2"],
    "jwt": [JWT, JWT.rsplit(".", 1)[0] + ".",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"],
    "aba_routing": ["011000015", "021000021", "121000358", "026009593", "322271627"],
    "date": ["2024-01-15", "2024/1/5", "31/12/2024", "12/31/2024", "1/2/24", "29.02.2024",
             "12 Jan 2024", "January 12, 2024", "Sept 3, 1999", "3rd March 2021"],
}

BAD = {
    "luhn": ["4111111111111112", "0000000000000000", "4" * 16, "1234",
             "41111111111111111111", "4111x111111111111", "４１１１１１１１１１１１１１１１", ""],
    "iban": ["GB82WEST12345698765433", "GB83WEST12345698765432", "GB82WEST1234569876543",
             "DE8937040044053201300", "XX00ABC", "GB82-WEST-1234-5698-7654-32", "hello world", ""],
    "us_ssn": ["000-12-3456", "666-12-3456", "900-12-3456", "999-99-9999", "123-00-4567",
               "123-45-0000", "078-05-1120", "219-09-9999", "078051120", "123-456789",
               "12-345-6789", "１２３-45-6789", "123-45 6789", "1123-45-6789", "SSN: 078-05-1120", ""],
    "ipv4": ["256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1.2.3.-4", "a.b.c.d", "1.2.3.4 x", ""],
    "ipv6": ["::", "12:34", "std::vector", "gggg::1", "1:2:3:4:5:6:7:8:9", "1.2.3.4", ""],
    "public_ip": ["127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.1.1", "100.64.0.1",
                  "192.0.2.1", "224.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "fe80::1",
                  "fc00::1", "2001:db8::1", "::ffff:10.0.0.1", "garbage", ""],
    "email": ["user@example", "foo@1.2.3", "npm@7.24.0", "icon@2x.png", "x@y.c",
              "bad..dots@example.com", ".lead@example.com", "user@-example.com",
              "user@exam_ple.com", "@example.com", "user@", "a@b@c.com", ""],
    "high_entropy": ["password = 'hunter2'", "aaaaaaaaaaaaaaaaaaaaaaaa", 'token: "xxxxxxxxxxxxxxxxxxxxxxxx"',
                     "get_user_by_id_or_name", "this is a normal sentence here", "1234567890123456", ""],
    "jwt": ["a.b.c", "1.2.3", "abc.def", "x.y.z.w", f"{_b64url({'typ': 'JWT'})}.{_b64url({'a': 1})}.sig",
            f"{_b64url(b'not json')}.{_b64url({'a': 1})}.sig", "..", ""],
    "aba_routing": ["011000016", "000000000", "991000015", "12345678", "0110000150", "abcdefghi", ""],
    "date": ["2024-02-30", "2023-02-29", "13/13/2024", "2024-13-01", "1.2.3", "10.0.0.1",
             "3000-01-01", "Feb 30, 2024", "Foo 12, 2024", "12/31", "hello", ""],
}


def test_required_validators_exist():
    assert REQUIRED <= set(VALIDATORS)


@pytest.mark.parametrize("name,value", [(k, v) for k, vs in GOOD.items() for v in vs])
def test_good_values(name, value):
    assert VALIDATORS[name](value) is True


@pytest.mark.parametrize("name,value", [(k, v) for k, vs in BAD.items() for v in vs])
def test_bad_values(name, value):
    assert VALIDATORS[name](value) is False


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("junk", [None, 42, b"4111111111111111", "\ud800", "\x00" * 20, "9" * 10_000])
def test_garbage_never_raises(name, junk):
    assert VALIDATORS[name](junk) is False


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=60))
def test_validators_never_raise(value):
    for fn in VALIDATORS.values():
        assert fn(value) in (True, False)


def test_luhn_single_digit_changes_are_caught():
    good = "4111111111111111"
    for i in range(len(good)):
        for d in "0123456789":
            if d != good[i]:
                assert not VALIDATORS["luhn"](good[:i] + d + good[i + 1:])


def test_iban_single_digit_changes_are_caught():
    good = "GB82WEST12345698765432"
    for i in range(len(good)):
        if good[i].isdigit():
            for d in "0123456789":
                if d != good[i]:
                    assert not VALIDATORS["iban"](good[:i] + d + good[i + 1:])


def test_validators_mapping_is_read_only():
    with pytest.raises(TypeError):
        VALIDATORS["luhn"] = lambda s: True  # type: ignore[index]


def test_the_language_names_exactly_the_implemented_validators():
    """`policylang check` reads the names from syntax.vocabulary; each must have an implementation."""
    from policylang.syntax.vocabulary import VALIDATOR_NAMES

    assert tuple(VALIDATORS) == VALIDATOR_NAMES


def test_every_normalization_step_of_the_language_is_implemented():
    from policylang.runtime import normalize
    from policylang.syntax.vocabulary import STEPS

    assert set(normalize._ORDER) == set(STEPS)
    for step in STEPS:  # a normalizer of each single step builds (an unknown one raises UnknownStep)
        normalize.Normalizer((step,))
