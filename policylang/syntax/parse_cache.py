"""An on-disk cache of parsed large policy files (the shipped packs, long word lists).

Lark parses ~1 MB of policy text per second in pure Python: the jailbreak pack alone takes
~130 ms, on every load, and building the parser itself (even from Lark's table cache) ~90 ms.
A parsed file is a pure function of its text, its name, the grammar and this package's
syntax code, so the result is kept, keyed by all four, in the cache folder next to Lark's
own parser tables (``$POLICYLANG_CACHE_DIR``, else the user cache folder). Reading the
jailbreak pack back takes ~15 ms; a warm load whose files are all cached never builds the
parser.

Every file that parses is kept (an edited file leaves an entry that ages out); the folder
keeps the ``KEEP`` most recently used entries. The format is pickle, like Lark's table cache in the
same folder: the cache folder must be writable by its user only, as the user cache folder
is (docs/security.md). ``POLICYLANG_NO_PARSER_CACHE=1`` turns both off. A file that cannot
be read, or that holds anything unexpected, is ignored and the text parsed again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import pickle
import tempfile
from pathlib import Path

from policylang._source import SourceFile
from policylang.syntax.grammar_file import grammar_text, lark_identity

MIN_CHARS = 0  # files shorter than this are not kept
KEEP = 256
_FORMAT = b"policylang-ast-2"


@functools.lru_cache(maxsize=1)
def _code_key() -> bytes:
    """Lark's identity, the grammar and the syntax code: any change misses every entry (no Lark import)."""
    h = hashlib.sha256(_FORMAT + lark_identity() + grammar_text().encode())
    here = Path(__file__).resolve().parent
    for name in ("ast.py", "transform.py", "parser.py", "chars.py", "__init__.py", "parse_cache.py",
                 "grammar_file.py", "syntax_errors.py"):
        try:
            h.update((here / name).read_bytes())
        except OSError:  # pragma: no cover - a zipped install: no cache
            return b""
    try:
        h.update((here.parent / "_source.py").read_bytes())
    except OSError:  # pragma: no cover
        return b""
    return h.digest()


def _folder() -> str | None:
    if os.environ.get("POLICYLANG_NO_PARSER_CACHE"):
        return None
    import platformdirs

    base = os.environ.get("POLICYLANG_CACHE_DIR") or platformdirs.user_cache_dir("policylang", appauthor=False)
    return os.path.join(base, "ast")


def _path(source: SourceFile) -> str | None:
    if len(source.text) < MIN_CHARS:
        return None
    folder = _folder()
    code = _code_key()
    if folder is None or not code:
        return None
    h = hashlib.sha256(code)
    h.update(source.name.encode("utf-8", "surrogatepass") + b"\0")
    h.update(source.text.encode("utf-8", "surrogatepass"))
    return os.path.join(folder, h.hexdigest()[:40] + ".ast")


def read(source: SourceFile):
    """The cached ``ParseResult`` of ``source``, or None."""
    path = _path(source)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if not data.startswith(_FORMAT + b"\n"):
            return None
        name, text, result = pickle.loads(data[len(_FORMAT) + 1:])
        if name != source.name or text != source.text or type(result).__name__ != "ParseResult":
            return None
        try:
            os.utime(path)
        except OSError:
            pass
    except Exception:
        return None
    # the nodes point at an equal SourceFile; hand back the caller's own
    module = result.module
    if module is not None and module.source is not source:
        module = type(module)(source, module.items, module.span)
        result = type(result)(module, result.diagnostics)
    return result


@functools.lru_cache(maxsize=None)
def _positional(cls: type) -> tuple[str, ...] | None:
    """The field names of a frozen, slotted dataclass of ours that ``cls(*values)`` rebuilds
    exactly (every field an ``__init__`` argument, no ``__post_init__``), else None."""
    if not cls.__module__.startswith("policylang.") or "__slots__" not in cls.__dict__:
        return None
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or hasattr(cls, "__post_init__"):
        return None
    fs = dataclasses.fields(cls)
    if any(not f.init for f in fs):
        return None
    return tuple(f.name for f in fs)


class _Pickler(pickle.Pickler):
    """Syntax nodes and spans as ``cls(*values)``: unpickling then runs the dataclass's own
    ``__init__`` instead of its generic ``__setstate__`` (which calls ``fields()`` per
    node): the jailbreak pack's tree reads back in ~1.7 ms instead of ~4.2 ms."""

    def reducer_override(self, obj):
        names = _positional(type(obj))
        if names is None:
            return NotImplemented
        return type(obj), tuple([getattr(obj, n) for n in names])


def _dumps(value) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


def write(source: SourceFile, result) -> None:
    path = _path(source)
    if path is None or result.module is None:
        return
    try:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        data = _FORMAT + b"\n" + _dumps((source.name, source.text, result))
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _trim(folder)
    except Exception:
        pass  # no cache is not an error


def _trim(folder: str) -> None:
    entries = []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.endswith(".ast") and e.is_file(follow_symlinks=False):
                entries.append((e.stat(follow_symlinks=False).st_mtime, e.path))
    for _, p in sorted(entries, reverse=True)[KEEP:]:
        try:
            os.unlink(p)
        except OSError:
            pass
