"""LangChain: a guarded ``Runnable`` and a callback handler (the ``policylang[langchain]`` extra).

``GuardRunnable(guard, chain)`` (``guard.as_runnable(chain)``) guards a chain: its input is
checked (stage ``input``) and the REDACTED input goes to the chain; the chain's output is
checked at stage ``output``; ``invoke``/``ainvoke``/``batch``/``abatch``/``stream``/``astream``
all work (streams are guarded chunk by chunk with a
:class:`~policylang.middleware.streaming.StreamGuard`). Without a chain,
``GuardRunnable(guard, stage=...)`` is a checking step for a pipeline:
``retriever | guard.as_runnable(stage="context") | ...``.

Values understood (anything else raises :class:`ContentShapeError`, never passes unchecked):

* ``str``; ``StringPromptValue`` / ``ChatPromptValue``;
* a message or a list of messages (``HumanMessage`` -> user, ``AIMessage`` -> assistant incl.
  ``tool_calls`` args, ``SystemMessage`` trusted, ``ToolMessage`` -> tool result; at stage
  ``input`` by role like every adapter, at ``output``/``context`` every message at that stage),
  and ``(role, content)`` tuples;
* a ``Document`` or a list of them (``page_content``);
* a dict (a prompt's variables, a JSON parser's output): every string in it, and every message
  list in it (a ``MessagesPlaceholder`` history).

Tool calls in the chain's answer (``AIMessage.tool_calls``, streamed ``tool_call_chunks``
once whole) go through ``guard.check_tool_call`` (rules ``on tool_call``) before the output
check: a refused call is removed (from ``additional_kwargs["tool_calls"]`` too) and its
message appended to the content (``finish_reason`` ``content_filter`` when none is left);
redacted args are written back.

Refusals: ``on_refuse="message"`` returns the rule's message (an ``AIMessage`` with
``response_metadata={"finish_reason": "content_filter"}`` where the value was a message or a
prompt, else the string); ``"raise"`` raises :class:`policylang.Refused`; a callable returns
``on_refuse(decision)``. A wrapped chain is NOT invoked when its input is refused. A checking
step at ``input`` or ``context`` raises by default (returning the message would feed it to the
next step as if it were the input).

:class:`PolicyCallbackHandler` checks what any LLM or chat model is sent and returns, for code
whose chains you cannot rewrap: it raises ``Refused`` (LangChain re-raises it: the call fails)
and records every decision, but it cannot redact (callbacks cannot change values).
"""

from __future__ import annotations

import functools
import json
import operator
from typing import Any, Iterator, AsyncIterator, Mapping

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.prompt_values import ChatPromptValue, PromptValue, StringPromptValue
from langchain_core.runnables import Runnable, RunnableConfig

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware._output import check_json_text, acheck_json_text
from policylang.middleware.log import CallLog, as_log
from policylang.middleware.messages import (ContentShapeError, acheck_many, acheck_messages, check_messages,
                                            role_table)
from policylang.middleware.streaming import StreamGuard
from policylang.middleware.wrap import _check_on_refuse, merge_context

__all__ = ["GuardRunnable", "PolicyCallbackHandler"]

_ROLE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function",
         "developer": "developer"}
_TUPLE_ROLE = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "system": "system",
               "tool": "tool"}
_KNOWN_ROLES = ("system", "developer", "user", "assistant", "tool", "function", "context", "document",
                "retrieval")


def _stage_table(stage: str, table: Mapping) -> dict:
    if stage == "input":
        return dict(table)
    out = {r: (stage,) for r in _KNOWN_ROLES}
    out["system"] = table.get("system", ())  # the application's prompt stays trusted
    out["developer"] = table.get("developer", ())
    return out


# --------------------------------------------------------------------------- values -> checks
#
# ``_steps(value, stage)`` is a generator: it yields ("texts", [str], stage) or
# ("messages", [dict], prefix, table) and ``("json", text, label)`` requests, and returns
# (refusal or None, the checked value, kind) where kind is "text" or "message" (the shape a
# refusal takes).


