"""Token-classifier tag facts (BIO/BILOU/BIOES tags -> entity types), level 0.

The checker reads a declared label set's entity types (PL204) and the runtime decodes a
model's tags with the same rules; both import them from here (no numpy, no runtime).
"""

from __future__ import annotations

from collections.abc import Sequence

_BEGIN, _INSIDE, _LAST, _UNIT = "B", "I", "L", "U"
_PREFIXES = {"B": _BEGIN, "I": _INSIDE, "L": _LAST, "E": _LAST, "U": _UNIT, "S": _UNIT}


def split_tag(tag: str) -> tuple[str, str | None]:
    """``("B"|"I"|"L"|"U", TYPE)`` for a tag; ``("O", None)`` for the outside tag.

    ``B-X``/``I-X``/``L-X``/``U-X`` (BILOU), ``E-X``/``S-X`` (BIOES), ``B_X`` and a bare
    ``X`` (read as inside) are accepted.
    """
    if tag in ("O", "o", "") or tag.upper() == "O":
        return "O", None
    if len(tag) > 2 and tag[1] in "-_" and tag[0].upper() in _PREFIXES:
        return _PREFIXES[tag[0].upper()], tag[2:]
    return _INSIDE, tag


def entity_types(tags: Sequence[str]) -> tuple[str, ...]:
    """The entity types of a tag set, in first-seen order (``B-CITY``, ``I-CITY`` -> ``CITY``)."""
    out: dict[str, None] = {}
    for tag in tags:
        _, typ = split_tag(tag)
        if typ is not None:
            out.setdefault(typ)
    return tuple(out)
