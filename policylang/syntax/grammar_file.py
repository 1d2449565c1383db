"""Where the grammar text comes from, and Lark's identity, without importing Lark.

A warm ``policylang check`` reads every file's syntax tree from the parse cache and never
builds the parser; the cache key still needs the grammar text and Lark's version, and
importing Lark (with the ``regex`` module it pulls in) costs ~50 ms of a ~250 ms command.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

GRAMMAR_FILE = "policy.lark"


def grammar_text() -> str:
    """The grammar: shipped as ``policylang/_grammar/`` in a wheel, ``grammar/`` in a checkout."""
    here = Path(__file__).resolve()
    shipped = here.parents[1] / "_grammar" / GRAMMAR_FILE
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return (here.parents[2] / "grammar" / GRAMMAR_FILE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def lark_identity() -> bytes:
    """A digest of the installed Lark package's ``__init__.py`` (it holds ``__version__``)."""
    spec = importlib.util.find_spec("lark")
    origin = spec.origin if spec is not None else None
    if origin is None:  # pragma: no cover - no Lark: parsing fails later with a clear ImportError
        return b""
    try:
        return hashlib.sha256(Path(origin).read_bytes()).digest()
    except OSError:  # pragma: no cover
        return b""
