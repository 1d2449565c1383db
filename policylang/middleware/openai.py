"""``guard.openai(client)``: an OpenAI(-compatible) client whose chat completions are guarded.

Works with ``openai.OpenAI`` and ``openai.AsyncOpenAI`` (and clients with the same
shape), with and without ``stream=True``:

* the request's messages are checked by role (system/developer trusted, user -> input,
  tool/function results -> context, assistant history -> input then output, ``history=``
  and ``roles=`` override) and the REDACTED messages are sent; every text part, tool-call
  argument and tool result is checked (see :mod:`policylang.middleware.messages`), and
  content the guard cannot classify raises :class:`ContentShapeError` before anything is
  sent;
* a refused request is not sent: ``create()`` returns a ``ChatCompletion`` (or, with
  ``stream=True``, a stream of one ``ChatCompletionChunk``) whose message is the refusal
  with ``finish_reason="content_filter"``, or raises :class:`policylang.Refused`
  (``on_refuse="raise"``);
* every choice's answer is checked at stage ``output`` (redacted, or replaced by the
  refusal with ``finish_reason="content_filter"``); streamed answers are guarded per choice
  with :class:`policylang.middleware.streaming.StreamGuard`, and a refusal in any choice
  closes the HTTP stream and ends the response with the refusal.

``responses.create(...)`` (the Responses API) is guarded too: see
:mod:`policylang.middleware.openai_responses`.

Per call, ``policy_context={...}`` is popped from the ``create()`` keywords (the OpenAI
API never sees it). Not guarded, and therefore not reachable through the guarded view
(``AttributeError``; use ``.unguarded``): legacy ``completions``, ``beta``,
``realtime``, ``with_raw_response``/``with_streaming_response``,
``chat.completions.parse``/``stream`` and every ``responses`` method but ``create`` and
``delete``. Tool calls in a Chat Completions *answer* (not streamed) go through
``guard.check_tool_call`` (rules ``on tool_call``): a refused call is removed from
``tool_calls`` and its refusal message becomes the message's content (``finish_reason``
``content_filter`` when no call is left), so the agent sees the refusal instead of running
the tool; redacted arguments are written back as JSON. Streamed, a choice's tool-call
deltas are held and released, checked the same way, with the chunk that finishes it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
import uuid
from typing import Any, Mapping

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware._output import GuardedClient
from policylang.middleware.log import CallLog, as_log
from policylang.middleware.messages import (ContentShapeError, acheck, acheck_many, acheck_messages, check_messages,
                                            role_table)
from policylang.middleware.openai_responses import GuardedResponses
from policylang.middleware.streaming import StreamGuard
from policylang.middleware.wrap import _check_on_refuse, merge_context, refusal_value

__all__ = ["guard_openai", "GuardedOpenAI"]

CALL = "openai.chat.completions.create"
_BLOCKED_CLIENT = frozenset({"completions", "beta", "realtime", "with_raw_response", "with_streaming_response"})
_BLOCKED_COMPLETIONS = frozenset({"parse", "stream", "with_raw_response", "with_streaming_response"})


def _blocked(name: str) -> AttributeError:
    return AttributeError(
        f"`{name}` is not guarded by policylang; use chat.completions.create, or `.unguarded.{name}` on purpose"
    )


def _is_async(client) -> bool:
    try:
        import openai

        if isinstance(client, openai.AsyncOpenAI):
            return True
        if isinstance(client, openai.OpenAI):
            return False
    except Exception:  # pragma: no cover - openai not installed
        pass
    create = client.chat.completions.create
    return inspect.iscoroutinefunction(inspect.unwrap(create))


def guard_openai(guard, client, *, on_refuse="message", log=None, log_text: bool = False,
                 context: Mapping | None = None, roles: Mapping[str, Any] | None = None,
                 history: str = "untrusted", hold_back: int | None = None,
                 global_rules: str = "buffer") -> "GuardedOpenAI":
    _check_on_refuse(on_refuse)
    opts = dict(on_refuse=on_refuse, log=as_log(log, log_text), context=context, table=role_table(roles, history),
                hold_back=hold_back, global_rules=global_rules)
    return GuardedOpenAI(guard, client, opts)


class GuardedOpenAI(GuardedClient):
    """A guarded view of an OpenAI client: ``.chat.completions.create`` is checked."""

    _blocked_names = _BLOCKED_CLIENT
    _blocked = staticmethod(_blocked)

    def __init__(self, guard, client, opts: dict):
        super().__init__(guard, client, opts)
        self._async = _is_async(client)
        self.chat = _GuardedChat(self)

        self.responses = GuardedResponses(self)  # the Responses API (policylang.middleware.openai_responses)


class _GuardedChat:
    def __init__(self, owner: GuardedOpenAI):
        self._owner = owner
        raw = owner._client.chat.completions
        self.completions = _AsyncCompletions(owner, raw) if owner._async else _SyncCompletions(owner, raw)

    def __getattr__(self, name: str):
        return getattr(self._owner._client.chat, name)


class _CompletionsBase:
    def __init__(self, owner: GuardedOpenAI, raw):
        self._owner = owner
        self._raw = raw
        o = owner._opts
        self._guard = owner._guard
        self._on_refuse = o["on_refuse"]
        self._log = o["log"]
        self._context = o["context"]
        self._table = o["table"]
        self._stream_opts = dict(hold_back=o["hold_back"], global_rules=o["global_rules"])

    def __getattr__(self, name: str):
        if name in _BLOCKED_COMPLETIONS:
            raise _blocked(f"chat.completions.{name}")
        return getattr(self._raw, name)

    # ------------------------------------------------------------------ shared
    def _refused_input(self, d: Decision, kwargs: dict, cl: CallLog):
        cl.finish("refused")
        if self._on_refuse == "raise":
            raise Refused(d)
        if callable(self._on_refuse):
            return self._on_refuse(d)
        model = str(kwargs.get("model") or "policylang")
        if kwargs.get("stream"):
            return _RefusalStream(_refusal_chunk(d.text, model), self._owner._async)
        return _refusal_completion(d.text, model)

    def _tool_decisions(self, resp, ctx) -> list[tuple[Any, int, Any, Decision]]:
        """(choice, index, call, decision) of every function tool call in the answer."""
        out = []
        for choice in getattr(resp, "choices", None) or ():
            calls = getattr(getattr(choice, "message", None), "tool_calls", None) or ()
            for j, call in enumerate(calls):
                fn = getattr(call, "function", None)
                if fn is None:  # not a function call (custom tools): left as the model sent it
                    continue
                out.append((choice, j, call, self._guard.check_tool_call(str(fn.name), fn.arguments, ctx)))
        return out

    @staticmethod
    def _apply_tool_calls(decisions: list[tuple[Any, int, Any, Decision]], cl: CallLog) -> Decision | None:
        """Remove refused calls (their message becomes the content), write redacted arguments back."""
        refused = None
        dropped: dict[int, tuple[Any, list]] = {}
        for choice, j, call, d in decisions:
            cl.add(d, call.function.arguments, f"choices[{choice.index}].message.tool_calls[{j}]")
            if d.refused:
                refused = refused or d
                dropped.setdefault(id(choice), (choice, []))[1].append((call, d.text))
            elif d.action == "redact" and d.arguments is not None:
                call.function.arguments = json.dumps(d.arguments, ensure_ascii=False)
        for choice, gone in dropped.values():
            msg = choice.message
            ids = {id(c) for c, _ in gone}
            kept = [c for c in msg.tool_calls if id(c) not in ids]
            notes = [t for _, t in gone]
            msg.content = "\n".join(([msg.content] if msg.content else []) + notes)
            msg.tool_calls = kept or None
            if not kept:
                choice.finish_reason = "content_filter"
        return refused

    def _apply_output(self, resp, decisions: list[tuple[Any, str, Decision]], cl: CallLog,
                      tool_decisions: list[tuple[Any, int, Any, Decision]] = ()):
        refused = None
        for choice, text, d in decisions:
            cl.add(d, text, f"choices[{choice.index}]")
            if d.refused:
                refused = refused or d
                choice.message.content = d.text
                choice.finish_reason = "content_filter"
            elif d.text != text:
                choice.message.content = d.text
        tool_refused = self._apply_tool_calls(tool_decisions, cl) if tool_decisions else None
        refused = refused or tool_refused
        cl.finish("refused" if refused is not None else "allowed")
        if refused is not None and self._on_refuse != "message":
            return refusal_value(refused, self._on_refuse)
        return resp

    @staticmethod
    def _texts(resp) -> list[tuple[Any, str]]:
        out = []
        for choice in getattr(resp, "choices", None) or ():
            content = getattr(choice.message, "content", None)
            if isinstance(content, str):
                out.append((choice, content))
        return out


class _SyncCompletions(_CompletionsBase):
    def create(self, **kwargs):
        ctx = merge_context(self._context, kwargs.pop("policy_context", None))
        cl = CallLog(self._log, CALL)
        messages = kwargs.get("messages")
        if messages is not None:
            try:
                mc = check_messages(self._guard, messages, ctx, table=self._table)
            except ContentShapeError as exc:
                cl.add_bare("input", self._guard.policy_hash, "messages", {"detail": str(exc)})
                cl.finish("error", {"error": type(exc).__name__})
                raise
            cl.extend(mc.entries())
            if mc.refusal is not None:
                return self._refused_input(mc.refusal, kwargs, cl)
            kwargs["messages"] = mc.messages
        try:
            resp = self._raw.create(**kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        if kwargs.get("stream"):
            return GuardedChatStream(self, resp, ctx, cl)
        texts = self._texts(resp)
        decisions = self._guard.check_many([t for _, t in texts], "output", ctx) if texts else []
        pairs = [(c, t, d) for (c, t), d in zip(texts, decisions)]
        return self._apply_output(resp, pairs, cl, self._tool_decisions(resp, ctx))


class _AsyncCompletions(_CompletionsBase):
    async def create(self, **kwargs):
        ctx = merge_context(self._context, kwargs.pop("policy_context", None))
        cl = CallLog(self._log, CALL)
        messages = kwargs.get("messages")
        if messages is not None:
            try:
                mc = await acheck_messages(self._guard, messages, ctx, table=self._table)
            except ContentShapeError as exc:
                cl.add_bare("input", self._guard.policy_hash, "messages", {"detail": str(exc)})
                cl.finish("error", {"error": type(exc).__name__})
                raise
            cl.extend(mc.entries())
            if mc.refusal is not None:
                return self._refused_input(mc.refusal, kwargs, cl)
            kwargs["messages"] = mc.messages
        try:
            resp = await self._raw.create(**kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise
        if kwargs.get("stream"):
            return AsyncGuardedChatStream(self, resp, ctx, cl)
        texts = self._texts(resp)
        decisions = await acheck_many(self._guard, [t for _, t in texts], "output", ctx) if texts else []
        pairs = [(c, t, d) for (c, t), d in zip(texts, decisions)]
        tool_decisions = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._tool_decisions, resp, ctx))
        return self._apply_output(resp, pairs, cl, tool_decisions)


# --------------------------------------------------------------------------- refusals


def _refusal_completion(text: str, model: str):
    from openai.types.chat import ChatCompletion
    from openai.types.chat.chat_completion import Choice
    from openai.types.chat.chat_completion_message import ChatCompletionMessage

    return ChatCompletion(
        id=f"policylang-{uuid.uuid4().hex}", object="chat.completion", created=int(time.time()), model=model,
        choices=[Choice(index=0, finish_reason="content_filter", logprobs=None,
                        message=ChatCompletionMessage(role="assistant", content=text))],
    )


def _refusal_chunk(text: str, model: str, index: int = 0, id_: str | None = None):
    from openai.types.chat import ChatCompletionChunk
    from openai.types.chat.chat_completion_chunk import Choice, ChoiceDelta

    return ChatCompletionChunk(
        id=id_ or f"policylang-{uuid.uuid4().hex}", object="chat.completion.chunk", created=int(time.time()),
        model=model, choices=[Choice(index=index, finish_reason="content_filter",
                                     delta=ChoiceDelta(role="assistant", content=text))],
    )


class _RefusalStream:
    """A stream of one refusal chunk (sync and async iteration)."""

    def __init__(self, chunk, is_async: bool):
        self._chunks = [chunk]
        self._async = is_async

    def __iter__(self):
        while self._chunks:
            yield self._chunks.pop()

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self._chunks:
            raise StopAsyncIteration
        return self._chunks.pop()

    def close(self):
        self._chunks.clear()
        if self._async:
            return _done()
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._chunks.clear()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self._chunks.clear()


async def _done():
    return None


# --------------------------------------------------------------------------- streams


class _ChatStreamBase:
    def __init__(self, owner: _CompletionsBase, upstream, ctx, cl: CallLog):
        self._owner = owner
        self._guard = owner._guard
        self._upstream = upstream
        self._ctx = ctx
        self._cl = cl
        self._sgs: dict[int, StreamGuard] = {}
        self.decisions: dict[int, Decision] = {}
        self._started = False
        # streamed tool calls, held until their choice finishes: choice -> call index -> [id, name, arguments]
        self._tools: dict[int, dict[int, list]] = {}
        self._tool_refused = False

    @property
    def response(self):
        return getattr(self._upstream, "response", None)

    def _sg(self, index: int) -> StreamGuard:
        sg = self._sgs.get(index)
        if sg is None:
            sg = self._sgs[index] = StreamGuard(self._guard, "output", self._ctx, **self._owner._stream_opts)
        return sg

    def _log(self, outcome: str, exc: BaseException | None = None) -> None:
        for index, sg in sorted(self._sgs.items()):
            sg.close_scanner()
            if sg.decision is not None:
                self._cl.add(sg.decision, sg.text(), f"choices[{index}]", {"stream": sg.stats()})
            else:
                self._cl.add_bare("output", self._guard.policy_hash, f"choices[{index}]", {"stream": sg.stats()})
        self._cl.finish(outcome, {"error": type(exc).__name__} if exc is not None else None)

    def _refusal(self, chunk, index: int, d: Decision):
        """``chunk`` rewritten to end the response with the refusal of choice ``index``."""
        self.decisions[index] = d
        if self._owner._on_refuse == "raise":
            raise Refused(d)
        if callable(self._owner._on_refuse):
            return self._owner._on_refuse(d)
        model = getattr(chunk, "model", None) or "policylang"
        return _refusal_chunk(d.text, model, index, getattr(chunk, "id", None))

    def _feed(self, chunk):
        """Feed a chunk's deltas; returns (chunk, choices to finish, refused index or None)."""
        finishing = []
        for choice in getattr(chunk, "choices", None) or ():
            sg = self._sg(choice.index)
            if sg.stopped:  # refused on the request context alone
                return chunk, finishing, choice.index
            delta = choice.delta
            content = getattr(delta, "content", None) if delta is not None else None
            if content:
                delta.content = sg.feed(content)
                if sg.stopped:
                    return chunk, finishing, choice.index
            calls = getattr(delta, "tool_calls", None) if delta is not None else None
            if calls:
                held = self._tools.setdefault(choice.index, {})
                for tc in calls:
                    entry = held.setdefault(tc.index, [None, "", ""])
                    entry[0] = tc.id or entry[0]
                    fn = tc.function
                    if fn is not None:
                        entry[1] += fn.name or ""
                        entry[2] += fn.arguments or ""
                delta.tool_calls = None  # released, checked, when the choice finishes
            if choice.finish_reason is not None:
                finishing.append(choice)
        return chunk, finishing, None

    def _finish_choice(self, choice, d: Decision) -> bool:
        """Apply the final decision of a choice to its last chunk; True when refused."""
        sg = self._sgs[choice.index]
        tail = sg.finish(d)
        self.decisions[choice.index] = d
        if d.refused:
            return True
        if tail:
            choice.delta.content = (choice.delta.content or "") + tail
        held = self._tools.pop(choice.index, None)
        if held:
            self._release_tool_calls(choice, held)
        return False

    def _release_tool_calls(self, choice, held: dict[int, list]) -> None:
        """The held tool calls of a finished choice, checked: refused ones become content."""
        from openai.types.chat.chat_completion_chunk import ChoiceDelta, ChoiceDeltaToolCall, ChoiceDeltaToolCallFunction

        kept, notes = [], []
        for k in sorted(held):
            call_id, name, arguments = held[k]
            d = self._guard.check_tool_call(name, arguments, self._ctx)
            self._cl.add(d, arguments, f"choices[{choice.index}].delta.tool_calls[{k}]")
            if d.refused:
                if self._owner._on_refuse == "raise":
                    raise Refused(d)
                notes.append(d.text)
                continue
            if d.action == "redact" and d.arguments is not None:
                arguments = json.dumps(d.arguments, ensure_ascii=False)
            kept.append(ChoiceDeltaToolCall(index=len(kept), id=call_id, type="function",
                                            function=ChoiceDeltaToolCallFunction(name=name, arguments=arguments)))
        if choice.delta is None:
            choice.delta = ChoiceDelta()
        if notes:
            self._tool_refused = True
            sg = self._sgs.get(choice.index)
            before = choice.delta.content or ""
            sep = "\n" if before or (sg is not None and sg.text()) else ""
            choice.delta.content = before + sep + "\n".join(notes)
            if not kept:
                choice.finish_reason = "content_filter"
        choice.delta.tool_calls = kept or None