def _message_dict(m: BaseMessage, where: str) -> dict:
    role = _ROLE.get(m.type, getattr(m, "role", None) if m.type == "chat" else m.type)
    d: dict[str, Any] = {"role": role, "content": m.content}
    calls = getattr(m, "tool_calls", None)
    if calls:
        d["tool_calls"] = [dict(c) for c in calls]
    if isinstance(m, AIMessage) and m.additional_kwargs.get("tool_calls"):
        d["additional_kwargs"] = {"tool_calls": m.additional_kwargs["tool_calls"]}
    return d


def _rebuild(m: BaseMessage, d: dict) -> BaseMessage:
    update: dict[str, Any] = {"content": d["content"]}
    if "tool_calls" in d:
        update["tool_calls"] = d["tool_calls"]
    if "additional_kwargs" in d:
        update["additional_kwargs"] = {**m.additional_kwargs, **d["additional_kwargs"]}
    return m.model_copy(update=update)


def _as_message(x, where: str):
    if isinstance(x, BaseMessage):
        return x
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str):
        role = _TUPLE_ROLE.get(x[0])
        if role is None:
            raise ContentShapeError(f"{where}: unknown message role {x[0]!r}; nothing was passed on")
        return (role, x[1])
    return None


def _is_message_list(v) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(_as_message(x, "") is not None for x in v)


def _messages_steps(msgs: list, stage: str, table, prefix: str):
    dicts = []
    for i, m in enumerate(msgs):
        m = _as_message(m, f"{prefix}[{i}]")
        if isinstance(m, tuple):
            dicts.append({"role": m[0], "content": m[1]})
        else:
            dicts.append(_message_dict(m, f"{prefix}[{i}]"))
    mc = yield ("messages", dicts, prefix, _stage_table(stage, table))
    if mc.refusal is not None:
        return mc.refusal, None
    out = []
    for m, d in zip(msgs, mc.messages):
        if isinstance(m, tuple):
            out.append((m[0], d["content"]))
        else:
            out.append(_rebuild(m, d))
    return None, out


def _steps(value, stage: str, table, prefix: str = "input"):
    if isinstance(value, str):
        (d,) = yield ("texts", [value], stage, prefix)
        return (d, None, "text") if d.refused else (None, d.text, "text")
    if isinstance(value, StringPromptValue):
        (d,) = yield ("texts", [value.text], stage, prefix)
        return (d, None, "message") if d.refused else (None, StringPromptValue(text=d.text), "message")
    if isinstance(value, ChatPromptValue):
        refused, msgs = yield from _messages_steps(list(value.messages), stage, table, prefix)
        return (refused, None, "message") if refused else (None, ChatPromptValue(messages=msgs), "message")
    if isinstance(value, PromptValue):
        raise ContentShapeError(f"{prefix}: a {type(value).__name__} cannot be checked; nothing was passed on")
    if isinstance(value, BaseMessage):
        refused, msgs = yield from _messages_steps([value], stage, table, prefix)
        return (refused, None, "message") if refused else (None, msgs[0], "message")
    if isinstance(value, Document):
        (d,) = yield ("texts", [value.page_content], stage, f"{prefix}.page_content")
        if d.refused:
            return d, None, "text"
        return None, value.model_copy(update={"page_content": d.text}), "text"
    if isinstance(value, (list, tuple)) and value and all(isinstance(x, Document) for x in value):
        ds = yield ("texts", [x.page_content for x in value], stage, prefix)
        for d in ds:
            if d.refused:
                return d, None, "text"
        return None, [x.model_copy(update={"page_content": d.text}) for x, d in zip(value, ds)], "text"
    if _is_message_list(value):
        refused, msgs = yield from _messages_steps(list(value), stage, table, prefix)
        return (refused, None, "message") if refused else (None, msgs, "message")
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            refused, new, _ = yield from _data_steps(v, stage, table, f"{prefix}.{k}")
            if refused is not None:
                return refused, None, "text"
            out[k] = new
        return None, out, "text"
    if isinstance(value, list):
        refused, new, _ = yield from _data_steps(value, stage, table, prefix)
        return refused, new, "text"
    raise ContentShapeError(
        f"{prefix}: a guarded chain cannot check a value of type {type(value).__name__} (str, messages, "
        "prompt values, documents or dicts of them); nothing was passed on"
    )


