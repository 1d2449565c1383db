"""Score a policy on the independent prompt-attack evaluation set (bench/data/eval/).

    python bench/eval_attacks.py -p jailbreak [-p jailbreak_models] [--positive refuse|refuse,flag] [--json]
    python bench/eval_attacks.py --keywords          # a 20-keyword whole-word baseline, no policy

Prints ONLY aggregates: recall per attack family, overall recall, FPR per benign file and per
benign family, and for obfuscated.jsonl the share of copies still caught among those whose
original is caught (per technique). It never prints a text or says which texts were missed:
the set is for evaluation only and must not become tuning data (bench/data/eval/README.md).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data" / "eval"
FILES = {
    "attacks": "attacks.jsonl",
    "obfuscated": "obfuscated.jsonl",
    "benign_ordinary": "benign_ordinary.jsonl",
    "benign_security": "benign_security.jsonl",
}

# A generic baseline: what a hand-made blocklist would hold (case-insensitive, whole words).
KEYWORDS = [
    "ignore previous instructions", "ignore all previous instructions", "ignore the above", "disregard",
    "jailbreak", "dan", "do anything now", "developer mode", "system prompt", "no restrictions",
    "without any restrictions", "stay in character", "pretend you are", "you are now", "unfiltered",
    "uncensored", "bypass", "override", "forget everything", "pwned",
]


def read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def keyword_scorer():
    rx = re.compile("|".join(r"\b" + re.escape(k) + r"\b" for k in KEYWORDS), re.IGNORECASE)

    def score(texts):
        return [rx.search(t) is not None for t in texts]

    return score


def policy_scorer(policies, positive):
    import policylang

    guard = policylang.load(*policies)
    errors = {"n": 0}

    def score(texts, batch=128):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch together
        out = [False] * len(texts)
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            for i, d in zip(idx, guard.check_many([texts[i] for i in idx], stage="input")):
                out[i] = d.action in positive
                errors["n"] += bool(d.errors)
        return out

    return score, guard, errors


def rate(xs) -> float:
    return round(100.0 * sum(xs) / len(xs), 1) if xs else float("nan")


def evaluate(score) -> dict:
    data = {k: read(DATA / v) for k, v in FILES.items()}
    caught = {}
    t0 = time.perf_counter()
    for k, rows in data.items():
        caught[k] = score([r["text"] for r in rows])
    elapsed = time.perf_counter() - t0

    res: dict = {}
    fam = defaultdict(list)
    for r, c in zip(data["attacks"], caught["attacks"]):
        fam[r["family"]].append(c)
    res["attacks"] = {"n": len(data["attacks"]), "recall": rate(caught["attacks"]),
                      "per_family": {f: {"n": len(v), "recall": rate(v)} for f, v in sorted(fam.items())}}

    for k in ("benign_ordinary", "benign_security"):
        fam = defaultdict(list)
        for r, c in zip(data[k], caught[k]):
            fam[r["family"]].append(c)
        res[k] = {"n": len(data[k]), "fpr": rate(caught[k]),
                  "per_family": {f: {"n": len(v), "fpr": rate(v)} for f, v in sorted(fam.items())}}

    orig_caught = caught["attacks"]
    tech = defaultdict(list)
    tech_all = defaultdict(list)
    held = []
    for r, c in zip(data["obfuscated"], caught["obfuscated"]):
        tech_all[r["family"]].append(c)
        if orig_caught[r["orig"]]:
            tech[r["family"]].append(c)
            held.append(c)
    res["obfuscated"] = {
        "n": len(data["obfuscated"]), "recall": rate(caught["obfuscated"]),
        "held_when_orig_caught": rate(held), "n_orig_caught": len(held),
        "per_technique": {f: {"n": len(tech_all[f]), "recall": rate(tech_all[f]), "n_orig_caught": len(tech[f]),
                              "held_when_orig_caught": rate(tech[f])} for f in sorted(tech_all)},
    }
    res["summary"] = {"recall": res["attacks"]["recall"], "fpr_ordinary": res["benign_ordinary"]["fpr"],
                      "fpr_security": res["benign_security"]["fpr"],
                      "obfuscated_held_when_orig_caught": res["obfuscated"]["held_when_orig_caught"],
                      "texts": sum(len(v) for v in data.values()), "seconds": round(elapsed, 2)}
    return res


def show(res: dict, title: str) -> None:
    print(f"== {title}")
    a = res["attacks"]
    print(f"attacks (n={a['n']}): recall {a['recall']}%")
    for f, v in a["per_family"].items():
        print(f"  {f:<20} n={v['n']:<4} recall {v['recall']:5.1f}%")
    for k in ("benign_ordinary", "benign_security"):
        b = res[k]
        print(f"{k} (n={b['n']}): FPR {b['fpr']}%")
        for f, v in b["per_family"].items():
            print(f"  {f:<40} n={v['n']:<4} FPR {v['fpr']:5.1f}%")
    o = res["obfuscated"]
    print(f"obfuscated (n={o['n']}): recall {o['recall']}%, still caught when the original is caught: "
          f"{o['held_when_orig_caught']}% (of {o['n_orig_caught']})")
    for f, v in o["per_technique"].items():
        print(f"  {f:<16} recall {v['recall']:5.1f}%  held {v['held_when_orig_caught']:5.1f}% (of {v['n_orig_caught']})")
    s = res["summary"]
    print(f"SUMMARY recall {s['recall']}% | FPR ordinary {s['fpr_ordinary']}% | FPR security {s['fpr_security']}% | "
          f"obfuscated held {s['obfuscated_held_when_orig_caught']}% | {s['texts']} texts in {s['seconds']} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-p", "--policy", action="append", default=[], help="policy path or pack name (repeatable)")
    ap.add_argument("--positive", default="refuse", help="actions that count as caught: refuse or refuse,flag")
    ap.add_argument("--keywords", action="store_true", help="score the 20-keyword baseline instead of a policy")
    ap.add_argument("--json", action="store_true", help="print the aggregates as JSON")
    args = ap.parse_args(argv)
    if bool(args.policy) == args.keywords:
        ap.error("give -p POLICY (one or more) or --keywords")
    positive = {x.strip() for x in args.positive.split(",") if x.strip()}
    bad = positive - {"refuse", "flag", "redact"}
    if bad:
        ap.error(f"--positive: unknown action(s) {', '.join(sorted(bad))}")

    missing = [v for v in FILES.values() if not (DATA / v).is_file()]
    if missing:
        print(f"eval_attacks: missing data file(s) in {DATA}: {', '.join(missing)} "
              "(rebuild with the generators, bench/data/eval/README.md)", file=sys.stderr)
        return 2
    if args.keywords:
        res = evaluate(keyword_scorer())
        title = f"keyword baseline ({len(KEYWORDS)} whole-word phrases)"
        res["scorer"] = {"kind": "keywords", "n_keywords": len(KEYWORDS)}
    else:
        from policylang.errors import PolicyError
        from policylang.loader import UsageError

        try:
            score, guard, errors = policy_scorer(args.policy, positive)
        except (PolicyError, UsageError, OSError) as e:
            print(f"eval_attacks: cannot load {' + '.join(args.policy)}: {e}", file=sys.stderr)
            for d in getattr(e, "diagnostics", []) or []:
                print(f"  {d}", file=sys.stderr)
            return 2
        try:
            res = evaluate(score)
        finally:
            guard.close()
        title = f"policy {' + '.join(args.policy)} (positive = {','.join(sorted(positive))})"
        res["scorer"] = {"kind": "policy", "policies": args.policy, "positive": sorted(positive),
                         "decisions_with_errors": errors["n"]}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        show(res, title)
        if res["scorer"].get("decisions_with_errors"):
            print(f"decisions with errors: {res['scorer']['decisions_with_errors']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
