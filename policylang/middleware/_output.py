"""A model's structured answer (content blocks, output items) checked at stage ``output``.

Shared by the Anthropic Messages and OpenAI Responses adapters. The walker reads a
``model_dump()`` of the answer and checks every string in it at stage ``output`` except
protocol values (ids, types, names, signatures, encrypted or opaque payloads, token
logprobs); numbers in tool input are checked as their text. A string under ``arguments``
that is a JSON object or array (a tool call's arguments) is checked value by value and
re-serialized only when a value was redacted. Redactions are written back into the
original objects (pydantic models are updated in place, like the OpenAI adapter does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware.messages import ContentShapeError, acheck_many
from policylang.middleware.streaming import StreamGuard

__all__ = ["Leaf", "collect", "check_leaves", "acheck_leaves", "apply", "Memo", "StreamSet"]

# identifiers, protocol values and opaque payloads: never prose a reader sees
SKIP = frozenset({
    "role", "type", "id", "tool_call_id", "call_id", "tool_use_id", "name", "status", "cache_control",
    "is_error", "index", "signature", "encrypted_content", "encrypted_index", "object", "model", "media_type",
    "file_id", "item_id", "output_index", "content_index", "summary_index", "sequence_number", "logprobs",
    "top_logprobs", "bytes", "stop_reason", "stop_sequence", "usage", "caller", "toolset_name",
    "container_id", "start_index", "end_index", "start_char_index", "end_char_index", "start_page_number",
    "end_page_number", "start_block_index", "end_block_index", "document_index", "search_result_index",
    "page_age", "server_label", "approval_request_id", "mime_type", "partial_image_index",
})
# blocks whose payload is opaque by design (Anthropic's redacted thinking)
OPAQUE_TYPES = frozenset({"redacted_thinking"})
JSON_KEYS = frozenset({"arguments"})
MAX_DEPTH = 64


@dataclass
class Leaf:
    path: tuple  # into the answer object: keys (str) and indexes (int)
    text: str
    label: str
    inner: tuple | None = None  # for a value inside a JSON string: its path in the parsed value
    number: bool = False


class _Json:
    """A JSON string leaf expanded into its values."""

    __slots__ = ("path", "value")

    def __init__(self, path, value):
        self.path, self.value = path, value


def _label(prefix: str, path: tuple) -> str:
    out = prefix
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def collect(value: Any, prefix: str, path: tuple = (), skip: frozenset = SKIP) -> tuple[list[Leaf], list[_Json]]:
    """Every checkable string (and number) of ``value`` (a JSON-like dump) with its path."""
    leaves: list[Leaf] = []
    jsons: list[_Json] = []

    def walk(v, p, depth, inner_root=None):
        if depth > MAX_DEPTH:
            raise ContentShapeError(f"{_label(prefix, p)}: nested deeper than {MAX_DEPTH} levels; not passed on")
        if isinstance(v, str):
            if inner_root is None:
                leaves.append(Leaf(p, v, _label(prefix, p)))
            else:
                root, q = inner_root
                leaves.append(Leaf(root, v, _label(prefix, root + q), inner=q))
            return
        if isinstance(v, bool) or v is None:
            return
        if isinstance(v, (int, float)):
            if inner_root is not None:
                root, q = inner_root
                leaves.append(Leaf(root, json.dumps(v), _label(prefix, root + q), inner=q, number=True))
            elif len(p) and _in_input(p):
                leaves.append(Leaf(p, json.dumps(v), _label(prefix, p), number=True))
            return
        if isinstance(v, Mapping):
            if v.get("type") in OPAQUE_TYPES:
                return
            for k, x in v.items():
                if k in skip and inner_root is None:
                    continue
                if inner_root is None and k in JSON_KEYS and isinstance(x, str):
                    parsed = _parse(x)
                    if parsed is not None:
                        jsons.append(_Json(p + (k,), parsed))
                        walk(parsed, p + (k,), depth + 1, (p + (k,), ()))
                        continue
                if inner_root is None:
                    walk(x, p + (k,), depth + 1)
                else:
                    walk(x, p, depth + 1, (inner_root[0], inner_root[1] + (k,)))
            return
        if isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                if inner_root is None:
                    walk(x, p + (i,), depth + 1)
                else:
                    walk(x, p, depth + 1, (inner_root[0], inner_root[1] + (i,)))

    walk(value, path, 0)
    return leaves, jsons


def _in_input(path: tuple) -> bool:
    return "input" in path or "arguments" in path


def _parse(text: str):
    s = text.lstrip()
    if not s or s[0] not in "{[":
        return None
    try:
        v = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: checked as text
        return None
    return v if isinstance(v, (dict, list)) else None


class Memo:
    """Decisions by (stage, text) for one call: a stream's final decisions are reused when
    the same text comes back in a ``done`` event or the final response."""

    def __init__(self):
        self._d: dict[tuple[str, str], Decision] = {}

    def get(self, stage: str, text: str) -> Decision | None:
        return self._d.get((stage, text))

    def put(self, stage: str, text: str, d: Decision) -> None:
        self._d[(stage, text)] = d


def check_leaves(guard, leaves: list[Leaf], ctx: Mapping | None, memo: Memo | None = None,
                 stage: str = "output") -> list[Decision]:
    texts = [lf.text for lf in leaves]
    out: list[Decision | None] = [memo.get(stage, t) if memo is not None else None for t in texts]
    todo = [i for i, d in enumerate(out) if d is None]
    if todo:
        for i, d in zip(todo, guard.check_many([texts[i] for i in todo], stage, ctx)):
            out[i] = d
            if memo is not None:
                memo.put(stage, texts[i], d)
    return out  # type: ignore[return-value]


async def acheck_leaves(guard, leaves: list[Leaf], ctx: Mapping | None, memo: Memo | None = None,
                        stage: str = "output") -> list[Decision]:
    texts = [lf.text for lf in leaves]
    out: list[Decision | None] = [memo.get(stage, t) if memo is not None else None for t in texts]
    todo = [i for i, d in enumerate(out) if d is None]
    if todo:
        for i, d in zip(todo, await acheck_many(guard, [texts[i] for i in todo], stage, ctx)):
            out[i] = d
            if memo is not None:
                memo.put(stage, texts[i], d)
    return out  # type: ignore[return-value]


def _get(obj, key):
    if isinstance(obj, (dict, list)):
        return obj[key]
    return getattr(obj, key)


def _put(obj, key, value) -> None:
    if isinstance(obj, (dict, list)):
        obj[key] = value
    else:
        setattr(obj, key, value)


def set_path(obj, path: tuple, value) -> None:
    for p in path[:-1]:
        obj = _get(obj, p)
    _put(obj, path[-1], value)


def get_path(obj, path: tuple):
    for p in path:
        obj = _get(obj, p)
    return obj


def apply(obj, leaves: list[Leaf], jsons: list[_Json], decisions: list[Decision]) -> Decision | None:
    """Write redactions back into ``obj``; the first refusal (nothing is written then)."""
    for d in decisions:
        if d.refused:
            return d
    changed_json: dict[tuple, _Json] = {j.path: j for j in jsons}
    dirty: set[tuple] = set()
    for lf, d in zip(leaves, decisions):
        if d.text == lf.text:
            continue
        if lf.inner is None:
            set_path(obj, lf.path, d.text)
            _drop_logprobs(obj, lf.path)
        else:
            j = changed_json[lf.path]
            if lf.inner:
                set_path(j.value, lf.inner, d.text)
            dirty.add(lf.path)
    for p in dirty:
        set_path(obj, p, json.dumps(changed_json[p].value, ensure_ascii=False))
    return None


def _drop_logprobs(obj, path: tuple) -> None:
    """A redacted text part's token logprobs would carry the original text: emptied."""
    try:
        part = get_path(obj, path[:-1])
    except (KeyError, IndexError, AttributeError, TypeError):
        return
    if isinstance(part, dict):
        if part.get("logprobs"):
            part["logprobs"] = []
    elif getattr(part, "logprobs", None):
        try:
            part.logprobs = []
        except Exception:
            pass


