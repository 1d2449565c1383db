"""An ASGI middleware (Starlette, FastAPI) that guards an LLM endpoint's requests and responses.

``app.add_middleware(PolicyMiddleware, guard=guard, paths=["/chat"])`` (the
``policylang[fastapi]`` extra; the middleware itself is plain ASGI and imports nothing):

* **request** (``methods``, default POST, on paths under ``paths``): a JSON body's
  ``messages`` (checked by role), ``input`` and ``prompt`` (a string at stage ``input``, or a
  list of messages / Responses items) are checked; a JSON body with none of those fields has
  every string in it checked at ``input``; a ``text/*`` body is checked as one text; any
  other body is refused with 415 (a body the guard cannot read is never passed on). The app
  gets the REDACTED body (``Content-Length`` fixed). Every message in an HTTP request comes
  from the client, so ``system`` and ``developer`` messages are checked at ``input`` too
  (``roles=`` overrides);
* **response**: a JSON body has every string checked at ``output`` (except ids, types,
  names and other protocol values) and is sent redacted; a ``text/*`` body and a
  ``text/event-stream`` are guarded AS THEY STREAM with one
  :class:`~policylang.middleware.streaming.StreamGuard` (SSE: the ``data`` of each event is
  the text, or the field ``sse_field`` of its JSON, e.g. ``"delta"`` or
  ``"choices.0.delta.content"``); other content types pass as they are;
* **refusals**: a refused request never reaches the app; the client gets ``refusal_status``
  (400) with ``{"error": {"type": "policy_refusal", "message": ..., "rules": [...]}}``
  (``on_refuse="message"``), or ``on_refuse(decision)`` is sent (a Starlette ``Response`` or
  any ASGI app), or :class:`policylang.Refused` is raised (``"raise"``: for an outer handler).
  A refused JSON answer is replaced the same way. A stream refused mid-way cannot change its
  status: it ends with the refusal text (SSE: an ``event: policy_refusal`` whose data is the
  message) and the app's stream is stopped.

``context=`` is a mapping or ``callable(scope) -> mapping`` (a user's tier from a header); the
decision log (``log=``) gets one call per request, named ``asgi METHOD PATH``.
:func:`checked_body` is the same request check as a FastAPI dependency.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable, Iterable, Mapping

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware._output import apply, collect
from policylang.middleware.log import CallLog, as_log
from policylang.middleware.messages import (ContentShapeError, acheck_many, acheck_messages, role_table)
from policylang.middleware.streaming import StreamGuard
from policylang.middleware.wrap import _check_on_refuse

__all__ = ["PolicyMiddleware", "checked_body", "check_request_body"]

PROMPT_FIELDS = ("messages", "input", "prompt")
HTTP_ROLES = {"system": "input", "developer": "input"}
MAX_BODY = 8 * 1024 * 1024


class _Stop(Exception):
    """Raised into the app's ``send`` once its stream was refused: stops the app's stream."""


def _header(headers, name: bytes) -> str:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return ""


def _media(ctype: str) -> str:
    return ctype.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


# --------------------------------------------------------------------------- request bodies


async def check_request_body(guard, body: Any, ctx, cl: CallLog, table, fields=PROMPT_FIELDS):
    """Check a parsed JSON request body; returns (refusal or None, the body to pass on)."""
    if isinstance(body, Mapping) and any(body.get(f) is not None for f in fields):
        out = dict(body)
        for f in fields:
            v = body.get(f)
            if v is None:
                continue
            if isinstance(v, str):
                (d,) = await acheck_many(guard, [v], "input", ctx)
                cl.add(d, v, f)
                if d.refused:
                    return d, None
                out[f] = d.text
            elif isinstance(v, (list, tuple)):
                mc = await acheck_messages(guard, list(v), ctx, prefix=f, table=table)
                cl.extend(mc.entries())
                if mc.refusal is not None:
                    return mc.refusal, None
                out[f] = mc.messages
            else:
                raise ContentShapeError(f"{f}: expected a string or a list of messages, got {type(v).__name__}; "
                                        "the request was not passed on")
        return None, out
    # no known prompt field: every string of the body is untrusted input
    holder = {"body": copy.deepcopy(body)}
    leaves, jsons = collect(holder, "", skip=frozenset())
    decisions = await acheck_many(guard, [lf.text for lf in leaves], "input", ctx) if leaves else []
    for lf, d in zip(leaves, decisions):
        cl.add(d, lf.text, lf.label)
    refused = apply(holder, leaves, jsons, decisions)
    return refused, (None if refused is not None else holder["body"])


def checked_body(guard, *, context=None, roles: Mapping[str, Any] | None = None, history: str = "untrusted",
                 refusal_status: int = 400, log=None, log_text: bool = False, fields=PROMPT_FIELDS):
    """A FastAPI dependency: the request's JSON body, checked and redacted.

    ``async def chat(body: dict = Depends(checked_body(guard)))``. A refusal raises
    ``HTTPException(refusal_status, {"type": "policy_refusal", "message": ..., "rules": [...]})``;
    a body that is not JSON, or has content the guard cannot classify, raises 415/422.
    """
    table = role_table({**HTTP_ROLES, **(roles or {})}, history)
    dlog = as_log(log, log_text)

    async def dependency(request):  # annotated below (FastAPI reads the annotation)
        from fastapi import HTTPException

        cl = CallLog(dlog, f"fastapi {request.method} {request.url.path}")
        ctx = context(request.scope) if callable(context) else context
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            cl.finish("error", {"error": "ValueError"})
            raise HTTPException(415, "policylang: the request body is not JSON") from None
        try:
            refused, out = await check_request_body(guard, body, ctx, cl, table, fields)
        except ContentShapeError as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise HTTPException(422, f"policylang: {exc}") from None
        if refused is not None:
            cl.finish("refused")
            raise HTTPException(refusal_status, _refusal_payload(refused)["error"])
        cl.finish("allowed")
        return out

    from starlette.requests import Request

    dependency.__annotations__ = {"request": Request}
    return dependency


def _refusal_payload(d: Decision) -> dict:
    return {"error": {"type": "policy_refusal", "message": d.text,
                      "rules": list(dict.fromkeys(c.rule_id for c in d.citations if c.action == "refuse"))}}


# --------------------------------------------------------------------------- the middleware


class PolicyMiddleware:
    """Pure ASGI middleware guarding requests to and responses from an LLM endpoint."""

    def __init__(self, app, guard, *, paths: Iterable[str] = ("/",), methods: Iterable[str] = ("POST",),
                 request: bool = True, response: bool = True, on_refuse="message", refusal_status: int = 400,
                 context: Mapping | Callable[[dict], Mapping] | None = None, roles: Mapping[str, Any] | None = None,
                 history: str = "untrusted", fields: Iterable[str] = PROMPT_FIELDS, sse_field: str | None = None,
                 hold_back: int | None = None, global_rules: str = "buffer", log=None, log_text: bool = False,
                 max_body: int = MAX_BODY):
        _check_on_refuse(on_refuse)
        if global_rules not in ("buffer", "end"):
            raise ValueError('global_rules must be "buffer" or "end"')
        self.app = app
        self.guard = guard
        self.paths = tuple(paths)
        self.methods = frozenset(m.upper() for m in methods)
        self.request = request
        self.response = response
        self.on_refuse = on_refuse
        self.refusal_status = refusal_status
        self.context = context
        self.table = role_table({**HTTP_ROLES, **(roles or {})}, history)
        self.fields = tuple(fields)
        self.sse_path = tuple(int(p) if p.isdigit() else p for p in sse_field.split(".")) if sse_field else None
        self.stream_opts = dict(hold_back=hold_back, global_rules=global_rules)
        self.log = as_log(log, log_text)
        self.max_body = max_body

    def _applies(self, scope) -> bool:
        if scope.get("type") != "http" or scope.get("method", "").upper() not in self.methods:
            return False
        path = scope.get("path", "")
        return any(path == p or path.startswith(p.rstrip("/") + "/") or p == "/" for p in self.paths)

    async def __call__(self, scope, receive, send):
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        cl = CallLog(self.log, f"asgi {scope.get('method')} {scope.get('path')}")
        ctx = self.context(scope) if callable(self.context) else self.context
        body = b""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                cl.finish("incomplete")
                return
            body += msg.get("body", b"")
            if len(body) > self.max_body:
                cl.finish("error", {"error": "BodyTooLarge"})
                await _send_json(send, 413, {"error": {"type": "policy_error",
                                                       "message": f"request body over {self.max_body} bytes"}})
                return
            if not msg.get("more_body"):
                break
        headers = list(scope.get("headers") or [])
        if self.request:
            try:
                refused, body = await self._check_request(body, headers, ctx, cl)
            except ContentShapeError as exc:
                cl.finish("error", {"error": type(exc).__name__})
                await _send_json(send, 415 if "cannot check a" in str(exc) and "body" in str(exc) else 422,
                                 {"error": {"type": "policy_error", "message": str(exc)}})
                return
            if refused is not None:
                cl.finish("refused")
                await self._send_refusal(scope, receive, send, refused)
                return
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            scope = {**scope, "headers": headers}
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if not self.response:
            try:
                await self.app(scope, replay, send)
            except BaseException as exc:
                cl.finish("error", {"error": type(exc).__name__})
                raise
            cl.finish("allowed")
            return
        out = _Response(self, scope, receive, send, ctx, cl)
        try:
            await self.app(scope, replay, out.send)
        except _Stop:
            pass
        except BaseException as exc:
            out.error(exc)
            raise
        await out.end()

    async def _check_request(self, body: bytes, headers, ctx, cl: CallLog):
        media = _media(_header(headers, b"content-type"))
        if not body:
            return None, body
        if _is_json(media) or (not media and body[:1] in (b"{", b"[")):
            try:
                data = json.loads(body)
            except ValueError:
                raise ContentShapeError("a guarded endpoint cannot check a request body that is not valid JSON "
                                        "(content-type says JSON); it was not passed on") from None
            refused, new = await check_request_body(self.guard, data, ctx, cl, self.table, self.fields)
            if refused is not None:
                return refused, None
            return None, (body if new == data else json.dumps(new, ensure_ascii=False).encode())
        if media.startswith("text/"):
            text = body.decode(_charset(headers), errors="strict")
            (d,) = await acheck_many(self.guard, [text], "input", ctx)
            cl.add(d, text, "body")
            if d.refused:
                return d, None
            return None, d.text.encode(_charset(headers))
        raise ContentShapeError(f"a guarded endpoint cannot check a {media or 'untyped'} request body "
                                "(JSON or text only); it was not passed on")

    async def _send_refusal(self, scope, receive, send, d: Decision):
        if self.on_refuse == "raise":
            raise Refused(d)
        if callable(self.on_refuse):
            resp = self.on_refuse(d)
            await resp(scope, receive, send)
            return
        await _send_json(send, self.refusal_status, _refusal_payload(d))


def _charset(headers) -> str:
    ctype = _header(headers, b"content-type")
    for part in ctype.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            return v.strip('"')
    return "utf-8"


async def _send_json(send, status: int, payload) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data, "more_body": False})


class _Response:
    """The app's response, checked: buffered (JSON), streamed (text, SSE) or passed (other)."""

    def __init__(self, mw: PolicyMiddleware, scope, receive, send, ctx, cl: CallLog):
        self.mw, self.scope, self.receive, self._send, self.ctx, self.cl = mw, scope, receive, send, ctx, cl
        self.start: dict | None = None
        self.mode = None  # "json", "text", "sse", "pass"
        self.buf = b""
        self.sg: StreamGuard | None = None
        self.charset = "utf-8"
        self.decoder = None
        self.sse_pending = ""
        self.sse_after: list[str] = []
        self.started = False
        self.finished = False
        self.refused: Decision | None = None
        self.failed = False

    async def send(self, msg):
        if self.finished:
            raise _Stop()
        if msg["type"] == "http.response.start":
            self.start = msg
            headers = msg.get("headers") or []
            media = _media(_header(headers, b"content-type"))
            self.charset = _charset(headers)
            if _is_json(media):
                self.mode = "json"
            elif media == "text/event-stream":
                self.mode = "sse"
            elif media.startswith("text/"):
                self.mode = "text"
            else:
                self.mode = "pass"
            if self.mode in ("text", "sse"):
                import codecs

                self.decoder = codecs.getincrementaldecoder(self.charset)(errors="strict")
                self.sg = StreamGuard(self.mw.guard, "output", self.ctx, **self.mw.stream_opts)
            return
        if msg["type"] != "http.response.body":
            await self._send(msg)
            return
        chunk = msg.get("body", b"")
        more = msg.get("more_body", False)
        if self.mode == "pass":
            await self._start(keep_length=True)
            await self._send(msg)
            if not more:
                self.finished = True
            return
        if self.mode == "json":
            self.buf += chunk
            if not more:
                await self._json()
            return
        text = self.decoder.decode(chunk, final=not more)
        await self._stream(text, final=not more)

    async def _start(self, keep_length: bool = False, status: int | None = None, headers=None):
        if self.started:
            return
        self.started = True
        start = dict(self.start or {"type": "http.response.start", "status": 200, "headers": []})
        if headers is not None:
            start["headers"] = headers
        elif not keep_length:
            start["headers"] = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        if status is not None:
            start["status"] = status
        await self._send(start)

    # ------------------------------------------------------------------ JSON
    async def _json(self):
        mw = self.mw
        self.finished = True
        try:
            data = json.loads(self.buf) if self.buf else None
        except ValueError:
            data = None
            text = self.buf.decode(self.charset, errors="replace")
            (d,) = await acheck_many(mw.guard, [text], "output", self.ctx)
            self.cl.add(d, text, "body")
            return await self._whole(d, d.text.encode(self.charset))
        holder = {"body": copy.deepcopy(data)}
        leaves, jsons = collect(holder, "")
        decisions = await acheck_many(mw.guard, [lf.text for lf in leaves], "output", self.ctx) if leaves else []
        for lf, d in zip(leaves, decisions):
            self.cl.add(d, lf.text, lf.label)
        refused = apply(holder, leaves, jsons, decisions)
        if refused is not None:
            return await self._whole(refused, None)
        new = self.buf if holder["body"] == data else json.dumps(holder["body"], ensure_ascii=False).encode()
        return await self._whole(None, new)

    async def _whole(self, refused: Decision | None, body: bytes | None):
        if refused is not None:
            self.refused = refused
            mw = self.mw
            if mw.on_refuse == "raise":
                raise Refused(refused)
            if callable(mw.on_refuse):
                self.started = True
                await mw.on_refuse(refused)(self.scope, self.receive, self._send)
                return
            self.started = True
            await _send_json(self._send, mw.refusal_status, _refusal_payload(refused))
            return
        headers = [(k, v) for k, v in (self.start or {}).get("headers") or [] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._start(headers=headers)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    # ------------------------------------------------------------------ streams
    async def _stream(self, text: str, final: bool):
        sg = self.sg
        if self.mode == "sse":
            self.sse_pending = (self.sse_pending + text).replace("\r\n", "\n")
            events = []
            while True:
                cut = _event_end(self.sse_pending)
                if cut is None:
                    break
                events.append(self.sse_pending[:cut[0]])
                self.sse_pending = self.sse_pending[cut[1]:]
            if final and self.sse_pending.strip():
                events.append(self.sse_pending)
                self.sse_pending = ""
            out = []
            for ev in events:
                emitted, is_text = self._sse_event(ev)
                if emitted is not None:
                    if not is_text and (self.sse_after or self._holding()):
                        self.sse_after.append(emitted)  # after the held text: sent once it is decided
                    else:
                        out.append(emitted)
                if sg.stopped:
                    break
            await self._emit("".join(out))
        else:
            await self._emit(sg.feed(text) if text else "")
        if sg.stopped:
            d = await self._decide()
            sg.finish(d)
            return await self._refuse_stream(d)
        if final:
            d = await self._decide()
            tail = sg.finish(d)
            if d.refused:
                return await self._refuse_stream(d)
            if tail:
                await self._emit(self._sse_data(tail) if self.mode == "sse" else tail)
            if self.sse_after:
                await self._emit("".join(self.sse_after))
                self.sse_after.clear()
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            self.finished = True

    def _holding(self) -> bool:
        st = self.sg.stats()
        return st["released"] < st["chars"]

    def _sse_event(self, ev: str) -> tuple[str | None, bool]:
        """One SSE event: its text fed to the stream guard; (the event to send or None, carries text)."""
        lines = ev.split("\n")
        data = [(ln[6:] if ln.startswith("data: ") else ln[5:]) if ln.startswith("data:") else None for ln in lines]
        payload = "\n".join(d for d in data if d is not None)
        others = [ln for ln, d in zip(lines, data) if d is None and ln.strip()]
        if not any(d is not None for d in data):
            return ev + "\n\n", False  # comments, retry, id: no text
        path = self.mw.sse_path
        if path is not None:
            try:
                obj = json.loads(payload)
            except ValueError:
                obj = None
            if obj is not None:
                try:
                    value = _get(obj, path)
                except (KeyError, IndexError, TypeError):
                    value = None
                if isinstance(value, str):
                    released = self.sg.feed(value)
                    _set(obj, path, released)
                    return "\n".join(others + ["data: " + json.dumps(obj, ensure_ascii=False)]) + "\n\n", True
                return ev + "\n\n", False  # an event without the text field (a role or finish chunk)
        if payload.strip() == "[DONE]":
            return ev + "\n\n", False
        released = self.sg.feed(payload)
        if not released:
            return None, True
        return "\n".join(others + [f"data: {ln}" for ln in released.split("\n")]) + "\n\n", True

    def _sse_data(self, text: str) -> str:
        if self.mw.sse_path is not None:
            obj: Any = {}
            cur = obj
            for i, p in enumerate(self.mw.sse_path):
                last = i == len(self.mw.sse_path) - 1
                nxt: Any = text if last else ({} if not isinstance(self.mw.sse_path[i + 1], int) else [])
                if isinstance(cur, list):
                    cur.append(nxt)
                else:
                    cur[p] = nxt
                cur = nxt
            return "data: " + json.dumps(obj, ensure_ascii=False) + "\n\n"
        return "".join(f"data: {ln}\n" for ln in text.split("\n")) + "\n"

    async def _decide(self) -> Decision:
        sg = self.sg
        if sg.overflowed:
            return sg.window_refusal
        (d,) = await acheck_many(self.mw.guard, [sg.text()], "output", self.ctx)
        return d if (d.refused or not sg.stopped) else sg.window_refusal

    async def _emit(self, text: str):
        if not text:
            return
        await self._start()
        await self._send({"type": "http.response.body", "body": text.encode(self.charset), "more_body": True})

    async def _refuse_stream(self, d: Decision):
        self.refused = d
        self.finished = True
        mw = self.mw
        if mw.on_refuse == "raise":
            raise Refused(d)
        if not self.started and callable(mw.on_refuse):
            self.started = True
            await mw.on_refuse(d)(self.scope, self.receive, self._send)
            raise _Stop()
        if not self.started and mw.on_refuse == "message":
            self.started = True
            await _send_json(self._send, mw.refusal_status, _refusal_payload(d))
            raise _Stop()
        text = d.text
        if self.mode == "sse":
            body = "event: policy_refusal\n" + "".join(f"data: {ln}\n" for ln in text.split("\n")) + "\n"
        else:
            body = text
        await self._start()
        await self._send({"type": "http.response.body", "body": body.encode(self.charset), "more_body": False})
        raise _Stop()

    # ------------------------------------------------------------------ ending
    def error(self, exc: BaseException) -> None:
        self.failed = True
        self._log("error", exc)

    async def end(self):
        if self.failed:
            return
        if not self.finished and self.start is not None and self.mode in ("text", "sse"):
            # the app ended without a final body message: decide and release now
            try:
                await self._stream("", final=True)
            except _Stop:
                pass
        self._log("refused" if self.refused is not None else ("allowed" if self.finished else "incomplete"))

    def _log(self, outcome: str, exc: BaseException | None = None):
        if self.sg is not None:
            self.sg.close_scanner()
            if self.sg.decision is not None:
                self.cl.add(self.sg.decision, self.sg.text(), "body", {"stream": self.sg.stats()})
            else:
                self.cl.add_bare("output", self.mw.guard.policy_hash, "body", {"stream": self.sg.stats()})
        self.cl.finish(outcome, {"error": type(exc).__name__} if exc is not None else None)


def _event_end(s: str):
    """(end of the first complete SSE event, start of the next) or None."""
    best = None
    for sep in ("\r\n\r\n", "\n\n", "\r\r"):
        i = s.find(sep)
        if i != -1 and (best is None or i < best[0]):
            best = (i, i + len(sep))
    return best


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def _set(obj, path, value):
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value
