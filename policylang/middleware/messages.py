"""Chat messages -> stage checks, and the redacted messages to send on.

The walker is exhaustive: every string a message list carries is either checked, or is a
known identifier / media payload (ids, names, URLs, base64 data), or the whole call is
refused with :class:`ContentShapeError` before anything is sent. A shape the walker cannot
classify (an unknown part ``type``, a ``text`` that is not a string, an object that is not
JSON-like data) is never forwarded unchecked.

Which stages check a message depends on its role (``roles=`` overrides any entry,
``history=`` sets the ``assistant`` entry):

============================  ==================  ===============================================
role                          stages              why
============================  ==================  ===============================================
``system``, ``developer``     (none)              the application's own prompt: trusted
``user``                      input               what the user typed
``tool``, ``function``        context             tool results: indirect prompt injection
``context``, ``document``,    context             retrieved documents (RAG)
``retrieval``
``assistant``                 input, then output  history the client sends can be forged: input
                                                  rules see it, and output rules (PII, secrets)
                                                  apply to the text input rules let through
anything else                 input               unknown roles are untrusted
============================  ==================  ===============================================

``history="output"`` checks assistant history with output rules only, ``history="trusted"``
does not check it (both explicit opt-outs; ``roles={"assistant": ...}`` wins over both).

Shapes understood (OpenAI Chat Completions, OpenAI Responses, Anthropic Messages):

* content: ``None``, a string, or a list of parts (nested lists and plain strings too);
* text parts ``text`` / ``input_text`` / ``output_text`` / ``summary_text`` /
  ``reasoning_text`` (``text`` must be a string), ``refusal`` (``refusal``), Anthropic
  ``thinking`` (``thinking``);
* media parts, passed as they are: ``image_url``, ``input_audio``, ``file``,
  ``input_image``, ``input_file``, ``image``, ``redacted_thinking``; ``document``: its
  ``title``/``context`` and a ``text`` or ``content`` source are checked, base64/url/file
  sources pass;
* tool results (``tool_result`` blocks, ``function_call_output`` items, ``tool`` and
  ``function`` messages) are checked with the stages of the ``tool`` role, nested content
  included, and then (when the policy has ``on tool_result`` rules and the ``tool`` role is
  checked at all) with ``guard.check_tool_result(name, text)``: ``name`` is the
  ``function`` message's ``name``, or the name of the call its ``tool_call_id`` /
  ``tool_use_id`` / ``call_id`` answers among the messages (``""`` when none does); tool calls the history carries (``tool_calls[].function.arguments``,
  ``function_call``, ``tool_use.input``, Responses ``function_call`` items) with the stages
  of the ``assistant`` role;
* Responses input items: messages with or without ``"type": "message"``,
  ``function_call``, ``function_call_output``, ``reasoning``, ``item_reference``.

Any other key of a message or part is walked as JSON data: every string in it is checked.
Messages may be dicts or objects with ``model_dump()`` (pydantic); the caller's objects are
never modified, and a redaction is written back into the part it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from policylang.decision import Decision
from policylang.errors import PolicyEvaluationError

__all__ = [
    "ContentShapeError",
    "DEFAULT_ROLES",
    "HISTORY",
    "MessagesCheck",
    "acheck_messages",
    "check_messages",
    "collect",
    "is_messages",
    "role_table",
]

STAGES = ("input", "output", "context")

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "system": (),
    "developer": (),
    "user": ("input",),
    "tool": ("context",),
    "function": ("context",),
    "context": ("context",),
    "document": ("context",),
    "retrieval": ("context",),
    "assistant": ("input", "output"),
}
UNKNOWN_ROLE_STAGES: tuple[str, ...] = ("input",)

# history= -> the stages of the assistant role
HISTORY: dict[str, tuple[str, ...]] = {
    "untrusted": ("input", "output"),
    "output": ("output",),
    "trusted": (),
}

# keys that hold identifiers or protocol values, never text a model reads as prose
_META = frozenset({"role", "type", "id", "tool_call_id", "call_id", "tool_use_id", "name", "status",
                   "cache_control", "is_error", "index", "signature", "encrypted_content"})
_TEXT_PARTS = {"text": "text", "input_text": "text", "output_text": "text", "summary_text": "text",
               "reasoning_text": "text", "refusal": "refusal", "thinking": "thinking"}
_MEDIA_PARTS = {
    "image_url": ("image_url",),
    "input_audio": ("input_audio",),
    "file": ("file",),
    "input_image": ("image_url", "file_id", "detail"),
    "input_file": ("file_data", "file_id", "filename", "file_url"),
    "image": ("source",),
    "redacted_thinking": ("data",),
}


class ContentShapeError(PolicyEvaluationError, TypeError):
    """A guarded call was given content the guard cannot check; nothing was sent.

    ``except policylang.PolicyError`` catches it (it is also a ``TypeError`` and a
    ``ValueError``). The message names the place (``messages[1].content[0]``).
    """


def _stages(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{what}: a stage, a list of stages or None; got {value!r}")
    bad = [s for s in value if s not in STAGES]
    if bad:
        raise ValueError(f"{what}: unknown stage {bad[0]!r} (stages: input, output, context)")
    return tuple(dict.fromkeys(value))


def role_table(roles: Mapping[str, Any] | None = None, history: str = "untrusted") -> dict[str, tuple[str, ...]]:
    """The role -> stages table for ``roles=`` and ``history=`` (validated)."""
    if history not in HISTORY:
        raise ValueError('history must be "untrusted" (the default), "output" or "trusted"')
    table = {**DEFAULT_ROLES, "assistant": HISTORY[history]}
    if roles:
        if not isinstance(roles, Mapping):
            raise TypeError(f"roles= must be a mapping of role -> stage(s), got {type(roles).__name__}")
        for role, value in roles.items():
            table[role] = _stages(value, f"roles[{role!r}]")
    return table


_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "reasoning", "item_reference"})


def _is_message(m: Any) -> bool:
    if isinstance(m, Mapping):
        return "role" in m or m.get("type") in _ITEM_TYPES
    return hasattr(m, "role") or getattr(m, "type", None) in _ITEM_TYPES


def is_messages(value: Any) -> bool:
    """A non-empty list/tuple whose items are chat messages (a ``role``) or Responses input items."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    return all(_is_message(m) for m in value)


