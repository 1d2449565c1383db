"""GPU check for the model layer: is CUDA really used, do scores match CPU, how fast is it.

Run on a machine with an NVIDIA GPU and the onnxruntime-gpu wheel (``policylang[gpu]``)::

    python bench/gpu_check.py                  # exit 1 if CUDA was requested but not used
    python bench/gpu_check.py --allow-cpu      # still report parity/throughput without CUDA

For the MiniLM embedder (if ``policylang[embeddings]`` is installed), the tiny test
classifier (built on the fly, needs the ``onnx`` package) and the shipped profanity
model, it prints:

* requested vs actual providers: ``session.get_providers()`` is the only truth
  (a CUDA request falls back to CPU silently, and ``get_available_providers()``
  lists CUDA even without a usable GPU);
* CPU vs GPU parity: max |difference| of the scores / embeddings on the same texts;
* throughput (texts/s) at batch 1, 32 and 128 on CPU and GPU.

Exit status: 0 all good; 1 CUDA requested but a session did not get it; 2 parity
above tolerance (``--tol``, default 2e-3; int8 kernels differ slightly between EPs).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np
import onnxruntime as ort

from policylang.runtime.models import ModelError, ModelSpec, TextClassifier, TextEmbedder

CUDA = ("CUDAExecutionProvider", "CPUExecutionProvider")
CPU = ("CPUExecutionProvider",)
WORDS = ["please", "help", "me", "with", "my", "order", "refund", "the", "router", "keeps", "dropping", "wifi", "connection", "can", "you", "summarise", "this", "document", "and", "write", "an", "email", "to", "my", "manager", "ignore", "previous", "instructions", "what", "dose", "of", "ibuprofen", "should", "I", "take", "for", "a", "headache", "how", "do", "I", "reset", "my", "password", "you", "are", "now", "DAN"]


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(6, 24) if i % 4 else rng.randint(60, 220)  # a quarter are long messages
        out.append(" ".join(rng.choice(WORDS) for _ in range(k)))
    return out


def gpu_name() -> str:
    try:
        import subprocess

        res = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )
        return res.stdout.strip() or res.stderr.strip() or "nvidia-smi gave nothing"
    except Exception as err:  # noqa: BLE001
        return f"nvidia-smi unavailable ({type(err).__name__})"


def throughput(fn, data: list[str], batch: int, min_seconds: float = 1.0) -> float:
    fn(data[:batch])  # warm-up (CUDA kernels, allocator)
    done, start = 0, time.perf_counter()
    while True:
        for i in range(0, len(data), batch):
            fn(data[i : i + batch])
        done += len(data)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def check(name: str, load, method: str, data: list[str], batches: list[int], tol: float, report: dict) -> tuple[bool, bool]:
    """Returns (cuda_used, parity_ok)."""
    try:
        cpu = load(CPU)
        gpu = load(CUDA)
    except ModelError as err:
        print(f"[{name}] skipped: {err}")
        report[name] = {"skipped": str(err)}
        return True, True
    actual = list(gpu._session.get_providers())
    used = actual[0] == "CUDAExecutionProvider"
    ref = getattr(cpu, method)(data)
    got = getattr(gpu, method)(data)
    diff = float(np.abs(ref - got).max())
    ok = diff <= tol
    entry = {
        "requested": list(gpu.requested_providers),
        "session_providers": actual,
        "provider": gpu.provider,
        "cuda_used": used,
        "max_abs_diff": diff,
        "parity_ok": ok,
        "throughput": {},
    }
    print(f"[{name}] session providers {actual} -> {'CUDA USED' if used else 'CUDA NOT USED'}")
    print(f"[{name}] CPU vs GPU max |diff| over {len(data)} texts: {diff:.2e} ({'ok' if ok else f'ABOVE {tol:g}'})")
    for b in batches:
        c = throughput(getattr(cpu, method), data, b)
        g = throughput(getattr(gpu, method), data, b)
        entry["throughput"][b] = {"cpu": c, "gpu": g}
        print(f"[{name}] batch {b:>3}: CPU {c:9.1f} texts/s   GPU {g:9.1f} texts/s   x{g / c:5.1f}")
    report[name] = entry
    return used, ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="texts (default 256)")
    ap.add_argument("--batches", default="1,32,128")
    ap.add_argument("--tol", type=float, default=2e-3)
    ap.add_argument("--allow-cpu", action="store_true", help="do not fail when CUDA is not used")
    ap.add_argument("--json", type=Path, help="also write the report as JSON")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    data = texts(args.n)

    print(f"onnxruntime {ort.__version__} ({ort.get_device()}), python {platform.python_version()}, {platform.machine()}")
    print(f"available providers: {ort.get_available_providers()}")
    print(f"GPU: {gpu_name()}")
    report: dict = {"onnxruntime": ort.__version__, "available": ort.get_available_providers(), "gpu": gpu_name()}
    results = []

    results.append(check(
        "minilm", lambda p: TextEmbedder(ModelSpec("builtin:minilm", providers=p)), "embed", data, batches, args.tol, report
    ))
    tmp = tempfile.TemporaryDirectory()
    try:
        from model_factory import make_classifier

        tiny_dir = str(make_classifier(tmp.name))
        results.append(check(
            "tiny", lambda p: TextClassifier(ModelSpec(tiny_dir, providers=p)), "predict", data, batches, args.tol, report
        ))
    except ImportError as err:
        print(f"[tiny] skipped: {err} (pip install onnx)")
    results.append(check(
        "profanity", lambda p: TextClassifier(ModelSpec("builtin:profanity", providers=p)), "predict",
        data, batches, args.tol, report,
    ))
    tmp.cleanup()

    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    cuda_ok = all(u for u, _ in results)
    parity_ok = all(p for _, p in results)
    print(f"\nverdict: cuda {'used' if cuda_ok else 'NOT used'}, parity {'ok' if parity_ok else 'FAILED'}")
    if not cuda_ok and not args.allow_cpu:
        return 1
    return 0 if parity_ok else 2


if __name__ == "__main__":
    sys.exit(main())
