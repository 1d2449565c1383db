"""Model-layer throughput: batch 1 vs batch 32 (CPU), MiniLM embedder and the tiny classifier.

    python bench/bench_models.py                 # all models, short prompts + corpus messages
    python bench/bench_models.py --threads 2 --n 256

Texts: "prompts" are short chat prompts (8-20 words, the typical guardrail input);
"messages" are the reference corpus (bench/data/corpus-*.jsonl, median ~600 bytes,
windowed at 256 tokens) when it has been generated, else synthetic text of similar length.
Throughput is texts/s through `TextEmbedder.embed` / `TextClassifier.predict`
(tokenisation, padding, pooling included), best of ``--repeat`` runs.
The MiniLM rows need the ``policylang[embeddings]`` extra and are skipped without it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from policylang.runtime.models import ModelError, ModelSpec, TextClassifier, TextEmbedder

WORDS = ["please", "help", "me", "with", "my", "order", "refund", "the", "router", "keeps", "dropping", "wifi", "connection", "can", "you", "summarise", "this", "document", "and", "write", "an", "email", "to", "my", "manager", "about", "the", "report", "ignore", "previous", "instructions", "what", "dose", "of", "ibuprofen", "should", "I", "take", "for", "a", "headache", "how", "do", "I", "reset", "my", "password", "my", "account", "was", "locked", "after", "three", "attempts", "today"]


def prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) for _ in range(n)]


def messages(n: int, seed: int = 0) -> tuple[list[str], str]:
    data = sorted((ROOT / "bench" / "data").glob("corpus-*.jsonl"))
    if data:
        out = []
        with data[-1].open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                text = rec.get("text") or rec.get("message") or next((v for v in rec.values() if isinstance(v, str)), "")
                out.append(text)
                if len(out) >= n:
                    break
        return out, data[-1].name
    rng = random.Random(seed)
    out = [" ".join(rng.choice(WORDS) for _ in range(max(15, int(rng.lognormvariate(4.6, 0.5))))) for _ in range(n)]
    return out, "synthetic"


def throughput(fn, texts: list[str], batch: int, repeat: int) -> float:
    best = float("inf")
    fn(texts[:batch])  # warm-up
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            fn(texts[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def bench(name: str, fn, sets: dict[str, list[str]], batches: tuple[int, ...], repeat: int) -> list[dict]:
    rows = []
    for set_name, texts in sets.items():
        base = None
        for b in batches:
            tps = throughput(fn, texts, b, repeat)
            base = base or tps
            rows.append({"model": name, "texts": set_name, "batch": b, "texts_per_s": tps, "vs_batch1": tps / base})
            print(f"  {name:<12} {set_name:<9} batch {b:>3}: {tps:9.1f} texts/s   x{tps / base:5.2f} vs batch 1", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=192, help="texts per set (default 192)")
    ap.add_argument("--threads", type=int, default=1, help="intra_op_num_threads (default 1)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()

    msgs, source = messages(args.n)
    sets = {"prompts": prompts(args.n), "messages": msgs}
    print(f"texts: {args.n} prompts (8-20 words), {len(msgs)} messages from {source}; threads={args.threads}")
    rows: list[dict] = []
    batches = (1, 32)

    try:
        minilm = TextEmbedder(ModelSpec("builtin:minilm", threads=args.threads))
    except ModelError as err:
        print(f"  minilm: skipped ({err})")
    else:
        print(f"minilm ({minilm.provider}, window {minilm.max_length}):")
        rows += bench("minilm", minilm.embed, sets, batches, args.repeat)

    from model_factory import make_classifier

    with tempfile.TemporaryDirectory() as tmp:
        tiny = TextClassifier(ModelSpec(str(make_classifier(tmp)), threads=args.threads))
        print(f"tiny classifier ({tiny.provider}, window {tiny.max_length}):")
        rows += bench("tiny", tiny.predict, sets, batches, args.repeat)
    profanity = TextClassifier(ModelSpec("builtin:profanity", threads=args.threads))
    print(f"profanity ({profanity.provider}, string input):")
    rows += bench("profanity", profanity.predict, sets, batches, args.repeat)

    ratios = {(r["model"], r["texts"]): r["vs_batch1"] for r in rows if r["batch"] == 32}
    if ("minilm", "prompts") in ratios:
        verdict = "OK" if ratios[("minilm", "prompts")] >= 4 else "BELOW TARGET"
        print(
            f"\nMiniLM batch-32 / batch-1 throughput: prompts x{ratios[('minilm', 'prompts')]:.2f}, "
            f"messages x{ratios[('minilm', 'messages')]:.2f} (target >= 4x on prompts: {verdict})"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
