"""A LiteLLM ``CustomGuardrail`` backed by a policy (the ``policylang[litellm]`` extra).

``PolicyGuardrail(guard)`` (or ``PolicyGuardrail(policy="policies/")`` from a LiteLLM proxy
config) runs on three hooks:

* **pre-call** (``async_pre_call_hook``): the request's ``messages`` (by role, like every
  adapter), ``input`` and ``prompt`` are checked; the REDACTED request goes on; a refusal
  raises :class:`PolicyGuardrailRefused` (a :class:`policylang.Refused`; with
  ``on_refuse="http"``, a FastAPI ``HTTPException(400)`` as the proxy's own guardrails do);
* **post-call** (``async_post_call_success_hook``): every choice's content and tool-call
  arguments are checked at stage ``output`` and redacted in place; a refusal raises, or, with
  ``on_refuse="message"``, replaces the content with the refusal (``finish_reason=
  "content_filter"``, tool calls removed);
* **streaming** (``async_post_call_streaming_iterator_hook``): one
  :class:`~policylang.middleware.streaming.StreamGuard` per choice over ``delta.content`` (a
  value split across chunks is never released in part), tool-call deltas held to the end of
  the stream and their arguments checked; a refusal stops the upstream and ends the stream
  with a refusal chunk (or raises).

With the LiteLLM SDK, ``litellm.callbacks = [PolicyGuardrail(guard, event_hook=["pre_call",
"post_call"])]`` and ``guardrails=["policylang"]`` in the call run the pre- and post-call hooks
(LiteLLM's deployment hooks); the streaming hook is run by the LiteLLM proxy. Never pass the
refusal as a string return value: the SDK ignores it (it would pass the request on).
"""

from __future__ import annotations

import inspect
from typing import Any, AsyncGenerator, Mapping

from litellm.integrations.custom_guardrail import CustomGuardrail

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware._output import acheck_json_text
from policylang.middleware.log import CallLog, as_log
from policylang.middleware.messages import ContentShapeError, acheck_many, acheck_messages, role_table
from policylang.middleware.streaming import StreamGuard

__all__ = ["PolicyGuardrail", "PolicyGuardrailRefused"]


class PolicyGuardrailRefused(Refused):
    """A policy refused a LiteLLM call (``.decision`` says why)."""


def _chat_messages(data: Mapping) -> list[tuple[str, Any]]:
    out = []
    for key in ("messages", "input", "prompt"):
        v = data.get(key)
        if v is None:
            continue
        out.append((key, v))
    return out