def _plain(value: Any, where: str) -> Any:
    """A fresh JSON-like copy (dicts, lists, scalars) of ``value``; anything else is refused."""
    if isinstance(value, str) or value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump(exclude_none=True), where)
    if hasattr(value, "role") and hasattr(value, "__dict__") and not isinstance(value, type):  # a message object
        return _plain({k: v for k, v in vars(value).items() if not k.startswith("_")}, where)
    raise ContentShapeError(
        f"{where}: a guarded call cannot check a value of type {type(value).__name__} (expected str, "
        "a list of parts or JSON-like data); the call was not sent"
    )


@dataclass
class _Item:
    path: tuple  # into the copies: (message index, key or index, ...)
    text: str
    stages: tuple[str, ...]
    label: str
    tool: str | None = None  # a tool result's tool name ("" when the messages do not say)


@dataclass
class MessagesCheck:
    """What checking a message list found."""

    messages: list  # messages to send on (redacted copies where needed)
    items: list[_Item]
    checks: list[tuple[Decision, str, str]] = field(default_factory=list)  # (decision, checked text, label)
    refusal: Decision | None = None  # the first refused check (by round, then by message order)

    @property
    def decisions(self) -> list[Decision]:
        return [d for d, _, _ in self.checks]

    def entries(self) -> list[tuple[Decision, str, str]]:
        return list(self.checks)


