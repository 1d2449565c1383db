"""``guard.openai(client).responses.create(...)``: the OpenAI Responses API, guarded.

Beside Chat Completions (:mod:`policylang.middleware.openai`), with and without
``stream=True``, sync and async clients:

* the request: ``input`` (a string: stage ``input``; a list of items: by role and item type,
  see :mod:`policylang.middleware.messages`: user -> input, ``function_call_output`` ->
  context, assistant/``function_call``/``reasoning`` history -> input then output) and
  string or part values of ``prompt={"variables": ...}`` (input) are checked and the
  REDACTED request is sent; ``instructions`` is the application's own prompt, checked only
  with ``roles={"system": ...}``; content the guard cannot classify raises
  :class:`ContentShapeError` and nothing is sent. Turns kept by the server
  (``previous_response_id``, ``conversation``) are not sent by the client and so are not
  checked again;
* a refused request is not sent: ``create()`` returns a ``Response`` whose output is one
  assistant message with the refusal as ``output_text`` and ``status="incomplete"``,
  ``incomplete_details.reason="content_filter"`` (with ``stream=True``, the events of such a
  response ending in ``response.incomplete``), or raises :class:`policylang.Refused`, or
  returns ``on_refuse(decision)``;
* the answer's ``output`` items are checked at stage ``output``: message text, refusals,
  annotations, reasoning summaries and text, ``function_call`` arguments (JSON: value by
  value) and every string of other items (tool calls' queries and code); redactions are
  written back (a redacted part's ``logprobs`` are emptied: they spell the original text), a
  refusal replaces ``output`` with the refusal message as above;
* each ``function_call`` output item goes through ``guard.check_tool_call`` first (rules ``on
  tool_call``): a refused call is replaced, at its index, by an assistant message holding the
  refusal (the response stays ``completed``: the other items are still valid), redacted
  arguments are written back as JSON; calls let through are then checked at ``output``.
  Streamed, a function_call's ``output_item.added`` is held with its argument deltas until
  ``function_call_arguments.done``; a refused call's events are replaced by the events of
  that message, and ``response.completed`` carries the same output;
* streams: ``response.output_text.delta`` (and refusal, reasoning and reasoning-summary text
  deltas) are guarded as they flow with one
  :class:`~policylang.middleware.streaming.StreamGuard` per part (the tail is sent as one
  more delta before the ``*.done`` event; ``logprobs`` are dropped from deltas); the
  ``*.done``, ``content_part.done``, ``output_item.done`` and ``response.completed`` events
  carry the same redacted text; ``function_call_arguments.delta`` (and any other delta kind)
  is held until its ``done`` event, checked, and sent as one delta; a refusal closes the
  HTTP stream and ends it with the refusal and a ``response.incomplete`` event. Every
  event's ``sequence_number`` is renumbered in order.

Only ``responses.create`` (and ``delete``) are reachable; ``stream``/``parse``/
``retrieve``/``input_items``/``with_raw_response``... raise ``AttributeError`` (use
``.unguarded``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from typing import Any

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware._output import EventStreamBase, RefusalEvents, acheck_answer, check_answer
from policylang.middleware.log import CallLog
from policylang.middleware.messages import ContentShapeError, acheck_messages, check_messages
from policylang.middleware.wrap import merge_context, refusal_value

__all__ = ["GuardedResponses", "GuardedResponseStream"]

CALL = "openai.responses.create"
_PASS = frozenset({"delete"})
# streamed text deltas: event type prefix -> (key kind, index field, done-event text field)
_TEXT = {
    "response.output_text": ("text", "content_index", "text"),
    "response.refusal": ("refusal", "content_index", "refusal"),
    "response.reasoning_text": ("reasoning", "content_index", "text"),
    "response.reasoning_summary_text": ("summary", "summary_index", "text"),
}


def _blocked(name: str) -> AttributeError:
    return AttributeError(
        f"`responses.{name}` is not guarded by policylang; use responses.create (stream=True for streams), "
        f"or `.unguarded.responses.{name}` on purpose"
    )


class GuardedResponses:
    """``responses.create`` of a guarded OpenAI client."""

    def __init__(self, owner):
        self._owner = owner
        self._guard = owner._guard
        o = owner._opts
        self._on_refuse = o["on_refuse"]
        self._log = o["log"]
        self._context = o["context"]
        self._table = o["table"]
        self._stream_opts = dict(hold_back=o["hold_back"], global_rules=o["global_rules"])
        self._async = owner._async
        self.create = self._acreate if owner._async else self._create

    @property
    def _raw(self):
        return self._owner._client.responses

    def __getattr__(self, name: str):
        if name in _PASS:
            return getattr(self._raw, name)
        raise _blocked(name)

    # ------------------------------------------------------------------ request
    def _targets(self, kwargs: dict) -> list[tuple[str, Any, Any]]:
        """(key, messages to check, how to put the checked messages back)."""
        out = []
        inp = kwargs.get("input")
        if isinstance(inp, str):
            out.append(("input", [{"role": "user", "content": inp}], lambda m: m[0]["content"]))
        elif inp is not None:
            out.append(("input", inp, lambda m: m))
        ins = kwargs.get("instructions")
        if isinstance(ins, str) and self._table.get("system"):
            out.append(("instructions", [{"role": "system", "content": ins}], lambda m: m[0]["content"]))
        prompt = kwargs.get("prompt")
        if isinstance(prompt, dict) and isinstance(prompt.get("variables"), dict) and prompt["variables"]:
            names = list(prompt["variables"])
            msgs = [{"role": "user", "content": v if isinstance(v, str) else [v]}
                    for v in prompt["variables"].values()]

            def back(m, _names=names, _prompt=prompt):
                values = [x["content"] if isinstance(x["content"], str) else x["content"][0] for x in m]
                return {**_prompt, "variables": dict(zip(_names, values))}

            out.append(("prompt", msgs, back))
        elif prompt is not None and not isinstance(prompt, dict):
            raise ContentShapeError("prompt: expected a mapping with an id and variables; the call was not sent")
        return out

    def _shape_error(self, exc, cl: CallLog):
        cl.add_bare("input", self._guard.policy_hash, "input", {"detail": str(exc)})
        cl.finish("error", {"error": type(exc).__name__})

    def _refused_input(self, d: Decision, kwargs: dict, cl: CallLog):
        cl.finish("refused")
        if self._on_refuse == "raise":
            raise Refused(d)
        if callable(self._on_refuse):
            return self._on_refuse(d)
        model = str(kwargs.get("model") or "policylang")
        if kwargs.get("stream"):
            return RefusalEvents(_refusal_events(d.text, model, None, 0), self._async)
        return _refusal_response(d.text, model)

    def _tool_decisions(self, resp, ctx) -> list[tuple[int, Any, Decision]]:
        """(output index, item, decision) of every ``function_call`` output item."""
        out = []
        for i, item in enumerate(getattr(resp, "output", None) or ()):
            if getattr(item, "type", None) == "function_call":
                out.append((i, item, self._guard.check_tool_call(str(item.name), item.arguments, ctx)))
        return out

    @staticmethod
    def _apply_tool_calls(resp, decisions: list[tuple[int, Any, Decision]], cl: CallLog) -> Decision | None:
        """A refused call becomes an assistant message with the refusal; redacted arguments are written back."""
        refused = None
        for i, item, d in decisions:
            cl.add(d, item.arguments, f"output[{i}].tool_call")
            if d.refused:
                refused = refused or d
                resp.output[i] = _message_item(d.text)
            elif d.action == "redact" and d.arguments is not None:
                item.arguments = json.dumps(d.arguments, ensure_ascii=False)
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
        _refuse_response(resp, refused.text)
        return resp

    @staticmethod
    def _dump(resp) -> list:
        return [o.model_dump() if hasattr(o, "model_dump") else o for o in (getattr(resp, "output", None) or [])]

    def _create(self, **kwargs):
        ctx = merge_context(self._context, kwargs.pop("policy_context", None))
        cl = CallLog(self._log, CALL)
        try:
            for key, msgs, back in self._targets(kwargs):
                mc = check_messages(self._guard, msgs, ctx, prefix=key, table=self._table)
                cl.extend(mc.entries())
                if mc.refusal is not None:
                    return self._refused_input(mc.refusal, kwargs, cl)
                kwargs[key] = back(mc.messages)
        except ContentShapeError as exc:
            self._shape_error(exc, cl)
            raise
        try:
            resp = self._raw.create(**kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        if kwargs.get("stream"):
            return GuardedResponseStream(self, resp, ctx, cl)
        tool_refused = self._apply_tool_calls(resp, self._tool_decisions(resp, ctx), cl)
        try:
            refused = check_answer(self._guard, resp, self._dump(resp), ("output",), "", ctx, cl)
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        return self._output(resp, refused, cl, tool_refused)

    async def _acreate(self, **kwargs):
        ctx = merge_context(self._context, kwargs.pop("policy_context", None))
        cl = CallLog(self._log, CALL)
        try:
            for key, msgs, back in self._targets(kwargs):
                mc = await acheck_messages(self._guard, msgs, ctx, prefix=key, table=self._table)
                cl.extend(mc.entries())
                if mc.refusal is not None:
                    return self._refused_input(mc.refusal, kwargs, cl)
                kwargs[key] = back(mc.messages)
        except ContentShapeError as exc:
            self._shape_error(exc, cl)
            raise
        try:
            resp = await self._raw.create(**kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        if kwargs.get("stream"):
            return GuardedResponseStream(self, resp, ctx, cl)
        decisions = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._tool_decisions, resp, ctx))
        tool_refused = self._apply_tool_calls(resp, decisions, cl)
        try:
            refused = await acheck_answer(self._guard, resp, self._dump(resp), ("output",), "", ctx, cl)
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        return self._output(resp, refused, cl, tool_refused)


# --------------------------------------------------------------------------- refusals


def _refusal_item(text: str) -> dict:
    return {"type": "message", "id": f"msg_policylang_{uuid.uuid4().hex}", "role": "assistant",
            "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _refusal_response(text: str, model: str, base: dict | None = None):
    from openai.types.responses import Response

    data = {"id": f"resp_policylang_{uuid.uuid4().hex}", "object": "response", "created_at": time.time(),
            "model": model, "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    if base:
        data.update({k: v for k, v in base.items() if v is not None})
    data.update({"output": [_refusal_item(text)], "status": "incomplete",
                 "incomplete_details": {"reason": "content_filter"}})
    return Response.model_validate(data)


def _refuse_response(resp, text: str) -> None:
    from openai.types.responses import Response

    fresh = Response.model_validate({**resp.model_dump(), "output": [_refusal_item(text)], "status": "incomplete",
                                     "incomplete_details": {"reason": "content_filter"}})
    resp.output = fresh.output
    resp.status = "incomplete"
    resp.incomplete_details = fresh.incomplete_details


def _event(payload: dict):
    import pydantic
    from openai.types.responses import ResponseStreamEvent

    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = pydantic.TypeAdapter(ResponseStreamEvent)
    payload.setdefault("sequence_number", 0)
    return _ADAPTER.validate_python(payload)


_ADAPTER = None


def _refusal_events(text: str, model: str, base: dict | None, output_index: int, *, created: bool = False,
                    open_part: tuple | None = None) -> list:
    """Events that end a stream with the refusal: appended to the open text part ``open_part``
    ((item_id, output_index, content_index)), else as a new message item at ``output_index``;
    a whole response when neither ``created`` nor ``base`` says one was started."""
    resp = _refusal_response(text, model, base)
    out = []
    if base is None and not created:
        start = resp.model_dump()
        start.update({"output": [], "status": "in_progress", "incomplete_details": None})
        out.append(_event({"type": "response.created", "response": start}))
    if open_part is not None:
        item_id, oi, ci = open_part
        out.append(_event({"type": "response.output_text.delta", "item_id": item_id, "output_index": oi,
                           "content_index": ci, "delta": text, "logprobs": []}))
    else:
        out += _message_events(resp.output[0].model_dump(), output_index)
    out.append(_event({"type": "response.incomplete", "response": resp.model_dump()}))
    for n, e in enumerate(out):
        e.sequence_number = n
    return out


def _message_item(text: str):
    """An assistant message output item holding ``text`` (a refused call's message)."""
    from openai.types.responses import ResponseOutputMessage

    return ResponseOutputMessage.model_validate(_refusal_item(text))


def _message_events(item: dict, output_index: int) -> list:
    """The stream events of the message output ``item`` (one output_text part) at ``output_index``."""
    empty = {**item, "content": [], "status": "in_progress"}
    part = item["content"][0]
    iid = item["id"]
    text = part["text"]
    return [
        _event({"type": "response.output_item.added", "output_index": output_index, "item": empty}),
        _event({"type": "response.content_part.added", "item_id": iid, "output_index": output_index,
                "content_index": 0, "part": {**part, "text": ""}}),
        _event({"type": "response.output_text.delta", "item_id": iid, "output_index": output_index,
                "content_index": 0, "delta": text, "logprobs": []}),
        _event({"type": "response.output_text.done", "item_id": iid, "output_index": output_index,
                "content_index": 0, "text": text, "logprobs": []}),
        _event({"type": "response.content_part.done", "item_id": iid, "output_index": output_index,
                "content_index": 0, "part": part}),
        _event({"type": "response.output_item.done", "output_index": output_index, "item": item}),
    ]




# --------------------------------------------------------------------------- streams


def _text_key(prefix: str, event) -> tuple:
    kind, index_field, _ = _TEXT[prefix]
    return (kind, event.output_index, getattr(event, index_field, 0))


class GuardedResponseStream(EventStreamBase):
    """A guarded ``Stream[ResponseStreamEvent]`` (or ``AsyncStream``). ``decisions`` maps each
    streamed text part, ``(kind, output_index, index)``, to its decision."""

    def __init__(self, owner: GuardedResponses, upstream, ctx, cl):
        self._model = "policylang"
        self._base: dict | None = None  # the response of response.created
        self._seq = 0
        self._held: dict[tuple, list] = {}  # (delta prefix, item id or output index) -> delta events
        self._open: tuple | None = None  # (item_id, output_index, content_index) of the open output_text
        self._max_index = -1
        self._fc_added: dict[str, Any] = {}  # item id -> the held output_item.added of a function_call
        self._fc: dict[str, tuple] = {}  # item id -> ("refused", message item dump) or ("ok", arguments or None)
        self._tool_refused = False
        super().__init__(owner._guard, upstream, ctx, cl, on_refuse=owner._on_refuse,
                         stream_opts=owner._stream_opts, is_async=owner._async)

    def _number(self, events: list) -> list:
        for e in events:
            if hasattr(e, "sequence_number"):
                e.sequence_number = self._seq
                self._seq += 1
        return events

    def _refusal_events(self, d: Decision) -> list:
        out = _refusal_events(d.text, self._model, self._base, self._max_index + 1, created=self._base is not None,
                              open_part=self._open)
        return self._number(out)

    def _steps(self, event):
        return self._number((yield from self._steps_raw(event)))

    def _steps_raw(self, event):
        kind = getattr(event, "type", None) or ""
        oi = getattr(event, "output_index", None)
        if isinstance(oi, int):
            self._max_index = max(self._max_index, oi)
        if kind in ("response.created", "response.in_progress", "response.queued"):
            resp = event.response
            self._model = getattr(resp, "model", None) or self._model
            if self._base is None:
                self._base = resp.model_dump(exclude={"output", "status", "incomplete_details", "error"})
            return (yield from self._pass(event, kind))
        if kind in ("response.output_item.added", "response.output_item.done") and \
                getattr(getattr(event, "item", None), "type", None) == "function_call":
            return (yield from self._function_item(event, kind))
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            yield from self._final_calls(event)
        prefix, _, tail = kind.rpartition(".")
        if prefix in _TEXT and tail == "delta":
            key = _text_key(prefix, event)
            sg = self.streams.get(key, f"output[{key[1]}].{key[0]}[{key[2]}]")
            if key[0] == "text":
                self._open = (event.item_id, event.output_index, event.content_index)
            event.delta = sg.feed(event.delta or "")
            if hasattr(event, "logprobs") and event.logprobs:
                event.logprobs = []
            if sg.stopped:
                d = yield ("stream", key)
                self.streams.finish(key, d)
                return self._refuse(d)
            return [event]
        if prefix in _TEXT and tail == "done":
            key = _text_key(prefix, event)
            field = _TEXT[prefix][2]
            if key not in self.streams.guards:  # a done without deltas: its text is checked whole
                return (yield from self._pass(event, kind))
            d = yield ("stream", key)
            rest = self.streams.finish(key, d)
            if d.refused:
                return self._refuse(d)
            setattr(event, field, d.text)
            if hasattr(event, "logprobs") and d.text != self.streams.guards[key].text():
                event.logprobs = []
            out = []
            if rest:
                payload = {"type": f"{prefix}.delta", "item_id": event.item_id, "output_index": event.output_index,
                           _TEXT[prefix][1]: getattr(event, _TEXT[prefix][1]), "delta": rest}
                if prefix == "response.output_text":
                    payload["logprobs"] = []
                out.append(_event(payload))
            if key[0] == "text":
                self._open = None
            return out + [event]
        if tail == "delta" and isinstance(getattr(event, "delta", None), str):
            hk = (prefix, getattr(event, "item_id", None) or getattr(event, "output_index", None))
            self._held.setdefault(hk, []).append(event)
            return []
        if tail == "done":
            hk = (prefix, getattr(event, "item_id", None) or getattr(event, "output_index", None))
            held = self._held.pop(hk, None)
            if held is not None or prefix == "response.function_call_arguments":
                return (yield from self._release(prefix, held or [], event))
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            out = yield from self._flush()
            if self.refusal is not None:
                return out
            return out + (yield from self._pass(event, kind))
        return (yield from self._pass(event, kind))

    def _pass(self, event, kind: str):
        resp = getattr(event, "response", None)
        if resp is not None and hasattr(resp, "model_dump"):
            # a whole response: only its output is the model's answer (instructions, tools,
            # metadata echo the request)
            output = [o.model_dump() for o in (resp.output or [])]
            refused = yield ("leaves", event, output, ("response", "output"), "response")
        else:
            refused = yield ("leaves", event, event.model_dump(), (), kind)
        if refused is not None:
            return self._refuse(refused)
        return [event]

    def _release(self, prefix: str, held: list, done):
        """Held deltas and their done event: the done event's whole value is checked; the
        deltas go out unchanged when it passed as it was, else one delta with the new value."""
        field = "arguments" if prefix == "response.function_call_arguments" else None
        if field is not None and isinstance(getattr(done, field, None), str):
            iid = done.item_id
            added = self._fc_added.pop(iid, None)
            name = getattr(done, "name", None) or (added.item.name if added is not None else "")
            refusal = yield from self._tool(iid, str(name), done.arguments, done.output_index)
            if refusal is not None:
                return refusal  # the call's events never go out: a message with the refusal instead
            head = [added] if added is not None else []
            changed = self._fc[iid][1] is not None
            if changed:
                done.arguments = self._fc[iid][1]
            label = f"output[{done.output_index}].arguments"
            refused, new = yield ("json", done.arguments, label)
            if refused is not None:
                return self._refuse(refused)
            if new == done.arguments and not changed:
                return head + held + [done]
            done.arguments = new
            self._fc[iid] = ("ok", new)
            if not held:
                return head + [done]
            first = held[0]
            first.delta = new
            return head + [first, done]
        before = done.model_dump()
        refused = yield ("leaves", done, before, (), prefix)
        if refused is not None:
            return self._refuse(refused)
        if done.model_dump() == before:
            out = []
            for e in held:  # each delta's own text is checked too (it is what the reader sees)
                refused = yield ("leaves", e, e.model_dump(), (), prefix)
                if refused is not None:
                    return self._refuse(refused)
                out.append(e)
            return out + [done]
        return [done]  # redacted: the deltas (which spell the original) are dropped

    def _tool(self, iid: str, name: str, arguments, oi: int):
        """``check_tool_call`` of one function_call item: its record in ``_fc``; the events of
        the refusal message that replaces it when refused (else None)."""
        d = yield ("tool", name, arguments, f"output[{oi}].tool_call")
        if d.refused:
            if self._on_refuse == "raise":
                raise Refused(d)
            self._tool_refused = True
            item = _refusal_item(d.text)
            self._fc[iid] = ("refused", item)
            return _message_events(item, oi)
        new = json.dumps(d.arguments, ensure_ascii=False) if d.action == "redact" and d.arguments is not None else None
        self._fc[iid] = ("ok", new)
        return None

    def _function_item(self, event, kind: str):
        """output_item.added of a function_call is held until its arguments are checked;
        output_item.done carries the checked arguments (or is dropped: the call was refused)."""
        item = event.item
        if kind == "response.output_item.added":
            self._fc_added[item.id] = event
            return []
        head = []
        if item.id not in self._fc:  # no arguments.done came: the whole item is checked here
            added = self._fc_added.pop(item.id, None)
            refusal = yield from self._tool(item.id, str(item.name), item.arguments, event.output_index)
            if refusal is not None:
                return refusal
            head = [added] if added is not None else []
        state, value = self._fc[item.id]
        if state == "refused":
            return []  # its replacement message was sent whole
        if value is not None:
            item.arguments = value
        return head + (yield from self._pass(event, kind))

    def _final_calls(self, event):
        """The final response's function_call items: refused ones replaced, redacted ones rewritten."""
        resp = getattr(event, "response", None)
        output = getattr(resp, "output", None)
        if not output:
            return
        for i, item in enumerate(output):
            if getattr(item, "type", None) != "function_call":
                continue
            if item.id not in self._fc:
                yield from self._tool(item.id, str(item.name), item.arguments, i)
            state, value = self._fc[item.id]
            if state == "refused":
                from openai.types.responses import ResponseOutputMessage

                output[i] = ResponseOutputMessage.model_validate(value)
            elif value is not None:
                item.arguments = value

    def _log(self, outcome: str, exc: BaseException | None) -> None:
        if outcome == "allowed" and self._tool_refused:
            outcome = "refused"
        super()._log(outcome, exc)

    def _flush(self):
        """Deltas whose done never came: checked one by one; texts never finished: decided."""
        out = []
        for hk in list(self._held):
            for e in self._held.pop(hk):
                refused = yield ("leaves", e, e.model_dump(), (), hk[0])
                if refused is not None:
                    return self._refuse(refused)
                out.append(e)
        for key, sg in list(self.streams.guards.items()):
            if key in self.streams.decisions:
                continue
            d = yield ("stream", key)
            rest = self.streams.finish(key, d)
            if d.refused:
                return out + self._refuse(d)
            if rest and key[0] == "text" and self._open is not None and self._open[1] == key[1]:
                out.append(_event({"type": "response.output_text.delta", "item_id": self._open[0],
                                   "output_index": key[1], "content_index": key[2], "delta": rest,
                                   "logprobs": []}))
        return out

    def _end(self):
        return self._number((yield from self._flush()))
