"""How the cost of one check grows with the length of the text.

    python bench/bench_length.py                       # 100 B .. 256 KB, 3 rounds
    python bench/bench_length.py --sizes 1000,100000 --rounds 5

Texts of each size are cut from the reference corpus (bench/workload.py: messages joined
with a blank line, so the PII and jailbreak phrases planted in them occur at the corpus
rate). Each round times, interleaved, on the same texts:

- ``hs``: raw Hyperscan over the reference rules (SINGLEMATCH, collecting ids), the baseline;
- ``rules``: ``guard.check`` of the reference rules as a policy;
- ``packs``: ``guard.check`` of ``use pii, secrets, jailbreak`` (normalization, views,
  validators, spans).

Rows: µs per check (median over the texts of the median of rounds) and µs per KB, and each
engine's ratio to ``hs`` at that size. A linear engine keeps µs/KB flat as texts grow.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402

workload.ensure_repo_on_path()

from bench_scan import PACKS_SOURCE, HyperscanSingle  # noqa: E402

DEFAULT_SIZES = (100, 1_000, 10_000, 100_000, 256_000)


def texts_of(size: int, count: int, corpus: list[str]) -> list[str]:
    """``count`` texts of about ``size`` bytes, consecutive slices of the joined corpus."""
    out, buf, used, i = [], [], 0, 0
    while len(out) < count:
        msg = corpus[i % len(corpus)]
        i += 1
        buf.append(msg)
        used += len(msg.encode()) + 2
        if used >= size:
            text = "\n\n".join(buf)
            raw = text.encode()[:size]
            out.append(raw.decode("utf-8", "ignore"))
            buf, used = [], 0
    return out


def _time_each(fn, texts: list[str]) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for t in texts:
        t0 = clock()
        fn(t)
        out.append((clock() - t0) / 1000.0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="text sizes in bytes")
    ap.add_argument("--texts", type=int, default=0, help="texts per size (default: ~2 MB of text per size, 5..200)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    import policylang

    rules = workload.load_rules()
    corpus = workload.generate_corpus()
    hs_engine = HyperscanSingle(rules)
    rules_guard = policylang.loads(workload.policy_from_rules(rules))
    packs_guard = policylang.loads(PACKS_SOURCE)

    def hs_one(text):
        hits: list[int] = []
        hs_engine.db.scan(text.encode("utf-8"), match_event_handler=_on_match, context=hits)

    engines = {
        "hs": hs_one,
        "rules": lambda t: rules_guard.check(t, stage="input"),
        "packs": lambda t: packs_guard.check(t, stage="input"),
    }
    print(f"{'size':>8} {'texts':>5} | " + " | ".join(f"{n:>7} µs {n:>6} µs/KB" for n in engines)
          + " | rules/hs packs/hs (time ratios)")
    for size in (int(s) for s in args.sizes.split(",")):
        count = args.texts or max(5, min(200, 2_000_000 // size))
        texts = texts_of(size, count, corpus)
        for fn in engines.values():  # warm up (first-use regex compiles, caches)
            for t in texts[:3]:
                fn(t)
        per: dict[str, list[list[float]]] = {n: [] for n in engines}
        for _ in range(args.rounds):
            for name, fn in engines.items():
                per[name].append(_time_each(fn, texts))
        med = {n: statistics.median(statistics.median(r[i] for r in rounds) for i in range(len(texts)))
               for n, rounds in per.items()}
        kb = statistics.median(len(t.encode()) for t in texts) / 1024
        cells = " | ".join(f"{med[n]:10.1f} {med[n] / kb:12.1f}" for n in engines)
        print(f"{size:>8} {count:>5} | {cells} | {med['rules'] / med['hs']:8.1f} {med['packs'] / med['hs']:8.1f}")
    return 0


def _on_match(id_, start, end, flags, ctx):
    ctx.append(id_)
    return None


if __name__ == "__main__":
    sys.exit(main())
