"""``guard.wrap(fn)``: guard any model call.

The wrapped function takes the prompt as its first argument (``prompt_arg=`` picks another
position or keyword): a ``str`` or a list of chat messages (see
:mod:`policylang.middleware.messages` for which role is checked at which stage). Every
``messages=``/``prompt=``/``input=`` keyword, and every other argument that is a list of chat
messages, is checked too (``call("gpt-4o", messages=[...])`` checks both). Content the guard
cannot classify raises :class:`policylang.middleware.ContentShapeError` (a
:class:`policylang.PolicyError`) and ``fn`` is not called. The wrapper

1. checks the input; on refusal it returns the refusal message (``on_refuse="message"``),
   raises :class:`policylang.Refused` (``"raise"``) or returns ``on_refuse(decision)``
   (a callable), and ``fn`` is NOT called;
2. calls ``fn`` with the REDACTED input (a new list for messages; the caller's is not
   modified);
3. checks what ``fn`` returned at stage ``output``: a ``str`` (returned redacted, or the
   refusal), a message dict with a ``"content"`` str (a copy is returned), a (async)
   generator / iterator of ``str`` chunks (returned as a guarded stream), or ``None``
   (passed on). Anything else raises ``TypeError``: an unchecked value is never passed on.

Sync functions, coroutine functions (``await guard.acheck(...)``: models run in an executor,
never on the event loop) and (async) generator functions are detected.

Request context for rules (``context.role == "clinician"``): ``wrap(fn, context={...})``
(a mapping, or a callable returning one, evaluated per call), and per call the keyword
``policy_context={...}``, which is popped before ``fn`` is called and overrides the
wrap-level context key by key.

Reversible redaction: ``wrap(fn, vault=Vault())`` (:mod:`policylang.middleware.vault`) sends
every span the input policy redacts (in a ``str`` prompt or a chat message) as a vault placeholder
(``[email_1]``) instead of the rule's replacement, and restores the placeholders in the
answer (str, message dict, streams) after the output policy checked it.

If ``fn`` raises, the exception propagates unchanged and the decision log records the
call's input decisions with ``"outcome": "error"`` (never ``"allowed"``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

from policylang.decision import Decision
from policylang.errors import Refused
from policylang.middleware.log import CallLog, as_log
from policylang.middleware.messages import ContentShapeError, acheck_messages, check_messages, is_messages, role_table
from policylang.middleware.streaming import AsyncGuardedStream, GuardedStream
from policylang.middleware.vault import AsyncVaultStream, Vault, VaultStream
from policylang.runtime.redact import apply

__all__ = ["wrap"]

_PROMPT_KEYWORDS = ("messages", "prompt", "input")


def _check_on_refuse(on_refuse) -> None:
    if on_refuse not in ("message", "raise") and not callable(on_refuse):
        raise ValueError('on_refuse must be "message", "raise" or a callable(decision)')


def refusal_value(decision: Decision, on_refuse):
    if on_refuse == "raise":
        raise Refused(decision)
    if callable(on_refuse):
        return on_refuse(decision)
    return decision.text


def merge_context(static, per_call) -> Mapping | None:
    base = static() if callable(static) else static
    if per_call is None:
        return base
    if not isinstance(per_call, Mapping):
        raise TypeError(f"policy_context= must be a mapping, got {type(per_call).__name__}")
    if base is None:
        return per_call
    return {**base, **per_call}


def _targets(args: tuple, kwargs: dict, prompt_arg) -> list[tuple[tuple[str, Any], Any, bool]]:
    """Every argument that carries prompt text: ``(location, value, designated)``.

    The designated prompt (position ``prompt_arg``, or that keyword), every keyword in
    ``messages``/``prompt``/``input``, and any other argument that is a list of chat
    messages. ``call("gpt-4o", messages=[...])`` checks both.
    """
    out: list[tuple[tuple[str, Any], Any, bool]] = []
    seen: set = set()
    if isinstance(prompt_arg, int):
        if len(args) > prompt_arg:
            out.append((("arg", prompt_arg), args[prompt_arg], True))
            seen.add(("arg", prompt_arg))
    elif prompt_arg in kwargs:
        out.append((("kw", prompt_arg), kwargs[prompt_arg], True))
        seen.add(("kw", prompt_arg))
    for k in _PROMPT_KEYWORDS:
        if k in kwargs and ("kw", k) not in seen and kwargs[k] is not None:
            out.append((("kw", k), kwargs[k], True))
            seen.add(("kw", k))
    for i, v in enumerate(args):
        if ("arg", i) not in seen and is_messages(v):
            out.append((("arg", i), v, False))
    for k, v in kwargs.items():
        if ("kw", k) not in seen and is_messages(v):
            out.append((("kw", k), v, False))
    if not out:
        raise ContentShapeError(
            "a guarded model call needs the prompt (a str or a list of chat messages) as its first "
            "argument or as messages=/prompt=/input="
        )
    return out


def _prefix(loc, prompt_arg) -> str:
    kind, key = loc
    if kind == "arg":
        return "messages" if key == prompt_arg else f"args[{key}]"
    return key


def _text_label(loc, prompt_arg) -> str:
    kind, key = loc
    if (kind == "arg" and key == prompt_arg) or key in ("prompt", "input", prompt_arg):
        return "input"
    return key if kind == "kw" else f"args[{key}]"


def _replace(args: tuple, kwargs: dict, loc, value) -> tuple[tuple, dict]:
    kind, key = loc
    if kind == "arg":
        args = args[:key] + (value,) + args[key + 1:]
    else:
        kwargs = {**kwargs, key: value}
    return args, kwargs


def _kind(value) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "messages"
    raise ContentShapeError(
        f"a guarded model call needs a str prompt or a list of chat messages, got {type(value).__name__}; "
        "the call was not sent"
    )


def _vault_text(vault, value: str, d: Decision) -> str:
    """``value`` with the vault's placeholders where ``d`` redacted it; ``d.text`` when ``d``'s
    text is not exactly its redactions applied to ``value`` (nothing redacted, shadow rules)."""

    if not d.redactions or d.refused or apply(value, d.redactions) != d.text:
        return d.text
    return vault.redact(value, d.redactions)


def _vault_messages(vault, mc) -> None:
    """Vault placeholders into the redacted message copies, for each text checked once.

    A text checked in chained rounds (a tool result, then its context stage) keeps the rules'
    replacements: still redacted, only not restorable.
    """
    if mc.refusal is not None:
        return
    by_label: dict[str, list] = {}
    for d, checked, label in mc.checks:
        by_label.setdefault(label, []).append((d, checked))
    for it in mc.items:
        found = by_label.get(it.label)
        if not found or len(found) != 1:
            continue
        d, checked = found[0]
        if checked != it.text:
            continue
        new = _vault_text(vault, it.text, d)
        if new != d.text:
            node = mc.messages
            for p in it.path[:-1]:
                node = node[p]
            if node[it.path[-1]] == d.text:
                node[it.path[-1]] = new


def wrap(guard, fn: Callable | None = None, *, on_refuse="message", log=None, log_text: bool = False,
         context: Mapping | Callable[[], Mapping] | None = None, roles: Mapping[str, Any] | None = None,
         history: str = "untrusted", hold_back: int | None = None, global_rules: str = "buffer",
         prompt_arg: int | str = 0, vault=None):
    """Guard ``fn`` (see the module docstring); usable as ``@guard.wrap`` or ``@guard.wrap(...)``."""
    _check_on_refuse(on_refuse)
    if global_rules not in ("buffer", "end"):
        raise ValueError('global_rules must be "buffer" or "end"')
    if fn is None:
        return functools.partial(wrap, guard, on_refuse=on_refuse, log=log, log_text=log_text, context=context,
                                 roles=roles, history=history, hold_back=hold_back, global_rules=global_rules,
                                 prompt_arg=prompt_arg, vault=vault)
    table = role_table(roles, history)
    if vault is not None:
        if not isinstance(vault, Vault):
            raise TypeError(f"vault= must be a policylang.Vault, got {type(vault).__name__}")
    if not callable(fn):
        raise TypeError(f"guard.wrap() needs a callable, got {type(fn).__name__}")
    dlog = as_log(log, log_text)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    stream_opts = dict(on_refuse=on_refuse, hold_back=hold_back, global_rules=global_rules)

    def restored(text: str) -> str:
        return vault.restore(text) if vault is not None else text

    def input_text(value: str, d: Decision) -> str:
        """What to send on for a str prompt: the vault's placeholders in place of the redactions."""
        return _vault_text(vault, value, d) if vault is not None else d.text

    def input_messages(mc):
        if vault is not None:
            _vault_messages(vault, mc)
        return mc.messages

    def vaulted(stream):
        if vault is None:
            return stream

        return AsyncVaultStream(stream, vault) if hasattr(stream, "__aiter__") else VaultStream(stream, vault)

    def output_sync(result, ctx, cl: CallLog):
        if isinstance(result, str):
            d = guard.check(result, "output", ctx)
            cl.add(d, result, "output")
            if d.refused:
                cl.finish("refused")
                return refusal_value(d, on_refuse)
            cl.finish("allowed")
            return restored(d.text)
        return output_other(result, ctx, cl, guard.check)

    async def output_async(result, ctx, cl: CallLog):
        if isinstance(result, str):
            d = await guard.acheck(result, "output", ctx)
            cl.add(d, result, "output")
            if d.refused:
                cl.finish("refused")
                return refusal_value(d, on_refuse)
            cl.finish("allowed")
            return restored(d.text)
        if isinstance(result, Mapping) and isinstance(result.get("content"), str):
            d = await guard.acheck(result["content"], "output", ctx)
            return message_result(result, d, cl)
        return output_other(result, ctx, cl, guard.check)

    def message_result(result, d: Decision, cl: CallLog):
        cl.add(d, result["content"], "output.content")
        out = dict(result)
        if d.refused:
            cl.finish("refused")
            value = refusal_value(d, on_refuse)
            if not isinstance(value, str):
                return value
            out["content"] = value
            return out
        cl.finish("allowed")
        out["content"] = restored(d.text)
        return out

    def output_other(result, ctx, cl: CallLog, check):
        if result is None:
            cl.finish("allowed")
            return None
        if isinstance(result, Mapping) and isinstance(result.get("content"), str):
            return message_result(result, check(result["content"], "output", ctx), cl)
        if hasattr(result, "__aiter__"):
            return vaulted(AsyncGuardedStream(guard, result, context=ctx, calllog=cl, call=name, **stream_opts))
        if hasattr(result, "__next__") and not isinstance(result, (str, bytes, bytearray, Mapping)):
            return vaulted(GuardedStream(guard, result, context=ctx, calllog=cl, call=name, **stream_opts))
        cl.finish("error", {"error": "TypeError"})
        raise TypeError(
            f"guard.wrap: {name} returned {type(result).__name__}; a guarded model call must return a str, "
            "a message dict with a str 'content', None, or an (async) iterator of str chunks"
        )

    def check_input_sync(args, kwargs, ctx, cl: CallLog):
        try:
            for loc, value, _ in _targets(args, kwargs, prompt_arg):
                if _kind(value) == "text":
                    d = guard.check(value, "input", ctx)
                    cl.add(d, value, _text_label(loc, prompt_arg))
                    if d.refused:
                        return d, args, kwargs
                    new = input_text(value, d)
                else:
                    mc = check_messages(guard, value, ctx, prefix=_prefix(loc, prompt_arg), table=table)
                    cl.extend(mc.entries())
                    if mc.refusal is not None:
                        return mc.refusal, args, kwargs
                    new = input_messages(mc)
                args, kwargs = _replace(args, kwargs, loc, new)
        except ContentShapeError as exc:
            cl.add_bare("input", guard.policy_hash, None, {"detail": str(exc)})
            cl.finish("error", {"error": type(exc).__name__})
            raise
        return None, args, kwargs

    async def check_input_async(args, kwargs, ctx, cl: CallLog):
        try:
            for loc, value, _ in _targets(args, kwargs, prompt_arg):
                if _kind(value) == "text":
                    d = await guard.acheck(value, "input", ctx)
                    cl.add(d, value, _text_label(loc, prompt_arg))
                    if d.refused:
                        return d, args, kwargs
                    new = input_text(value, d)
                else:
                    mc = await acheck_messages(guard, value, ctx, prefix=_prefix(loc, prompt_arg), table=table)
                    cl.extend(mc.entries())
                    if mc.refusal is not None:
                        return mc.refusal, args, kwargs
                    new = input_messages(mc)
                args, kwargs = _replace(args, kwargs, loc, new)
        except ContentShapeError as exc:
            cl.add_bare("input", guard.policy_hash, None, {"detail": str(exc)})
            cl.finish("error", {"error": type(exc).__name__})
            raise
        return None, args, kwargs

    def call_fn(args, kwargs, cl: CallLog):
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            cl.finish("error", {"error": type(exc).__name__})
            raise

    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        def agen_wrapper(*args, **kwargs):
            ctx = merge_context(context, kwargs.pop("policy_context", None))
            cl = CallLog(dlog, name)

            async def input_check():
                refused, a, kw = await check_input_async(args, kwargs, ctx, cl)
                if refused is not None:
                    return refused, None
                return None, call_fn(a, kw, cl)

            return vaulted(AsyncGuardedStream(guard, None, input_check=input_check, context=ctx, calllog=cl,
                                              call=name, **stream_opts))

        return agen_wrapper

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            ctx = merge_context(context, kwargs.pop("policy_context", None))
            cl = CallLog(dlog, name)
            refused, args, kwargs = await check_input_async(args, kwargs, ctx, cl)
            if refused is not None:
                cl.finish("refused")
                return refusal_value(refused, on_refuse)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                cl.finish("error", {"error": type(exc).__name__})
                raise
            return await output_async(result, ctx, cl)

        return async_wrapper

    is_gen = inspect.isgeneratorfunction(fn)

    @functools.wraps(fn)
    def sync_wrapper(*args, **kwargs):
        ctx = merge_context(context, kwargs.pop("policy_context", None))
        cl = CallLog(dlog, name)
        refused, args, kwargs = check_input_sync(args, kwargs, ctx, cl)
        if refused is not None:
            if is_gen and on_refuse == "message":
                gs = GuardedStream(guard, (), context=ctx, calllog=cl, call=name, **stream_opts)
                gs._refused_early = refused
                return gs
            cl.finish("refused")
            return refusal_value(refused, on_refuse)
        result = call_fn(args, kwargs, cl)
        return output_sync(result, ctx, cl)

    return sync_wrapper