class _Walker:
    def __init__(self, table: Mapping[str, tuple[str, ...]], prefix: str):
        self.table = table
        self.prefix = prefix
        self.items: list[_Item] = []
        self.history = table.get("assistant", HISTORY["untrusted"])
        self.tools = table.get("tool", DEFAULT_ROLES["tool"])
        self.names: dict[str, str] = {}  # tool call id -> tool name, from the calls the messages carry
        self.tool: str | None = None  # inside a tool result: its tool's name

    def in_tool(self, call_id: Any, name: Any = None) -> str:
        """The tool name of a tool result: its own ``name``, else the call ``call_id`` answers."""
        if isinstance(name, str) and name:
            return name
        return self.names.get(call_id, "") if isinstance(call_id, str) else ""

    def label(self, path: tuple) -> str:
        out = f"{self.prefix}[{path[0]}]"
        for p in path[1:]:
            out += f"[{p}]" if isinstance(p, int) else f".{p}"
        return out

    def fail(self, path: tuple, why: str):
        raise ContentShapeError(f"{self.label(path)}: {why}; the call was not sent (nothing unchecked is forwarded)")

    def text(self, path: tuple, value: str, stages: tuple[str, ...]) -> None:
        if stages:
            if self.tool is not None:  # a tool result: `on tool_result` rules too, after its stages
                self.items.append(_Item(path, value, stages + ("tool_result",), self.label(path), self.tool))
            else:
                self.items.append(_Item(path, value, stages, self.label(path)))

    # ------------------------------------------------------------------ JSON data
    def data(self, path: tuple, value: Any, stages: tuple[str, ...]) -> None:
        """Every string inside JSON-like ``value`` is checked."""
        if isinstance(value, str):
            self.text(path, value, stages)
        elif isinstance(value, dict):
            for k, v in value.items():
                self.data(path + (k,), v, stages)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.data(path + (i,), v, stages)
        # numbers, booleans and None carry no text

    def rest(self, path: tuple, d: dict, stages: tuple[str, ...], done: Sequence[str]) -> None:
        """Keys not handled by a known shape: identifiers pass, anything else is walked as data."""
        for k, v in d.items():
            if k in done or k in _META:
                continue
            self.data(path + (k,), v, stages)

    # ------------------------------------------------------------------ messages
    def message(self, i: int, m: Any) -> None:
        path = (i,)
        if isinstance(m, str):  # a bare string in a message list: untrusted text
            self.text(path, m, UNKNOWN_ROLE_STAGES)
            return
        if isinstance(m, list):
            self.fail(path, "a nested list where a message was expected")
        if not isinstance(m, dict):
            self.fail(path, f"a message must be a mapping, got {type(m).__name__}")
        kind = m.get("type")
        if "role" not in m and kind is not None and kind != "message":
            self.item(path, m, kind)
            return
        role = m.get("role")
        if role is not None and not isinstance(role, str):
            self.fail(path + ("role",), f"role must be a string, got {type(role).__name__}")
        stages = self.table.get(role, UNKNOWN_ROLE_STAGES) if role is not None else UNKNOWN_ROLE_STAGES
        if not stages:
            return  # trusted role: the application's own text
        is_tool = role in ("tool", "function")
        if is_tool:
            self.tool = self.in_tool(m.get("tool_call_id"), m.get("name"))
        try:
            self._message_body(path, m, role, stages, is_tool)
        finally:
            self.tool = None

    def _message_body(self, path: tuple, m: dict, role, stages: tuple[str, ...], is_tool: bool) -> None:
        self.content(path + ("content",), m.get("content"), stages, allow_str=True)
        done = ["content"]
        if "refusal" in m:
            done.append("refusal")
            if m["refusal"] is not None:
                if not isinstance(m["refusal"], str):
                    self.fail(path + ("refusal",), "refusal must be a string")
                self.text(path + ("refusal",), m["refusal"], stages)
        call_stages = self.history if role == "assistant" else stages
        if "tool_calls" in m:
            done.append("tool_calls")
            self.tool_calls(path + ("tool_calls",), m["tool_calls"], call_stages)
        if "function_call" in m and not is_tool:
            done.append("function_call")
            self.data(path + ("function_call",), m["function_call"], call_stages)
        self.rest(path, m, stages, done)

    def tool_calls(self, path: tuple, calls: Any, stages: tuple[str, ...]) -> None:
        if calls is None:
            return
        if not isinstance(calls, list):
            self.fail(path, "tool_calls must be a list")
        for j, call in enumerate(calls):
            if not isinstance(call, dict):
                self.fail(path + (j,), "a tool call must be a mapping")
            self.rest(path + (j,), call, stages, ())  # function.name / function.arguments: checked as data

    def item(self, path: tuple, m: dict, kind: Any) -> None:
        """A Responses input item that is not a message."""
        if kind == "function_call":
            self.rest(path, m, self.history, ())
        elif kind == "function_call_output":
            self.tool = self.in_tool(m.get("call_id"))
            try:
                self.content(path + ("output",), m.get("output"), self.tools, allow_str=True)
                self.rest(path, m, self.tools, ("output",))
            finally:
                self.tool = None
        elif kind == "reasoning":
            for key in ("summary", "content"):
                if key in m:
                    self.content(path + (key,), m[key], self.history, allow_str=False)
            self.rest(path, m, self.history, ("summary", "content"))
        elif kind == "item_reference":
            self.rest(path, m, UNKNOWN_ROLE_STAGES, ())
        else:
            self.fail(path, f"unknown input item type {kind!r}")

    # ------------------------------------------------------------------ content
    def content(self, path: tuple, content: Any, stages: tuple[str, ...], allow_str: bool) -> None:
        if content is None:
            return
        if isinstance(content, str):
            if not allow_str:
                self.fail(path, "expected a list of parts, got a string")
            self.text(path, content, stages)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                self.part(path + (j,), part, stages)
        else:
            self.fail(path, f"content must be a string or a list of parts, got {type(content).__name__}")

    def part(self, path: tuple, part: Any, stages: tuple[str, ...]) -> None:
        if isinstance(part, str):
            self.text(path, part, stages)
            return
        if isinstance(part, list):
            for j, p in enumerate(part):
                self.part(path + (j,), p, stages)
            return
        if not isinstance(part, dict):
            self.fail(path, f"a content part must be a mapping, got {type(part).__name__}")
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            key = _TEXT_PARTS[kind]
            value = part.get(key)
            if not isinstance(value, str):
                self.fail(path + (key,), f"a {kind!r} part needs a string {key!r}, got {type(value).__name__}")
            self.text(path + (key,), value, stages)
            self.rest(path, part, stages, (key,))
        elif kind in _MEDIA_PARTS:
            self.rest(path, part, stages, _MEDIA_PARTS[kind])
        elif kind == "document":
            self.document(path, part, stages)
        elif kind == "tool_result":
            outer, self.tool = self.tool, self.in_tool(part.get("tool_use_id"))
            try:
                self.content(path + ("content",), part.get("content"), self.tools, allow_str=True)
                self.rest(path, part, self.tools, ("content",))
            finally:
                self.tool = outer
        elif kind == "tool_use":
            self.data(path + ("input",), part.get("input"), self.history)
            self.rest(path, part, self.history, ("input",))
        else:
            self.fail(path, f"unknown content part type {kind!r}")

    def document(self, path: tuple, part: dict, stages: tuple[str, ...]) -> None:
        source = part.get("source")
        done = ["source"]
        if isinstance(source, dict):
            st = source.get("type")
            if st == "text":
                data = source.get("data")
                if not isinstance(data, str):
                    self.fail(path + ("source", "data"), "a text document needs a string 'data'")
                self.text(path + ("source", "data"), data, stages)
                self.rest(path + ("source",), source, stages, ("data", "media_type"))
            elif st == "content":
                self.content(path + ("source", "content"), source.get("content"), stages, allow_str=True)
            elif st in ("base64", "url", "file"):
                pass  # binary document (PDF): passed as it is, like an image
            else:
                self.fail(path + ("source",), f"unknown document source type {st!r}")
        elif source is not None:
            self.fail(path + ("source",), "a document source must be a mapping")
        self.rest(path, part, stages, done)


