"""``guard.anthropic(client)``: an Anthropic client whose Messages API calls are guarded.

Works with ``anthropic.Anthropic`` and ``anthropic.AsyncAnthropic`` (the ``anthropic``
package, the ``policylang[anthropic]`` extra), with and without ``stream=True``:

* the request's ``messages`` are checked by role like the OpenAI adapter's (user turns ->
  input, ``tool_result`` blocks -> context, assistant history including ``tool_use`` input
  -> input then output; ``roles=``/``history=`` override) and the REDACTED messages are
  sent; ``system=`` is the application's own prompt and is not checked unless
  ``roles={"system": ...}`` says so; content the guard cannot classify raises
  :class:`ContentShapeError` before anything is sent;
* a refused request is not sent: ``create()`` returns a ``Message`` whose content is one
  text block with the refusal and ``stop_reason="refusal"`` (with ``stream=True``: the
  events of such a message), or raises :class:`policylang.Refused` (``on_refuse="raise"``),
  or returns ``on_refuse(decision)``;
* the answer's content blocks are checked at stage ``output``: text (and its citations'
  quoted text), thinking, ``tool_use``/``server_tool_use`` input (every string and number
  in it), and every string of any other block (server tool results); redactions are written
  back into the blocks, a refusal replaces the content by the refusal text block with
  ``stop_reason="refusal"``;
* each client ``tool_use`` block goes through ``guard.check_tool_call`` first (rules ``on
  tool_call``): a refused call is replaced by a text block with the refusal message
  (``stop_reason="refusal"`` when no tool_use block is left), redacted arguments are written
  into ``input``; calls let through are then checked at ``output`` as above;
* streamed text and thinking blocks are guarded as they flow (one
  :class:`~policylang.middleware.streaming.StreamGuard` per block, so a secret split
  across ``content_block_delta`` events is never released in part); a tool_use block is
  held until its ``content_block_stop``, checked (``check_tool_call``, then ``output``), and
  sent as one ``input_json_delta`` (a refused call: a text block with the refusal); a
  refusal closes the HTTP stream and ends it with the refusal text, a ``message_delta``
  with ``stop_reason="refusal"`` and ``message_stop``.

Per call, ``policy_context={...}`` is popped from the ``create()`` keywords. Not guarded,
and therefore not reachable through the guarded view (``AttributeError``; use
``.unguarded``): ``beta``, legacy ``completions``, ``with_raw_response``,
``with_streaming_response``, and ``messages.stream``/``parse``/``batches``/``count_tokens``.
Redacting a thinking block invalidates its ``signature`` (the API refuses it if it is sent
back).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import uuid
from typing import Any, Mapping

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware._output import EventStreamBase, GuardedClient, RefusalEvents, acheck_answer, check_answer
from policylang.middleware.log import CallLog, as_log
from policylang.middleware.messages import ContentShapeError, acheck_messages, check_messages, role_table
from policylang.middleware.wrap import _check_on_refuse, merge_context, refusal_value

__all__ = ["guard_anthropic", "GuardedAnthropic", "GuardedMessageStream"]

CALL = "anthropic.messages.create"
_BLOCKED_CLIENT = frozenset({"beta", "completions", "with_raw_response", "with_streaming_response"})
_BLOCKED_MESSAGES = frozenset({"stream", "parse", "batches", "count_tokens", "with_raw_response",
                               "with_streaming_response"})
_STREAMED = {"text": ("text", "text_delta"), "thinking": ("thinking", "thinking_delta")}


def _blocked(name: str) -> AttributeError:
    return AttributeError(
        f"`{name}` is not guarded by policylang; use messages.create (stream=True for streams), "
        f"or `.unguarded.{name}` on purpose"
    )


def _is_async(client) -> bool:
    try:
        import anthropic

        if isinstance(client, anthropic.AsyncAnthropic):
            return True
        if isinstance(client, anthropic.Anthropic):
            return False
    except Exception:  # pragma: no cover - anthropic not installed
        pass
    return inspect.iscoroutinefunction(inspect.unwrap(client.messages.create))


def guard_anthropic(guard, client, *, on_refuse="message", log=None, log_text: bool = False,
                    context: Mapping | None = None, roles: Mapping[str, Any] | None = None,
                    history: str = "untrusted", hold_back: int | None = None,
                    global_rules: str = "buffer") -> "GuardedAnthropic":
    _check_on_refuse(on_refuse)
    if global_rules not in ("buffer", "end"):
        raise ValueError('global_rules must be "buffer" or "end"')
    opts = dict(on_refuse=on_refuse, log=as_log(log, log_text), context=context, table=role_table(roles, history),
                stream_opts=dict(hold_back=hold_back, global_rules=global_rules))
    return GuardedAnthropic(guard, client, opts)


class GuardedAnthropic(GuardedClient):
    """A guarded view of an Anthropic client: ``.messages.create`` is checked."""

    _blocked_names = _BLOCKED_CLIENT
    _blocked = staticmethod(_blocked)

    def __init__(self, guard, client, opts: dict):
        super().__init__(guard, client, opts)
        self._async = _is_async(client)
        self.messages = _Messages(self, client.messages)


class _Messages:
    def __init__(self, owner: GuardedAnthropic, raw):
        self._owner = owner
        self._raw = raw
        self._guard = owner._guard
        o = owner._opts
        self._on_refuse = o["on_refuse"]
        self._log = o["log"]
        self._context = o["context"]
        self._table = o["table"]
        self._stream_opts = o["stream_opts"]
        self.create = self._acreate if owner._async else self._create

    def __getattr__(self, name: str):
        if name in _BLOCKED_MESSAGES:
            raise _blocked(f"messages.{name}")
        return getattr(self._raw, name)

    # ------------------------------------------------------------------ request
    def _inputs(self, kwargs: dict) -> list[tuple[str, Any]]:
        out = []
        if kwargs.get("messages") is not None:
            out.append(("messages", kwargs["messages"]))
        if kwargs.get("system") is not None and self._table.get("system"):
            out.append(("system", kwargs["system"]))
        return out

    @staticmethod
    def _as_messages(key: str, value):
        if key == "system":
            return [{"role": "system", "content": value}]
        return value

    @staticmethod
    def _put(kwargs: dict, key: str, checked: list) -> None:
        kwargs[key] = checked[0]["content"] if key == "system" else checked

    def _shape_error(self, exc, cl: CallLog):
        cl.add_bare("input", self._guard.policy_hash, "messages", {"detail": str(exc)})
        cl.finish("error", {"error": type(exc).__name__})

    def _refused_input(self, d: Decision, kwargs: dict, cl: CallLog):
        cl.finish("refused")
        if self._on_refuse == "raise":
            raise Refused(d)
        if callable(self._on_refuse):
            return self._on_refuse(d)
        model = str(kwargs.get("model") or "policylang")
        if kwargs.get("stream"):
            return RefusalEvents(_refusal_events(d.text, model, start=True), self._owner._async)
        return _refusal_message(d.text, model)

    def _tool_decisions(self, resp, ctx) -> list[tuple[int, Any, Decision]]:
        """(index, block, decision) of every client ``tool_use`` block of the answer."""
        out = []
        for i, block in enumerate(getattr(resp, "content", None) or ()):
            if getattr(block, "type", None) == "tool_use":
                out.append((i, block, self._guard.check_tool_call(str(block.name), block.input, ctx)))
        return out

    @staticmethod
    def _apply_tool_calls(resp, decisions: list[tuple[int, Any, Decision]], cl: CallLog) -> Decision | None:
        """Refused calls become text blocks with the refusal; redacted input is written back."""
        from anthropic.types import TextBlock

        refused = None
        for i, block, d in decisions:
            cl.add(d, _json_text(block.input), f"content[{i}].tool_call")
            if d.refused:
                refused = refused or d
                resp.content[i] = TextBlock(type="text", text=d.text)
            elif d.action == "redact" and d.arguments is not None:
                block.input = d.arguments
        if refused is not None and resp.stop_reason == "tool_use" and not any(
                getattr(b, "type", None) == "tool_use" for b in resp.content):
            resp.stop_reason = "refusal"
        return refused

    def _output(self, resp, refused: Decision | None, cl: CallLog, tool_refused: Decision | None = None):
        if refused is None:
            if tool_refused is not None:
                cl.finish("refused")
                if self._on_refuse != "message":
                    return refusal_value(tool_refused, self._on_refuse)
                return resp
            cl.finish("allowed")
            return resp
        cl.finish("refused")
        if self._on_refuse != "message":
            return refusal_value(refused, self._on_refuse)
        from anthropic.types import TextBlock

        resp.content = [TextBlock(type="text", text=refused.text)]
        resp.stop_reason = "refusal"
        return resp

    @staticmethod
    def _content_dump(resp) -> list:
        content = getattr(resp, "content", None)
        if content is None:
            return []
        return [b.model_dump() if hasattr(b, "model_dump") else b for b in content]

    # ------------------------------------------------------------------ sync
    def _create(self, **kwargs):
        ctx = merge_context(self._context, kwargs.pop("policy_context", None))
        cl = CallLog(self._log, CALL)
        for key, value in self._inputs(kwargs):
            try:
                mc = check_messages(self._guard, self._as_messages(key, value), ctx, prefix=key, table=self._table)
            except ContentShapeError as exc:
                self._shape_error(exc, cl)
                raise
            cl.extend(mc.entries())
            if mc.refusal is not None:
                return self._refused_input(mc.refusal, kwargs, cl)
            self._put(kwargs, key, mc.messages)
        try:
            resp = self._raw.create(**kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        if kwargs.get("stream"):
            return GuardedMessageStream(self, resp, ctx, cl)
        tool_refused = self._apply_tool_calls(resp, self._tool_decisions(resp, ctx), cl)
        try:
            refused = check_answer(self._guard, resp, self._content_dump(resp), ("content",), "", ctx, cl)
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        return self._output(resp, refused, cl, tool_refused)

    # ------------------------------------------------------------------ async
    async def _acreate(self, **kwargs):
        ctx = merge_context(self._context, kwargs.pop("policy_context", None))
        cl = CallLog(self._log, CALL)
        for key, value in self._inputs(kwargs):
            try:
                mc = await acheck_messages(self._guard, self._as_messages(key, value), ctx, prefix=key,
                                           table=self._table)
            except ContentShapeError as exc:
                self._shape_error(exc, cl)
                raise
            cl.extend(mc.entries())
            if mc.refusal is not None:
                return self._refused_input(mc.refusal, kwargs, cl)
            self._put(kwargs, key, mc.messages)
        try:
            resp = await self._raw.create(**kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        if kwargs.get("stream"):
            return GuardedMessageStream(self, resp, ctx, cl)
        decisions = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._tool_decisions, resp, ctx))
        tool_refused = self._apply_tool_calls(resp, decisions, cl)
        try:
            refused = await acheck_answer(self._guard, resp, self._content_dump(resp), ("content",), "",
                                          ctx, cl)
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        return self._output(resp, refused, cl, tool_refused)


def _json_text(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


# --------------------------------------------------------------------------- refusals


def _refusal_message(text: str, model: str):
    from anthropic.types import Message

    return Message.model_validate({
        "id": f"msg_policylang_{uuid.uuid4().hex}", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "refusal", "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    })


def _event(payload: dict):
    from anthropic import types as t

    cls = {"message_start": t.RawMessageStartEvent, "content_block_start": t.RawContentBlockStartEvent,
           "content_block_delta": t.RawContentBlockDeltaEvent, "content_block_stop": t.RawContentBlockStopEvent,
           "message_delta": t.RawMessageDeltaEvent, "message_stop": t.RawMessageStopEvent}[payload["type"]]
    return cls.model_validate(payload)


def _text_delta(index: int, text: str):
    return _event({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}})


def _refusal_events(text: str, model: str, *, start: bool, index: int = 0, open_text: bool = False) -> list:
    """The events that end a stream with the refusal ``text``.

    ``start``: a whole message (a refused request); ``open_text``: block ``index`` is a text
    block already open, the refusal is appended to it; else a text block ``index`` is opened.
    """
    out = []
    if start:
        out.append(_event({"type": "message_start", "message": {
            "id": f"msg_policylang_{uuid.uuid4().hex}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}}))
    if not open_text:
        out.append(_event({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}}))
    out.append(_text_delta(index, text))
    out.append(_event({"type": "content_block_stop", "index": index}))
    out.append(_event({"type": "message_delta", "delta": {"stop_reason": "refusal", "stop_sequence": None},
                       "usage": {"output_tokens": 0}}))
    out.append(_event({"type": "message_stop"}))
    return out




# --------------------------------------------------------------------------- streams


class GuardedMessageStream(EventStreamBase):
    """A guarded ``Stream[RawMessageStreamEvent]`` (or ``AsyncStream``): iterate it, ``close()`` it,
    use it in ``with`` / ``async with``. ``decisions`` maps each streamed block index to its decision."""

    def __init__(self, owner: _Messages, upstream, ctx, cl):
        self._model = "policylang"
        self._kinds: dict[int, str] = {}  # index -> "text" / "thinking" for streamed blocks
        self._held: dict[int, dict] = {}  # index -> {"start": event, "json": [...], "deltas": [...]}
        self._open: int | None = None  # index of the block last started downstream
        self._last_index = -1
        self._began = False
        self._tool_refused = False  # a tool_use block was refused (replaced by a text block)
        self._tool_kept = False  # a tool_use block was let through
        super().__init__(owner._guard, upstream, ctx, cl, on_refuse=owner._on_refuse,
                         stream_opts=owner._stream_opts, is_async=owner._owner._async)

    def _refusal_events(self, d: Decision) -> list:
        if not self._began:
            return _refusal_events(d.text, self._model, start=True)
        i = self._open
        if i is not None and self._kinds.get(i) == "text":
            return _refusal_events(d.text, self._model, start=False, index=i, open_text=True)
        out = []
        if i is not None and i in self._kinds:
            out.append(_event({"type": "content_block_stop", "index": i}))
        return out + _refusal_events(d.text, self._model, start=False, index=self._last_index + 1)

    def _steps(self, event):
        kind = getattr(event, "type", None)
        if kind == "message_start":
            self._model = getattr(event.message, "model", None) or self._model
            refused = yield ("leaves", event, event.model_dump(), (), "message_start")
            if refused is not None:
                return self._refuse(refused)
            self._began = True
            return [event]
        if kind == "content_block_start":
            return (yield from self._start(event))
        if kind == "content_block_delta":
            return (yield from self._delta(event))
        if kind == "content_block_stop":
            return (yield from self._stop(event.index, event))
        if kind == "message_stop":
            out = yield from self._flush()
            if self.refusal is not None:
                return out
            return out + [event]
        if kind == "message_delta":
            out = yield from self._flush()  # blocks left open: decided before the stop reason
            if self.refusal is not None:
                return out
            delta = getattr(event, "delta", None)
            if (self._tool_refused and not self._tool_kept and delta is not None
                    and getattr(delta, "stop_reason", None) == "tool_use"):
                delta.stop_reason = "refusal"
            return out + [event]
        # any other event: every string in it is checked
        refused = yield ("leaves", event, event.model_dump() if hasattr(event, "model_dump") else event, (), str(kind))
        if refused is not None:
            return self._refuse(refused)
        return [event]

    def _start(self, event):
        i = event.index
        self._last_index = max(self._last_index, i)
        block = event.content_block
        btype = getattr(block, "type", None)
        if btype in _STREAMED:
            field, _ = _STREAMED[btype]
            self._kinds[i] = btype
            sg = self.streams.get(i, f"content[{i}].{field}")
            self._open = i
            initial = getattr(block, field, "") or ""
            if initial:
                setattr(block, field, sg.feed(initial))
                if sg.stopped:
                    return (yield from self._stopped(i))
            return [event]
        self._held[i] = {"start": event, "json": [], "deltas": []}
        return []

    def _delta(self, event):
        i = event.index
        delta = event.delta
        dtype = getattr(delta, "type", None)
        if i in self._held:
            held = self._held[i]
            if dtype == "input_json_delta":
                held["json"].append(delta.partial_json)
            else:
                held["deltas"].append(event)
            return []
        btype = self._kinds.get(i)
        if btype is None:
            raise ContentShapeError(f"content_block_delta for block {i}, which never started; the stream was stopped")
        field, want = _STREAMED[btype]
        if dtype == want:
            sg = self.streams.guards[i]
            setattr(delta, field, sg.feed(getattr(delta, field) or ""))
            if sg.stopped:
                return (yield from self._stopped(i))
            return [event]
        if dtype == "signature_delta":
            return [event]
        if dtype == "citations_delta":
            refused = yield ("leaves", event, event.model_dump(), (), f"content[{i}]")
            if refused is not None:
                return self._refuse(refused)
            return [event]
        raise ContentShapeError(f"content[{i}]: a {dtype!r} delta in a {btype} block cannot be checked; "
                                "the stream was stopped")

    def _stopped(self, i: int):
        """Block ``i`` was refused mid-stream: decided on what arrived, the stream ends."""
        d = yield ("stream", i)
        self.streams.finish(i, d)
        return self._refuse(d)

    def _stop(self, i: int, event):
        if i in self._kinds and i in self.streams.guards and i not in self.streams.decisions:
            d = yield ("stream", i)
            tail = self.streams.finish(i, d)
            if d.refused:
                return self._refuse(d)
            out = []
            if tail:
                field, want = _STREAMED[self._kinds[i]]
                out.append(_event({"type": "content_block_delta", "index": i,
                                   "delta": {"type": want, field: tail}}))
            self._open = None
            return out + ([event] if event is not None else [_event({"type": "content_block_stop", "index": i})])
        held = self._held.pop(i, None)
        if held is None:
            return [event] if event is not None else []
        start = held["start"]
        block = start.content_block
        out = []
        if getattr(block, "type", None) == "tool_use":  # a client tool call: check_tool_call first
            raw = "".join(held["json"])
            d = yield ("tool", str(block.name), raw if raw.strip() else (block.input or {}),
                       f"content[{i}].tool_call")
            if d.refused:
                if self._on_refuse == "raise":
                    raise Refused(d)
                self._tool_refused = True
                self._open = None
                return [_event({"type": "content_block_start", "index": i,
                                "content_block": {"type": "text", "text": ""}}),
                        _text_delta(i, d.text), _event({"type": "content_block_stop", "index": i})]
            self._tool_kept = True
            if d.action == "redact" and d.arguments is not None:
                held["json"] = [json.dumps(d.arguments, ensure_ascii=False)]
        if held["json"] or getattr(block, "type", None) in ("tool_use", "server_tool_use"):
            text = "".join(held["json"])
            label = f"content[{i}].input"
            refused, new = yield ("json", text, label) if text.strip() else ("json", "{}", label)
            if refused is not None:
                self._open = None
                return self._refuse(refused)
            if not text.strip():
                new = ""
        else:
            new = None
        # the block as it started (server tool results come whole here), and any other deltas
        refused = yield ("leaves", start, start.model_dump(), (), f"content[{i}]")
        if refused is None:
            for e in held["deltas"]:
                refused = yield ("leaves", e, e.model_dump(), (), f"content[{i}]")
                if refused is not None:
                    break
        if refused is not None:
            self._open = None
            return self._refuse(refused)
        out.append(start)
        if new:
            out.append(_event({"type": "content_block_delta", "index": i,
                               "delta": {"type": "input_json_delta", "partial_json": new}}))
        out.extend(held["deltas"])
        out.append(event if event is not None else _event({"type": "content_block_stop", "index": i}))
        return out

    def _flush(self):
        """Blocks that never sent content_block_stop: decided and released now."""
        out = []
        for i in sorted(set(self._kinds) | set(self._held)):
            if (i in self._kinds and i not in self.streams.decisions) or i in self._held:
                out += yield from self._stop(i, None)
                if self.refusal is not None:
                    return out
        return out

    def _end(self):
        return (yield from self._flush())

    def _log(self, outcome: str, exc: BaseException | None) -> None:
        if outcome == "allowed" and self._tool_refused:
            outcome = "refused"
        super()._log(outcome, exc)
