"""Tiny real ONNX models for tests: built with onnx.helper in well under a second, no downloads.

* `make_classifier`: WordLevel tokenizer.json + Gather(embedding) -> masked mean -> Gemm -> logits.
  Texts with trigger words get a high score on the last label.
* `make_embedder`: same tokenizer style + Gather -> MatMul(rotation) -> last_hidden_state
  [batch, seq, dim] (pooling happens in policylang). Medical words cluster together,
  product words cluster together, filler words sit near the origin.

Both bake a Fixed(24) padding and a truncation of 64 into tokenizer.json, as HF
exports do, so tests also prove that policylang replaces them. The [PAD] row of
each embedding table is a large random vector: scores only stay right when
padding is masked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

FILLER_WORDS = ["the", "a", "an", "is", "are", "was", "be", "to", "of", "and", "in", "on", "for", "with", "it", "this", "that", "you", "i", "me", "my", "we", "our", "what", "how", "can", "should", "do", "please", "tell", "about", "hello", "thanks", "today", "weather", "story", "write", "summary", "email", "report", "previous", "all", "rules", "above", "now"]

MEDICAL_WORDS = ["dose", "ibuprofen", "diagnose", "rash", "doctor", "medicine", "symptoms", "pain", "fever", "prescription", "pills", "headache", "infection", "medical", "treatment"]

PRODUCT_WORDS = ["acme", "router", "warranty", "refund", "order", "shipping", "invoice", "laptop", "printer", "account", "delivery", "subscription", "product", "return"]

DEFAULT_TRIGGERS = ("ignore", "instructions", "dan")


def _write_tokenizer(path: Path, words: Sequence[str]) -> dict[str, int]:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    vocab: dict[str, int] = {}
    for w in (*SPECIALS, *words):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    # What HF exports typically bake in; policylang must override both.
    tok.enable_padding(length=24, pad_id=vocab["[PAD]"], pad_token="[PAD]")
    tok.enable_truncation(max_length=64)
    tok.save(str(path))
    return vocab


def _save(model, path: Path) -> None:
    import onnx

    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def make_classifier(
    dir: str | Path,
    labels: Sequence[str] = ("benign", "injection"),
    trigger_words: Sequence[str] = DEFAULT_TRIGGERS,
    with_config: bool = True,
    *,
    metadata_labels: bool = False,
    problem_type: str | None = None,
    extra_input: str | None = None,
    with_token_type_ids: bool = True,
    output_name: str = "logits",
    seed: int = 0,
    poison: float | None = None,
    poison_on_trigger: bool = False,
    config_extra: dict | None = None,
) -> Path:
    """Write model.onnx, tokenizer.json (and config.json) into ``dir``; return ``dir``.

    logits[last] = 4*m0 - m1 and logits[0] = -(4*m0 - m1), where m0 is the mean
    "trigger strength" of the tokens (6 per trigger word) and m1 = 1; other labels
    get small fixed weights. "ignore all previous instructions" -> p(last) ~ 0.99,
    "hello how are you" -> p(last) ~ 0.12 (softmax over two labels).

    ``poison`` (NaN, infinity or a number) is added to the logits of every text, or with
    ``poison_on_trigger`` only of texts whose mean trigger strength is over 1 (a broken
    export that fails on some inputs). ``config_extra`` adds keys to config.json.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out_dir = Path(dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    triggers = [w.lower() for w in trigger_words]
    words = list(dict.fromkeys([*triggers, *FILLER_WORDS, *MEDICAL_WORDS, *PRODUCT_WORDS]))
    vocab = _write_tokenizer(out_dir / "tokenizer.json", words)

    rng = np.random.RandomState(seed)
    n_vocab, dim, n_labels = len(vocab), 8, len(labels)
    emb = np.zeros((n_vocab, dim), dtype=np.float32)
    emb[:, 1] = 1.0
    emb[:, 2:] = 0.1 * rng.standard_normal((n_vocab, dim - 2))
    for w in triggers:
        emb[vocab[w], 0] = 6.0
    emb[vocab["[PAD]"]] = 5.0 * rng.standard_normal(dim)  # wrong scores unless padding is masked

    weight = np.zeros((dim, n_labels), dtype=np.float32)
    weight[2:, :] = 0.2 * rng.standard_normal((dim - 2, n_labels))
    if n_labels > 2:
        weight[0, 1:-1] = 0.5 * rng.standard_normal(n_labels - 2)
        weight[1, 1:-1] = 0.5 * rng.standard_normal(n_labels - 2)
    weight[0, -1], weight[1, -1] = 4.0, -1.0
    if n_labels > 1:
        weight[0, 0], weight[1, 0] = -4.0, 1.0
    bias = np.zeros((n_labels,), dtype=np.float32)

    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
    ]
    if with_token_type_ids:
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "sequence"]))
    if extra_input:
        inputs.append(helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, ["batch", 3]))
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["tok"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["tok", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "eps"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["pooled"]),
        helper.make_node("Gemm", ["pooled", "weight", "bias"], [output_name if poison is None else "clean"]),
    ]
    extra_init = []
    if poison is not None:  # a broken export: NaN, infinity or a shift added to the logits
        extra_init = [numpy_helper.from_array(np.full((1, n_labels), poison, dtype=np.float32), "poison"),
                      numpy_helper.from_array(np.zeros((1, n_labels), dtype=np.float32), "zeros"),
                      numpy_helper.from_array(np.array(1.0 if poison_on_trigger else -1.0, dtype=np.float32), "cut")]
        nodes += [
            helper.make_node("Gather", ["pooled", "zero_index"], ["strength"], axis=1),
            helper.make_node("Greater", ["strength", "cut"], ["hit"]),
            helper.make_node("Unsqueeze", ["hit", "axis1"], ["hit2"]),
            helper.make_node("Where", ["hit2", "poison", "zeros"], ["shift"]),
            helper.make_node("Add", ["clean", "shift"], [output_name]),
        ]
        extra_init.append(numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_index"))
    graph = helper.make_graph(
        nodes,
        "policylang_tiny_classifier",
        inputs,
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", n_labels])],
        initializer=[
            numpy_helper.from_array(emb, "embedding"),
            numpy_helper.from_array(weight, "weight"),
            numpy_helper.from_array(bias, "bias"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array(1e-6, dtype=np.float32), "eps"),
            *extra_init,
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="policylang-tests")
    if metadata_labels:
        onnx.helper.set_model_props(model, {"id2label": json.dumps({str(i): l for i, l in enumerate(labels)})})
    _save(model, out_dir / "model.onnx")

    config_path = out_dir / "config.json"
    if with_config:
        config: dict = {"id2label": {str(i): l for i, l in enumerate(labels)}, "max_position_embeddings": 512}
        if problem_type:
            config["problem_type"] = problem_type
        config.update(config_extra or {})
        config_path.write_text(json.dumps(config, indent=2))
    elif config_path.exists():
        config_path.unlink()
    return out_dir


def make_embedder(dir: str | Path, dim: int = 16, *, seed: int = 0, output_name: str = "last_hidden_state",
                  poison: float | None = None) -> Path:
    """Write model.onnx and tokenizer.json into ``dir``; return ``dir``.

    Output ``last_hidden_state`` [batch, seq, dim] = embedding[input_ids] @ R (R a
    random rotation). The graph ignores attention_mask, so padded positions carry
    the large [PAD] vector: only masked mean pooling gives batch-independent vectors.
    ``poison`` (NaN, infinity) is added to every output value: a broken export.
    """
    from onnx import TensorProto, helper, numpy_helper

    out_dir = Path(dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    words = list(dict.fromkeys([*FILLER_WORDS, *MEDICAL_WORDS, *PRODUCT_WORDS, *DEFAULT_TRIGGERS]))
    vocab = _write_tokenizer(out_dir / "tokenizer.json", words)

    rng = np.random.RandomState(seed)
    emb = (0.15 * rng.standard_normal((len(vocab), dim))).astype(np.float32)
    medical_center = rng.standard_normal(dim)
    product_center = rng.standard_normal(dim)
    product_center -= medical_center * (product_center @ medical_center) / (medical_center @ medical_center)
    medical_center *= 2.0 / np.linalg.norm(medical_center)
    product_center *= 2.0 / np.linalg.norm(product_center)
    for w in MEDICAL_WORDS:
        emb[vocab[w]] = medical_center + 0.5 * rng.standard_normal(dim)
    for w in PRODUCT_WORDS:
        emb[vocab[w]] = product_center + 0.5 * rng.standard_normal(dim)
    emb[vocab["[PAD]"]] = 10.0 * rng.standard_normal(dim)
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))

    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["embedding", "input_ids"], ["tok"]),
            helper.make_node("MatMul", ["tok", "rotation"], [output_name if poison is None else "clean"]),
            *([helper.make_node("Add", ["clean", "poison"], [output_name])] if poison is not None else []),
        ],
        "policylang_tiny_embedder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", "sequence", dim])],
        initializer=[
            numpy_helper.from_array(emb.astype(np.float32), "embedding"),
            numpy_helper.from_array(rotation.astype(np.float32), "rotation"),
            *([numpy_helper.from_array(np.full((dim,), poison, dtype=np.float32), "poison")]
              if poison is not None else []),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="policylang-tests")
    _save(model, out_dir / "model.onnx")
    return out_dir


