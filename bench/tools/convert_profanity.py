"""Maintainer script: convert alt-profanity-check (MIT) to ONNX, once.

The result is committed as ``policylang/packs/models/profanity/`` (model.onnx,
config.json, LICENSE, NOTICE), so users need only onnxruntime, never sklearn.

Run it in a throwaway environment (the package pins its scikit-learn)::

    python -m venv /tmp/convenv
    /tmp/convenv/bin/pip install alt-profanity-check skl2onnx onnxruntime
    /tmp/convenv/bin/python bench/tools/convert_profanity.py [OUT_DIR]

It prints max |delta p| between sklearn and onnxruntime on a fixed set of
hand-written texts plus 2,000 seeded random sentences drawn from the
vectorizer's vocabulary, and fails if the difference on ASCII texts exceeds
1e-5 (non-ASCII text drifts a little: the ONNX tokenizer and sklearn's
``(?u)\\b\\w\\w+\\b`` disagree on some accented letters; the drift is printed).

The TfIdf converter gets the ``locale: "C.UTF-8"`` option: without it the
StringNormalizer node asks for en_US.UTF-8 and the session fails to load on
images that lack that locale.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from importlib import metadata, resources
from pathlib import Path

import joblib
import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "policylang" / "packs" / "models" / "profanity"

HAND_TEXTS = [
    "hello, how are you today?",
    "Please summarise this document for me.",
    "you are a fucking idiot",
    "what the hell is this shit",
    "I will kill this process later",
    "go to hell",
    "have a nice day",
    "this is bullshit",
    "The weather in Paris is lovely in spring.",
    "shut up you stupid bitch",
    "damn",
    "",
    "Ünïcödé téxt wïth àccents and an asshole",
    "Reset my password please",
]


def _texts(vocab: list[str], n: int = 2000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = list(HAND_TEXTS)
    for _ in range(n):
        k = rng.randint(1, 12)
        out.append(" ".join(rng.choice(vocab) for _ in range(k)))
    return out


def main(out_dir: Path = DEFAULT_OUT) -> int:
    pkg = resources.files("profanity_check") / "data"
    vectorizer = joblib.load(pkg / "vectorizer.joblib")
    model = joblib.load(pkg / "model.joblib")
    pipe = Pipeline([("tfidf", vectorizer), ("clf", model)])
    classes = [int(c) for c in model.classes_]
    id2label = {str(i): ("profane" if c == 1 else "clean") for i, c in enumerate(classes)}

    onx = to_onnx(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        options={id(vectorizer): {"locale": "C.UTF-8"}, id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onx.ir_version = 8
    version = metadata.version("alt-profanity-check")
    for key, value in {
        "id2label": json.dumps(id2label),
        "source": f"alt-profanity-check=={version} (MIT), converted by bench/tools/convert_profanity.py",
    }.items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(onx)

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.onnx"
    model_path.write_bytes(onx.SerializeToString())

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    print("inputs:", [(i.name, i.type, i.shape) for i in sess.get_inputs()])
    print("outputs:", [(o.name, o.type, o.shape) for o in sess.get_outputs()])

    texts = _texts(sorted(vectorizer.vocabulary_))
    p_sk = model.predict_proba(vectorizer.transform(texts))
    p_onnx = sess.run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})[0]
    diff = np.abs(p_sk - p_onnx)
    ascii_rows = [i for i, t in enumerate(texts) if t.isascii()]
    max_ascii = float(diff[ascii_rows].max())
    print(f"texts: {len(texts)}  max |dp| = {diff.max():.3g}  (ascii-only: {max_ascii:.3g})")
    for i, t in enumerate(texts):
        if not t.isascii():
            print(f"  non-ascii drift |dp|={diff[i].max():.3g}  {t!r}")
    for t in HAND_TEXTS[:8]:
        i = texts.index(t)
        print(f"  p(profane)={p_onnx[i, 1]:.3f} sklearn={p_sk[i, 1]:.3f}  {t!r}")

    config = {
        "id2label": id2label,
        "label2id": {v: int(k) for k, v in id2label.items()},
        "problem_type": "single_label_classification",
        "activation": "none",
        "output": "probabilities",
        "source": f"alt-profanity-check=={version}",
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    dist = metadata.distribution("alt-profanity-check")
    lic = next(f for f in dist.files if f.name == "LICENSE")
    shutil.copyfile(dist.locate_file(lic), out_dir / "LICENSE")
    (out_dir / "NOTICE").write_text(
        "policylang/packs/models/profanity/model.onnx\n\n"
        f"Converted to ONNX (skl2onnx) from the TfidfVectorizer + CalibratedClassifierCV(LinearSVC)\n"
        f"shipped in alt-profanity-check {version} (https://github.com/dimitrismistriotis/alt-profanity-check),\n"
        "Copyright (c) 2018 Victor Zhou, 2021 Menelaos Kotoglou, and Dimitrios Mistriotis,\n"
        "licensed under the MIT License (see LICENSE in this directory).\n\n"
        f"Conversion: bench/tools/convert_profanity.py; max |delta p| vs scikit-learn on {len(ascii_rows)}\n"
        f"ASCII texts: {max_ascii:.2g} (non-ASCII text drifts slightly: up to {diff.max():.2g}).\n"
        "Limits: word-level profanity, not context-aware toxicity.\n"
    )
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes)")
    return 0 if max_ascii <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT))
