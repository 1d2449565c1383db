"""The Lark parser for ``.policy`` files. Lark stays inside ``policylang.syntax``."""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

from lark import Lark

from policylang._source import SourceFile
from policylang.syntax.grammar_file import grammar_text
from policylang.syntax.transform import ToAst

@functools.lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The shared LALR parser, building the AST inline (see ``transform.ToAst``).

    Built once. The inline transformer holds per-parse state, so ``parse_items``
    serializes parses with a lock (parsing is pure Python: threads would not overlap anyway).
    """
    grammar = grammar_text()
    options = dict(parser="lalr", lexer="contextual", propagate_positions=False, maybe_placeholders=True,
                   transformer=_TRANSFORMER)
    cache = _cache_file(grammar)
    if cache is not None:
        try:  # the analysed tables from disk: ~20 ms instead of ~170 ms per process
            return Lark(grammar, cache=cache, **options)
        except Exception:  # an unreadable or foreign cache file: build from the grammar
            pass
    return Lark(grammar, cache=False, **options)


def _cache_file(grammar: str) -> str | None:
    """The parser-table cache file, keyed by the grammar and the Lark version (None: no cache)."""
    if os.environ.get("POLICYLANG_NO_PARSER_CACHE"):
        return None
    import lark
    import platformdirs

    key = hashlib.sha256(f"{lark.__version__}\0{grammar}".encode()).hexdigest()[:24]
    folder = os.environ.get("POLICYLANG_CACHE_DIR") or platformdirs.user_cache_dir("policylang", appauthor=False)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return os.path.join(folder, f"parser-{key}.lark")


_TRANSFORMER = ToAst()
_LOCK = threading.Lock()


def parse_items(source: SourceFile):
    """``(items, escape diagnostics)`` of one file; raises Lark's ``UnexpectedInput`` on a syntax error."""
    parser = lark_parser()
    with _LOCK:
        _TRANSFORMER.reset(source)
        try:
            items = parser.parse(source.text)
            return items, list(_TRANSFORMER.diagnostics)
        finally:
            _TRANSFORMER.reset(SourceFile("<none>", ""))