def make_head(
    dir: str | Path,
    direction: Sequence[float],
    labels: Sequence[str] = ("benign", "injection"),
    *,
    scale: float = 10.0,
    cut: float = 0.6,
    activation: str | None = "softmax",
    max_length: int | None = None,
    poison: float | None = None,
    input_name: str = "embedding",
    with_notice: bool = True,
) -> Path:
    """A classifier head over sentence embeddings: model.onnx (ONE float input [batch, dim],
    ONE output ``logits`` [batch, n_labels]), config.json (id2label, activation, max_length)
    and NOTICE: the head contract of docs/classifiers.md.

    logits[last] - logits[0] = 2 * scale * (x . direction - cut): an embedding close to
    ``direction`` (a unit vector) scores high on the last label, with softmax. ``poison``
    (NaN, infinity, a number) is added to every logit: a broken export.
    """
    from onnx import TensorProto, helper, numpy_helper

    out_dir = Path(dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    d = np.asarray(direction, dtype=np.float32)
    d = d / np.linalg.norm(d)
    dim, n = len(d), len(labels)
    weight = np.zeros((dim, n), dtype=np.float32)
    bias = np.zeros((n,), dtype=np.float32)
    weight[:, -1], bias[-1] = scale * d, -scale * cut
    weight[:, 0], bias[0] = -scale * d, scale * cut
    nodes = [helper.make_node("Gemm", [input_name, "weight", "bias"], ["logits" if poison is None else "clean"])]
    init = [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")]
    if poison is not None:
        nodes.append(helper.make_node("Add", ["clean", "poison"], ["logits"]))
        init.append(numpy_helper.from_array(np.full((1, n), poison, dtype=np.float32), "poison"))
    graph = helper.make_graph(
        nodes, "policylang_tiny_head",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n])],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="policylang-tests")
    _save(model, out_dir / "model.onnx")
    config: dict = {"id2label": {str(i): label for i, label in enumerate(labels)}}
    if activation is not None:
        config["activation"] = activation
    if max_length is not None:
        config["max_length"] = max_length
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    if with_notice:
        (out_dir / "NOTICE").write_text("policylang test head; no third-party weights.\n")
    return out_dir