def _data_steps(v, stage, table, where):
    if v is None or isinstance(v, (bool, int, float)):
        return None, v, "text"
    if isinstance(v, (list, tuple)) and not _is_message_list(v) and not (v and all(isinstance(x, Document) for x in v)):
        out = []
        for i, x in enumerate(v):
            refused, new, _ = yield from _data_steps(x, stage, table, f"{where}[{i}]")
            if refused is not None:
                return refused, None, "text"
            out.append(new)
        return None, (out if isinstance(v, list) else tuple(out)), "text"
    return (yield from _steps(v, stage, table, where))


class _Ctx:
    """One call's guard, context, role table and decision log."""

    def __init__(self, guard, ctx, cl: CallLog):
        self.guard, self.ctx, self.cl = guard, ctx, cl
        self.seen: list[Decision] = []  # every decision made, in order

    def answer(self, req):
        kind = req[0]
        if kind == "texts":
            _, texts, stage, label = req
            ds = self.guard.check_many(texts, stage, self.ctx)
            for i, (t, d) in enumerate(zip(texts, ds)):
                self.cl.add(d, t, label if len(texts) == 1 else f"{label}[{i}]")
            self.seen.extend(ds)
            return ds
        if kind == "messages":
            _, dicts, prefix, table = req
            mc = check_messages(self.guard, dicts, self.ctx, prefix=prefix, table=table)
            self.cl.extend(mc.entries())
            self.seen.extend(mc.decisions)
            return mc
        if kind == "json":
            refused, new, entries = check_json_text(self.guard, req[1], self.ctx, None, req[2])
            self.cl.extend(entries)
            self.seen.extend(d for d, _, _ in entries)
            return refused, new
        if kind == "tool":
            return self._tool(self.guard.check_tool_call(req[1], req[2], self.ctx), req)
        raise AssertionError(kind)

    def _tool(self, d: Decision, req) -> Decision:
        args = req[2]
        self.cl.add(d, args if isinstance(args, str) else _json_text(args), req[3])
        self.seen.append(d)
        return d

    async def aanswer(self, req):
        kind = req[0]
        if kind == "texts":
            _, texts, stage, label = req
            ds = await acheck_many(self.guard, texts, stage, self.ctx)
            for i, (t, d) in enumerate(zip(texts, ds)):
                self.cl.add(d, t, label if len(texts) == 1 else f"{label}[{i}]")
            self.seen.extend(ds)
            return ds
        if kind == "messages":
            _, dicts, prefix, table = req
            mc = await acheck_messages(self.guard, dicts, self.ctx, prefix=prefix, table=table)
            self.cl.extend(mc.entries())
            self.seen.extend(mc.decisions)
            return mc
        if kind == "json":
            refused, new, entries = await acheck_json_text(self.guard, req[1], self.ctx, None, req[2])
            self.cl.extend(entries)
            self.seen.extend(d for d, _, _ in entries)
            return refused, new
        if kind == "tool":
            import asyncio

            d = await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(self.guard.check_tool_call, req[1], req[2], self.ctx))
            return self._tool(d, req)
        raise AssertionError(kind)

    def run(self, gen):
        try:
            req = next(gen)
            while True:
                req = gen.send(self.answer(req))
        except StopIteration as stop:
            return stop.value

    async def arun(self, gen):
        try:
            req = next(gen)
            while True:
                req = gen.send(await self.aanswer(req))
        except StopIteration as stop:
            return stop.value


