"""ONNX Runtime backend: files, sessions, input binding, tokenizer windows, padding.

The only module of policylang.runtime that imports onnxruntime (lazily, so that a
missing wheel becomes a `ModelError` that says which extra to install).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .model_spec import ModelError

__all__ = [
    "InputBinding",
    "TokenWindows",
    "bind_inputs",
    "create_session",
    "default_providers",
    "file_sha256",
    "import_onnxruntime",
    "load_config",
    "load_tokenizer",
]

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_FLOAT_INPUTS = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(
            "onnxruntime is not installed: install `policylang[cpu]` (or `policylang[gpu]` for onnxruntime-gpu)"
        ) from exc
    return onnxruntime


def default_providers() -> tuple[str, ...]:
    """CUDA first when this onnxruntime build offers it, then CPU.

    ``get_available_providers()`` lists CUDA for the GPU wheel even on machines
    without a GPU; ONNX Runtime then falls back to CPU silently, which is why the
    loaded models record ``session.get_providers()[0]``, never this request.
    """
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ("CUDAExecutionProvider", "CPUExecutionProvider")
    return ("CPUExecutionProvider",)


_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised on (real path, size, mtime)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    with _sha_lock:
        cached = _sha_cache.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(real, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _sha_lock:
        _sha_cache[key] = digest
    return digest


def load_config(model_dir: Path, display: str) -> dict:
    """``config.json`` next to the model (HF export format plus policylang's manifest keys), or {}."""
    path = model_dir / "config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read `{path}`: {exc}", display) from exc
    if not isinstance(data, dict):
        raise ModelError(f"`{path}` must hold a JSON object", display)
    return data


def create_session(
    model_path: Path, display: str, threads: int, providers: Sequence[str] | None
) -> tuple[Any, tuple[str, ...]]:
    """An InferenceSession and the providers that were requested."""
    ort = import_onnxruntime()
    requested = tuple(providers) if providers else default_providers()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no unused-initializer warnings
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=list(requested))
    except Exception as exc:  # onnxruntime raises its own exception types
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime cannot load `{model_path}`: {message}", display) from exc
    return session, requested


@dataclass(frozen=True)
class InputBinding:
    """How texts reach the graph: raw strings, or tokenizer ids by input name."""

    mode: str  # "string" | "tokens" | "embedding"
    string_input: str | None = None
    string_rank: int = 2
    token_inputs: tuple[tuple[str, Any], ...] = ()  # (name, numpy int dtype)
    embedding_input: str | None = None  # a head's one float [batch, dim] input
    embedding_dim: int | None = None
    embedding_dtype: Any = None


def bind_inputs(session: Any, display: str) -> InputBinding:
    inputs = session.get_inputs()
    if not inputs:
        raise ModelError("the graph has no inputs", display)
    first = inputs[0]
    if first.type == "tensor(string)":
        if len(inputs) > 1:
            extra = ", ".join(f"`{i.name}`" for i in inputs[1:])
            raise ModelError(f"string-input graph has extra inputs policylang cannot bind: {extra}", display)
        rank = len(first.shape) if first.shape is not None else 2
        if rank not in (1, 2):
            raise ModelError(
                f"string input `{first.name}` has shape {first.shape}; expected [batch] or [batch, 1]", display
            )
        return InputBinding("string", string_input=first.name, string_rank=rank)
    if first.type in _FLOAT_INPUTS:  # a head over an embedder: one float [batch, dim] input
        if len(inputs) > 1:
            extra = ", ".join(f"`{i.name}`" for i in inputs[1:])
            raise ModelError(f"a head's graph takes one embedding input; this one also has {extra}", display)
        shape = first.shape
        if shape is None or len(shape) != 2:
            raise ModelError(f"embedding input `{first.name}` has shape {shape}; expected [batch, dim]", display)
        dim = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
        if dim is None:
            raise ModelError(f"embedding input `{first.name}` has shape {shape}: its width must be a fixed "
                             "number (the embedder's dimension)", display)
        return InputBinding("embedding", embedding_input=first.name, embedding_dim=dim,
                            embedding_dtype=_FLOAT_INPUTS[first.type])
    bound = []
    for inp in inputs:
        if inp.name not in TOKEN_INPUTS:
            raise ModelError(
                f"cannot bind graph input `{inp.name}` ({inp.type}); policylang feeds only "
                "input_ids, attention_mask and token_type_ids, or raw texts to a tensor(string) input",
                display,
            )
        dtype = _INT_TYPES.get(inp.type)
        if dtype is None:
            raise ModelError(f"graph input `{inp.name}` has type {inp.type}; expected tensor(int64)", display)
        if inp.shape is not None and len(inp.shape) != 2:
            raise ModelError(f"graph input `{inp.name}` has shape {inp.shape}; expected [batch, sequence]", display)
        bound.append((inp.name, dtype))
    if "input_ids" not in {name for name, _ in bound}:
        raise ModelError("the graph has no `input_ids` input", display)
    return InputBinding("tokens", token_inputs=tuple(bound))


