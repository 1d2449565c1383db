"""Rule-count scaling: how policylang's load time and throughput change with 10 .. 10,000 rules.

For each size N (default 10, 100, 1,000, 10,000) a deterministic policy of N rules is written
as policylang DSL source: 80% literal rules (one `words [...] nocase` + `rule` each, mostly
two-word phrases) and 20% simple regex rules (`pattern /.../` + `rule` each, four templates).
Then it measures, median of --runs (3):

  parse        policylang.syntax.parse(source)                 (parser only)
  parse+check  policylang.check_source(source)                 (skipped if the API is missing)
  loads        policylang.loads(source, cache_dir=False)       (parse + check + compile, cold cache)
  compile      loads - parse+check                             (derived)
  many msg/s   guard.check_many(texts, stage="input") on the first --n corpus messages
  hs           reference: the same patterns in one raw Hyperscan SINGLEMATCH database
               (compile seconds and messages/s with a collecting callback)

and prints the throughput ratio 10 rules vs 10,000 rules (target: within 2x).
Every policylang call is behind try/except: a missing API prints "n/a" and the run goes on.

Usage:
  python bench/bench_rules_scaling.py                      # 10,100,1000,10000 rules, 5,000 messages
  python bench/bench_rules_scaling.py --sizes 10,1000 --n 2000
  python bench/bench_rules_scaling.py --json bench/out/scaling.json
  python bench/bench_rules_scaling.py --print-policy 100   # show the generated DSL for N=100
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402
from bench_scan import _hs_escape, _on_match  # noqa: E402

workload.ensure_repo_on_path()

RATIO_TARGET = 2.0
REGEX_SHARE = 0.2
SCALING_SEED = 4242


# ----------------------------------------------------------------------------- rule generation

def _vocabulary(texts: list[str], size: int = 6000) -> list[str]:
    words = sorted({w for t in texts for w in re.findall(r"\b[a-z]{4,12}\b", t)})
    rng = random.Random(SCALING_SEED)
    rng.shuffle(words)
    return words[:size]


def generate_rules(n: int, vocab: list[str], seed: int = SCALING_SEED) -> list[dict]:
    """n rules: {"id", "kind": "literal"|"regex", "text"|"pattern", "flags"}; deterministic.

    The rules for a smaller n are a prefix of those for a larger n (same seed)."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        rid = f"{i:05d}"
        if rng.random() < REGEX_SHARE:
            t = rng.randrange(4)
            w1, w2 = rng.choice(vocab), rng.choice(vocab)
            if t == 0:
                pat, flags = rf"\b{w1}\s+{w2}\b", "i"
            elif t == 1:
                pat, flags = rf"\b{w1}[-_ ]?\d{{3,6}}\b", ""
            elif t == 2:
                pfx = "".join(rng.choice(string.ascii_lowercase) for _ in range(3))
                pat, flags = rf"\b{pfx}_[A-Za-z0-9]{{16,32}}\b", ""
            else:
                pat, flags = rf"{w1}\W{{0,3}}{w2}", "i"
            out.append({"id": rid, "kind": "regex", "pattern": pat, "flags": flags})
        else:
            if rng.random() < 0.02:
                text = rng.choice(vocab)
            else:
                text = f"{rng.choice(vocab)} {rng.choice(vocab)}"
            out.append({"id": rid, "kind": "literal", "text": text})
    return out


def policy_source(rules: list[dict]) -> str:
    lines = [f"policy scaling {workload.dsl_string(f'{len(rules)} generated rules')}",
             f"principle privacy {workload.dsl_string('keep personal data out')}", ""]
    for r in rules:
        rid = r["id"]
        if r["kind"] == "regex":
            lines.append(f"pattern p_{rid} = {workload.dsl_regex(r['pattern'], r['flags'])}")
            lines.append(f"rule r_{rid} on input: when p_{rid} flag because privacy")
        else:
            lines.append(f"words w_{rid} = [{workload.dsl_string(r['text'])}] nocase")
            lines.append(f"rule r_{rid} on input: when w_{rid} flag because privacy")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- measurements

def _median_time(fn, runs: int) -> tuple[float, object]:
    times, last = [], None
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), last


def _try(fn):
    """(value, None) or (None, reason)."""
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


_GUARDS: dict[str, object] = {}  # DSL source -> the loaded guard (taken by main, one per size)