def check_json_text(guard, text: str, ctx, memo: Memo | None, label: str) -> tuple[Decision | None, str, list]:
    """A tool call's arguments (JSON text): checked value by value when it parses, else as text.

    Returns (the refusal or None, the arguments to pass on, the log entries)."""
    leaves, jsons = _json_leaves(text, label)
    return _json_result(text, leaves, jsons, check_leaves(guard, leaves, ctx, memo))


async def acheck_json_text(guard, text: str, ctx, memo: Memo | None, label: str
                           ) -> tuple[Decision | None, str, list]:
    leaves, jsons = _json_leaves(text, label)
    return _json_result(text, leaves, jsons, await acheck_leaves(guard, leaves, ctx, memo))


def _json_leaves(text: str, label: str):
    prefix = label[: -len(".arguments")] if label.endswith(".arguments") else label
    leaves, jsons = collect({"arguments": text}, prefix)
    if not leaves:  # not JSON, or JSON with no text in it: the raw text is checked
        leaves, jsons = [Leaf(("arguments",), text, label)], []
    return leaves, jsons


def _json_result(text, leaves, jsons, decisions):
    entries = [(d, lf.text, lf.label) for lf, d in zip(leaves, decisions)]
    holder = {"arguments": text}
    refused = apply(holder, leaves, jsons, decisions)
    return refused, (text if refused is not None else holder["arguments"]), entries