def collect(messages: Any, roles: Mapping[str, Any] | None = None, history: str = "untrusted",
            prefix: str = "messages", table: Mapping[str, tuple[str, ...]] | None = None
            ) -> tuple[list, list[_Item]]:
    """Fresh copies of ``messages`` and the texts to check, with their stages."""
    if table is None:
        table = role_table(roles, history)
    if not isinstance(messages, (list, tuple)):
        raise ContentShapeError(
            f"{prefix}: expected a list of chat messages, got {type(messages).__name__}; the call was not sent"
        )
    copies = _plain(messages, prefix)
    w = _Walker(table, prefix)
    w.names = _tool_names(copies)
    for i, m in enumerate(copies):
        w.message(i, m)
    return copies, w.items


def _tool_names(copies: list) -> dict[str, str]:
    """Tool call id -> tool name, from every call the messages carry: Chat Completions
    ``tool_calls``, Anthropic ``tool_use`` blocks, Responses ``function_call`` items."""
    names: dict[str, str] = {}

    def add(call_id, name) -> None:
        if isinstance(call_id, str) and isinstance(name, str):
            names.setdefault(call_id, name)

    for m in copies:
        if not isinstance(m, dict):
            continue
        if m.get("type") == "function_call":
            add(m.get("call_id"), m.get("name"))
            add(m.get("id"), m.get("name"))
        calls = m.get("tool_calls")
        if isinstance(calls, list):
            for c in calls:
                if isinstance(c, dict) and isinstance(c.get("function"), dict):
                    add(c.get("id"), c["function"].get("name"))
        content = m.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in ("tool_use", "server_tool_use"):
                    add(part.get("id"), part.get("name"))
    return names


