"""Token classification (NER): tags per token -> entity spans in the original text.

A `TokenClassifier` is an ONNX graph with the token inputs of a text classifier
(``input_ids``, ``attention_mask``, ``token_type_ids``) and one float output
``[batch, sequence, n_tags]`` (``logits``, else the first float rank-3 output), and a
tag set in config.json ``id2label`` (or ``labels [...]`` in the policy): ``O`` plus
``B-TYPE`` / ``I-TYPE`` (BIO), optionally ``L-`` / ``U-`` (BILOU) or ``E-`` / ``S-``
(BIOES); a tag without a prefix counts as ``I-``.

How a text becomes spans:

1. **The model's view.** Characters are NFKC-normalised one by one (full-width
   ``Ｊｏｈｎ`` reads as ``John``, ligatures expand) with a map from each view
   character back to the original character; ASCII texts are their own view.
2. **Windows, never truncation.** The view is tokenized once, without special tokens.
   Its tokens are cut into windows of at most ``max_length`` tokens (special tokens
   included) that overlap by ``stride`` tokens, each window starting on a word's first
   sub-token. Every window of every text goes through the session in length-sorted
   batches (the same path as text classifiers). A token in an overlap takes the tags of
   the window where it lies further from the edge (the midpoint of the overlap).
3. **Words.** A word (the tokenizer's ``word_ids``) takes the tag and the probability of
   its first sub-token; its span runs from its first to its last sub-token. A tag whose
   probability is below the threshold reads as ``O``.
4. **Tags -> entities** (`decode_tags`): ``B``/``U``/``S`` start an entity, ``I``/``L``/``E``
   continue an entity of the same type (else start one: lenient BIO), ``L``/``E``/``U``/``S``
   close it, ``O`` closes it. An entity's score is the mean probability of its words.
5. **Offsets** map back through the view's map to code-point offsets of the ORIGINAL
   text, an end is pushed past combining marks that follow it (``Rene`` + U+0301 is
   redacted whole), and separators at a span's edges (``,;:-/``, dashes) are trimmed. Every span is ``text[start:end]`` of the text the caller passed.
6. **Groups** (`group_entities`): a policy maps entity types to a kind
   (``entity person ["GIVEN_NAME", "SURNAME"]``). Entities of one group that touch across
   whitespace merge into one span (``John`` + ``Smith``); across a comma they merge only
   when the next type is not already in the span (``Baker Street, London`` is one
   address, ``John, Mary`` two persons).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from policylang._labels import _BEGIN, _INSIDE, _LAST, _PREFIXES, _UNIT, entity_types, split_tag  # noqa: F401

from .model_spec import ModelError, ModelSpec

__all__ = [
    "Entity",
    "TokenClassifier",
    "decode_tags",
    "entity_problems",
    "entity_types",
    "group_entities",
    "model_view",
    "plan_windows",
    "split_tag",
]

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Entity:
    """One entity: code-point offsets into the original text, its type (or group name)
    and its score (mean tag probability of its words, 0..1)."""

    start: int
    end: int
    label: str
    score: float


def entity_problems(types: Sequence[str], entities: Mapping[str, Sequence[str]]) -> list[str]:
    """Why declared entities do not fit a model's entity types (empty: they fit)."""
    out = []
    for name, wanted in entities.items():
        missing = [t for t in wanted if t not in types]
        if missing:
            out.append(f"entity `{name}` names type{'s' if len(missing) > 1 else ''} "
                       f"{', '.join(f'`{t}`' for t in missing)} that the model does not tag "
                       f"(its types: {', '.join(types)})")
    return out


def decode_tags(words: Sequence[tuple[int, int, str, float]]) -> list[Entity]:
    """Entities from ``(start, end, tag, probability)`` per word, in text order (see module doc)."""
    out: list[Entity] = []
    cur: list | None = None  # [start, end, type, sum of scores, words]

    def close() -> None:
        nonlocal cur
        if cur is not None:
            out.append(Entity(cur[0], cur[1], cur[2], cur[3] / cur[4]))
            cur = None

    for start, end, tag, p in words:
        prefix, typ = split_tag(tag)
        if typ is None:
            close()
            continue
        if prefix in (_INSIDE, _LAST) and cur is not None and cur[2] == typ:
            cur[1] = end
            cur[3] += p
            cur[4] += 1
        else:
            close()
            cur = [start, end, typ, p, 1]
        if prefix in (_LAST, _UNIT):
            close()
    close()
    return out


