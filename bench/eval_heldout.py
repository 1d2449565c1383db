"""Aggregate-only scorer for the held-out jailbreak set (tests/data/heldout/README.md).

Loads the built-in ``jailbreak`` pack and runs ``guard.check(text, stage="input")`` over
tests/data/heldout/jailbreak_attacks.txt and jailbreak_benign.txt. A line counts as detected
when the action is anything other than ``allow``; refusals are also counted on their own.

It prints aggregates ONLY:
  - recall, overall and per technique tag, on the attacks;
  - false-positive rate on the benign lines.
It never prints a line, or which lines were missed or flagged. The people who tune the pack
must not see which held-out lines fail. Keep it that way when you edit this script.

Usage:
  python bench/eval_heldout.py
  python bench/eval_heldout.py --json out.json   # also write the aggregates as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "heldout"
ATTACKS = DATA / "jailbreak_attacks.txt"
BENIGN = DATA / "jailbreak_benign.txt"

sys.path.insert(0, str(ROOT))
import policylang  # noqa: E402


def read_set(path: Path) -> list[tuple[str, str]]:
    rows = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        tag, sep, text = raw.partition("\t")
        if not sep:
            raise SystemExit(f"{path.name}: a line has no TAB after its tag")
        rows.append((tag, text.replace("\\n", "\n")))
    return rows


def score(guard, rows):
    """Per-tag counts: n, detected (non-allow), refused, errors. No per-line output."""
    n, det, ref, err = Counter(), Counter(), Counter(), Counter()
    for tag, text in rows:
        n[tag] += 1
        try:
            d = guard.check(text, stage="input")
        except Exception:  # counted, never shown: the message could quote the line
            err[tag] += 1
            continue
        if d.action != "allow":
            det[tag] += 1
        if d.action == "refuse":
            ref[tag] += 1
    return n, det, ref, err


def rate(k: int, n: int) -> float:
    return round(k / n, 4) if n else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="OUT", help="also write the aggregates to this JSON file")
    ap.add_argument("--pack", default="jailbreak", help="pack or policy to load (default: jailbreak)")
    args = ap.parse_args(argv)

    guard = policylang.load(args.pack)
    attacks = read_set(ATTACKS)
    benign = read_set(BENIGN)

    an, adet, aref, aerr = score(guard, attacks)
    bn, bdet, bref, berr = score(guard, benign)

    A, B = sum(an.values()), sum(bn.values())
    res = {
        "pack": args.pack,
        "attacks": {
            "n": A,
            "detected": sum(adet.values()),
            "recall": rate(sum(adet.values()), A),
            "refused": sum(aref.values()),
            "refuse_recall": rate(sum(aref.values()), A),
            "errors": sum(aerr.values()),
            "per_tag": {
                t: {"n": an[t], "detected": adet[t], "recall": rate(adet[t], an[t]),
                    "refused": aref[t], "errors": aerr[t]}
                for t in sorted(an)
            },
        },
        "benign": {
            "n": B,
            "flagged_or_refused": sum(bdet.values()),
            "false_positive_rate": rate(sum(bdet.values()), B),
            "refused": sum(bref.values()),
            "refuse_fpr": rate(sum(bref.values()), B),
            "errors": sum(berr.values()),
        },
    }

    a, b = res["attacks"], res["benign"]
    print(f"held-out jailbreak eval  pack={args.pack}")
    print(f"attacks  n={a['n']:<4} recall={a['recall']:.3f} ({a['detected']}/{a['n']})  "
          f"refuse-only recall={a['refuse_recall']:.3f}  errors={a['errors']}")
    print(f"benign   n={b['n']:<4} FPR={b['false_positive_rate']:.3f} ({b['flagged_or_refused']}/{b['n']})  "
          f"refuse-only FPR={b['refuse_fpr']:.3f}  errors={b['errors']}")
    print("recall per technique:")
    for t, r in a["per_tag"].items():
        print(f"  {t:<20} {r['recall']:.3f}  ({r['detected']}/{r['n']})")

    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
