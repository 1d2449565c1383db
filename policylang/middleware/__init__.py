"""Middleware: guard any model call with a policy.

* :func:`wrap` / ``guard.wrap(fn)``: sync and async functions, (async) generator
  functions, prompt strings and chat-message lists;
* :func:`stream` / :func:`astream` (``guard.stream(chunks)``): a stream of text chunks,
  guarded as it flows (Hyperscan stream mode, bounded hold-back; see
  :mod:`policylang.middleware.streaming`);
* :func:`guard_openai` / ``guard.openai(client)``: an ``openai.OpenAI`` /
  ``openai.AsyncOpenAI`` client whose ``chat.completions.create`` and ``responses.create``
  are guarded;
* adapters, each in its own module and extra, none imported here:
  :mod:`~policylang.middleware.anthropic` (``guard.anthropic(client)``),
  :mod:`~policylang.middleware.langchain` (``guard.as_runnable(chain)``),
  :mod:`~policylang.middleware.asgi` (FastAPI/Starlette ``PolicyMiddleware``),
  :mod:`~policylang.middleware.litellm` (``PolicyGuardrail``);
* :class:`DecisionLog`: the JSONL decision log every entry point accepts as ``log=``;
* :class:`ContentShapeError`: raised (a :class:`policylang.PolicyError`) when a guarded call is
  given content the guard cannot classify; nothing is sent.

docs/middleware.md is the guide.
"""

from __future__ import annotations

from typing import Any, AsyncIterable, Iterable, Mapping

from policylang.middleware.log import DecisionLog
from policylang.middleware.messages import ContentShapeError
from policylang.middleware.streaming import AsyncGuardedStream, GuardedStream, StreamGuard, stream_profile
from policylang.middleware.wrap import wrap

__all__ = [
    "AsyncGuardedStream",
    "ContentShapeError",
    "DecisionLog",
    "GuardedStream",
    "StreamGuard",
    "astream",
    "guard_openai",
    "stream",
    "stream_profile",
    "wrap",
]


def stream(guard, chunks: Iterable[str], *, stage: str = "output", context: Mapping | None = None,
           on_refuse="message", hold_back: int | None = None, global_rules: str = "buffer",
           log: Any = None, log_text: bool = False) -> GuardedStream:
    """Guard a sync iterable of str chunks; returns an iterator of released chunks."""
    from policylang.middleware.log import as_log

    return GuardedStream(guard, chunks, stage=stage, context=context, on_refuse=on_refuse, hold_back=hold_back,
                         global_rules=global_rules, log=as_log(log, log_text))


def astream(guard, chunks: AsyncIterable[str] | Iterable[str], *, stage: str = "output",
            context: Mapping | None = None, on_refuse="message", hold_back: int | None = None,
            global_rules: str = "buffer", log: Any = None, log_text: bool = False) -> AsyncGuardedStream:
    """Guard an async (or sync) iterable of str chunks; returns an async iterator."""
    from policylang.middleware.log import as_log

    return AsyncGuardedStream(guard, chunks, stage=stage, context=context, on_refuse=on_refuse,
                              hold_back=hold_back, global_rules=global_rules, log=as_log(log, log_text))


def guard_openai(guard, client, **options):
    """A guarded view of an OpenAI(-compatible) client; see :mod:`policylang.middleware.openai`."""
    from policylang.middleware.openai import guard_openai as _g

    return _g(guard, client, **options)
