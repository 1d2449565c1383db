"""Cost of normalization and views on the realistic policy (`pii`, `secrets`, `jailbreak`).

Measures, in one process, on the first --n messages of the reference workload
(bench/workload.py; ordinary text, a few PII values and jailbreak phrases):

  scan       plan.patterns.scan(text) on the raw text alone: the Hyperscan floor
  normalize  the policy's Normalizer alone (all its steps and views)
  check      guard.check(text, stage="input") per message (p50 / p99 / msg/s)
  many       guard.check_many(texts, stage="input")

and prints each as msg/s with its ratio to `scan` measured in the same run (the machines
are noisy: compare ratios across runs, not raw figures). Median of --runs rounds,
engines interleaved per round.

With ``--baseline FILE`` (another version of ``policylang/runtime/normalize.py``, e.g.
``git show HEAD~5:policylang/runtime/normalize.py > /tmp/old_normalize.py``) the same
policy is also timed with that version's Normalizer swapped into the engine
(``normalize_base``, ``check_base``), in the same rounds: before/after in one run.
``--packs`` takes pack names or paths of .policy files (e.g. copies of a fixed version).

Usage:
  python bench/bench_views.py               # 2,000 messages, 3 rounds (~20 s)
  python bench/bench_views.py --n 5000 --runs 5 --json out.json
  python bench/bench_views.py --baseline /tmp/old_normalize.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402

workload.ensure_repo_on_path()


def _per_msg(fn, texts):
    clock = time.perf_counter_ns
    times = []
    t0 = time.perf_counter()
    for t in texts:
        a = clock()
        fn(t)
        times.append(clock() - a)
    return time.perf_counter() - t0, times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="messages (default 2000)")
    ap.add_argument("--runs", type=int, default=3, help="rounds; the median is reported (default 3)")
    ap.add_argument("--packs", default="pii,secrets,jailbreak", help="packs to load (default pii,secrets,jailbreak)")
    ap.add_argument("--baseline", metavar="FILE", help="a normalize.py to time against, in the same run")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    import policylang

    texts = workload.sample(args.n)
    t0 = time.perf_counter()
    guard = policylang.load(*[p.strip() for p in args.packs.split(",") if p.strip()])
    load_s = time.perf_counter() - t0
    plan = guard.plan
    normalizer = guard._engine.normalizer
    scan = plan.patterns.scan
    check = guard.check
    engine = guard._engine
    base_norm = None
    if args.baseline:
        import importlib.util

        spec = importlib.util.spec_from_file_location("baseline_normalize", args.baseline)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["baseline_normalize"] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        base_norm = mod.Normalizer(tuple(s for s in normalizer.steps if s in mod.STEPS))

    def check_base(t):
        engine.normalizer = base_norm
        try:
            return check(t, stage="input")
        finally:
            engine.normalizer = normalizer

    for t in texts[:200]:  # warm-up
        check(t, stage="input")
        if base_norm is not None:
            check_base(t)

    engines = [("scan", scan), ("normalize", normalizer), ("check", lambda t: check(t, stage="input"))]
    if base_norm is not None:
        engines += [("normalize_base", base_norm), ("check_base", check_base)]
    rows: dict[str, list] = {k: [] for k, _ in engines}
    rows["many"] = []
    p50s: dict[str, list] = {k: [] for k, _ in engines}
    p99s: dict[str, list] = {k: [] for k, _ in engines}
    for _ in range(args.runs):
        for name, fn in engines:
            total, times = _per_msg(fn, texts)
            rows[name].append(len(texts) / total)
            times.sort()
            p50s[name].append(times[len(times) // 2] / 1000)
            p99s[name].append(times[min(len(times) - 1, int(len(times) * 0.99))] / 1000)
        a = time.perf_counter()
        guard.check_many(texts, stage="input")
        rows["many"].append(len(texts) / (time.perf_counter() - a))

    med = {k: statistics.median(v) for k, v in rows.items()}
    res = {"n": len(texts), "runs": args.runs, "packs": args.packs, "normalize": list(normalizer.steps),
           "load_s": round(load_s, 3),
           "msg_per_s": {k: round(v) for k, v in med.items()},
           "vs_scan": {k: round(v / med["scan"], 3) for k, v in med.items()},
           "p50_us": {k: round(statistics.median(v), 1) for k, v in p50s.items()},
           "p99_us": {k: round(statistics.median(v), 1) for k, v in p99s.items()}}
    print(f"packs {args.packs}; normalize {', '.join(normalizer.steps)}; {len(texts)} messages, "
          f"median of {args.runs} rounds; load {load_s:.2f} s")
    print(f"{'engine':<10} {'msg/s':>10} {'vs scan':>8} {'p50 us':>8} {'p99 us':>8}")
    for k in rows:
        p50 = res["p50_us"].get(k)
        p99 = res["p99_us"].get(k)
        print(f"{k:<10} {res['msg_per_s'][k]:>10,} {res['vs_scan'][k]:>8.3f} "
              f"{'' if p50 is None else f'{p50:8.1f}'} {'' if p99 is None else f'{p99:8.1f}'}")
    if base_norm is not None:
        print(f"normalize speed-up vs baseline: {res['msg_per_s']['normalize'] / res['msg_per_s']['normalize_base']:.2f}x "
              f"(p50 {res['p50_us']['normalize_base']} -> {res['p50_us']['normalize']} us); "
              f"check: {res['msg_per_s']['check'] / res['msg_per_s']['check_base']:.2f}x "
              f"(p50 {res['p50_us']['check_base']} -> {res['p50_us']['check']} us)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    guard.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
