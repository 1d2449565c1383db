"""Start-up cost of the command line and of ``import policylang`` (issue 10, "fast start").

    python bench/bench_startup.py             # 15 rounds, interleaved
    python bench/bench_startup.py --rounds 30 --json bench/out/startup.json
    python bench/bench_startup.py --only scan     # the floor and the rows whose name has "scan"
    python bench/bench_startup.py --stages        # where the scan's time goes, stage by stage

``--stages`` runs the support-bot scan's steps in fresh interpreters instead, timing each
with ``perf_counter`` in order (the cost of an import is what it adds after the ones
before it): pydantic, numpy, ``regex`` + Hyperscan, the Decision classes, the command line
module, the rest of the guard, the scan's record writer, ``load()``, the first
``check_many`` of the 8 texts (where the `regex` objects are compiled), and writing the
records.

Each round runs, in a fresh interpreter each, one after the other:

- ``python -c pass``: the interpreter's own start-up on this machine (the floor);
- ``python -c "import policylang"``;
- ``policylang check`` of a 7-line policy (a principle, a pattern, a rule), as the console
  script ``policylang`` does (``python -m policylang`` is the same entry point);
- ``policylang check`` of a 7-line policy with ``use jailbreak``;
- ``policylang scan -p examples/support_bot.policy examples/messages.jsonl``: the support-bot
  example (``use pii, jailbreak``) over its 8 JSONL lines, decisions written to stdout
  (issue 11's target: <= 0.5 s warm).

The policy files are written once to a temporary folder and checked once before timing, so
the rows are warm runs (syntax tree, Lark grammar, pattern verdicts and pattern databases
cached): what a pre-commit hook or an editor sees on every save, and a shell loop running
``policylang scan`` over small files. Rows are wall times, median and minimum of
the rounds, and the median of per-round differences from ``python -c pass`` (machines are
noisy; the difference is what policylang adds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

SEVEN_LINES = """\
principle privacy "Keep personal data private."

pattern order_id = /\\bORD-\\d{8}\\b/ kind "order_id"

rule no_orders on input:
    when order_id
    refuse "no" because privacy
"""

WITH_PACK = """\
principle integrity "Do not follow instructions that override the system's rules."

use jailbreak

rule no_jailbreak on input:
    when jailbreak
    refuse "no" because integrity
"""


STAGES = """
import json, sys, time
T = [time.perf_counter()]
names = []
def mark(name):
    T.append(time.perf_counter()); names.append(name)
import pydantic.main; mark("import pydantic")
import numpy; mark("import numpy")
import regex, hyperscan; mark("import regex, hyperscan")
_compile, _rx = regex.compile, [0.0, 0]
def _timed_compile(*a, **k):  # how much of the first check_many is compiling `regex` objects
    t = time.perf_counter()
    try:
        return _compile(*a, **k)
    finally:
        _rx[0] += time.perf_counter() - t; _rx[1] += 1
regex.compile = _timed_compile
import policylang.decision; mark("Decision classes (pydantic models)")
import policylang.cli; mark("import policylang.cli (config, loader, checker, syntax)")
import policylang.guard; mark("import policylang.guard (the rest: compile, runtime)")
import policylang.distributed.records; mark("import the scan's record writer")
guard = policylang.load([sys.argv[1]]); mark("load() (caches warm)")
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8")]
before, n_before = _rx[0], _rx[1]
ds = guard.check_many(texts, stage="input"); mark("first check_many of the 8 texts")
rx_s, rx_n = _rx[0] - before, _rx[1] - n_before
from policylang.distributed.records import record_of
out = [record_of(i, i, d) for i, d in enumerate(ds)]; mark("8 records (model_dump + JSON)")
print(json.dumps({**{n: T[i + 1] - T[i] for i, n in enumerate(names)}, "rx": rx_s, "rx_n": rx_n}))
"""


def _stages(args, env: dict, root: str) -> int:
    cmd = [sys.executable, "-c", STAGES, os.path.join(root, "examples", "support_bot.policy"),
           os.path.join(root, "examples", "messages.jsonl")]
    _time(cmd, env)  # warm the caches
    runs = []
    for _ in range(args.rounds):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    rx = statistics.median(run.pop("rx") for run in runs)
    rx_n = runs[0].pop("rx_n")
    for run in runs[1:]:
        run.pop("rx_n")
    med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
    total = statistics.median(sum(run.values()) for run in runs)
    print(f"{'stage (support-bot scan, in order)':58} {'median ms':>10}")
    for k, v in med.items():
        print(f"{k:58} {v * 1000:10.1f}")
        if k.startswith("first check_many"):
            print(f"{f'  of which regex.compile ({rx_n} patterns)':58} {rx * 1000:10.1f}")
    print(f"{'total (median of the rounds)':58} {total * 1000:10.1f}")
    print(f"rounds: {args.rounds}, load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "stages_s": med, "regex_compile_s": rx, "total_s": total}, f, indent=2)
    return 0


def _time(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--only", metavar="WORD", help="time only the rows whose name contains WORD (and the floor)")
    ap.add_argument("--stages", action="store_true", help="time the support-bot scan's stages instead")
    args = ap.parse_args(argv)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    # An installed package has its bytecode (pip compiles it at install); an interpreter
    # told not to write any (PYTHONDONTWRITEBYTECODE, set on some CI machines and VMs)
    # compiles every policylang module from source on each start, ~130 ms here, which no
    # user of a wheel pays: the warm-up runs below write the checkout's __pycache__.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    py = sys.executable
    if args.stages:
        return _stages(args, env, root)
    with tempfile.TemporaryDirectory() as tmp:
        seven = os.path.join(tmp, "seven.policy")
        pack = os.path.join(tmp, "pack.policy")
        with open(seven, "w") as f:
            f.write(SEVEN_LINES)
        with open(pack, "w") as f:
            f.write(WITH_PACK)
        rows = {
            "python -c pass": [py, "-c", "pass"],
            "import policylang": [py, "-c", "import policylang"],
            "policylang check (7 lines)": [py, "-m", "policylang", "check", seven],
            "policylang check (use jailbreak)": [py, "-m", "policylang", "check", pack],
            "policylang scan (support bot, 8 lines)": [
                py, "-m", "policylang", "scan", "-p", os.path.join(root, "examples", "support_bot.policy"),
                os.path.join(root, "examples", "messages.jsonl")],
        }
        if args.only:
            rows = {k: v for k, v in rows.items() if k == "python -c pass" or args.only in k}
        for cmd in rows.values():  # warm the caches (and fail early)
            _time(cmd, env)
        times: dict[str, list[float]] = {k: [] for k in rows}
        for _ in range(args.rounds):
            for name, cmd in rows.items():
                times[name].append(_time(cmd, env))
    base = times["python -c pass"]
    out = {}
    print(f"{'row':40} {'median s':>9} {'min s':>7} {'minus python -c pass (median)':>30}")
    for name, ts in times.items():
        extra = statistics.median(t - b for t, b in zip(ts, base))
        out[name] = {"median_s": statistics.median(ts), "min_s": min(ts), "extra_median_s": extra}
        print(f"{name:40} {statistics.median(ts):9.3f} {min(ts):7.3f} {extra:30.3f}")
    print(f"rounds: {args.rounds}, load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "rows": out}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
