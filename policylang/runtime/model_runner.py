"""Runs the plan's models: one shared session per model, batched, with timeouts and on_error.

A classifier yields ``{label: score, None: score-of-default-label}`` per text, a topic
yields ``(best cosine, closest example)``. A model that fails or times out yields
``ModelFailed`` for every text of the batch; the evaluator applies the classifier's
``on_error`` (refuse by default), so a broken model never silently allows.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Sequence

import numpy as np

from policylang.compile.conditions import ModelFailed
from policylang.compile.plan import ModelEntry, Plan


class ModelRunner:
    """Scores texts with the plan's models.

    Single-text calls (``Guard.check``) go through a per-model ``MicroBatcher`` so that
    concurrent callers (threads, or ``acheck`` from many tasks) share one model run;
    ``batch_wait_ms=0`` turns that off. ``check_many`` batches directly.
    """

    def __init__(self, plan: Plan, registry=None, *, eager: bool = True, batch_wait_ms: float = 1.0,
                 max_batch: int = 32):
        from policylang.runtime import models as _models

        self._m = _models
        self.plan = plan
        self.registry = registry or _models.ModelRegistry()
        self.batch_wait_ms = batch_wait_ms
        self.max_batch = max_batch
        self._loaded: dict[int, object] = {}
        self._batchers: dict[int, object] = {}
        self._lock = threading.Lock()
        if eager:
            for entry in plan.models:
                self._load(entry)

    # ------------------------------------------------------------------ loading
    def _load(self, entry: ModelEntry):
        with self._lock:
            if entry.index in self._loaded:
                return self._loaded[entry.index]
            from policylang.loader import model_spec

            try:
                spec = model_spec(entry.node, entry.path)
                if entry.is_topic:
                    model = self.registry.embedder(spec)
                    examples = np.asarray(model.embed_cached(list(entry.examples)), dtype=np.float32)
                    loaded = ("topic", model, examples)
                else:
                    model = self.registry.classifier(spec)
                    labels = tuple(model.labels)
                    default = entry.node.options.label.value if entry.node.options.label else labels[-1]
                    loaded = ("classifier", model, (labels, default))
            except Exception as err:  # a model that cannot load fails every call, by on_error
                loaded = ("error", f"{type(err).__name__}: {err}", None)
            self._loaded[entry.index] = loaded
            return loaded

    def info(self, index: int) -> dict[str, str] | None:
        loaded = self._loaded.get(index)
        if not loaded or loaded[0] == "error":
            return None
        model = loaded[1]
        return {"digest": str(getattr(model, "digest", "")), "provider": str(getattr(model, "provider", ""))}

    def labels(self, index: int) -> tuple[str, ...]:
        loaded = self._load(self.plan.models[index])
        return loaded[2][0] if loaded[0] == "classifier" else ()

    # ------------------------------------------------------------------ scoring
    def _run(self, index: int, entry: ModelEntry, model, texts: list[str]):
        """The model's raw output rows for ``texts``, within the entry's timeout."""
        fn = model.embed if hasattr(model, "embed") else model.predict
        if len(texts) == 1 and self.batch_wait_ms > 0:
            batcher = self._batchers.get(index)
            if batcher is None:
                with self._lock:
                    batcher = self._batchers.get(index)
                    if batcher is None:
                        batcher = self._m.MicroBatcher(model, max_batch=self.max_batch,
                                                       max_wait_ms=self.batch_wait_ms, name=entry.qname)
                        self._batchers[index] = batcher
            fut = batcher.submit(texts[0])
            timeout = entry.timeout_ms / 1000 if entry.timeout_ms else None
            try:
                return np.asarray([fut.result(timeout=timeout)])
            except concurrent.futures.TimeoutError:
                fut.cancel()
                raise self._m.ModelTimeout(f"timed out after {entry.timeout_ms:g} ms") from None
        return self._m.call_with_timeout(fn, entry.timeout_ms, texts)

    def close(self) -> None:
        for b in self._batchers.values():
            b.close()
        self._batchers.clear()

    def score(self, index: int, texts: Sequence[str]) -> list:
        entry = self.plan.models[index]
        kind, model, extra = self._load(entry)
        if kind == "error":
            return [ModelFailed(index, f"model could not be loaded: {model}")] * len(texts)
        try:
            if kind == "topic":
                emb = self._run(index, entry, model, list(texts))
                sims = np.asarray(emb, dtype=np.float32) @ extra.T
                best = sims.argmax(axis=1)
                return [(float(sims[i, b]), entry.examples[b]) for i, b in enumerate(best)]
            probs = self._run(index, entry, model, list(texts))
            labels, default = extra
            di = labels.index(default) if default in labels else len(labels) - 1
            out = []
            for row in np.asarray(probs, dtype=np.float64):
                d = {label: float(row[j]) for j, label in enumerate(labels)}
                d[None] = float(row[di])
                out.append((d, None))
            return out
        except self._m.ModelTimeout:
            return [ModelFailed(index, f"timed out after {entry.timeout_ms:g} ms")] * len(texts)
        except Exception as err:
            return [ModelFailed(index, f"{type(err).__name__}: {err}")] * len(texts)