class GuardedChatStream(_ChatStreamBase):
    """A guarded ``Stream[ChatCompletionChunk]``: iterate it, ``close()`` it, use it in ``with``."""

    def __init__(self, owner, upstream, ctx, cl):
        super().__init__(owner, upstream, ctx, cl)
        self._gen = self._run()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._gen)

    def close(self) -> None:
        """Stop and close the HTTP stream (also when iteration never started)."""
        if not self._started:
            self._started = True
            self._gen.close()
            self._close_upstream()
            self._log("incomplete")
            return
        self._gen.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _decide(self, sg: StreamGuard) -> Decision:
        d = self._guard.check(sg.text(), "output", self._ctx)
        return d if (d.refused or not sg.stopped) else sg.window_refusal

    def _run(self):
        self._started = True
        outcome, error, done = "error", None, False
        try:
            for chunk in self._upstream:
                chunk, finishing, stopped = self._feed(chunk)
                if stopped is not None:
                    self._close_upstream()
                    done = True
                    sg = self._sgs[stopped]
                    d = self._decide(sg)
                    sg.finish(d)
                    outcome = "refused"
                    yield self._refusal(chunk, stopped, d)
                    return
                for choice in finishing:
                    sg = self._sgs[choice.index]
                    if self._finish_choice(choice, self._decide(sg)):
                        self._close_upstream()
                        done = True
                        outcome = "refused"
                        yield self._refusal(chunk, choice.index, sg.decision)
                        return
                yield chunk
            done = True
            # choices that never sent a finish_reason: release what they held
            for index, sg in sorted(self._sgs.items()):
                if sg.decision is None:
                    d = self._decide(sg)
                    tail = sg.finish(d)
                    self.decisions[index] = d
                    if d.refused:
                        outcome = "refused"
                        yield self._refusal(None, index, d)
                        return
                    if tail:
                        yield _tail_chunk(tail, index)
            outcome = ("refused" if self._tool_refused or any(d.refused for d in self.decisions.values())
                       else "allowed")
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
                self._close_upstream()
            self._log(outcome, error)

    def _close_upstream(self) -> None:
        close = getattr(self._upstream, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass


class AsyncGuardedChatStream(_ChatStreamBase):
    """A guarded ``AsyncStream[ChatCompletionChunk]`` (``async for``, ``await close()``, ``async with``)."""

    def __init__(self, owner, upstream, ctx, cl):
        super().__init__(owner, upstream, ctx, cl)
        self._agen = self._run()

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._agen.__anext__()

    async def close(self) -> None:
        """Stop and close the HTTP stream (also when iteration never started)."""
        if not self._started:
            self._started = True
            await self._agen.aclose()
            await self._close_upstream()
            self._log("incomplete")
            return
        await self._agen.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def _decide(self, sg: StreamGuard) -> Decision:
        d = await acheck(self._guard, sg.text(), "output", self._ctx)
        return d if (d.refused or not sg.stopped) else sg.window_refusal

    async def _run(self):
        self._started = True
        outcome, error, done = "error", None, False
        try:
            async for chunk in self._upstream:
                chunk, finishing, stopped = self._feed(chunk)
                if stopped is not None:
                    await self._close_upstream()
                    done = True
                    sg = self._sgs[stopped]
                    d = await self._decide(sg)
                    sg.finish(d)
                    outcome = "refused"
                    yield self._refusal(chunk, stopped, d)
                    return
                for choice in finishing:
                    sg = self._sgs[choice.index]
                    if self._finish_choice(choice, await self._decide(sg)):
                        await self._close_upstream()
                        done = True
                        outcome = "refused"
                        yield self._refusal(chunk, choice.index, sg.decision)
                        return
                yield chunk
            done = True
            for index, sg in sorted(self._sgs.items()):
                if sg.decision is None:
                    d = await self._decide(sg)
                    tail = sg.finish(d)
                    self.decisions[index] = d
                    if d.refused:
                        outcome = "refused"
                        yield self._refusal(None, index, d)
                        return
                    if tail:
                        yield _tail_chunk(tail, index)
            outcome = ("refused" if self._tool_refused or any(d.refused for d in self.decisions.values())
                       else "allowed")
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
                await self._close_upstream()
            self._log(outcome, error)

    async def _close_upstream(self) -> None:
        close = getattr(self._upstream, "close", None)
        if callable(close):
            try:
                res = close()
                if inspect.isawaitable(res):
                    await res
            except Exception:
                pass


def _tail_chunk(text: str, index: int):
    from openai.types.chat import ChatCompletionChunk
    from openai.types.chat.chat_completion_chunk import Choice, ChoiceDelta

    return ChatCompletionChunk(
        id=f"policylang-{uuid.uuid4().hex}", object="chat.completion.chunk", created=int(time.time()),
        model="policylang", choices=[Choice(index=index, finish_reason="stop", delta=ChoiceDelta(content=text))],
    )
