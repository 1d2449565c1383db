"""Word-list load cost: how long `policylang.load()` takes, and how much memory, for big lists.

For each size N a deterministic list of N distinct words (4-10 random lowercase letters,
one in five a two-word phrase) is written to a temporary folder with a policy that reads it

    words w = file "words.txt" <options>        # default options: nocase wholeword

and each load runs in a fresh Python process (so the peak RSS is that load's alone), with
the Hyperscan disk cache off (cold compile). Printed per size: load seconds (median of
--runs), peak RSS in MB, and whether a word of the list is found.

Usage:
  python bench/bench_wordlists.py                          # 5000, 50000, 100000 words
  python bench/bench_wordlists.py --sizes 5000 --options "nocase"
  python bench/bench_wordlists.py --sizes 200 --options "fuzzy 1"
  python bench/bench_wordlists.py --json bench/out/wordlists.json
  python bench/bench_wordlists.py --sizes 100000 --cache    # cold compile + disk cache, then warm
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import policylang
t0 = time.perf_counter()
guard = policylang.load({policy!r}, cache_dir={cache!r})
load_s = time.perf_counter() - t0
t1 = time.perf_counter()
decision = guard.check("a line that holds " + {probe!r} + " somewhere")
first_check_s = time.perf_counter() - t1
print(json.dumps({{"load_s": load_s, "first_check_s": first_check_s,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "found": decision.action == "refuse"}}))
"""


def make_words(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out: set[str] = set()
    while len(out) < n:
        w = "".join(rng.choice(letters) for _ in range(rng.randint(4, 10)))
        if rng.random() < 0.2:
            w += " " + "".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))
        out.add(w)
    return sorted(out)


def run_size(n: int, options: str, runs: int, folder: Path, cache=False) -> dict:
    words = make_words(n)
    (folder / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    policy = folder / "bench.policy"
    policy.write_text(
        f'policy bench "word-list load"\nprinciple p "P."\nwords w = file "words.txt" {options}\n'
        "rule r on input:\n    when w\n    refuse\n    because p\n",
        encoding="utf-8",
    )
    code = CHILD.format(root=str(ROOT), policy=str(policy), probe=words[len(words) // 2], cache=cache)
    results = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"words": n, "options": options, "error": proc.stderr.strip().splitlines()[-1:]}
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "words": n,
        "options": options,
        "load_s": round(statistics.median(r["load_s"] for r in results), 2),
        "first_check_ms": round(1000 * statistics.median(r["first_check_s"] for r in results), 1),
        "rss_mb": round(max(r["rss_mb"] for r in results)),
        "found": all(r["found"] for r in results),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000,50000,100000")
    ap.add_argument("--options", default="nocase wholeword", help="options after `file \"...\"`")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--cache", action="store_true",
                    help="use a fresh disk cache: each size is loaded cold, then warm (from the cache)")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="policylang-bench-words-") as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            if args.cache:
                cache = str(Path(tmp) / f"cache-{n}")
                for label in ("cold", "warm"):
                    row = dict(run_size(n, args.options, 1, Path(tmp), cache), cache=label)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                continue
            row = run_size(n, args.options, args.runs, Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
