"""Scan benchmark on the reference workload (bench/README.md).

Measures, in one process and one after the other, median of --runs (3) runs each:

  (a) naive   naive Python loop: `re.search` per compiled regex + `in` per lower-cased phrase
              (on a --naive-n subset, 2,000 messages by default; messages/s extrapolated)
  (b) hs      raw Hyperscan, one database, SINGLEMATCH, callback collecting ids
  (c) hs_som  raw Hyperscan with SOM_LEFTMOST (patterns refused with "Pattern is too large" go without SOM)
  (d) many    policylang: guard.check_many(texts, stage="input")
  (e) check   policylang: guard.check(text, stage="input") per message
  (f) hs_floor  reference only: Hyperscan SINGLEMATCH on pre-encoded bytes, no callback, no per-call work
  (g) packs   the realistic policy `use pii, secrets, jailbreak`: check_many(texts, stage="input")
  (h) packs_check  the same policy, check(text, stage="input") per message

and prints messages/s, MB/s, p50/p99 µs per message and the ratios the project targets:
  check_many / naive             >= 50x
  check_many / raw Hyperscan     >= 0.3x
  check p50 - raw Hyperscan p50  <= 25 µs   (messages of ~1 KB: 896..1152 bytes)
  packs check_many / raw Hyperscan (reference rules)  >= 0.2x
  packs check p99                <= 300 µs

Usage:
  python bench/bench_scan.py                 # full 20,000-message corpus
  python bench/bench_scan.py --n 2000        # quick run on the first 2,000 messages
  python bench/bench_scan.py --json out.json # also write the results as JSON
  python bench/bench_scan.py --engines hs,hs_som   # a subset (run engines in separate processes this way)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402

workload.ensure_repo_on_path()

import numpy as np  # noqa: E402

ENGINES = ("hs", "hs_som", "hs_floor", "many", "check", "packs", "packs_check", "naive")
PACKS_SOURCE = "use pii, secrets, jailbreak\n"  # the realistic policy (issue 11)
KB_LO, KB_HI = 896, 1152  # "~1 KB" messages for the latency-overhead target

TARGETS = {
    "many_vs_naive": 50.0,  # >=
    "many_vs_hs": 0.3,  # >=
    "check_minus_hs_p50_1kb_us": 25.0,  # <=
    "packs_vs_hs": 0.2,  # >=
    "packs_check_p99_us": 300.0,  # <=
}


# ----------------------------------------------------------------------------- helpers

def _hs_escape(text: str) -> str:
    """A Hyperscan/PCRE regex matching text literally (non-alphanumerics as \\xHH bytes)."""
    out = []
    for ch in text:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


class Measurement:
    """One timed pass: total seconds and optional per-message nanoseconds."""

    def __init__(self, total_s: float, per_msg_ns: list[int] | None, matches: int | None):
        self.total_s = total_s
        self.per_msg_ns = np.asarray(per_msg_ns, dtype=np.int64) if per_msg_ns is not None else None
        self.matches = matches


def _summarise(name: str, label: str, runs: list[Measurement], texts: list[str], sizes: np.ndarray,
               note: str = "") -> dict:
    n = len(texts)
    nbytes = int(sizes.sum())
    rates = [n / m.total_s for m in runs]
    res = {
        "engine": name,
        "label": label,
        "messages": n,
        "runs": len(runs),
        "messages_per_s": statistics.median(rates),
        "messages_per_s_runs": [round(r, 1) for r in rates],
        "mb_per_s": statistics.median(nbytes / 1e6 / m.total_s for m in runs),
        "mean_us": statistics.median(m.total_s / n * 1e6 for m in runs),
        "matches": runs[0].matches,
        "decisions": getattr(runs[0], "decisions", None),
        "note": note,
    }
    if runs[0].per_msg_ns is not None:
        kb = (sizes >= KB_LO) & (sizes <= KB_HI)
        res["p50_us"] = statistics.median(float(np.percentile(m.per_msg_ns, 50)) / 1e3 for m in runs)
        res["p99_us"] = statistics.median(float(np.percentile(m.per_msg_ns, 99)) / 1e3 for m in runs)
        if kb.any():
            res["p50_1kb_us"] = statistics.median(float(np.percentile(m.per_msg_ns[kb], 50)) / 1e3 for m in runs)
            res["n_1kb"] = int(kb.sum())
    return res


def _timed_runs(fn, texts, runs: int, warmup: int = 200) -> list[Measurement]:
    fn(texts[:warmup])
    out = []
    for _ in range(runs):
        gc.collect()
        out.append(fn(texts))
    return out


# ----------------------------------------------------------------------------- engines

class Naive:
    """(a) `re.search` per compiled regex + `in` per lower-cased phrase."""

    def __init__(self, rules: dict):
        t0 = time.perf_counter()
        self.regexes = [
            (rx["id"], re.compile(rx["pattern"], re.IGNORECASE if "i" in rx.get("flags", "") else 0))
            for rx in rules["regexes"]
        ]
        self.phrases = [(lit["id"], lit["text"].lower()) for lit in rules["literals"]]
        self.compile_s = time.perf_counter() - t0

    def fired(self, text: str) -> set[str]:
        low = text.lower()
        out = {rid for rid, rx in self.regexes if rx.search(text)}
        out.update(lid for lid, p in self.phrases if p in low)
        return out

    def __call__(self, texts: list[str]) -> Measurement:
        regexes, phrases = self.regexes, self.phrases
        clock = time.perf_counter_ns
        times = []
        matches = 0
        t_start = time.perf_counter()
        for text in texts:
            t0 = clock()
            hits = []
            for rid, rx in regexes:
                if rx.search(text):
                    hits.append(rid)
            low = text.lower()
            for lid, p in phrases:
                if p in low:
                    hits.append(lid)
            times.append(clock() - t0)
            matches += len(hits)
        return Measurement(time.perf_counter() - t_start, times, matches)


def _hs_patterns(rules: dict):
    """(ids, names, expressions, base flags) for one database holding every regex and literal."""
    import hyperscan as hs

    names, exprs, flags = [], [], []
    for rx in rules["regexes"]:
        names.append(rx["id"])
        exprs.append(rx["pattern"].encode("utf-8"))
        flags.append(hs.HS_FLAG_CASELESS if "i" in rx.get("flags", "") else 0)
    for lit in rules["literals"]:
        names.append(lit["id"])
        exprs.append(_hs_escape(lit["text"]).encode("ascii"))
        flags.append(hs.HS_FLAG_CASELESS)
    return list(range(len(names))), names, exprs, flags


def _on_match(id_, start, end, flags, ctx):
    ctx.append(id_)


def _on_match_som(id_, start, end, flags, ctx):
    ctx.append((id_, start, end))


class HyperscanSingle:
    """(b) one database, SINGLEMATCH, callback collecting ids (encodes each str per call)."""

    def __init__(self, rules: dict):
        import hyperscan as hs

        ids, self.names, exprs, flags = _hs_patterns(rules)
        flags = [f | hs.HS_FLAG_SINGLEMATCH for f in flags]
        t0 = time.perf_counter()
        self.db = hs.Database(mode=hs.HS_MODE_BLOCK)
        self.db.compile(expressions=exprs, ids=ids, flags=flags)
        self.compile_s = time.perf_counter() - t0
        self.db_bytes = len(hs.dumpb(self.db))

    def fired(self, text: str) -> set[str]:
        hits: list[int] = []
        self.db.scan(text.encode("utf-8"), match_event_handler=_on_match, context=hits)
        return {self.names[i] for i in hits}

    def __call__(self, texts: list[str]) -> Measurement:
        scan = self.db.scan
        clock = time.perf_counter_ns
        times = []
        matches = 0
        t_start = time.perf_counter()
        for text in texts:
            t0 = clock()
            hits: list[int] = []
            scan(text.encode("utf-8"), match_event_handler=_on_match, context=hits)
            times.append(clock() - t0)
            matches += len(hits)
        return Measurement(time.perf_counter() - t_start, times, matches)


class HyperscanFloor(HyperscanSingle):
    """(f) the same database on pre-encoded bytes, no callback: the per-call floor of the binding."""

    def __call__(self, texts: list[str]) -> Measurement:
        data = [t.encode("utf-8") for t in texts]
        scan = self.db.scan
        clock = time.perf_counter_ns
        times = []
        t_start = time.perf_counter()
        for b in data:
            t0 = clock()
            scan(b)
            times.append(clock() - t0)
        return Measurement(time.perf_counter() - t_start, times, None)


class HyperscanSom:
    """(c) one database, SOM_LEFTMOST (no SINGLEMATCH: the two cannot be combined), every match
    collected as (id, start, end). Patterns that SOM refuses go in without SOM."""

    def __init__(self, rules: dict):
        import hyperscan as hs

        ids, self.names, exprs, flags = _hs_patterns(rules)
        self.refused: list[str] = []
        final = []
        t0 = time.perf_counter()
        for i, (expr, f) in enumerate(zip(exprs, flags)):
            probe = hs.Database(mode=hs.HS_MODE_BLOCK)
            try:
                probe.compile(expressions=[expr], ids=[0], flags=[f | hs.HS_FLAG_SOM_LEFTMOST])
                final.append(f | hs.HS_FLAG_SOM_LEFTMOST)
            except hs.error as exc:
                if "too large" not in str(exc).lower():
                    raise
                self.refused.append(self.names[i])
                final.append(f)
        self.probe_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.db = hs.Database(mode=hs.HS_MODE_BLOCK)
        self.db.compile(expressions=exprs, ids=ids, flags=final)
        self.compile_s = time.perf_counter() - t0
        self.db_bytes = len(hs.dumpb(self.db))

    def fired(self, text: str) -> set[str]:
        hits: list = []
        self.db.scan(text.encode("utf-8"), match_event_handler=_on_match_som, context=hits)
        return {self.names[h[0]] for h in hits}

    def __call__(self, texts: list[str]) -> Measurement:
        scan = self.db.scan
        clock = time.perf_counter_ns
        times = []
        matches = 0
        t_start = time.perf_counter()
        for text in texts:
            t0 = clock()
            hits: list = []
            scan(text.encode("utf-8"), match_event_handler=_on_match_som, context=hits)
            times.append(clock() - t0)
            matches += len(hits)
        return Measurement(time.perf_counter() - t_start, times, matches)


def load_engine(src: str):
    """(guard, load_seconds, None) or (None, None, reason) -- never raises."""
    try:
        import policylang
    except Exception as exc:  # noqa: BLE001
        return None, None, f"import policylang failed: {type(exc).__name__}: {exc}"
    loads = getattr(policylang, "loads", None)
    if loads is None:
        return None, None, "policylang.loads is missing"
    t0 = time.perf_counter()
    try:
        guard = loads(src)
    except Exception as exc:  # noqa: BLE001
        return None, None, f"policylang.loads failed: {type(exc).__name__}: {str(exc)[:300]}"
    return guard, time.perf_counter() - t0, None


class EngineMany:
    """(d) guard.check_many(texts, stage="input"), in batches of --batch (0 = all at once)."""

    def __init__(self, guard, batch: int):
        self.check_many = guard.check_many
        self.batch = batch

    def __call__(self, texts: list[str]) -> Measurement:
        step = self.batch or len(texts) or 1
        t_start = time.perf_counter()
        count = 0
        for i in range(0, len(texts), step):
            out = self.check_many(texts[i : i + step], stage="input")
            count += len(out) if hasattr(out, "__len__") else 0
        m = Measurement(time.perf_counter() - t_start, None, None)
        m.decisions = count
        return m


class EngineCheck:
    """(e) guard.check(text, stage="input") per message."""

    def __init__(self, guard):
        self.check = guard.check

    def __call__(self, texts: list[str]) -> Measurement:
        check = self.check
        clock = time.perf_counter_ns
        times = []
        t_start = time.perf_counter()
        for text in texts:
            t0 = clock()
            check(text, stage="input")
            times.append(clock() - t0)
        return Measurement(time.perf_counter() - t_start, times, None)


# ----------------------------------------------------------------------------- report

def _fmt(v, spec=",.0f", na="—"):
    return na if v is None else format(v, spec)


def _print_table(results: dict[str, dict]) -> None:
    print()
    print(f"{'engine':<10} {'messages/s':>12} {'MB/s':>8} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} "
          f"{'p50 ~1KB':>9} {'matches':>9}  description")
    for key in ENGINES:
        r = results.get(key)
        if r is None:
            continue
        if "skipped" in r:
            print(f"{key:<10} {'skipped':>12}  {r['skipped']}")
            continue
        print(f"{key:<10} {_fmt(r['messages_per_s']):>12} {_fmt(r['mb_per_s'], ',.1f'):>8} "
              f"{_fmt(r['mean_us'], ',.1f'):>9} {_fmt(r.get('p50_us'), ',.1f'):>9} {_fmt(r.get('p99_us'), ',.1f'):>9} "
              f"{_fmt(r.get('p50_1kb_us'), ',.1f'):>9} {_fmt(r.get('matches'), ','):>9}  {r['label']}"
              + (f" [{r['note']}]" if r.get("note") else ""))


def _ratios(results: dict[str, dict]) -> dict:
    def ok(key):
        r = results.get(key)
        return r if r and "skipped" not in r else None

    naive, hs, many, check = ok("naive"), ok("hs"), ok("many"), ok("check")
    out = {}
    out["many_vs_naive"] = (many["messages_per_s"] / naive["messages_per_s"]) if many and naive else None
    out["many_vs_hs"] = (many["messages_per_s"] / hs["messages_per_s"]) if many and hs else None
    out["check_minus_hs_p50_1kb_us"] = (
        check["p50_1kb_us"] - hs["p50_1kb_us"] if check and hs and "p50_1kb_us" in check and "p50_1kb_us" in hs
        else None
    )
    out["check_minus_hs_p50_all_us"] = (check["p50_us"] - hs["p50_us"]) if check and hs else None
    out["hs_vs_naive"] = (hs["messages_per_s"] / naive["messages_per_s"]) if hs and naive else None
    packs, packs_check = ok("packs"), ok("packs_check")
    out["packs_vs_hs"] = (packs["messages_per_s"] / hs["messages_per_s"]) if packs and hs else None
    out["packs_check_vs_hs"] = (packs_check["messages_per_s"] / hs["messages_per_s"]) if packs_check and hs else None
    out["packs_check_p99_us"] = packs_check["p99_us"] if packs_check else None
    return out


def _print_ratios(ratios: dict, results: dict) -> None:
    skipped = [r for r in results.values() if "skipped" in r]

    def verdict(key, value):
        if value is None:
            return "n/a (engine not available, see above)" if skipped else "n/a (not measured: see --engines)"
        t = TARGETS[key]
        good = value <= t if key.endswith("_us") else value >= t
        return "PASS" if good else "FAIL"

    print()
    print("targets:")
    v = ratios["many_vs_naive"]
    print(f"  check_many vs naive           {_fmt(v, ',.1f') + 'x' if v is not None else '—':>10}   "
          f"target >= {TARGETS['many_vs_naive']:g}x    {verdict('many_vs_naive', v)}")
    v = ratios["many_vs_hs"]
    print(f"  check_many vs raw Hyperscan   {_fmt(v, ',.2f') + 'x' if v is not None else '—':>10}   "
          f"target >= {TARGETS['many_vs_hs']:g}x   {verdict('many_vs_hs', v)}")
    v = ratios["check_minus_hs_p50_1kb_us"]
    n1 = results.get("hs", {}).get("n_1kb", 0)
    print(f"  check p50 - raw HS p50 (~1KB) {_fmt(v, '+,.1f') + ' µs' if v is not None else '—':>10}   "
          f"target <= {TARGETS['check_minus_hs_p50_1kb_us']:g} µs  {verdict('check_minus_hs_p50_1kb_us', v)}"
          f"   ({n1} messages of {KB_LO}..{KB_HI} bytes)")
    v = ratios["packs_vs_hs"]
    print(f"  packs check_many vs raw HS    {_fmt(v, ',.3f') + 'x' if v is not None else '—':>10}   "
          f"target >= {TARGETS['packs_vs_hs']:g}x   {verdict('packs_vs_hs', v)}   (use pii, secrets, jailbreak)")
    v = ratios["packs_check_p99_us"]
    w = ratios["packs_check_vs_hs"]
    print(f"  packs check p99               {_fmt(v, ',.1f') + ' µs' if v is not None else '—':>10}   "
          f"target <= {TARGETS['packs_check_p99_us']:g} µs  {verdict('packs_check_p99_us', v)}"
          + (f"   (check per message: {w:.3f}x raw HS)" if w is not None else ""))
    v = ratios["hs_vs_naive"]
    if v is not None:
        print(f"  (reference) raw Hyperscan vs naive: {v:,.0f}x")


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=workload.REFERENCE_N,
                    help="messages to scan: the first N of the reference corpus (default: all 20,000)")
    ap.add_argument("--naive-n", type=int, default=2000,
                    help="messages for the naive loop (default 2,000; 0 = all --n); messages/s is extrapolated")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine; the median is reported (default 3)")
    ap.add_argument("--engines", default=",".join(ENGINES),
                    help=f"comma-separated subset of {','.join(ENGINES)} (default: all)")
    ap.add_argument("--batch", type=int, default=0, help="check_many batch size (0 = the whole corpus in one call)")
    ap.add_argument("--no-verify", action="store_true", help="skip the fired-rule agreement check")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        ap.error(f"unknown engines: {sorted(unknown)}")

    rules = workload.load_rules()
    t0 = time.perf_counter()
    texts = workload.sample(args.n)
    load_s = time.perf_counter() - t0
    sizes = np.array([len(t.encode("utf-8")) for t in texts], dtype=np.int64)
    stats = workload.corpus_stats(texts)
    try:
        import hyperscan

        hs_version = hyperscan.__version__
    except Exception:  # noqa: BLE001
        hs_version = None
    meta = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "hyperscan": hs_version,
        "corpus": stats,
        "seed": workload.REFERENCE_SEED,
        "rules": {"regexes": len(rules["regexes"]), "literals": len(rules["literals"])},
        "runs": args.runs,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    print(f"policylang scan benchmark -- Python {meta['python']}, hyperscan {hs_version}, "
          f"{meta['machine']} x{meta['cpus']} CPUs, single thread, median of {args.runs} runs")
    print(f"corpus: {stats['messages']:,} messages, {stats['mb']} MB, median {stats['median_bytes']} B, "
          f"mean {stats['mean_bytes']} B (loaded in {load_s:.1f} s); rules: {len(rules['regexes'])} regexes + "
          f"{len(rules['literals'])} literals")

    results: dict[str, dict] = {}
    compile_info: dict[str, dict] = {}
    checkers = {}

    hs_single = None
    if any(e in engines for e in ("hs", "hs_floor")):
        hs_single = HyperscanSingle(rules)
        compile_info["hs"] = {"compile_s": hs_single.compile_s, "db_bytes": hs_single.db_bytes}
        print(f"hs:       compiled {len(hs_single.names)} patterns in {hs_single.compile_s:.2f} s "
              f"({hs_single.db_bytes / 1e6:.2f} MB database)")
    if "hs" in engines:
        runs = _timed_runs(hs_single, texts, args.runs)
        results["hs"] = _summarise("hs", "raw Hyperscan, one DB, SINGLEMATCH, collecting callback", runs, texts, sizes)
        checkers["hs"] = hs_single.fired
    if "hs_som" in engines:
        som = HyperscanSom(rules)
        compile_info["hs_som"] = {"compile_s": som.compile_s, "db_bytes": som.db_bytes,
                                  "refused_som": som.refused, "probe_s": som.probe_s}
        print(f"hs_som:   compiled in {som.compile_s:.2f} s ({som.db_bytes / 1e6:.2f} MB database); "
              f"{len(som.refused)} pattern(s) refused SOM (\"Pattern is too large\") and went without: "
              f"{', '.join(som.refused) or 'none'}")
        runs = _timed_runs(som, texts, args.runs)
        results["hs_som"] = _summarise("hs_som", "raw Hyperscan, SOM_LEFTMOST, collecting callback", runs, texts,
                                       sizes, note=f"{len(som.refused)} without SOM")
        checkers["hs_som"] = som.fired
    if "hs_floor" in engines:
        floor = HyperscanFloor.__new__(HyperscanFloor)
        floor.__dict__.update(hs_single.__dict__)
        runs = _timed_runs(floor, texts, args.runs)
        results["hs_floor"] = _summarise("hs_floor", "reference: Hyperscan on pre-encoded bytes, no callback",
                                         runs, texts, sizes)

    batches = f", batches of {args.batch}" if args.batch else ""
    for tag, src, shown, (many_key, check_key), label in (
        ("engine", lambda: workload.policy_from_rules(rules), None, ("many", "check"), "policylang guard."),
        ("packs", lambda: PACKS_SOURCE, repr(PACKS_SOURCE.strip()), ("packs", "packs_check"),
         "use pii, secrets, jailbreak: "),
    ):
        if many_key not in engines and check_key not in engines:
            continue
        source = src()
        guard, guard_load_s, why = load_engine(source)
        if guard is None:
            print(f"{tag}: not available ({why})")
            for key in (many_key, check_key):
                if key in engines:
                    results[key] = {"engine": key, "skipped": f"{tag}: not available ({why})"}
            continue
        compile_info[tag] = {"loads_s": guard_load_s}
        what = shown or f"{len(source.splitlines())} DSL lines"
        print(f"{tag + ':':9} policylang.loads() of {what} in {guard_load_s:.2f} s")
        for key, make, row in (
            (many_key, lambda: EngineMany(guard, args.batch), f"{label}check_many(texts){batches}"),
            (check_key, lambda: EngineCheck(guard), f"{label}check(text) per message"),
        ):
            if key not in engines:
                continue
            try:
                runs = _timed_runs(make(), texts, args.runs)
                results[key] = _summarise(key, row, runs, texts, sizes)
            except Exception as exc:  # noqa: BLE001
                reason = f"{tag}: {key} failed: {type(exc).__name__}: {str(exc)[:300]}"
                print(reason)
                results[key] = {"engine": key, "skipped": reason}

    naive_texts = texts
    if "naive" in engines:
        naive = Naive(rules)
        naive_n = min(args.naive_n or len(texts), len(texts))
        naive_texts = texts[:naive_n]
        runs = _timed_runs(naive, naive_texts, args.runs, warmup=20)
        res = _summarise("naive", "naive Python loop: re.search per regex + `in` per phrase", runs,
                         naive_texts, sizes[:naive_n])
        if naive_n < len(texts):
            est = len(texts) / res["messages_per_s"]
            res["note"] = (f"measured on the first {naive_n:,} messages; messages/s extrapolated "
                           f"(full {len(texts):,} would take ~{est:,.0f} s)")
            res["extrapolated"] = True
        results["naive"] = res
        checkers["naive"] = naive.fired

    _print_table(results)
    if "naive" in results and results["naive"].get("extrapolated"):
        print(f"note: naive = {results['naive']['note']}")

    agreement = {}
    if not args.no_verify and "naive" in checkers and len(checkers) > 1:
        ref = checkers["naive"]
        vt = naive_texts
        ref_sets = [ref(t) for t in vt]
        for key, fn in checkers.items():
            if key == "naive":
                continue
            diff = [i for i, t in enumerate(vt) if fn(t) != ref_sets[i]]
            agreement[key] = {"messages": len(vt), "disagree": len(diff), "examples": diff[:5]}
        print("fired-rule sets vs naive (same messages): " + ", ".join(
            f"{k}: {v['disagree']} of {v['messages']} differ" for k, v in agreement.items()))
        fired = sum(1 for s in ref_sets if s)
        print(f"  ({fired} of {len(vt)} messages fire at least one rule)")

    ratios = _ratios(results)
    _print_ratios(ratios, results)

    if args.json:
        out = {"meta": meta, "compile": compile_info, "results": results, "ratios": ratios,
               "targets": TARGETS, "agreement": agreement}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2, ensure_ascii=False)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