def _json_text(value) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _with_notes(content, notes: list[str]):
    """``content`` (a string or a list of blocks) with the refusal ``notes`` appended."""
    if isinstance(content, list):
        return list(content) + [{"type": "text", "text": n} for n in notes]
    return "\n".join(([content] if content else []) + notes)


def _tool_call_steps(msg: AIMessage):
    """The answer's ``tool_calls`` through ``check_tool_call``: refused calls removed (their
    messages appended to the content), redacted args written back. Returns (the first
    refusal or None, the message)."""
    import json

    kept, notes, refused, new_args = [], [], None, {}
    for j, call in enumerate(msg.tool_calls):
        d = yield ("tool", str(call.get("name") or ""), call.get("args") or {}, f"output.tool_calls[{j}]")
        if d.refused:
            refused = refused or d
            notes.append(d.text)
            continue
        if d.action == "redact" and d.arguments is not None:
            call = {**call, "args": d.arguments}
            new_args[call.get("id")] = d.arguments
        kept.append(call)
    if refused is None and not new_args:
        return None, msg
    update: dict[str, Any] = {"tool_calls": kept}
    if notes:
        update["content"] = _with_notes(msg.content, notes)
        if not kept:
            update["response_metadata"] = {**msg.response_metadata, "finish_reason": "content_filter"}
    raw = msg.additional_kwargs.get("tool_calls")
    if isinstance(raw, list):  # the provider's own copy of the calls (OpenAI shape) says the same
        ids = {c.get("id") for c in kept}
        out = []
        for c in raw:
            if not isinstance(c, dict) or c.get("id") not in ids:
                continue
            if c.get("id") in new_args and isinstance(c.get("function"), dict):
                c = {**c, "function": {**c["function"],
                                       "arguments": json.dumps(new_args[c["id"]], ensure_ascii=False)}}
            out.append(c)
        update["additional_kwargs"] = {**msg.additional_kwargs, "tool_calls": out}
    return refused, msg.model_copy(update=update)


def _refusal_message(text: str) -> AIMessage:
    return AIMessage(content=text, response_metadata={"finish_reason": "content_filter"})


# --------------------------------------------------------------------------- the Runnable


