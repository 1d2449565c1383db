"""Errors and the declarative description of one model (no ONNX Runtime import here).

`ModelSpec` is what the compiler builds from a `classifier` / `topic` declaration;
`policylang.runtime.models` turns it into a loaded model. Everything in this file
is importable without onnxruntime installed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACTIVATIONS", "POOLINGS", "ModelError", "ModelSpec", "ModelTimeout"]

ACTIVATIONS = ("softmax", "sigmoid", "none")
POOLINGS = ("mean", "cls")


class ModelError(Exception):
    """A model could not be loaded or run.

    ``path`` is the model path as the policy wrote it (or None), ``problem`` the
    message without it; ``str()`` gives ``model `PATH`: PROBLEM``.
    """

    def __init__(self, problem: str, path: str | None = None) -> None:
        super().__init__(problem, path)
        self.problem = problem
        self.path = path

    def __str__(self) -> str:
        return f"model `{self.path}`: {self.problem}" if self.path else self.problem

    def __reduce__(self):
        return (type(self), (self.problem, self.path))


class ModelTimeout(ModelError):
    """A model call did not finish before its deadline (its late result is discarded)."""


@dataclass(frozen=True)
class ModelSpec:
    """How to load one model. Hashable: the registry keys sessions on it.

    path        a directory holding ``model.onnx``, a path to a ``.onnx`` file, or
                ``builtin:minilm`` / ``builtin:profanity`` (see `builtin_model_path`)
    tokenizer   ``tokenizer.json`` path; default ``DIR/tokenizer.json``; not needed when
                the graph's first input is ``tensor(string)``
    labels      class names in output-column order; they win over ``config.json``
                ``id2label`` and over the ONNX metadata ``id2label``
    activation  ``softmax`` | ``sigmoid`` | ``none``; default from config.json
                (``activation`` or ``problem_type``), else softmax for more than one label
                and sigmoid for one. Never re-applied to outputs that already hold
                probabilities (skl2onnx ``probabilities`` / ``output_probability``)
    max_length  token window; default config.json ``max_length``, else the tokenizer's
                truncation length, else 256 (capped by ``max_position_embeddings``)
    threads     ``intra_op_num_threads``; default config.json ``threads``, else 1
    providers   ONNX Runtime execution providers; default CUDA first when the
                installed onnxruntime offers it, then CPU
    pooling     embedders: ``mean`` over the attention mask or ``cls``, then L2-normalised
    max_batch   most windows (texts) per session run
    output      output name; default: picked by name/shape (see docs in models.py)
    stride      tokens shared by consecutive windows of a long text; default max_length // 4
    """

    path: str
    tokenizer: str | None = None
    labels: tuple[str, ...] | None = None
    activation: str | None = None
    max_length: int | None = None
    threads: int | None = None
    providers: tuple[str, ...] | None = None
    pooling: str = "mean"
    max_batch: int = 32
    output: str | None = None
    stride: int | None = None

    def __post_init__(self) -> None:
        path = str(self.path)
        object.__setattr__(self, "path", path)
        if self.tokenizer is not None:
            object.__setattr__(self, "tokenizer", str(self.tokenizer))
        if self.labels is not None:
            if isinstance(self.labels, str):
                raise ModelError("labels must be a sequence of names, not one string", path)
            labels = tuple(str(label) for label in self.labels)
            if not labels:
                raise ModelError("labels is empty", path)
            dupes = sorted({label for label in labels if labels.count(label) > 1})
            if dupes:
                raise ModelError(f"duplicate labels: {', '.join(f'`{d}`' for d in dupes)}", path)
            object.__setattr__(self, "labels", labels)
        if self.providers is not None:
            if isinstance(self.providers, str):
                object.__setattr__(self, "providers", (self.providers,))
            else:
                object.__setattr__(self, "providers", tuple(self.providers))
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ModelError(
                f"unknown activation `{self.activation}` (expected one of {', '.join(ACTIVATIONS)})", path
            )
        if self.pooling not in POOLINGS:
            raise ModelError(f"unknown pooling `{self.pooling}` (expected one of {', '.join(POOLINGS)})", path)
        for name in ("max_length", "threads", "max_batch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ModelError(f"{name} must be a positive integer, got `{value}`", path)
        if self.stride is not None and (not isinstance(self.stride, int) or self.stride < 0):
            raise ModelError(f"stride must be a non-negative integer, got `{self.stride}`", path)
