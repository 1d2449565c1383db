"""Names the language defines: normalization steps (``normalize ...``) and validators (``validate ...``).

The checker validates the names, the compiler and runtime implement them
(``policylang.runtime.normalize``, ``policylang.compile.validators``; a test keeps the
implementations and these lists equal). Both import the names from here, so
``policylang check`` loads neither the normalizer and numpy nor phonenumbers and stdnum.
"""

from __future__ import annotations

# Fold steps (in place, with an offset map), then views (appended, each with its own map).
VIEW_STEPS: tuple[str, ...] = ("spaced", "rot13", "reversed", "urlencoding", "base32", "braille", "morse",
                               "nato", "zalgo", "tags", "variation_selectors")
STEPS: tuple[str, ...] = ("nfkc", "invisible", "confusables", "leetspeak", "base64", "hex") + VIEW_STEPS
DEFAULT_STEPS: tuple[str, ...] = ("nfkc", "invisible")

#: ``validate NAME`` (policylang.compile.validators.VALIDATORS implements each)
VALIDATOR_NAMES: tuple[str, ...] = (
    "luhn", "iban", "us_ssn", "ipv4", "ipv6", "public_ip", "email", "high_entropy",
    "jwt", "aba_routing", "date", "card", "phone", "phone_us", "phone_ca", "phone_gb",
    "phone_ie", "phone_de", "phone_at", "phone_ch", "phone_fr", "phone_be", "phone_nl", "phone_lu",
    "phone_it", "phone_es", "phone_pt", "phone_pl", "phone_se", "phone_no", "phone_dk", "phone_fi",
    "phone_au", "phone_nz", "phone_in", "phone_br", "phone_mx", "phone_jp", "uk_nino", "de_tax_id",
    "fr_nir", "vat_id", "passport", "aws_secret",
)