def _joinable(gap: str, joins: frozenset[str] = frozenset()) -> str | None:
    """``"space"`` for a whitespace-only gap, ``"comma"`` for optional spaces around one comma.

    Words of ``joins`` (compared case-insensitively) in the gap count as part of the entity.
    """
    if joins:
        words = gap.replace(",", " , ").split()
        kept = [w for w in words if w.casefold() not in joins]
        if len(kept) < len(words):
            gap = " " + " ".join(kept) + " " if kept else " "
    if gap == "" or gap.isspace():
        return "space"
    stripped = gap.strip()
    if stripped == "," and gap.count(",") == 1:
        return "comma"
    return None


def _extend_start(text: str, start: int, joins: frozenset[str]) -> int:
    """Move ``start`` back over join words right before it ("Suite 701", "Flat 7")."""
    for _ in range(3):
        j = start
        while j > 0 and text[j - 1].isspace():
            j -= 1
        if j == start:
            break
        k = j
        while k > 0 and not text[k - 1].isspace():
            k -= 1
        if k == j or text[k:j].casefold() not in joins:
            break
        start = k
    return start


def group_entities(text: str, entities: Sequence[Entity], groups: Mapping[str, Sequence[str]],
                   min_parts: Mapping[str, int] | None = None,
                   joins: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[Entity]]:
    """Entities of each group (``{group: [types]}``), touching parts merged (see module doc).

    A merged entity's score is the mean of its parts' scores, weighted by length. With
    ``min_parts[group] = n`` a merged entity must hold at least ``n`` distinct types (an
    address is more than a lone city or a lone number). ``joins[group]`` lists words that
    belong to the entity when they sit between its parts or right before it although the
    model did not tag them (``Suite``, ``Apt.``, ``Flat`` before a secondary address).
    """
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    out: dict[str, list[Entity]] = {}
    for name, types in groups.items():
        wanted = set(types)
        fewest = (min_parts or {}).get(name, 1)
        glue = frozenset(w.casefold() for w in (joins or {}).get(name, ()))
        spans: list[Entity] = []
        cur: list | None = None  # [start, end, weighted score, length, types]
        for e in ordered:
            if e.label not in wanted:
                continue
            if cur is not None and e.start >= cur[1]:
                how = _joinable(text[cur[1]:e.start], glue)
                if how == "space" or (how == "comma" and e.label not in cur[4]):
                    n = e.end - e.start
                    cur[1] = e.end
                    cur[2] += e.score * n
                    cur[3] += n
                    cur[4].add(e.label)
                    continue
            if cur is not None and len(cur[4]) >= fewest:
                spans.append(Entity(cur[0], cur[1], name, cur[2] / max(cur[3], 1)))
            n = e.end - e.start
            start = _extend_start(text, e.start, glue) if glue else e.start
            if spans and start < spans[-1].end:
                start = e.start
            cur = [start, e.end, e.score * n, n, {e.label}]
        if cur is not None and len(cur[4]) >= fewest:
            spans.append(Entity(cur[0], cur[1], name, cur[2] / max(cur[3], 1)))
        out[name] = spans
    return out


def model_view(text: str) -> tuple[str, list[int] | None]:
    """The text the model reads and, unless it is the text itself, the original index of
    each of its characters (per-character NFKC: full-width letters, ligatures)."""
    if text.isascii():
        return text, None
    pieces: list[str] = []
    origin: list[int] = []
    changed = False
    for i, ch in enumerate(text):
        if ord(ch) < 0x80:
            pieces.append(ch)
            origin.append(i)
            continue
        n = unicodedata.normalize("NFKC", ch)
        if n != ch:
            changed = True
        if not n:  # pragma: no cover - NFKC never empties a character today
            continue
        pieces.append(n)
        origin.extend([i] * len(n))
    if not changed:
        return text, None
    return "".join(pieces), origin


def _extend_over_marks(text: str, end: int) -> int:
    n = len(text)
    while end < n and unicodedata.category(text[end]) in ("Mn", "Mc", "Me"):
        end += 1
    return end


_EDGE_PUNCT = frozenset(",;:-\u2010\u2011\u2012\u2013\u2014/|")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """A span without separators at its edges (a hyphen the model tagged with the name)."""
    while end > start and (text[end - 1] in _EDGE_PUNCT or text[end - 1].isspace()):
        end -= 1
    while start < end and (text[start] in _EDGE_PUNCT or text[start].isspace()):
        start += 1
    return start, end


