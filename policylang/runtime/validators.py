"""The validators (``validate luhn`` ...) live in :mod:`policylang.compile.validators`:
the compiler binds validator names to these functions, so they sit below it. This name is
kept as an alias of that very module (monkeypatching either patches both)."""

import sys

from policylang.compile import validators as _validators

sys.modules[__name__] = _validators