class StreamSet:
    """One :class:`StreamGuard` per streamed text (a content block, an output part)."""

    def __init__(self, guard, ctx, opts: Mapping, memo: Memo):
        self.guard = guard
        self.ctx = ctx
        self.opts = dict(opts)
        self.memo = memo
        self.guards: dict[Any, StreamGuard] = {}
        self.labels: dict[Any, str] = {}
        self.decisions: dict[Any, Decision] = {}

    def get(self, key, label: str) -> StreamGuard:
        sg = self.guards.get(key)
        if sg is None:
            sg = self.guards[key] = StreamGuard(self.guard, "output", self.ctx, **self.opts)
            self.labels[key] = label
        return sg

    def decide(self, sg: StreamGuard) -> Decision:
        if sg.overflowed:
            return sg.window_refusal
        text = sg.text()
        d = self.memo.get("output", text)
        if d is None:
            d = self.guard.check(text, "output", self.ctx)
        return self._settle(sg, d)

    async def adecide(self, sg: StreamGuard) -> Decision:
        if sg.overflowed:
            return sg.window_refusal
        text = sg.text()
        d = self.memo.get("output", text)
        if d is None:
            d = await self.guard.acheck(text, "output", self.ctx)
        return self._settle(sg, d)

    def _settle(self, sg: StreamGuard, d: Decision) -> Decision:
        if not d.refused and sg.stopped:
            d = sg.window_refusal
        return d

    def finish(self, key, d: Decision) -> str:
        """Record the final decision of ``key``; the text still to send (the refusal when refused)."""
        sg = self.guards[key]
        tail = sg.finish(d)
        self.decisions[key] = d
        if not d.refused:
            self.memo.put("output", sg.text(), d)
        return tail

    def log(self, cl, outcome: str, exc: BaseException | None = None) -> None:
        for key, sg in self.guards.items():
            sg.close_scanner()
            if sg.decision is not None:
                cl.add(sg.decision, sg.text(), self.labels[key], {"stream": sg.stats()})
            else:
                cl.add_bare("output", self.guard.policy_hash, self.labels[key], {"stream": sg.stats()})


# --------------------------------------------------------------------------- whole answers


def check_answer(guard, obj, dump, path: tuple, prefix: str, ctx, cl, memo: Memo | None = None) -> Decision | None:
    """Check every text of ``dump`` (the dump of ``obj`` at ``path``); redactions are written
    into ``obj``; returns the first refusal (nothing is written then)."""
    leaves, jsons = collect(dump, prefix, path)
    decisions = check_leaves(guard, leaves, ctx, memo) if leaves else []
    for lf, d in zip(leaves, decisions):
        cl.add(d, lf.text, lf.label)
    return apply(obj, leaves, jsons, decisions)