def plan_windows(word_ids: Sequence[int | None], budget: int, stride: int) -> list[tuple[int, int]]:
    """``[start, end)`` token windows of at most ``budget`` tokens covering every token.

    Each window after the first starts ``stride`` tokens before the previous one ended,
    moved back to the first sub-token of the word there (never to or before the previous
    start, so planning always progresses).
    """
    count = len(word_ids)
    windows: list[tuple[int, int]] = []
    start = 0
    while start < count:
        end = min(start + budget, count)
        windows.append((start, end))
        if end == count:
            break
        nxt = max(end - stride, start + 1)
        while nxt - 1 > start and word_ids[nxt] is not None and word_ids[nxt] == word_ids[nxt - 1]:
            nxt -= 1
        start = nxt
    return windows


def _owned(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The tokens each window decides: overlaps are split at their midpoint."""
    owned = []
    for k, (a, b) in enumerate(windows):
        lo = a if k == 0 else (a + windows[k - 1][1] + 1) // 2
        hi = b if k == len(windows) - 1 else (windows[k + 1][0] + b + 1) // 2
        owned.append((max(lo, a), min(hi, b)))
    return owned


def _special_frame(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens the post-processor puts before and after one sequence ([CLS], [SEP])."""
    enc = tokenizer.encode("a", add_special_tokens=True)
    ids, mask = enc.ids, enc.special_tokens_mask
    real = [i for i, m in enumerate(mask) if not m]
    if not real:
        return [], []
    return ids[: real[0]], ids[real[-1] + 1 :]


class TokenClassifier:
    """An ONNX token classifier: ``tag(texts) -> [[Entity, ...], ...]`` with raw entity types.

    Built on the shared session path of `policylang.runtime.models` (one session per
    model, sha256, providers, length-sorted padded batches).
    """

    kind = "ner"

    def __init__(self, spec: ModelSpec) -> None:
        from . import models as _m

        self._m = _m
        parts = _m._load_token_classifier(spec, _m._Collector(None))
        assert parts is not None
        self._init_parts(spec, parts)

    def _init_parts(self, spec: ModelSpec, parts) -> None:
        from . import models as _m
        from .onnx_session import load_tokenizer

        self._m = _m
        common = parts.common
        model = _m._OnnxModel()
        model._init_common(spec, common, parts.output)
        self._model = model
        self.spec = spec
        self.name = model.name
        self.path = model.path
        self.digest = model.digest
        self.config = model.config
        self.provider = model.provider
        self.providers = model.providers
        self.output = parts.output
        self.labels = parts.labels  # the tag set, in output-column order
        self.types = entity_types(parts.labels)
        self.activation = parts.activation
        self.max_length = model.max_length
        self.stride = model.stride
        self.max_batch = spec.max_batch
        tokenizer = load_tokenizer(common.tokenizer_path, self.name)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._prefix, self._suffix = _special_frame(tokenizer)
        self.budget = self.max_length - len(self._prefix) - len(self._suffix)
        if self.budget < 1:
            raise ModelError(f"max_length {self.max_length} leaves no room for text after the special tokens",
                             self.name)
        self.stride = max(0, min(self.stride if self.stride is not None else self.budget // 4, self.budget - 1))
        #: how a word's tag comes from its sub-tokens: ``first`` sub-token, or ``average`` of their probabilities
        self.aggregation = "first"

    @property
    def runs(self) -> int:
        """session.run calls so far (tests and stats)."""
        return self._model.runs

    def info(self) -> dict[str, Any]:
        return {**self._model.info(), "kind": "ner", "labels": list(self.labels), "types": list(self.types),
                "stride": self.stride}

    def tag(self, texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD) -> list[list[Entity]]:
        """Entities (raw types) per text. Raises `ModelError` on NaN or infinite output."""
        rows = self.tag_checked(texts, threshold)
        for i, (_, problem) in enumerate(rows):
            if problem is not None:
                raise ModelError(f"text {i}: {problem}", self.name)
        return [ents for ents, _ in rows]

    def tag_checked(self, texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD
                    ) -> list[tuple[list[Entity], str | None]]:
        """``[(entities, problem)]`` per text: ``problem`` says why the text's output cannot be
        trusted (NaN, infinity), else None. A wrong output shape raises `ModelError`."""
        texts = self._m._as_texts(texts)
        views = [model_view(t) for t in texts]
        encodings = self._tokenizer.encode_batch([v for v, _ in views], add_special_tokens=False) if texts else []
        windows: list[list[int]] = []
        where: list[tuple[int, int, int, int, int]] = []  # text, window start, own lo, own hi
        per_text: list[tuple[list, list, list]] = []
        for i, enc in enumerate(encodings):
            ids, offsets, word_ids = enc.ids, enc.offsets, enc.word_ids
            per_text.append((ids, offsets, word_ids))
            planned = plan_windows(word_ids, self.budget, self.stride)
            for (a, b), (lo, hi) in zip(planned, _owned(planned)):
                windows.append(self._prefix + ids[a:b] + self._suffix)
                where.append((i, a, lo, hi, len(self._prefix)))
        n_tags = len(self.labels)
        dist = [np.zeros((len(p[0]), n_tags), dtype=np.float32) for p in per_text]
        problems: list[str | None] = [None] * len(texts)
        if windows:
            for w, row in self._run(windows):
                i, a, lo, hi, skip = where[w]
                if problems[i] is not None:
                    continue
                if not np.isfinite(row).all():
                    t, j = (int(x[0]) for x in np.nonzero(~np.isfinite(row)))
                    problems[i] = f"output is not finite: {float(row[t, j])} for tag `{self.labels[j]}`"
                    continue
                p = self._activate(row)
                if not np.isfinite(p).all() or (p < -1e-5).any() or (p > 1 + 1e-5).any():
                    problems[i] = f"tag probabilities are not in [0, 1] after {self.activation}"
                    continue
                sl = slice(skip + lo - a, skip + hi - a)
                dist[i][lo:hi] = p[sl]
        out: list[tuple[list[Entity], str | None]] = []
        for i, text in enumerate(texts):
            if problems[i] is not None:
                out.append(([], problems[i]))
                continue
            ids, offsets, word_ids = per_text[i]
            spans: list[list] = []  # [start, end, first token, last token] per word, in the view
            last_word = None
            for t in range(len(ids)):
                a, b = offsets[t]
                if b <= a:
                    continue
                wid = word_ids[t]
                if wid is not None and wid == last_word and spans:
                    spans[-1][1] = max(spans[-1][1], b)
                    spans[-1][3] = t
                    continue
                last_word = wid
                spans.append([a, b, t, t])
            words = []
            d = dist[i]
            for a, b, t0, t1 in spans:
                row = d[t0] if self.aggregation == "first" else d[t0 : t1 + 1].mean(axis=0)
                k = int(row.argmax())
                p = float(row[k])
                words.append((a, b, self.labels[k] if p >= threshold else "O", p))
            ents = decode_tags(words)
            view, origin = views[i]
            mapped = []
            for e in ents:
                s, en = (e.start, e.end) if origin is None else (origin[e.start], origin[e.end - 1] + 1)
                s, en = _trim(text, s, _extend_over_marks(text, en))
                if en > s:
                    mapped.append(Entity(s, en, e.label, e.score))
            out.append((mapped, None))
        return out

    def _run(self, windows: list[list[int]]):
        """``(window index, raw output [tokens, n_tags])`` for every window, batched."""
        from .onnx_session import pad_batch

        model = self._model
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        n_tags = len(self.labels)
        for idx in model._batches(lengths):
            feed, mask = pad_batch([windows[i] for i in idx], model._windows.pad_id, model._binding.token_inputs)
            value = np.asarray(model._run(feed), dtype=np.float32)
            if value.ndim != 3 or value.shape[0] != len(idx) or value.shape[1] != mask.shape[1] \
                    or value.shape[2] != n_tags:
                raise ModelError(
                    f"output `{self.output}` has shape {list(value.shape)}; a token classifier needs "
                    f"[{len(idx)}, {mask.shape[1]}, {n_tags}] (batch, tokens, tags)", self.name)
            for r, w in enumerate(idx):
                yield int(w), value[r, : len(windows[w])]

    def _activate(self, x: np.ndarray) -> np.ndarray:
        if self.activation == "none":
            return x
        if self.activation == "sigmoid":
            return self._m._sigmoid(x)
        return self._m._softmax(x.astype(np.float32, copy=True))
