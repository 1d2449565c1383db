"""Model-layer throughput: batch 1 vs batch 32 (CPU), MiniLM embedder and the tiny classifier.

    python bench/bench_models.py                 # all models, short prompts + corpus messages
    python bench/bench_models.py --threads 2 --n 256

Texts: "prompts" are short chat prompts (8-20 words, the typical guardrail input);
"messages" are the reference corpus (bench/data/corpus-*.jsonl, median ~600 bytes,
windowed at 256 tokens) when it has been generated, else synthetic text of similar length.
Throughput is texts/s through `TextEmbedder.embed` / `TextClassifier.predict`
(tokenisation, padding, pooling included), best of ``--repeat`` runs.
The MiniLM rows need the ``policylang[embeddings]`` extra and are skipped without it.

    python bench/bench_models.py --pack          # the shipped model pack, in one run:

added p50 of `use jailbreak, jailbreak_models` over `use jailbreak` on a 1 KB benign text
(`check`, `batch_wait_ms=0`), the same without the 32-token JailGuard windows (what the
second embedder costs), and `check_many` texts/s vs a `check` loop on 64 mixed texts
(`policylang[models]` extra).
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


ONE_KB = ("Hi team, a short update before Friday. The supplier confirmed the new shipping dates for the "
          "spring order: the first pallets leave the warehouse on Monday and should arrive by Thursday. "
          "Please check that the delivery address in the portal is the new office, not the old one, and tell "
          "me if any invoice still shows the previous price. Finance wants receipts for last month's travel "
          "by the end of the week. The kitchen will be cleaned on Wednesday, so take your food out of the "
          "fridge. Marketing asked for two more photos of the product for the catalogue; Sam can take them on "
          "Tuesday afternoon. Finally, the quarterly review moved to the 14th at 10:00 in room B. Thanks, and "
          "have a good weekend. Jo\n\nP.S. The new printer on the second floor needs a badge: hold it on the reader "
          "for two seconds, pick your job from the list and press print. If the paper tray is empty, the spare "
          "boxes are in the cupboard next to the kitchen. Please do not leave confidential pages in the tray.")


def _p50_us(guard, text: str, n: int) -> float:
    for _ in range(3):
        guard.check(text)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        guard.check(text)
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1e6


def bench_pack(n: int) -> int:
    """Added latency and batch throughput of the shipped `jailbreak_models` pack (one run)."""
    import policylang
    from policylang.runtime.models import builtin_model_path

    try:
        builtin_model_path("minilm")
    except ModelError as err:
        print(f"jailbreak_models: skipped ({err})")
        return 0
    text = ONE_KB
    assert 950 <= len(text.encode()) <= 1100, len(text.encode())
    patterns = policylang.load("jailbreak", batch_wait_ms=0)
    pack = policylang.load("jailbreak", "jailbreak_models", batch_wait_ms=0)
    src = (ROOT / "policylang" / "packs" / "jailbreak_models.policy").read_text()
    # the pack without the 32-token windows: drop the second embedder and every reference to it
    src128 = "\n".join(line for line in src.splitlines() if "minilm_short" not in line and "32-token windows: short" not in line)
    src128 = src128.replace(" or jailguard_short >= 0.9", "").replace(" or jailguard_short >= 0.98", "")
    src128 = src128.replace(" or jailguard_short >= 0.7", "").replace("models/", str(ROOT / "policylang/packs/models") + "/")
    src128 = src128.replace("policy jailbreak_models", "policy jailbreak_models_128")
    from policylang._source import SourceFile

    pack128 = policylang.load("jailbreak", SourceFile("jailbreak_models_128.policy", src128), batch_wait_ms=0)
    assert pack.check(text).action != "refuse" and pack128.check(text).action != "refuse"
    base = _p50_us(patterns, text, n)
    full = _p50_us(pack, text, n)
    only128 = _p50_us(pack128, text, n)
    print(f"1 KB benign text ({len(text.encode())} bytes), check p50 over {n} calls, batch_wait_ms=0:")
    print(f"  use jailbreak                        {base:10.0f} us")
    print(f"  use jailbreak, jailbreak_models      {full:10.0f} us   added p50 {full - base:8.0f} us")
    print(f"    without the 32-token windows       {only128:10.0f} us   added p50 {only128 - base:8.0f} us"
          f"   (32-token windows: +{full - only128:.0f} us)")
    rng = random.Random(1)
    words = ONE_KB.split()
    texts = []  # 64 distinct texts of 10 to 160 words (about 60 to 1,000 characters)
    for _ in range(64):
        k = rng.choice([10, 25, 60, 160])
        start = rng.randrange(len(words))
        texts.append(" ".join((words * 2)[start:start + k]))
    pack.check_many(texts[:8])
    t = time.perf_counter()
    pack.check_many(texts)
    many = time.perf_counter() - t
    t = time.perf_counter()
    for x in texts:
        pack.check(x)
    loop = time.perf_counter() - t
    print(f"  check_many {len(texts) / many:8.1f} texts/s vs check loop {len(texts) / loop:8.1f} texts/s "
          f"(x{loop / many:.2f}; {len(texts)} distinct texts of 10-160 words)")
    for g in (patterns, pack, pack128):
        g.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=192, help="texts per set (default 192)")
    ap.add_argument("--threads", type=int, default=1, help="intra_op_num_threads (default 1)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--pack", action="store_true", help="time the shipped jailbreak_models pack instead")
    args = ap.parse_args()
    if args.pack:
        return bench_pack(min(args.n, 100))

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