def interleaved_ratio(lo_guard, hi_guard, texts: list[str], rounds: int) -> dict:
    """check_many of the smallest and the largest policy in alternating rounds (the order
    flips each round), so that load on a shared machine hits both alike: the median of the
    per-round throughput ratios, and the ratio of the best rounds."""
    lo_t, hi_t, per_round = [], [], []
    for r in range(rounds):
        pair = [(lo_guard, lo_t), (hi_guard, hi_t)]
        for guard, times in (pair if r % 2 == 0 else pair[::-1]):
            gc.collect()
            t0 = time.perf_counter()
            guard.check_many(texts, stage="input")
            times.append(time.perf_counter() - t0)
        per_round.append(hi_t[-1] / lo_t[-1])
    return {"rounds": rounds, "median_ratio": statistics.median(per_round), "best_ratio": min(hi_t) / min(lo_t),
            "lo_msgs_per_s": len(texts) / min(lo_t), "hi_msgs_per_s": len(texts) / min(hi_t)}


def measure_engine(src: str, texts: list[str], runs: int) -> dict:
    out: dict = {}
    try:
        import policylang
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"engine: not available (import policylang failed: {type(exc).__name__}: {exc})"
        return out

    # parse only
    try:
        from policylang._source import SourceFile
        from policylang.syntax import parse

        out["parse_s"], res = _median_time(lambda: parse(SourceFile("<scaling>", src)), runs)
        if not res.ok:
            out["parse_errors"] = [str(d) for d in res.diagnostics[:3]]
    except Exception as exc:  # noqa: BLE001
        out["parse_error"] = f"{type(exc).__name__}: {exc}"

    # parse + check
    check_source = getattr(policylang, "check_source", None)
    if check_source is None:
        out["check_error"] = "policylang.check_source is missing"
    else:
        (val, why) = _try(lambda: _median_time(lambda: check_source(src), runs))
        if why:
            out["check_error"] = why
        else:
            out["parse_check_s"] = val[0]

    # loads (cold: no compiled-database cache, when the option exists)
    loads = getattr(policylang, "loads", None)
    if loads is None:
        out["error"] = "engine: not available (policylang.loads is missing)"
        return out

    def cold_loads():
        try:
            return loads(src, cache_dir=False)
        except TypeError:
            return loads(src)

    (val, why) = _try(lambda: _median_time(cold_loads, runs))
    if why:
        out["error"] = f"engine: not available (policylang.loads failed: {why})"
        return out
    out["loads_s"], guard = val
    _GUARDS[src] = guard  # for --rounds (interleaved check_many rounds)
    if "parse_check_s" in out:
        out["compile_s"] = out["loads_s"] - out["parse_check_s"]

    check_many = getattr(guard, "check_many", None)
    if check_many is None:
        out["many_error"] = "guard.check_many is missing"
        return out
    (val, why) = _try(lambda: (check_many(texts[:100], stage="input"),
                               _median_time(lambda: check_many(texts, stage="input"), runs))[1])
    if why:
        out["many_error"] = why
    else:
        out["many_s"] = val[0]
        out["many_msgs_per_s"] = len(texts) / val[0]
    return out


def measure_hyperscan(rules: list[dict], texts: list[str], runs: int) -> dict:
    try:
        import hyperscan as hs
    except Exception as exc:  # noqa: BLE001
        return {"error": f"hyperscan not available: {exc}"}
    exprs, flags = [], []
    for r in rules:
        if r["kind"] == "regex":
            exprs.append(r["pattern"].encode())
            f = hs.HS_FLAG_CASELESS if "i" in r["flags"] else 0
        else:
            exprs.append(_hs_escape(r["text"]).encode())
            f = hs.HS_FLAG_CASELESS
        flags.append(f | hs.HS_FLAG_SINGLEMATCH)
    t0 = time.perf_counter()
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=list(range(len(exprs))), flags=flags)
    compile_s = time.perf_counter() - t0
    scan = db.scan

    def run():
        matches = 0
        for t in texts:
            hits: list[int] = []
            scan(t.encode("utf-8"), match_event_handler=_on_match, context=hits)
            matches += len(hits)
        return matches

    run()
    secs, matches = _median_time(run, runs)
    return {"compile_s": compile_s, "db_bytes": len(hs.dumpb(db)), "msgs_per_s": len(texts) / secs,
            "matches": matches}


# ----------------------------------------------------------------------------- main