class GuardRunnable(Runnable):
    """A LangChain ``Runnable`` that guards ``chain`` (or, without one, checks values at ``stage``)."""

    def __init__(self, guard, chain: Runnable | None = None, *, stage: str | None = None, on_refuse=None,
                 log=None, log_text: bool = False, context=None, roles: Mapping[str, Any] | None = None,
                 history: str = "untrusted", hold_back: int | None = None, global_rules: str = "buffer",
                 name: str | None = None):
        if chain is not None and stage is not None:
            raise ValueError("GuardRunnable: give a chain (input and output are checked) or a stage, not both")
        stage = stage or ("input" if chain is None else None)
        if stage is not None and stage not in ("input", "output", "context"):
            raise ValueError(f"unknown stage {stage!r} (stages: input, output, context)")
        if on_refuse is None:
            on_refuse = "raise" if stage in ("input", "context") else "message"
        _check_on_refuse(on_refuse)
        if global_rules not in ("buffer", "end"):
            raise ValueError('global_rules must be "buffer" or "end"')
        if chain is not None and not isinstance(chain, Runnable):
            from langchain_core.runnables import coerce_to_runnable

            chain = coerce_to_runnable(chain)
        self.guard = guard
        self.chain = chain
        self.stage = stage
        self.on_refuse = on_refuse
        self._log = as_log(log, log_text)
        self._context = context
        self._table = role_table(roles, history)
        self._stream_opts = dict(hold_back=hold_back, global_rules=global_rules)
        self.name = name or (f"Guarded{chain.get_name()}" if chain is not None else f"PolicyCheck[{stage}]")

    # ------------------------------------------------------------------ helpers
    def _call(self, config) -> tuple[Any, CallLog]:
        per_call = None
        if config:
            per_call = (config.get("configurable") or {}).get("policy_context")
        ctx = merge_context(self._context, per_call)
        cl = CallLog(self._log, f"langchain.{self.name}")
        return ctx, cl

    def _refused(self, d: Decision, kind: str, cl: CallLog):
        cl.finish("refused")
        if self.on_refuse == "raise":
            raise Refused(d)
        if callable(self.on_refuse):
            return self.on_refuse(d)
        return _refusal_message(d.text) if kind == "message" else d.text

    def _fail(self, cl: CallLog, exc: BaseException):
        cl.finish("error", {"error": type(exc).__name__})

    # ------------------------------------------------------------------ invoke
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        ctx, cl = self._call(config)
        c = _Ctx(self.guard, ctx, cl)
        stage = self.stage or "input"
        try:
            refused, value, kind = c.run(_steps(input, stage, self._table, stage))
        except ContentShapeError as exc:
            self._fail(cl, exc)
            raise
        if refused is not None:
            return self._refused(refused, kind, cl)
        if self.chain is None:
            cl.finish("allowed")
            return value
        try:
            result = self.chain.invoke(value, config, **kwargs)
            tool_refused = None
            if isinstance(result, AIMessage) and result.tool_calls:
                tool_refused, result = c.run(_tool_call_steps(result))
            refused, out, kind = c.run(_steps(result, "output", self._table, "output"))
        except BaseException as exc:
            self._fail(cl, exc)
            raise
        return self._answer(refused, tool_refused, out, kind, cl)

    def _answer(self, refused, tool_refused, out, kind, cl: CallLog):
        if refused is not None:
            return self._refused(refused, kind, cl)
        if tool_refused is not None:
            if self.on_refuse != "message":
                return self._refused(tool_refused, kind, cl)
            cl.finish("refused")
            return out
        cl.finish("allowed")
        return out

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        ctx, cl = self._call(config)
        c = _Ctx(self.guard, ctx, cl)
        stage = self.stage or "input"
        try:
            refused, value, kind = await c.arun(_steps(input, stage, self._table, stage))
        except ContentShapeError as exc:
            self._fail(cl, exc)
            raise
        if refused is not None:
            return self._refused(refused, kind, cl)
        if self.chain is None:
            cl.finish("allowed")
            return value
        try:
            result = await self.chain.ainvoke(value, config, **kwargs)
            tool_refused = None
            if isinstance(result, AIMessage) and result.tool_calls:
                tool_refused, result = await c.arun(_tool_call_steps(result))
            refused, out, kind = await c.arun(_steps(result, "output", self._table, "output"))
        except BaseException as exc:
            self._fail(cl, exc)
            raise
        return self._answer(refused, tool_refused, out, kind, cl)

    # ------------------------------------------------------------------ streams
    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        if self.chain is None:
            yield self.invoke(input, config, **kwargs)
            return
        ctx, cl = self._call(config)
        c = _Ctx(self.guard, ctx, cl)
        try:
            refused, value, kind = c.run(_steps(input, "input", self._table, "input"))
        except ContentShapeError as exc:
            self._fail(cl, exc)
            raise
        if refused is not None:
            yield self._refused(refused, kind, cl)
            return
        st = _ChunkState(self, ctx, cl)
        upstream = self.chain.stream(value, config, **kwargs)
        outcome, error, done = "error", None, False
        try:
            for chunk in upstream:
                out = st.feed(chunk)
                if out is not None:
                    yield out
                if st.sg.stopped:
                    break
            else:
                done = True
            if not done:
                _close(upstream)
                done = True
            d = st.settle(self.guard.check(st.sg.text(), "output", ctx))
            result = st.finish(d)
            if result is None:  # allowed: what was held back, then tool calls and other values
                for item in st.rest(c.run):
                    yield item
                outcome = "refused" if st.refusal is not None or st.tool_notes else "allowed"
            else:
                outcome = "refused"
                yield result
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
                _close(upstream)
            st.log(outcome, error)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        if self.chain is None:
            yield await self.ainvoke(input, config, **kwargs)
            return
        ctx, cl = self._call(config)
        c = _Ctx(self.guard, ctx, cl)
        try:
            refused, value, kind = await c.arun(_steps(input, "input", self._table, "input"))
        except ContentShapeError as exc:
            self._fail(cl, exc)
            raise
        if refused is not None:
            yield self._refused(refused, kind, cl)
            return
        st = _ChunkState(self, ctx, cl)
        upstream = self.chain.astream(value, config, **kwargs)
        outcome, error, done = "error", None, False
        try:
            async for chunk in upstream:
                out = st.feed(chunk)
                if out is not None:
                    yield out
                if st.sg.stopped:
                    break
            else:
                done = True
            if not done:
                await _aclose(upstream)
                done = True
            d = st.settle(await self.guard.acheck(st.sg.text(), "output", ctx))
            result = st.finish(d)
            if result is None:
                for item in st.rest_items(await c.arun(st.rest_steps())):
                    yield item
                outcome = "refused" if st.refusal is not None or st.tool_notes else "allowed"
            else:
                outcome = "refused"
                yield result
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
                await _aclose(upstream)
            st.log(outcome, error)


