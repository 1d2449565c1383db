"""The Lark parser for ``.policy`` files. Lark stays inside ``policylang.syntax``."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from lark import Lark

GRAMMAR_FILE = "policy.lark"


def _grammar_text() -> str:
    # Installed wheel: grammar/ is shipped as policylang/_grammar/ (pyproject force-include).
    try:
        res = resources.files("policylang").joinpath("_grammar").joinpath(GRAMMAR_FILE)
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover
        pass
    # Source checkout: the one copy at the repository root.
    repo = Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_FILE
    return repo.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The shared LALR parser (built once; Lark parsers are thread-safe for parsing)."""
    return Lark(
        _grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=False,
    )
