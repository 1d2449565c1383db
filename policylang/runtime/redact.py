"""Redaction operators (replace, mask, hash, remove) and span merging."""

from __future__ import annotations

import hashlib
import hmac

from policylang.decision import Redaction
from policylang.syntax import ast

DEFAULT_TEMPLATE = "[{kind}]"


def render(action: ast.Action, value: str, kind: str, rule_id: str, matcher: str, salt: bytes) -> str:
    """The replacement text for ``value`` under a redact action."""
    op = action.op or "replace"
    if op == "replace":
        template = action.template.value if action.template is not None else DEFAULT_TEMPLATE
        return template.replace("{kind}", kind).replace("{rule}", rule_id).replace("{matcher}", matcher)
    if op == "mask":
        keep = max(0, min(action.keep, len(value)))
        return action.mask_char * (len(value) - keep) + (value[len(value) - keep:] if keep else "")
    if op == "hash":
        digest = hmac.new(salt, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]
        return f"[{kind}:{digest}]"
    if op == "remove":
        return ""
    raise ValueError(f"unknown redaction operator `{op}`")


def merge(items: list[tuple[int, int, str, ast.Action, str, str]], text: str, salt: bytes) -> list[Redaction]:
    """Merge overlapping ``(start, end, kind, action, rule_id, matcher)`` spans and render them.

    Overlapping spans become one redaction covering their union. It takes the kind and
    operator of the longest span (the first one on a tie): spans are values, not their
    labels (validators bound them), so the longer match is the value and the shorter a
    reading of part of it: the digit groups of an IBAN or a French NIR that also pass as a
    card or a phone number redact as `[iban]`, `[fr_nir]`.
    """
    if not items:
        return []
    items = sorted(items, key=lambda t: (t[0], -t[1]))
    groups: list[list] = []  # [start, end, best item]
    for it in items:
        if groups and it[0] < groups[-1][1]:
            g = groups[-1]
            if it[1] > g[1]:
                g[1] = it[1]
            if it[1] - it[0] > g[2][1] - g[2][0]:
                g[2] = it
            continue
        groups.append([it[0], it[1], it])
    out = []
    for start, end, (_, _, kind, action, rule_id, matcher) in groups:
        out.append(Redaction(
            start=start, end=end, kind=kind,
            replacement=render(action, text[start:end], kind, rule_id, matcher, salt),
            rule_id=rule_id, matcher=matcher,
        ))
    return out


def apply(text: str, redactions: list[Redaction]) -> str:
    """The text with every (non-overlapping, sorted) redaction applied."""
    if not redactions:
        return text
    parts, pos = [], 0
    for r in redactions:
        parts.append(text[pos:r.start])
        parts.append(r.replacement)
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts)


def to_original(redactions: list[Redaction], start: int, end: int) -> tuple[int, int]:
    """Map a span of the redacted text back to the original text.

    A position inside a replacement maps to the whole redacted span it replaced.
    """
    def one(pos: int, is_end: bool) -> int:
        shift = 0  # original - redacted, for text before the current redaction
        for r in redactions:
            red_start = r.start - shift
            red_end = red_start + len(r.replacement)
            if pos <= red_start:
                return pos + shift
            if pos < red_end:
                return r.end if is_end else r.start
            shift += (r.end - r.start) - len(r.replacement)
        return pos + shift

    ostart = one(start, False)
    if end <= start:
        return ostart, ostart
    return ostart, one(end, True)
