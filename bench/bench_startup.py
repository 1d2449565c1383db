"""Start-up cost of the command line and of ``import policylang`` (issue 10, "fast start").

    python bench/bench_startup.py             # 15 rounds, interleaved
    python bench/bench_startup.py --rounds 30 --json bench/out/startup.json
    python bench/bench_startup.py --only scan     # the floor and the rows whose name has "scan"

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
    args = ap.parse_args(argv)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    py = sys.executable
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
