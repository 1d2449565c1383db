"""Runs the plan's models: one shared session per model, batched, with timeouts and on_error.

A classifier (or a head) yields ``{label: score, None: score-of-default-label}`` per text,
a topic yields ``(best cosine, closest example)``. A model that fails, times out, or
outputs NaN, infinity, a wrong shape or a score outside [0, 1] yields ``ModelFailed``
for the texts concerned; the evaluator applies the model's ``on_error`` (refuse by
default), so a broken model never silently allows.

Shared embeddings: `score_many` takes every model a batch of texts needs at once. Heads
and topics that read the same embedder (a declared ``embedder``, or topics whose
embedder specs are equal: the registry hands them the same loaded model) get the
embedding of each text from ONE embedder run over the union of their texts. The run
covers every window of a long text: a head scores each window's embedding and takes
the max per label over the windows; a topic compares the windows' normalised mean.
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

    Single-text calls (``Guard.check``) go through a per-model ``MicroBatcher`` (for a
    shared embedder: one per embedder) so that concurrent callers (threads, or
    ``acheck`` from many tasks) share one model run; ``batch_wait_ms=0`` turns that off.
    ``check_many`` batches directly.
    """

    def __init__(self, plan: Plan, registry=None, *, eager: bool = True, batch_wait_ms: float = 1.0,
                 max_batch: int = 32):
        from policylang.runtime import models as _models

        self._m = _models
        self.plan = plan
        self.registry = registry or _models.ModelRegistry()
        self.batch_wait_ms = batch_wait_ms
        self.max_batch = max_batch
        self._loaded: dict[int, tuple] = {}
        self._batchers: dict[object, object] = {}
        self._lock = threading.RLock()  # re-entrant: a head's load loads its embedder
        if eager:
            for entry in plan.models:
                self._load(entry)

    # ------------------------------------------------------------------ loading
    def _load(self, entry: ModelEntry):
        with self._lock:
            if entry.index in self._loaded:
                return self._loaded[entry.index]
            try:
                loaded = self._load_entry(entry, self._m.model_spec)
            except Exception as err:  # a model that cannot load fails every call, by on_error
                loaded = ("error", f"{type(err).__name__}: {err}", None)
            self._loaded[entry.index] = loaded
            return loaded

    def _embedder_of(self, entry: ModelEntry):
        emb_entry = self.plan.models[entry.embedder]
        kind, model, _ = self._load(emb_entry)
        if kind == "error":
            raise self._m.ModelError(f"its embedder `{emb_entry.qname}` could not be loaded: {model}")
        return model

    def _load_entry(self, entry: ModelEntry, model_spec):
        if entry.is_embedder:
            return ("embedder", self.registry.embedder(model_spec(entry.node, entry.path)), None)
        if entry.is_topic:
            if entry.embedder is not None:
                model = self._embedder_of(entry)
            else:
                model = self.registry.embedder(model_spec(entry.node, entry.path))
            examples = np.asarray(model.embed_cached(list(entry.examples)), dtype=np.float32)
            if not np.isfinite(examples).all():
                raise self._m.ModelError("the embeddings of the topic's examples are not finite", model.name)
            return ("topic", model, examples)
        if entry.is_ner:
            return self._load_ner(entry, model_spec)
        model = self.registry.classifier(model_spec(entry.node, entry.path))
        labels = tuple(model.labels)
        default = entry.node.options.label.value if entry.node.options.label else labels[-1]
        if entry.is_head:
            emb = self._embedder_of(entry)
            if model.input_mode != "embedding":
                raise self._m.ModelError(
                    "a head's model.onnx takes one float [batch, dim] embedding input; this one takes "
                    f"{', '.join(model.inputs)} (declare a text model with `onnx \"DIR\"`)", model.name)
            if model.embedding_dim != emb.dim:
                raise self._m.ModelError(
                    f"the head takes {model.embedding_dim}-wide embeddings but its embedder produces "
                    f"{emb.dim}-wide ones", model.name)
            return ("head", model, (labels, default, emb))
        if model.input_mode == "embedding":
            raise self._m.ModelError("this model reads sentence embeddings: declare it "
                                     "`classifier NAME = head \"DIR\" on EMBEDDER`", model.name)
        return ("classifier", model, (labels, default))

    def _load_ner(self, entry: ModelEntry, model_spec):
        """A token classifier, its entities (declared groups, then the model's own types) and threshold."""
        from policylang.runtime.ner import entity_problems

        model = self.registry.token_classifier(model_spec(entry.node, entry.path))
        groups = dict(entry.entities)
        problems = entity_problems(model.types, groups)
        if problems:
            raise self._m.ModelError("; ".join(problems), model.name)
        names = tuple(groups) + tuple(t for t in model.types if t not in groups)
        groups.update({t: (t,) for t in model.types if t not in groups})
        threshold = entry.node.options.threshold
        return ("ner", model, (names, groups, 0.5 if threshold is None else threshold, dict(entry.entity_min_parts),
                               dict(entry.entity_joins)))

    def info(self, index: int) -> dict[str, str] | None:
        loaded = self._loaded.get(index)
        if not loaded or loaded[0] == "error":
            return None
        model = loaded[1]
        info = {"digest": str(getattr(model, "digest", "")), "provider": str(getattr(model, "provider", ""))}
        info.update(self._m.model_provenance(info["digest"], getattr(model, "config", None)))
        if loaded[0] == "head":
            info["embedder"] = str(loaded[2][2].name)
        return info

    def labels(self, index: int) -> tuple[str, ...]:
        loaded = self._load(self.plan.models[index])
        return loaded[2][0] if loaded[0] in ("classifier", "head", "ner") else ()

    # ------------------------------------------------------------------ running
    def _batched(self, key, fn, name: str, text: str, timeout_ms: float | None):
        """One text's row of ``fn([...])`` through the MicroBatcher of ``key``."""
        batcher = self._batchers.get(key)
        if batcher is None:
            with self._lock:
                batcher = self._batchers.get(key)
                if batcher is None:
                    batcher = self._m.MicroBatcher(fn, max_batch=self.max_batch, max_wait_ms=self.batch_wait_ms,
                                                   name=name)
                    self._batchers[key] = batcher
        fut = batcher.submit(text)
        try:
            return fut.result(timeout=timeout_ms / 1000 if timeout_ms else None)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise self._m.ModelTimeout(f"timed out after {timeout_ms:g} ms") from None

    def _rows(self, key, fn, name: str, texts: list[str], timeout_ms: float | None) -> list:
        """``fn(texts)`` as a list of per-text rows, within the deadline."""
        if len(texts) == 1 and self.batch_wait_ms > 0:
            return [self._batched(key, fn, name, texts[0], timeout_ms)]
        return list(self._m.call_with_timeout(fn, timeout_ms, texts))

    def close(self) -> None:
        for b in self._batchers.values():
            b.close()
        self._batchers.clear()

    # ------------------------------------------------------------------ scoring
    def score(self, index: int, texts: Sequence[str]) -> list:
        return self.score_many({index: list(texts)})[index]

    def score_many(self, wanted: dict[int, Sequence[str]]) -> dict[int, list]:
        """Scores for ``{model index: texts}``: one list per model, one entry per text
        (``(value, closest example or None)`` or ``ModelFailed``). Heads and topics on the
        same embedder share one embedding run over the union of their texts."""
        out: dict[int, list] = {}
        shared: dict[int, tuple[object, list[int]]] = {}  # id(embedder) -> (embedder, model indices)
        for index, texts in wanted.items():
            entry = self.plan.models[index]
            kind, model, extra = self._load(entry)
            if kind == "error":
                out[index] = [ModelFailed(index, f"model could not be loaded: {model}")] * len(texts)
            elif kind in ("topic", "head"):
                emb = model if kind == "topic" else extra[2]
                shared.setdefault(id(emb), (emb, []))[1].append(index)
            elif kind == "classifier":
                out[index] = self._classify(index, entry, model, extra, list(texts))
            elif kind == "ner":
                out[index] = self._tag(index, entry, model, extra, list(texts))
            else:  # an embedder entry: nothing reads it directly
                out[index] = [ModelFailed(index, "an embedder has no score")] * len(texts)
        for emb, indices in shared.values():
            union = list(dict.fromkeys(t for i in indices for t in wanted[i]))
            windows = self._embed(emb, indices, union)
            for i in indices:
                out[i] = self._consume(i, [windows[t] for t in wanted[i]])
        return out

    def _classify(self, index: int, entry: ModelEntry, model, extra, texts: list[str]) -> list:
        labels, default = extra

        def fn(batch):
            probs, problems = model.predict_checked(batch)
            return list(zip(probs, problems))

        try:
            rows = self._rows(("classifier", index), fn, entry.qname, texts, entry.timeout_ms)
        except self._m.ModelTimeout:
            return [ModelFailed(index, f"timed out after {entry.timeout_ms:g} ms")] * len(texts)
        except Exception as err:
            return [ModelFailed(index, f"{type(err).__name__}: {err}")] * len(texts)
        di = labels.index(default) if default in labels else len(labels) - 1
        return [ModelFailed(index, f"{model.name}: {problem}") if problem is not None
                else (_label_scores(labels, row, di), None) for row, problem in rows]

    def _tag(self, index: int, entry: ModelEntry, model, extra, texts: list[str]) -> list:
        """Per text ``({entity: best span score, None: best of all}, {entity: [(start, end, score)]})``,
        spans in code points of the text; ``ModelFailed`` for texts whose run failed."""
        from policylang.runtime.ner import group_entities

        names, groups, threshold, min_parts, joins = extra

        def fn(batch):
            return model.tag_checked(batch, threshold)

        try:
            rows = self._rows(("ner", index), fn, entry.qname, texts, entry.timeout_ms)
        except self._m.ModelTimeout:
            return [ModelFailed(index, f"timed out after {entry.timeout_ms:g} ms")] * len(texts)
        except Exception as err:
            return [ModelFailed(index, f"{type(err).__name__}: {err}")] * len(texts)
        out: list = []
        for text, (entities, problem) in zip(texts, rows):
            if problem is not None:
                out.append(ModelFailed(index, f"{model.name}: {problem}"))
                continue
            grouped = group_entities(text, entities, groups, min_parts, joins)
            spans = {name: [(e.start, e.end, e.score) for e in grouped[name]] for name in names}
            scores: dict = {name: max((sc for _, _, sc in spans[name]), default=0.0) for name in names}
            scores[None] = max(scores.values(), default=0.0)
            out.append((scores, spans))
        return out

    def _embed(self, emb, indices: list[int], texts: list[str]) -> dict[str, object]:
        """``{text: window vectors [windows, dim]}`` from one embedder run, or a failure
        reason (str) for texts whose embedding failed or is not finite."""
        entries = [self.plan.models[i] for i in indices]
        timeouts = [e.timeout_ms for e in entries if e.timeout_ms]
        timeout = min(timeouts) if timeouts else None
        names = [self.plan.models[e.embedder].qname for e in entries if e.embedder is not None]
        what = f"embedder `{names[0]}`" if names else f"embedder `{emb.name}`"
        try:
            rows = self._rows(("embedder", id(emb)), emb.embed_windows_per_text, what, texts, timeout)
        except self._m.ModelTimeout:
            return dict.fromkeys(texts, f"{what} timed out after {timeout:g} ms")
        except Exception as err:
            return dict.fromkeys(texts, f"{what} failed: {type(err).__name__}: {err}")
        result: dict[str, object] = {}
        for text, vectors in zip(texts, rows):
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) == 0 or vectors.shape[1] != emb.dim:
                result[text] = f"{what} output has shape {list(vectors.shape)}; expected [windows, {emb.dim}]"
            elif not np.isfinite(vectors).all():
                result[text] = f"{what} output is not finite (NaN or infinity)"
            else:
                result[text] = vectors
        return result

    def _consume(self, index: int, windows: list) -> list:
        """Scores of one head or topic from the shared window embeddings of its texts."""
        entry = self.plan.models[index]
        kind, model, extra = self._loaded[index]
        out: list = [None] * len(windows)
        good = []
        for i, w in enumerate(windows):
            if isinstance(w, str):
                out[i] = ModelFailed(index, w)
            else:
                good.append(i)
        if not good:
            return out
        if kind == "topic":
            for i in good:
                w = windows[i]
                vec = self._m.mean_of_windows(w, np.zeros(len(w), dtype=np.int64), 1)[0]
                sims = extra @ vec
                b = int(sims.argmax())
                best = float(sims[b])
                if not np.isfinite(best) or not -1.0 - 1e-4 <= best <= 1.0 + 1e-4:
                    out[i] = ModelFailed(index, f"similarity {best} is not a finite cosine")
                else:
                    out[i] = (best, entry.examples[b])
            return out
        labels, default, _ = extra
        vectors = np.concatenate([windows[i] for i in good], axis=0)
        owners = np.repeat(np.arange(len(good)), [len(windows[i]) for i in good])
        try:
            probs, problems = model.predict_embeddings_checked(vectors, owners, len(good))
        except Exception as err:
            for i in good:
                out[i] = ModelFailed(index, f"{type(err).__name__}: {err}")
            return out
        di = labels.index(default) if default in labels else len(labels) - 1
        for k, i in enumerate(good):
            if problems[k] is not None:
                out[i] = ModelFailed(index, f"{model.name}: {problems[k]}")
            else:
                out[i] = (_label_scores(labels, probs[k], di), None)
        return out


def _label_scores(labels: tuple[str, ...], row, di: int) -> dict:
    d = {label: float(row[j]) for j, label in enumerate(labels)}
    d[None] = float(row[di])
    return d
