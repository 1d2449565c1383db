"""``[tool.policylang]`` in ``pyproject.toml``: project settings for the command line.

The nearest ``pyproject.toml`` from the working folder upwards that has a
``[tool.policylang]`` table is used (as Ruff and pytest find theirs)::

    [tool.policylang]
    paths = ["policies"]            # what `check`, `test` and `fmt` run on when no PATH is given
    select = ["PL"]                 # report only codes with these prefixes (default: all)
    ignore = ["PL302", "PL4"]       # never report these warnings (prefixes too); errors cannot be ignored
    warnings-as-errors = true       # `check` exits 1 on warnings too
    word-roots = ["shared/words"]   # extra folders word files may come from
    cache-dir = ".cache/policylang" # the pattern-database cache (default: the user cache folder)

Relative paths are relative to the folder of the ``pyproject.toml``. Flags on the command
line win over the file. An unknown key or a value of the wrong type is a usage error that
names the key.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from policylang.diagnostics import CODES, Diagnostic
from policylang.loader import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEYS = {"paths", "select", "ignore", "warnings-as-errors", "word-roots", "cache-dir"}


@dataclass(frozen=True)
class Config:
    """Settings read from ``[tool.policylang]`` (all empty when there is none)."""

    file: Path | None = None
    paths: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    warnings_as_errors: bool = False
    word_roots: tuple[str, ...] = ()
    cache_dir: str | None = None
    extra: dict = field(default_factory=dict)

    def reports(self, d: Diagnostic) -> bool:
        """Whether ``d`` is reported under ``select``/``ignore`` (errors always are)."""
        if d.is_error:
            return True
        if self.select and not any(d.code.startswith(p) for p in self.select):
            return False
        return not any(d.code.startswith(p) for p in self.ignore)


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.policylang]`` table, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                with open(candidate, "rb") as fh:
                    data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as err:
                raise UsageError(f"cannot read `{candidate}`: {err}") from None
            if isinstance(data.get("tool"), dict) and "policylang" in data["tool"]:
                return candidate
    return None


def _strings(file: Path, key: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{file}: [tool.policylang] `{key}` must be a list of strings")
    return tuple(value)


def _codes(file: Path, key: str, value) -> tuple[str, ...]:
    out = _strings(file, key, value)
    for prefix in out:
        if not prefix.startswith("PL") or not any(c.startswith(prefix) for c in CODES):
            raise UsageError(f"{file}: [tool.policylang] `{key}`: `{prefix}` is not a diagnostic code or prefix "
                             "(see `policylang rule --list`)")
    return out


def load_config(start: Path | None = None) -> Config:
    """Read the project's settings; ``Config()`` when no ``pyproject.toml`` has any."""
    if os.environ.get("POLICYLANG_NO_CONFIG"):
        return Config()
    file = find_pyproject(start)
    if file is None:
        return Config()
    with open(file, "rb") as fh:
        table = tomllib.load(fh)["tool"]["policylang"]
    if not isinstance(table, dict):
        raise UsageError(f"{file}: [tool.policylang] must be a table")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise UsageError(f"{file}: unknown key `{unknown[0]}` in [tool.policylang] (known: {', '.join(sorted(KEYS))})")
    root = file.parent

    def rel(p: str) -> str:
        return str(root / p) if not os.path.isabs(p) else p

    wae = table.get("warnings-as-errors", False)
    if not isinstance(wae, bool):
        raise UsageError(f"{file}: [tool.policylang] `warnings-as-errors` must be true or false")
    cache = table.get("cache-dir")
    if cache is not None and not isinstance(cache, str):
        raise UsageError(f"{file}: [tool.policylang] `cache-dir` must be a string")
    return Config(
        file=file,
        paths=tuple(rel(p) for p in _strings(file, "paths", table.get("paths", []))),
        select=_codes(file, "select", table.get("select", [])),
        ignore=_codes(file, "ignore", table.get("ignore", [])),
        warnings_as_errors=wae,
        word_roots=tuple(rel(p) for p in _strings(file, "word-roots", table.get("word-roots", []))),
        cache_dir=rel(cache) if cache else None,
    )
