"""The names of the normalization steps (``normalize ...`` in a policy): part of the language.

The checker validates the names and the runtime (``policylang.runtime.normalize``) implements
them; both import the names from here, so ``policylang check`` never loads the normalizer
and numpy (~100 ms of a ``check`` run).
"""

from __future__ import annotations

# Fold steps (in place, with an offset map), then views (appended, each with its own map).
VIEW_STEPS: tuple[str, ...] = ("spaced", "rot13", "reversed", "urlencoding", "base32", "braille", "morse",
                               "nato", "zalgo", "tags", "variation_selectors")
STEPS: tuple[str, ...] = ("nfkc", "invisible", "confusables", "leetspeak", "base64", "hex") + VIEW_STEPS
DEFAULT_STEPS: tuple[str, ...] = ("nfkc", "invisible")