async def acheck_answer(guard, obj, dump, path: tuple, prefix: str, ctx, cl, memo: Memo | None = None
                        ) -> Decision | None:
    leaves, jsons = collect(dump, prefix, path)
    decisions = await acheck_leaves(guard, leaves, ctx, memo) if leaves else []
    for lf, d in zip(leaves, decisions):
        cl.add(d, lf.text, lf.label)
    return apply(obj, leaves, jsons, decisions)


# --------------------------------------------------------------------------- event streams
#
# A provider's stream of typed events is rewritten by ``_steps(event)``, a generator that
# yields check requests and returns the events to send on. The same steps run under a sync
# driver (``guard.check``) and an async one (``guard.acheck``: models never run on the loop):
#
#   ("stream", key)                   -> the final Decision of the streamed text ``key``
#   ("leaves", obj, dump, path, pfx)  -> the refusal or None (redactions written into obj)
#   ("json", text, label)             -> (refusal or None, arguments to pass on)
#   ("tool", name, arguments, label)  -> the Decision of guard.check_tool_call (logged)


def _answer_sync(owner, req):
    kind = req[0]
    if kind == "tool":
        d = owner._guard.check_tool_call(req[1], req[2], owner._ctx)
        owner._cl.add(d, req[2] if isinstance(req[2], str) else json.dumps(req[2], ensure_ascii=False), req[3])
        return d
    if kind == "stream":
        return owner.streams.decide(owner.streams.guards[req[1]])
    if kind == "leaves":
        _, obj, dump, path, prefix = req
        return check_answer(owner._guard, obj, dump, path, prefix, owner._ctx, owner._cl, owner.memo)
    if kind == "json":
        refused, new, entries = check_json_text(owner._guard, req[1], owner._ctx, owner.memo, req[2])
        owner._cl.extend(entries)
        return refused, new
    raise AssertionError(kind)


async def _answer_async(owner, req):
    kind = req[0]
    if kind == "tool":
        import asyncio
        import functools

        d = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(owner._guard.check_tool_call, req[1], req[2], owner._ctx))
        owner._cl.add(d, req[2] if isinstance(req[2], str) else json.dumps(req[2], ensure_ascii=False), req[3])
        return d
    if kind == "stream":
        return await owner.streams.adecide(owner.streams.guards[req[1]])
    if kind == "leaves":
        _, obj, dump, path, prefix = req
        return await acheck_answer(owner._guard, obj, dump, path, prefix, owner._ctx, owner._cl, owner.memo)
    if kind == "json":
        refused, new, entries = await acheck_json_text(owner._guard, req[1], owner._ctx, owner.memo, req[2])
        owner._cl.extend(entries)
        return refused, new
    raise AssertionError(kind)


def _drive(owner, gen) -> list:
    try:
        req = next(gen)
        while True:
            req = gen.send(_answer_sync(owner, req))
    except StopIteration as stop:
        return stop.value or []


async def _adrive(owner, gen) -> list:
    try:
        req = next(gen)
        while True:
            req = gen.send(await _answer_async(owner, req))
    except StopIteration as stop:
        return stop.value or []


