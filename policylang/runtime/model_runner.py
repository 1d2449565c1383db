"""Runs the plan's models: one shared session per model, batched, with timeouts and on_error.

A classifier yields ``{label: score, None: score-of-default-label}`` per text, a topic
yields ``(best cosine, closest example)``. A model that fails or times out yields
``ModelFailed`` for every text of the batch; the evaluator applies the classifier's
``on_error`` (refuse by default), so a broken model never silently allows.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from policylang.compile.conditions import ModelFailed
from policylang.compile.plan import ModelEntry, Plan


class ModelRunner:
    def __init__(self, plan: Plan, registry=None, *, eager: bool = True):
        from policylang.runtime import models as _models

        self._m = _models
        self.plan = plan
        self.registry = registry or _models.ModelRegistry()
        self._loaded: dict[int, object] = {}
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
                    examples = np.asarray(model.embed(list(entry.examples)), dtype=np.float32)
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
    def score(self, index: int, texts: Sequence[str]) -> list:
        entry = self.plan.models[index]
        kind, model, extra = self._load(entry)
        if kind == "error":
            return [ModelFailed(index, f"model could not be loaded: {model}")] * len(texts)
        try:
            if kind == "topic":
                emb = self._m.call_with_timeout(model.embed, entry.timeout_ms, list(texts))
                sims = np.asarray(emb, dtype=np.float32) @ extra.T
                best = sims.argmax(axis=1)
                return [(float(sims[i, b]), entry.examples[b]) for i, b in enumerate(best)]
            probs = self._m.call_with_timeout(model.predict, entry.timeout_ms, list(texts))
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