def _close(it) -> None:
    close = getattr(it, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            pass


async def _aclose(it) -> None:
    close = getattr(it, "aclose", None)
    if callable(close):
        try:
            await close()
        except Exception:
            pass


class _ChunkState:
    """A chain's stream: text chunks (``str``, ``AIMessageChunk`` text) through one StreamGuard;
    tool-call chunks and other values held to the end and checked whole."""

    def __init__(self, owner: GuardRunnable, ctx, cl: CallLog):
        self.owner = owner
        self.cl = cl
        self.sg = StreamGuard(owner.guard, "output", ctx, **owner._stream_opts)
        self.kind = "text"  # "message" once an AIMessageChunk was seen
        self.last_chunk: BaseMessageChunk | None = None
        self.tool_chunks: list[AIMessageChunk] = []
        self.others: list = []
        self.refusal: Decision | None = None
        self.tool_notes: list[str] = []  # messages of refused tool calls

    def feed(self, chunk):
        if isinstance(chunk, str):
            return self.sg.feed(chunk) or None
        if isinstance(chunk, AIMessageChunk) and isinstance(chunk.content, str):
            self.kind = "message"
            self.last_chunk = chunk
            if chunk.tool_call_chunks:
                self.tool_chunks.append(chunk.model_copy(update={"content": ""}))
            out = self.sg.feed(chunk.content)
            if not out:
                return None
            return AIMessageChunk(content=out, id=chunk.id)
        self.others.append(chunk)
        return None

    def settle(self, d: Decision) -> Decision:
        if self.sg.overflowed:
            return self.sg.window_refusal
        return d if (d.refused or not self.sg.stopped) else self.sg.window_refusal

    def finish(self, d: Decision):
        """The refusal to yield, or None (then :meth:`rest`)."""
        self.tail = self.sg.finish(d)
        if d.refused:
            self.refusal = d
            return self._refusal_value(d)
        return None

    def _refusal_value(self, d: Decision):
        on = self.owner.on_refuse
        if on == "raise":
            raise Refused(d)
        if callable(on):
            return on(d)
        if self.kind == "message":
            return AIMessageChunk(content=d.text, response_metadata={"finish_reason": "content_filter"})
        return d.text

    # what comes after the text: its tail, the tool calls, the other values
    def rest_steps(self):
        refused = None
        calls = None
        if self.tool_chunks:
            agg = functools.reduce(operator.add, self.tool_chunks)
            calls = []
            for i, tc in enumerate(agg.tool_call_chunks):
                args = tc.get("args") or ""
                d = yield ("tool", str(tc.get("name") or ""), args if args.strip() else "{}",
                           f"output.tool_calls[{i}]")
                if d.refused:
                    if self.owner.on_refuse == "raise":
                        raise Refused(d)
                    self.tool_notes.append(d.text)
                    continue
                if d.action == "redact" and d.arguments is not None:
                    args = json.dumps(d.arguments, ensure_ascii=False)
                r, new = (yield ("json", args, f"output.tool_calls[{i}].args")) if args else (None, args)
                if r is not None:
                    return r, None, None
                calls.append({**tc, "args": new, "index": len(calls)})
        other = None
        if self.others:
            try:
                agg = functools.reduce(operator.add, self.others)
            except TypeError:
                agg = self.others[-1]  # cumulative values (JSON parsers): the last one is the whole
            refused, other, _ = yield from _steps(agg, "output", self.owner._table, "output")
            if refused is not None:
                return refused, None, None
        return None, calls, other

    def rest_items(self, result) -> list:
        refused, calls, other = result
        if refused is not None:
            self.refusal = refused
            return [self._refusal_value(refused)]
        items = []
        if self.tail:
            items.append(AIMessageChunk(content=self.tail) if self.kind == "message" else self.tail)
        if self.tool_notes:  # refused tool calls: their messages instead of the calls
            sep = "\n" if self.sg.text() else ""
            meta = {} if calls else {"finish_reason": "content_filter"}
            items.append(AIMessageChunk(content=sep + "\n".join(self.tool_notes), response_metadata=meta))
        if calls:
            items.append(AIMessageChunk(content="", tool_call_chunks=calls))
        if other is not None:
            items.append(other)
        return items

    def rest(self, run) -> list:
        return self.rest_items(run(self.rest_steps()))

    def log(self, outcome: str, exc: BaseException | None) -> None:
        sg = self.sg
        sg.close_scanner()
        if sg.decision is not None:
            self.cl.add(sg.decision, sg.text(), "output", {"stream": sg.stats()})
        else:
            self.cl.add_bare("output", self.owner.guard.policy_hash, "output", {"stream": sg.stats()})
        self.cl.finish(outcome, {"error": type(exc).__name__} if exc is not None else None)


# --------------------------------------------------------------------------- callbacks


class PolicyCallbackHandler(BaseCallbackHandler):
    """Checks every LLM / chat model call a chain makes; refusals raise :class:`Refused`.

    ``raise_error = True``: LangChain re-raises what a handler raises, so a refused prompt is
    never sent and a refused answer never returned. Redactions cannot be applied by a callback:
    they are recorded in ``decisions`` and the log (use :class:`GuardRunnable` to redact).
    """

    raise_error = True
    run_inline = True

    def __init__(self, guard, *, context=None, log=None, log_text: bool = False,
                 roles: Mapping[str, Any] | None = None, history: str = "untrusted"):
        self.guard = guard
        self.context = context
        self._log = as_log(log, log_text)
        self._table = role_table(roles, history)
        self.decisions: list[Decision] = []

    def _ctx(self):
        return self.context() if callable(self.context) else self.context

    def _run(self, value, stage: str, prefix: str, call: str) -> None:
        cl = CallLog(self._log, call)
        c = _Ctx(self.guard, self._ctx(), cl)
        try:
            refused, _, _ = c.run(_steps(value, stage, self._table, prefix))
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        self.decisions.extend(c.seen)
        if refused is not None:
            cl.finish("refused")
            raise Refused(refused)
        cl.finish("allowed")

    def on_llm_start(self, serialized, prompts, **kwargs) -> None:
        for i, p in enumerate(prompts):
            self._run(p, "input", f"prompts[{i}]", "langchain.llm")

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        for i, batch in enumerate(messages):
            self._run(list(batch), "input", f"messages[{i}]", "langchain.chat_model")

    def on_llm_end(self, response, **kwargs) -> None:
        for i, gens in enumerate(response.generations):
            for j, g in enumerate(gens):
                msg = getattr(g, "message", None)
                value = msg if msg is not None else g.text
                self._run(value, "output", f"generations[{i}][{j}]", "langchain.llm_end")