class EventStreamBase:
    """A guarded stream of provider events; subclasses give ``_steps``, ``_end`` and ``_refusal_events``."""

    def __init__(self, guard, upstream, ctx, cl, *, on_refuse, stream_opts: Mapping, is_async: bool):
        self._guard = guard
        self._upstream = upstream
        self._ctx = ctx
        self._cl = cl
        self._on_refuse = on_refuse
        self.memo = Memo()
        self.streams = StreamSet(guard, ctx, stream_opts, self.memo)
        self.refusal: Decision | None = None
        self._started = False
        self._async = is_async
        if is_async:
            self._agen = self._arun()
        else:
            self._gen = self._run()

    # subclasses ------------------------------------------------------------
    def _steps(self, event):  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _end(self):  # pragma: no cover - abstract
        return []
        yield

    def _refusal_events(self, d: Decision) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    # shared ----------------------------------------------------------------
    @property
    def decisions(self) -> dict:
        """The final decision of every streamed text, by key."""
        return self.streams.decisions

    @property
    def response(self):
        return getattr(self._upstream, "response", None)

    def _refuse(self, d: Decision) -> list:
        self.refusal = d
        if self._on_refuse == "raise":
            raise Refused(d)
        if callable(self._on_refuse):
            return [self._on_refuse(d)]
        return self._refusal_events(d)

    def _log(self, outcome: str, exc: BaseException | None) -> None:
        self.streams.log(self._cl, outcome)
        self._cl.finish(outcome, {"error": type(exc).__name__} if exc is not None else None)

    # sync ------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        return next(self._gen)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _close_sync(self) -> None:
        close = getattr(self._upstream, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass

    def _run(self):
        self._started = True
        outcome, error, done = "error", None, False
        try:
            for event in self._upstream:
                out = _drive(self, self._steps(event))
                if self.refusal is not None:
                    self._close_sync()
                    done = True
                    outcome = "refused"
                    yield from out
                    return
                yield from out
            done = True
            out = _drive(self, self._end())
            outcome = "refused" if self.refusal is not None else "allowed"
            yield from out
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
                self._close_sync()
            self._log(outcome, error)

    # async -----------------------------------------------------------------
    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._agen.__anext__()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def _close_async(self) -> None:
        import inspect

        close = getattr(self._upstream, "close", None)
        if callable(close):
            try:
                res = close()
                if inspect.isawaitable(res):
                    await res
            except Exception:
                pass

    async def _arun(self):
        self._started = True
        outcome, error, done = "error", None, False
        try:
            async for event in self._upstream:
                out = await _adrive(self, self._steps(event))
                if self.refusal is not None:
                    await self._close_async()
                    done = True
                    outcome = "refused"
                    for e in out:
                        yield e
                    return
                for e in out:
                    yield e
            done = True
            out = await _adrive(self, self._end())
            outcome = "refused" if self.refusal is not None else "allowed"
            for e in out:
                yield e
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
                await self._close_async()
            self._log(outcome, error)

    # closing ---------------------------------------------------------------
    def close(self):
        """Stop and close the HTTP stream (also when iteration never started); awaitable for async streams."""
        if self._async:
            return self.aclose()
        if not self._started:
            self._started = True
            self._gen.close()
            self._close_sync()
            self._log("incomplete", None)
            return None
        self._gen.close()
        return None

    async def aclose(self) -> None:
        if not self._started:
            self._started = True
            await self._agen.aclose()
            await self._close_async()
            self._log("incomplete", None)
            return
        await self._agen.aclose()


class RefusalEvents:
    """The events of a refusal message, iterated sync or async like the SDK's stream
    (the Anthropic and Responses adapters answer a refused streamed call with one)."""

    def __init__(self, events: list, is_async: bool):
        self._events = list(events)
        self._async = is_async

    def __iter__(self):
        while self._events:
            yield self._events.pop(0)

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self._events:
            raise StopAsyncIteration
        return self._events.pop(0)

    def close(self):
        self._events.clear()
        if self._async:
            return _done()
        return None

    async def aclose(self):
        self._events.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._events.clear()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self._events.clear()


async def _done():
    return None


class GuardedClient:
    """What every guarded client view shares (``guard.openai(client)``, ``guard.anthropic(client)``):
    ``unguarded``, ``with_options``/``copy`` that stay guarded, and the client's other attributes
    passed through, except the unguarded ones a subclass names in ``_blocked_names`` (an
    ``AttributeError`` from ``_blocked(name)`` says what to use instead)."""

    _blocked_names: frozenset = frozenset()

    def __init__(self, guard, client, opts: dict):
        self._guard = guard
        self._client = client
        self._opts = opts

    @staticmethod
    def _blocked(name: str) -> AttributeError:
        return AttributeError(f"`{name}` is not guarded by policylang; use `.unguarded.{name}` on purpose")

    @property
    def unguarded(self):
        """The wrapped client itself (nothing it does is checked)."""
        return self._client

    def with_options(self, **kwargs):
        return type(self)(self._guard, self._client.with_options(**kwargs), self._opts)

    def copy(self, **kwargs):
        return type(self)(self._guard, self._client.copy(**kwargs), self._opts)

    def __getattr__(self, name: str):
        if name in self._blocked_names:
            raise self._blocked(name)
        return getattr(self._client, name)

    def __repr__(self) -> str:
        return f"<guarded {type(self._client).__name__} {self._guard!r}>"
