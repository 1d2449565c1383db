"""Load benchmark: how long a process takes to get a ready Guard, cold and warm.

Each measurement runs in a fresh Python process (what a worker, a CLI call or a serverless
start pays), alternating policylang and its baseline, median of --runs (5) rounds:

  import    importing policylang and the modules load() needs (reported apart, not in the times below)
  warm      policylang.load(...) + a first check, with the on-disk caches filled (pattern database,
            syntax trees, view gates)
  hs_load   baseline: the same databases' bytes read from the cache file and hs.loadb()ed (the
            main one and each late spec's own), plus a scratch each (imports excluded): the floor
            of any warm load
  cold      policylang.load(...) with an empty cache folder (parse, check, compile everything)
  hs_compile baseline: hyperscan compiling the same expressions, flags and ids directly
            (what the cold load cannot avoid)

and prints the times and the ratios policylang / baseline.

    python bench/bench_load.py                          # `use pii, secrets, jailbreak` (issue 11's workload)
    python bench/bench_load.py --pack jailbreak --runs 3  # one pack loaded by name
    python bench/bench_load.py --no-cold                # warm only (cold compiles take seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = """policy app
use pii, secrets, jailbreak
rule no_jailbreak on input: when jailbreak refuse "no"
rule scrub on input, output: when pii or secrets redact
"""

CHILD = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import policylang
    import policylang.guard, policylang.compile.plan, policylang.runtime.evaluate  # what load() imports
    ti = time.perf_counter()
    g = policylang.load(*sys.argv[2:])
    g.check("warm up the scratch")
    t1 = time.perf_counter()
    p = g.plan.patterns
    print(json.dumps({"s": t1 - ti, "import": ti - t0, "path": p.cache_path, "from_cache": p.from_cache}))
""")

HS_LOAD = textwrap.dedent("""
    import json, sys, time
    import struct
    import hyperscan as hs
    from policylang.compile import patterns as P
    t0 = time.perf_counter()
    data = open(sys.argv[1], "rb").read()
    (hlen,) = struct.unpack_from("<I", data, len(P._MAGIC))
    start = len(P._MAGIC) + 4
    header = json.loads(data[start:start + hlen])
    blob = data[start + hlen:]
    pos = header.get("main", len(blob))  # the main database, then each late spec's own ("side")
    dbs = [hs.loadb(blob[:pos], mode=header["mode"])] if pos else []
    for _i, size in header.get("side", ()):
        dbs.append(hs.loadb(blob[pos:pos + size], mode=header["mode"]))
        pos += size
    for db in dbs:
        db.scratch = hs.Scratch(db)
    t1 = time.perf_counter()
    print(json.dumps({"s": t1 - t0}))
""")

HS_COMPILE = textwrap.dedent("""
    import json, sys, time, pickle
    specs = pickle.load(open(sys.argv[1], "rb"))
    import hyperscan as hs
    from policylang.compile.patterns import hs_expression, _optimistic_kind
    rows = [hs_expression(s, _optimistic_kind(s)) for s in specs]
    t0 = time.perf_counter()
    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(expressions=[r[0] for r in rows], ids=list(range(len(rows))), flags=[r[1] for r in rows],
               ext=[r[2] for r in rows] if any(r[2] for r in rows) else None)
    t1 = time.perf_counter()
    print(json.dumps({"s": t1 - t0}))
""")


def run(code: str, *args: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir())
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", help="load this built-in pack by name instead of the `use pii, secrets, jailbreak` app")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-cold", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    target = args.pack
    if target is None:
        (work / "app.policy").write_text(APP, encoding="utf-8")
        target = str(work / "app.policy")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    warm_env = dict(env, POLICYLANG_CACHE_DIR=str(work / "cache"))
    first = run(CHILD, "-", target, env=warm_env)  # fills the caches
    # the specs, for the compile baseline
    import pickle

    sys.path.insert(0, str(ROOT))
    import policylang

    specs = policylang.load(target, cache_dir=False).plan.patterns.specs
    (work / "specs.pickle").write_bytes(pickle.dumps(specs))
    times: dict[str, list[float]] = {k: [] for k in ("import", "warm", "hs_load", "cold", "hs_compile")}
    for r in range(args.runs):
        w = run(CHILD, "-", target, env=warm_env)
        times["warm"].append(w["s"])
        times["import"].append(w["import"])
        times["hs_load"].append(run(HS_LOAD, first["path"], env=env)["s"])
        if not args.no_cold:
            cold_env = dict(env, POLICYLANG_CACHE_DIR=str(work / f"cold{r}"))
            times["cold"].append(run(CHILD, "-", target, env=cold_env)["s"])
            times["hs_compile"].append(run(HS_COMPILE, str(work / "specs.pickle"), env=env)["s"])
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"target: {args.pack or '`use pii, secrets, jailbreak`'}  specs: {len(specs)}  runs: {args.runs}")
    for k, v in med.items():
        print(f"  {k:<11} {v * 1000:9.1f} ms   (runs: {', '.join(f'{x * 1000:.0f}' for x in times[k])})")
    print(f"  warm / hs_load     {med['warm'] / med['hs_load']:.1f}x")
    if "cold" in med:
        print(f"  cold / hs_compile  {med['cold'] / med['hs_compile']:.2f}x")


if __name__ == "__main__":
    main()