class PolicyGuardrail(CustomGuardrail):
    """policylang as a LiteLLM guardrail (pre-call, post-call, streaming)."""

    def __init__(self, guard=None, *, policy=None, on_refuse: str = "raise", context=None,
                 roles: Mapping[str, Any] | None = None, history: str = "untrusted", hold_back: int | None = None,
                 global_rules: str = "buffer", log=None, log_text: bool = False,
                 guardrail_name: str = "policylang", event_hook=None, default_on: bool = False, **kwargs):
        if guard is None:
            if policy is None:
                raise TypeError("PolicyGuardrail needs a guard (policylang.load(...)) or policy= paths/pack names")
            import policylang

            guard = policylang.load(*(policy if isinstance(policy, (list, tuple)) else [policy]))
        if on_refuse not in ("raise", "http", "message"):
            raise ValueError('on_refuse must be "raise", "http" or "message" (message: post-call and streams only; '
                             'a refused request always raises)')
        if global_rules not in ("buffer", "end"):
            raise ValueError('global_rules must be "buffer" or "end"')
        if event_hook is None:
            event_hook = ["pre_call", "post_call"]
        super().__init__(guardrail_name=guardrail_name, event_hook=event_hook, default_on=default_on, **kwargs)
        self.guard = guard
        self.on_refuse = on_refuse
        self.context = context
        self.table = role_table(roles, history)
        self.stream_opts = dict(hold_back=hold_back, global_rules=global_rules)
        self.log = as_log(log, log_text)

    # ------------------------------------------------------------------ helpers
    def _ctx(self, data: Mapping | None):
        if callable(self.context):
            return self.context(data or {})
        per_call = None
        if data:
            meta = data.get("metadata") or {}
            per_call = meta.get("policy_context") if isinstance(meta, Mapping) else None
        if per_call is None:
            return self.context
        return {**(self.context or {}), **per_call}

    def _raise(self, d: Decision):
        if self.on_refuse == "http":
            from fastapi import HTTPException

            raise HTTPException(status_code=400, detail={
                "error": "Violated guardrail policy", "guardrail": self.guardrail_name, "message": d.text,
                "rules": list(dict.fromkeys(c.rule_id for c in d.citations if c.action == "refuse"))})
        raise PolicyGuardrailRefused(d)

    # ------------------------------------------------------------------ pre-call
    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type):
        ctx = self._ctx(data)
        cl = CallLog(self.log, f"litellm.pre_call.{call_type}")
        try:
            for key, value in _chat_messages(data):
                if isinstance(value, str):
                    (d,) = await acheck_many(self.guard, [value], "input", ctx)
                    cl.add(d, value, key)
                    if d.refused:
                        cl.finish("refused")
                        self._raise(d)
                    data[key] = d.text
                elif isinstance(value, (list, tuple)) and value and all(isinstance(x, str) for x in value):
                    ds = await acheck_many(self.guard, list(value), "input", ctx)
                    for i, (t, d) in enumerate(zip(value, ds)):
                        cl.add(d, t, f"{key}[{i}]")
                        if d.refused:
                            cl.finish("refused")
                            self._raise(d)
                    data[key] = [d.text for d in ds]
                else:
                    mc = await acheck_messages(self.guard, value, ctx, prefix=key, table=self.table)
                    cl.extend(mc.entries())
                    if mc.refusal is not None:
                        cl.finish("refused")
                        self._raise(mc.refusal)
                    data[key] = mc.messages
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        cl.finish("allowed")
        return data

    # ------------------------------------------------------------------ post-call
    async def async_post_call_success_hook(self, data: dict, user_api_key_dict, response):
        ctx = self._ctx(data)
        cl = CallLog(self.log, "litellm.post_call")
        refused = None
        for choice in getattr(response, "choices", None) or []:
            msg = getattr(choice, "message", None)
            if msg is None:
                continue
            i = getattr(choice, "index", 0)
            content = getattr(msg, "content", None)
            if isinstance(content, str) and content:
                (d,) = await acheck_many(self.guard, [content], "output", ctx)
                cl.add(d, content, f"choices[{i}].content")
                if d.refused:
                    refused = refused or d
                    self._refuse_choice(choice, d)
                    continue
                msg.content = d.text
            elif content is not None and not isinstance(content, str):
                cl.finish("error", {"error": "ContentShapeError"})
                raise ContentShapeError(f"choices[{i}].content: a {type(content).__name__} cannot be checked; "
                                        "the answer was not passed on")
            for j, call in enumerate(getattr(msg, "tool_calls", None) or []):
                fn = getattr(call, "function", None)
                args = getattr(fn, "arguments", None)
                if isinstance(args, str) and args:
                    r, new, entries = await acheck_json_text(self.guard, args, ctx, None,
                                                             f"choices[{i}].tool_calls[{j}].arguments")
                    cl.extend(entries)
                    if r is not None:
                        refused = refused or r
                        self._refuse_choice(choice, r)
                        break
                    fn.arguments = new
        if refused is not None:
            cl.finish("refused")
            if self.on_refuse != "message":
                self._raise(refused)
        else:
            cl.finish("allowed")
        return response

    @staticmethod
    def _refuse_choice(choice, d: Decision) -> None:
        choice.message.content = d.text
        try:
            choice.message.tool_calls = None
        except Exception:
            pass
        choice.finish_reason = "content_filter"

    # ------------------------------------------------------------------ streams
    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response,
                                                      request_data: dict) -> AsyncGenerator:
        ctx = self._ctx(request_data)
        cl = CallLog(self.log, "litellm.stream")
        sgs: dict[int, StreamGuard] = {}
        held_tools: list = []  # chunks whose deltas carry tool calls
        finish: dict[int, str] = {}
        last = None
        outcome, error, done = "error", None, False
        it = response.__aiter__() if hasattr(response, "__aiter__") else None
        try:
            while True:
                try:
                    chunk = await it.__anext__() if it is not None else None
                except StopAsyncIteration:
                    done = True
                    break
                if it is None:
                    done = True
                    break
                last = chunk
                stopped = None
                for choice in getattr(chunk, "choices", None) or []:
                    i = getattr(choice, "index", 0)
                    sg = sgs.get(i)
                    if sg is None:
                        sg = sgs[i] = StreamGuard(self.guard, "output", ctx, **self.stream_opts)
                    delta = getattr(choice, "delta", None)
                    if delta is None:
                        continue
                    if getattr(delta, "tool_calls", None):
                        held_tools.append((i, delta.tool_calls))
                        delta.tool_calls = None
                    text = getattr(delta, "content", None)
                    if text:
                        delta.content = sg.feed(text)
                        if sg.stopped:
                            stopped = i
                            break
                    if getattr(choice, "finish_reason", None) is not None:
                        finish[i] = choice.finish_reason  # sent with the choice's last text, at the end
                        choice.finish_reason = None
                if stopped is not None:
                    await _aclose(response)
                    done = True
                    d = await self._decide(sgs[stopped], ctx)
                    sgs[stopped].finish(d)
                    outcome = "refused"
                    yield self._stream_refusal(chunk, stopped, d)
                    return
                yield chunk  # tool-call deltas were taken out: they come at the end, checked
            # the end: every choice's final decision, its tail, then the held tool calls
            for i, sg in sorted(sgs.items()):
                d = await self._decide(sg, ctx)
                tail = sg.finish(d)
                if d.refused:
                    outcome = "refused"
                    yield self._stream_refusal(last, i, d)
                    return
                if tail or (i in finish and not held_tools):
                    yield _chunk_like(last, i, content=tail or None,
                                      finish_reason=None if held_tools else finish.get(i))
            if held_tools:
                r = await self._release_tools(held_tools, ctx, cl)
                if isinstance(r, Decision):
                    outcome = "refused"
                    yield self._stream_refusal(last, 0, r)
                    return
                for i, calls in r:
                    yield _chunk_like(last, i, tool_calls=calls, finish_reason=finish.get(i))
            outcome = "allowed"
        except GeneratorExit:
            outcome = "incomplete" if outcome == "error" else outcome
            raise
        except Refused:
            outcome = "refused"
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            if not done:
                await _aclose(response)
            for i, sg in sorted(sgs.items()):
                sg.close_scanner()
                if sg.decision is not None:
                    cl.add(sg.decision, sg.text(), f"choices[{i}]", {"stream": sg.stats()})
                else:
                    cl.add_bare("output", self.guard.policy_hash, f"choices[{i}]", {"stream": sg.stats()})
            cl.finish(outcome, {"error": type(error).__name__} if error is not None else None)

    async def _decide(self, sg: StreamGuard, ctx) -> Decision:
        if sg.overflowed:
            return sg.window_refusal
        (d,) = await acheck_many(self.guard, [sg.text()], "output", ctx)
        return d if (d.refused or not sg.stopped) else sg.window_refusal

    def _stream_refusal(self, chunk, index: int, d: Decision):
        if self.on_refuse != "message":
            self._raise(d)
        return _chunk_like(chunk, index, content=d.text, finish_reason="content_filter")

    async def _release_tools(self, held: list, ctx, cl: CallLog):
        """Tool-call deltas merged per (choice, tool index), arguments checked; the calls to send."""
        merged: dict[tuple[int, int], dict] = {}
        for i, calls in held:
            for tc in calls:
                idx = getattr(tc, "index", 0) or 0
                m = merged.setdefault((i, idx), {"id": None, "name": None, "arguments": "", "type": "function"})
                if getattr(tc, "id", None):
                    m["id"] = tc.id
                fn = getattr(tc, "function", None)
                if fn is not None:
                    if getattr(fn, "name", None):
                        m["name"] = fn.name
                    if getattr(fn, "arguments", None):
                        m["arguments"] += fn.arguments
        out: dict[int, list] = {}
        for (i, idx), m in sorted(merged.items()):
            if m["arguments"]:
                r, new, entries = await acheck_json_text(self.guard, m["arguments"], ctx, None,
                                                         f"choices[{i}].tool_calls[{idx}].arguments")
                cl.extend(entries)
                if r is not None:
                    return r
                m["arguments"] = new
            out.setdefault(i, []).append({"index": idx, "id": m["id"], "type": "function",
                                          "function": {"name": m["name"], "arguments": m["arguments"]}})
        return sorted(out.items())


def _chunk_like(chunk, index: int, *, content: str | None = None, finish_reason: str | None = None,
                tool_calls: list | None = None):
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

    delta = Delta(content=content, tool_calls=tool_calls) if tool_calls else Delta(content=content)
    kw = {}
    if chunk is not None:
        kw = {"id": getattr(chunk, "id", None), "model": getattr(chunk, "model", None)}
        kw = {k: v for k, v in kw.items() if v}
    return ModelResponseStream(choices=[StreamingChoices(index=index, delta=delta, finish_reason=finish_reason)],
                               **kw)


async def _aclose(it) -> None:
    for name in ("aclose", "close"):
        close = getattr(it, name, None)
        if callable(close):
            try:
                res = close()
                if inspect.isawaitable(res):
                    await res
            except Exception:
                pass
            return
