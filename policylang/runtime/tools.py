"""Tool calls as the engine sees them: the arguments' string values as one scan text.

A tool call's arguments (a JSON object, or its JSON text) are walked depth first; every
string value becomes a *leaf* of the scan text, the leaves joined by ``"\\n"`` in walk
order. Matchers scan that text once; a hit that runs across two leaves is dropped (a
match must lie inside one argument). ``tool.args.PATH`` reads the value at PATH; ``M in
tool.args.PATH`` is true when matcher M hit inside a string under PATH. Redactions are
offsets into the scan text and are written back into the leaves they fall in.

Bad arguments (not JSON, not an object, too deep, too many values, too long) are not
evaluated: :func:`flatten` raises :class:`BadArguments` and the engine refuses the call
with the reason in ``errors`` (fail closed).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from policylang.compile.conditions import ToolView

MAX_DEPTH = 32
MAX_VALUES = 10_000
SEPARATOR = "\n"


class BadArguments(ValueError):
    """Tool arguments the engine will not evaluate; the message says why."""


def parse_arguments(arguments: Any) -> dict:
    """A dict of arguments: a mapping as is, a JSON object text parsed."""
    if isinstance(arguments, (str, bytes, bytearray)):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            raise BadArguments(f"tool arguments are not JSON: {str(exc)[:200]}") from None
    if arguments is None:
        return {}
    if not isinstance(arguments, Mapping):
        raise BadArguments(f"tool arguments must be a JSON object, got {type(arguments).__name__}")
    return dict(arguments)


def flatten(name: str, arguments: Any, max_chars: int | None) -> tuple[str, ToolView]:
    """The scan text and the ToolView of one call. Raises BadArguments."""
    args = parse_arguments(arguments)
    pieces: list[str] = []
    leaves: list[tuple[tuple, int, int]] = []
    pos = 0
    count = 0
    # iterative walk: (value, path, depth)
    stack: list[tuple[Any, tuple, int]] = [(args, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise BadArguments(f"tool arguments hold more than {MAX_VALUES:,} values")
        if depth > MAX_DEPTH:
            raise BadArguments(f"tool arguments are nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            if pieces:
                pos += len(SEPARATOR)
            leaves.append((path, pos, pos + len(value)))
            pieces.append(value)
            pos += len(value)
            if max_chars is not None and pos > max_chars:
                raise BadArguments(f"tool arguments are too large: over {max_chars:,} characters of text")
        elif isinstance(value, Mapping):
            items = list(value.items())
            for k, v in reversed(items):
                if not isinstance(k, str):
                    raise BadArguments(f"tool argument keys must be strings, got {type(k).__name__}")
                stack.append((v, path + (k,), depth + 1))
        elif isinstance(value, (list, tuple)):
            for v in reversed(value):
                stack.append((v, path, depth + 1))  # list items share their list's path
        elif isinstance(value, bool) or value is None or isinstance(value, int):
            continue
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BadArguments("tool arguments hold a number that is not finite")
        else:
            raise BadArguments(f"tool arguments must be JSON values, got {type(value).__name__}")
    return SEPARATOR.join(pieces), ToolView(name, args, tuple(leaves))


def rewrite(args: dict, text: str, leaves: tuple, redactions) -> dict:
    """A copy of ``args`` with every redaction of the scan ``text`` written into its string leaf.

    A redaction that reaches past its leaf (a re-scan of the redacted text can find one)
    is clipped to each leaf it touches; its replacement goes into the leaf it starts in."""
    if not redactions:
        return args
    new_values: dict[int, str] = {}
    for i, (_path, a, b) in enumerate(leaves):
        inside = [r for r in redactions if (r.start < b and r.end > a) or r.start == r.end == a]
        if not inside:
            continue
        out: list[str] = []
        cur = a
        for r in inside:
            s, e = max(r.start, a), min(r.end, b)
            out.append(text[cur:s])
            if r.start >= a:
                out.append(r.replacement)
            cur = max(cur, e)
        out.append(text[cur:b])
        new_values[i] = "".join(out)
    return _replace(args, new_values, iter(range(len(leaves))))


def _replace(value, new_values: dict[int, str], counter):
    """A copy of ``value`` with string leaf i (walk order) replaced by new_values[i]."""
    if isinstance(value, str):
        i = next(counter)
        return new_values.get(i, value)
    if isinstance(value, Mapping):
        return {k: _replace(v, new_values, counter) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace(v, new_values, counter) for v in value]
    return value