def _without_tool_results(guard, items: list[_Item]) -> None:
    """A policy without ``on tool_result`` rules: tool results are checked at their stages only."""
    plan = getattr(guard, "plan", None)
    if plan is not None and getattr(plan, "by_stage", {}).get("tool_result"):
        return
    for it in items:
        if it.tool is not None:
            it.stages = tuple(s for s in it.stages if s != "tool_result")


def _run_stage(guard, stage: str, idx: list[int], items: list[_Item], texts: list[str], context):
    if stage == "tool_result":
        return [guard.check_tool_result(items[n].tool or "", texts[n], context) for n in idx]
    return guard.check_many([texts[n] for n in idx], stage, context)


async def _arun_stage(guard, stage: str, idx: list[int], items: list[_Item], texts: list[str], context):
    if stage == "tool_result":
        if not guard.plan.models:
            return _run_stage(guard, stage, idx, items, texts, context)
        import asyncio
        import functools

        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(_run_stage, guard, stage, idx, items, texts, context))
    return await acheck_many(guard, [texts[n] for n in idx], stage, context)


def _set(copies: list, path: tuple, value: str) -> None:
    node = copies
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _rounds(items: list[_Item], k: int) -> dict[str, list[int]]:
    by_stage: dict[str, list[int]] = {}
    for n, it in enumerate(items):
        if len(it.stages) > k:
            by_stage.setdefault(it.stages[k], []).append(n)
    return by_stage


def _merge(items, texts, results, checks) -> Decision | None:
    refusal = None
    for n, stage, d, checked in sorted(results, key=lambda r: r[0]):
        checks.append((d, checked, items[n].label))
        if d.refused:
            refusal = refusal or d
        else:
            texts[n] = d.text
    return refusal


def _finish(copies, items, texts, checks, refusal) -> MessagesCheck:
    if refusal is None:
        for it, t in zip(items, texts):
            if t != it.text:
                _set(copies, it.path, t)
    return MessagesCheck(copies, items, checks, refusal)


def check_messages(guard, messages: Any, context: Mapping | None, roles: Mapping[str, Any] | None = None,
                   history: str = "untrusted", prefix: str = "messages",
                   table: Mapping[str, tuple[str, ...]] | None = None) -> MessagesCheck:
    """Check every untrusted text of ``messages`` (batched per stage; chained stages in rounds)."""
    copies, items = collect(messages, roles, history, prefix, table)
    _without_tool_results(guard, items)
    texts = [it.text for it in items]
    checks: list = []
    refusal = None
    k = 0
    while refusal is None:
        groups = _rounds(items, k)
        if not groups:
            break
        results = []
        for stage, idx in groups.items():
            batch = [texts[n] for n in idx]
            for n, t, d in zip(idx, batch, _run_stage(guard, stage, idx, items, texts, context)):
                results.append((n, stage, d, t))
        refusal = _merge(items, texts, results, checks)
        k += 1
    return _finish(copies, items, texts, checks, refusal)


async def acheck_many(guard, texts: list[str], stage: str, context: Mapping | None) -> list[Decision]:
    """``check_many`` that never blocks the event loop on models; pattern-only runs inline."""
    if not guard.plan.models:
        return guard.check_many(texts, stage, context)
    return await guard.acheck_many(texts, stage, context)


async def acheck(guard, text: str, stage: str, context: Mapping | None) -> Decision:
    return await guard.acheck(text, stage, context)


async def acheck_messages(guard, messages: Any, context: Mapping | None, roles: Mapping[str, Any] | None = None,
                          history: str = "untrusted", prefix: str = "messages",
                          table: Mapping[str, tuple[str, ...]] | None = None) -> MessagesCheck:
    copies, items = collect(messages, roles, history, prefix, table)
    _without_tool_results(guard, items)
    texts = [it.text for it in items]
    checks: list = []
    refusal = None
    k = 0
    while refusal is None:
        groups = _rounds(items, k)
        if not groups:
            break
        results = []
        for stage, idx in groups.items():
            batch = [texts[n] for n in idx]
            for n, t, d in zip(idx, batch, await _arun_stage(guard, stage, idx, items, texts, context)):
                results.append((n, stage, d, t))
        refusal = _merge(items, texts, results, checks)
        k += 1
    return _finish(copies, items, texts, checks, refusal)