def load_tokenizer(path: Path, display: str) -> Any:
    from tokenizers import Tokenizer

    if not path.is_file():
        raise ModelError(
            f"no tokenizer at `{path}` (the graph takes token ids; pass `tokenizer` or put tokenizer.json next to model.onnx)",
            display,
        )
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception
        raise ModelError(f"cannot read tokenizer `{path}`: {exc}", display) from exc


def tokenizer_max_length(tokenizer_path: Path) -> int | None:
    """The truncation length baked into a tokenizer.json, if any."""
    try:
        data = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    trunc = data.get("truncation") if isinstance(data, dict) else None
    if isinstance(trunc, dict) and isinstance(trunc.get("max_length"), int):
        return trunc["max_length"]
    return None


def _pad_id(tokenizer: Any) -> int:
    padding = tokenizer.padding
    if padding and isinstance(padding.get("pad_id"), int):
        return padding["pad_id"]
    for token in ("[PAD]", "<pad>", "<PAD>"):
        tid = tokenizer.token_to_id(token)
        if tid is not None:
            return tid
    return 0


class TokenWindows:
    """Splits texts into overlapping windows of at most ``max_length`` tokens.

    Uses the tokenizer's own truncation with ``stride`` and its overflowing
    encodings, so every window carries the post-processor's special tokens
    ([CLS] ... [SEP]). The tokenizer's baked-in padding is removed; batches are
    padded here to the longest window in the batch.
    """

    def __init__(self, tokenizer: Any, max_length: int, stride: int | None, display: str) -> None:
        specials = tokenizer.num_special_tokens_to_add(False)
        room = max_length - specials
        if room < 1:
            raise ModelError(f"max_length {max_length} leaves no room for text after {specials} special tokens", display)
        if stride is None:
            stride = max_length // 4
        stride = max(0, min(stride, room - 1))
        self.pad_id = _pad_id(tokenizer)  # before no_padding() drops the padding config
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length, stride=stride, strategy="longest_first", direction="right")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.stride = stride

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token-id windows of all texts (text-major order) and the owning text index of each."""
        encodings = self.tokenizer.encode_batch(list(texts))
        windows: list[list[int]] = []
        owners: list[int] = []
        for i, enc in enumerate(encodings):
            stack = [enc]
            while stack:
                e = stack.pop(0)
                ids = e.ids
                windows.append(ids if ids else [self.pad_id])  # empty text: one token, never a 0/0 mean
                owners.append(i)
                stack.extend(e.overflowing)
        return windows, np.asarray(owners, dtype=np.int64)


def pad_batch(
    windows: Sequence[Sequence[int]], pad_id: int, token_inputs: Sequence[tuple[str, Any]]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The feed dict for one batch (right-padded to its longest window) and the float mask."""
    n = len(windows)
    width = max(len(w) for w in windows)
    ids = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    for row, w in enumerate(windows):
        ids[row, : len(w)] = w
        mask[row, : len(w)] = 1
    feed: dict[str, np.ndarray] = {}
    for name, dtype in token_inputs:
        if name == "input_ids":
            arr = ids
        elif name == "attention_mask":
            arr = mask
        else:  # token_type_ids: one segment
            arr = np.zeros((n, width), dtype=np.int64)
        feed[name] = arr if dtype is np.int64 else arr.astype(dtype)
    return feed, mask