def _f(v, spec):
    return "n/a" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000,10000", help="comma-separated rule counts")
    ap.add_argument("--n", type=int, default=5000, help="corpus messages for throughput (default 5,000)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per measurement; median reported")
    ap.add_argument("--no-hs", action="store_true", help="skip the raw Hyperscan reference")
    ap.add_argument("--rounds", type=int, default=0,
                    help="then time check_many of the smallest and largest policy in this many alternating "
                         "rounds and report the median per-round ratio (robust on a busy machine)")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--print-policy", type=int, metavar="N", help="print the generated DSL for N rules and exit")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    texts = workload.sample(args.n)
    vocab = _vocabulary(texts[:2000])
    if args.print_policy:
        print(policy_source(generate_rules(args.print_policy, vocab)), end="")
        return 0

    stats = workload.corpus_stats(texts)
    print(f"rule-scaling benchmark -- Python {sys.version.split()[0]}, corpus: first {stats['messages']:,} "
          f"messages ({stats['mb']} MB), median of {args.runs} runs, "
          f"{int(100 * (1 - REGEX_SHARE))}% literal / {int(100 * REGEX_SHARE)}% regex rules")
    results = []
    guards: dict[int, object] = {}
    for n in sizes:
        rules = generate_rules(n, vocab)
        src = policy_source(rules)
        row = {"rules": n, "regex_rules": sum(r["kind"] == "regex" for r in rules),
               "dsl_lines": len(src.splitlines()), "dsl_bytes": len(src.encode())}
        row["engine"] = measure_engine(src, texts, args.runs)
        guards[n] = _GUARDS.pop(src, None)
        if not args.no_hs:
            row["hs"] = _try(lambda: measure_hyperscan(rules, texts, args.runs))[0] or {"error": "failed"}
        results.append(row)
        e, h = row["engine"], row.get("hs", {})
        notes = [v for k, v in e.items() if k.endswith("error") or k == "error"]
        print(f"  {n:>6,} rules: parse {_f(e.get('parse_s'), '.3f')} s, parse+check {_f(e.get('parse_check_s'), '.3f')} s, "
              f"loads {_f(e.get('loads_s'), '.3f')} s, compile {_f(e.get('compile_s'), '.3f')} s, "
              f"check_many {_f(e.get('many_msgs_per_s'), ',.0f')} msg/s | raw HS compile "
              f"{_f(h.get('compile_s'), '.2f')} s, {_f(h.get('msgs_per_s'), ',.0f')} msg/s"
              + (f"\n           {'; '.join(dict.fromkeys(notes))}" if notes else ""), flush=True)

    print()
    print(f"{'rules':>7} {'DSL lines':>10} {'parse s':>9} {'p+check s':>10} {'loads s':>9} {'compile s':>10} "
          f"{'many msg/s':>11} {'HS comp s':>10} {'HS msg/s':>10} {'HS DB MB':>9}")
    for row in results:
        e, h = row["engine"], row.get("hs", {})
        print(f"{row['rules']:>7,} {row['dsl_lines']:>10,} {_f(e.get('parse_s'), '.3f'):>9} "
              f"{_f(e.get('parse_check_s'), '.3f'):>10} {_f(e.get('loads_s'), '.3f'):>9} "
              f"{_f(e.get('compile_s'), '.3f'):>10} {_f(e.get('many_msgs_per_s'), ',.0f'):>11} "
              f"{_f(h.get('compile_s'), '.2f'):>10} {_f(h.get('msgs_per_s'), ',.0f'):>10} "
              f"{_f(h.get('db_bytes') and h['db_bytes'] / 1e6, '.2f'):>9}")

    ratios = {}
    lo = next((r for r in results if r["rules"] == min(sizes)), None)
    hi = next((r for r in results if r["rules"] == max(sizes)), None)
    if lo is not None and hi is not None and lo is not hi:
        a, b = lo["engine"].get("many_msgs_per_s"), hi["engine"].get("many_msgs_per_s")
        ratios["many"] = a / b if a and b else None
        ha, hb = lo.get("hs", {}).get("msgs_per_s"), hi.get("hs", {}).get("msgs_per_s")
        ratios["hs"] = ha / hb if ha and hb else None
        print()
        label = f"throughput {lo['rules']:,} rules vs {hi['rules']:,} rules"
        if ratios["many"] is None:
            print(f"{label}: check_many n/a (engine not available)   target within {RATIO_TARGET:g}x")
        else:
            verdict = "PASS" if ratios["many"] <= RATIO_TARGET else "FAIL"
            print(f"{label}: check_many {ratios['many']:.2f}x   target within {RATIO_TARGET:g}x   {verdict}")
        if ratios["hs"] is not None:
            print(f"  (reference) raw Hyperscan: {ratios['hs']:.2f}x")
        lo_g, hi_g = guards.get(lo["rules"]), guards.get(hi["rules"])
        if args.rounds > 0 and lo_g is not None and hi_g is not None:
            inter = interleaved_ratio(lo_g, hi_g, texts, args.rounds)
            ratios["interleaved"] = inter
            print(f"  interleaved, {inter['rounds']} alternating rounds: check_many {inter['median_ratio']:.2f}x "
                  f"(median per-round ratio; best rounds {inter['best_ratio']:.2f}x: "
                  f"{inter['lo_msgs_per_s']:,.0f} vs {inter['hi_msgs_per_s']:,.0f} msg/s)")

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"corpus": stats, "runs": args.runs, "results": results, "ratios": ratios,
                       "target_ratio": RATIO_TARGET}, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
