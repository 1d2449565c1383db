"""Micro-batching of concurrent single-text calls, and deadlines for model calls.

Both are model-agnostic: a `MicroBatcher` wraps any ``fn(list[str]) -> array``
(``TextClassifier.predict``, ``TextEmbedder.embed``, or a plain function).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .model_spec import ModelTimeout

__all__ = ["BatcherStats", "MicroBatcher", "acall_with_timeout", "call_with_timeout"]


@dataclass
class BatcherStats:
    """Counters of one `MicroBatcher` (read them without a lock; they only grow)."""

    submitted: int = 0  # texts submitted
    runs: int = 0  # calls of the wrapped function
    largest_batch: int = 0
    errors: int = 0  # runs that raised (every future of that batch gets the exception)


def _batch_fn(model: Any) -> Callable[[Sequence[str]], Any]:
    for attr in ("predict", "embed"):
        fn = getattr(model, attr, None)
        if callable(fn):
            return fn
    if callable(model):
        return model
    raise TypeError(f"MicroBatcher needs a callable or an object with predict/embed, got {type(model).__name__}")


class MicroBatcher:
    """Groups concurrent single-text calls into one model run.

    ``submit(text)`` returns a `concurrent.futures.Future` of that text's row of
    ``fn([...texts])``. A background thread takes the first pending text, waits up
    to ``max_wait_ms`` for more (or until ``max_batch`` are pending), then runs
    ``fn`` once on the group. Texts that arrive while a run is in progress form the
    next group, so under load batches fill up without waiting.

    ``model`` is a `TextClassifier` (its ``predict`` is used), a `TextEmbedder`
    (``embed``), or any ``fn(list[str]) -> array-like`` indexable by row.
    """

    def __init__(self, model: Any, max_batch: int = 32, max_wait_ms: float = 2.0, name: str | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be >= 0")
        self._fn = _batch_fn(model)
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.name = name or getattr(model, "name", None) or "model"
        self.stats = BatcherStats()
        self._pending: list[tuple[str, concurrent.futures.Future]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- public ---------------------------------------------------------------
    def submit(self, text: str) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"MicroBatcher for `{self.name}` is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"policylang-batcher-{self.name}", daemon=True
                )
                self._thread.start()
            self._pending.append((text, fut))
            self.stats.submitted += 1
            self._cond.notify()
        return fut

    async def asubmit(self, text: str) -> Any:
        """Await one text's row without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(text))

    def close(self, wait: bool = True) -> None:
        """Stop accepting texts; pending ones are still run."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> MicroBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- worker ---------------------------------------------------------------
    def _take_batch(self) -> list[tuple[str, concurrent.futures.Future]] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None  # closed and drained
            deadline = time.monotonic() + self.max_wait_ms / 1000.0
            while len(self._pending) < self.max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
        # Drop futures cancelled while they waited.
        return [(t, f) for t, f in batch if f.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if not batch:
                continue
            self.stats.runs += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            try:
                out = self._fn([text for text, _ in batch])
                rows = [out[i] for i in range(len(batch))]
            except BaseException as exc:  # noqa: BLE001 - handed to every caller
                self.stats.errors += 1
                for _, fut in batch:
                    fut.set_exception(exc)
                continue
            for (_, fut), row in zip(batch, rows):
                fut.set_result(row)


def _start(fn: Callable[..., Any], args: tuple, name: str) -> concurrent.futures.Future:
    fut: concurrent.futures.Future = concurrent.futures.Future()
    ctx = contextvars.copy_context()

    def runner() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            result = ctx.run(fn, *args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    threading.Thread(target=runner, name=f"policylang-call-{name}", daemon=True).start()
    return fut


def _timeout_error(name: str | None, timeout_ms: float) -> ModelTimeout:
    return ModelTimeout(f"no result within {timeout_ms:g} ms (the late result is discarded)", name)


def call_with_timeout(fn: Callable[..., Any], timeout_ms: float | None, *args: Any, name: str | None = None) -> Any:
    """Run ``fn(*args)`` and return its result, or raise `ModelTimeout` after ``timeout_ms``.

    With a deadline, ``fn`` runs in a fresh daemon thread (context variables copied);
    a call that overruns keeps running in the background (ONNX Runtime cannot be
    interrupted) and its result is discarded. ``None`` means no deadline: ``fn`` runs
    in the calling thread. Exceptions from ``fn`` propagate unchanged. ``name``
    (e.g. the model path) goes into the timeout message.
    """
    if timeout_ms is None:
        return fn(*args)
    if timeout_ms <= 0:
        raise ValueError("timeout_ms must be > 0 or None")
    fut = _start(fn, args, name or getattr(fn, "__name__", "fn"))
    done, _ = concurrent.futures.wait([fut], timeout=timeout_ms / 1000.0)
    if not done:
        fut.cancel()
        raise _timeout_error(name, timeout_ms)
    return fut.result()


async def acall_with_timeout(
    fn: Callable[..., Any], timeout_ms: float | None, *args: Any, name: str | None = None
) -> Any:
    """Async twin of `call_with_timeout`: ``fn`` runs in a thread, the loop is never blocked."""
    if timeout_ms is not None and timeout_ms <= 0:
        raise ValueError("timeout_ms must be > 0 or None")
    fut = asyncio.wrap_future(_start(fn, args, name or getattr(fn, "__name__", "fn")))
    if timeout_ms is None:
        return await fut
    try:
        return await asyncio.wait_for(fut, timeout_ms / 1000.0)
    except asyncio.TimeoutError:
        if fut.done() and not fut.cancelled():
            return fut.result()
        raise _timeout_error(name, timeout_ms) from None
