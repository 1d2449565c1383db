"""Chat messages -> stage checks, and the redacted messages to send on.

Which stage checks a message depends on its role (``roles=`` overrides any entry):

============================  =========  =====================================================
role                          stage      why
============================  =========  =====================================================
``system``, ``developer``     (none)     the application's own prompt: trusted, not checked
``user``                      input      what the user typed
``tool``, ``function``        context    tool results: indirect prompt injection lives here
``context``, ``document``,    context    retrieved documents (RAG)
``retrieval``
``assistant``                 output     history of model answers: a client can forge it,
                                         and output rules (PII, secrets) apply to it
anything else                 input      unknown roles are untrusted
============================  =========  =====================================================

Content may be a string or a list of parts (``{"type": "text", "text": ...}``); text parts
are checked, other parts (images, audio) are passed on as they are. Function/tool-call
arguments inside assistant messages are not checked. Messages may be dicts or objects with
``model_dump()`` (pydantic); the caller's list is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from policylang.decision import Decision

DEFAULT_ROLES: dict[str, str | None] = {
    "system": None,
    "developer": None,
    "user": "input",
    "tool": "context",
    "function": "context",
    "context": "context",
    "document": "context",
    "retrieval": "context",
    "assistant": "output",
}
UNKNOWN_ROLE_STAGE = "input"


def is_messages(value: Any) -> bool:
    """A non-empty list/tuple whose items are mappings or objects with a ``role``."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    return all(isinstance(m, Mapping) or hasattr(m, "role") for m in value)


def _as_dict(m: Any) -> dict:
    if isinstance(m, Mapping):
        return dict(m)
    dump = getattr(m, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return {k: v for k, v in vars(m).items() if not k.startswith("_")}


@dataclass
class _Item:
    message: int
    part: int | None  # index into a list content, None for string content
    text: str
    stage: str

    @property
    def label(self) -> str:
        return f"messages[{self.message}]" + (f".content[{self.part}]" if self.part is not None else "")


@dataclass
class MessagesCheck:
    """What checking a message list found."""

    messages: list  # messages to send on (redacted copies where needed)
    items: list[_Item]
    decisions: list[Decision]  # one per item
    refusal: Decision | None  # the first refused item's decision, by message order

    def entries(self) -> list[tuple[Decision, str, str]]:
        return [(d, it.text, it.label) for d, it in zip(self.decisions, self.items)]


def collect(messages: Sequence[Any], roles: Mapping[str, str | None] | None = None) -> tuple[list[dict], list[_Item]]:
    """Copies of ``messages`` as dicts, and the texts to check with their stages."""
    table = DEFAULT_ROLES if not roles else {**DEFAULT_ROLES, **roles}
    copies: list[dict] = []
    items: list[_Item] = []
    for i, m in enumerate(messages):
        d = _as_dict(m)
        copies.append(d)
        role = d.get("role")
        stage = table.get(role, UNKNOWN_ROLE_STAGE) if isinstance(role, str) else UNKNOWN_ROLE_STAGE
        if stage is None:
            continue
        content = d.get("content")
        if isinstance(content, str):
            items.append(_Item(i, None, content, stage))
        elif isinstance(content, (list, tuple)):
            for j, part in enumerate(content):
                if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    items.append(_Item(i, j, part["text"], stage))
        elif content is not None:
            raise TypeError(
                f"message {i} has content of type {type(content).__name__}; expected str or a list of parts"
            )
    return copies, items


def _apply(copies: list[dict], items: list[_Item], decisions: list[Decision]) -> list[dict]:
    for it, d in zip(items, decisions):
        if d.text == it.text:
            continue
        msg = copies[it.message]
        if it.part is None:
            msg["content"] = d.text
        else:
            parts = list(msg["content"])
            part = dict(parts[it.part])
            part["text"] = d.text
            parts[it.part] = part
            msg["content"] = parts
    return copies


def _group(items: list[_Item]) -> dict[str, list[int]]:
    by_stage: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        by_stage.setdefault(it.stage, []).append(k)
    return by_stage


def _finish(copies, items, decisions) -> MessagesCheck:
    refusal = next((d for d in decisions if d.refused), None)
    if refusal is None:
        copies = _apply(copies, items, decisions)
    return MessagesCheck(copies, items, decisions, refusal)


def check_messages(guard, messages: Sequence[Any], context: Mapping | None,
                   roles: Mapping[str, str | None] | None = None) -> MessagesCheck:
    """Check every untrusted message (batched per stage)."""
    copies, items = collect(messages, roles)
    decisions: list[Decision | None] = [None] * len(items)
    for stage, idx in _group(items).items():
        for k, d in zip(idx, guard.check_many([items[k].text for k in idx], stage, context)):
            decisions[k] = d
    return _finish(copies, items, decisions)


async def acheck_many(guard, texts: list[str], stage: str, context: Mapping | None) -> list[Decision]:
    """``check_many`` that never blocks the event loop on models; pattern-only runs inline."""
    if not guard.plan.models:
        return guard.check_many(texts, stage, context)
    return await guard.acheck_many(texts, stage, context)


async def acheck(guard, text: str, stage: str, context: Mapping | None) -> Decision:
    return await guard.acheck(text, stage, context)


async def acheck_messages(guard, messages: Sequence[Any], context: Mapping | None,
                          roles: Mapping[str, str | None] | None = None) -> MessagesCheck:
    copies, items = collect(messages, roles)
    decisions: list[Decision | None] = [None] * len(items)
    for stage, idx in _group(items).items():
        for k, d in zip(idx, await acheck_many(guard, [items[k].text for k in idx], stage, context)):
            decisions[k] = d
    return _finish(copies, items, decisions)
