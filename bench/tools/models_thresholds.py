"""Recall / FPR of `use jailbreak, jailbreak_models` over a grid of model thresholds.

    python bench/tools/models_thresholds.py                         # the evaluation set (bench/data/eval/)
    python bench/tools/models_thresholds.py --data tests/data/models_dev/dev.jsonl   # the dev set
    python bench/tools/models_thresholds.py --cache /tmp/scores.json   # reuse scores of an earlier run

Every text is checked once by `use jailbreak` (the pattern pack's action) and once by a
policy that reads the pack's three model scores (explain mode: every model runs), then the
decision of the pack's rule shapes is recomputed for each threshold setting:

    refuse = patterns refuse
          or (J >= a and svguardian.benign <= 1 - b)       # both models agree
          or (J >= 0.98 and svguardian.benign <= 0.5)      # JailGuard very sure, Guardian not "benign"
          or max(svguardian.jailbreak, svguardian.prompt_injection) >= c
    J = max(jailguard, jailguard_short)   (or one of them: --windows 128 | 32)

Prints ONLY aggregates (recall per attack family, FPR per benign file), like
bench/eval_attacks.py; the cache holds scores, labels and families, never a text. The pack's
thresholds were chosen on the development set (tests/data/models_dev/), not with this table
run on the evaluation set: use the evaluation set to measure, never to choose.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

EVAL = ROOT / "bench" / "data" / "eval"
EVAL_FILES = ("attacks", "benign_ordinary", "benign_security")
MODELS = ROOT / "policylang" / "packs" / "models"

SCORER = '''policy models_thresholds "every score of the jailbreak_models pack"
principle q "measure"
normalize nfkc, invisible, confusables, leetspeak, base64, hex
embedder minilm = embed "builtin:minilm" max_length 128
embedder minilm_short = embed "builtin:minilm" max_length 32
classifier jailguard = head "{m}/jailguard" on minilm label "jailbreak"
classifier jailguard_short = head "{m}/jailguard" on minilm_short label "jailbreak"
classifier svguardian = onnx "{m}/svguardian" label "benign"
rule all on input:
    when jailguard >= 0 or jailguard_short >= 0 or svguardian >= 0
    flag
    because q
'''


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_rows(data: str | None) -> list[dict]:
    """Rows with `group` (attacks / benign_ordinary / benign_security) and `family`."""
    rows = []
    if data:
        for r in _read(Path(data)):
            if r["label"] == "attack":
                group = "attacks"
            else:
                group = "benign_security" if r.get("family", "").startswith("security") else "benign_ordinary"
            rows.append({"text": r["text"], "group": group, "family": r.get("family", "")})
    else:
        for name in EVAL_FILES:
            for r in _read(EVAL / f"{name}.jsonl"):
                rows.append({"text": r["text"], "group": name, "family": r.get("family", "")})
    return rows


def score(rows: list[dict]) -> list[dict]:
    import policylang

    patterns = policylang.load("jailbreak", batch_wait_ms=0)
    models = policylang.loads(SCORER.format(m=MODELS), explain=True, batch_wait_ms=0)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["text"]))
    out: list[dict] = [{} for _ in rows]
    for k in range(0, len(order), 128):
        idx = order[k:k + 128]
        texts = [rows[i]["text"] for i in idx]
        for i, p, d in zip(idx, patterns.check_many(texts), models.check_many(texts)):
            s = d.scores
            out[i] = {"group": rows[i]["group"], "family": rows[i]["family"], "pattern": p.action == "refuse",
                      "jg": s["jailguard.jailbreak"], "jg32": s["jailguard_short.jailbreak"],
                      "benign": s["svguardian.benign"],
                      "svc": max(s["svguardian.jailbreak"], s["svguardian.prompt_injection"]),
                      "error": bool(d.errors or p.errors)}
    patterns.close()
    models.close()
    return out


def refused(r: dict, a: float, b: float, c: float, windows: str) -> bool:
    j = {"both": max(r["jg"], r["jg32"]), "128": r["jg"], "32": r["jg32"]}[windows]
    return (r["pattern"] or r["error"] or (j >= a and r["benign"] <= 1 - b)
            or (j >= 0.98 and r["benign"] <= 0.5) or r["svc"] >= c)


def rate(xs) -> float:
    return round(100.0 * sum(xs) / len(xs), 1) if xs else float("nan")


def table(scores: list[dict], settings, windows: str, per_family: bool) -> None:
    groups = defaultdict(list)
    for r in scores:
        groups[r["group"]].append(r)
    fams = sorted({r["family"] for r in groups["attacks"]})
    head = f"{'J>=a':>5} {'svB<=':>6} {'svC>=':>6} | {'recall':>6} {'FPR ord':>7} {'FPR sec':>7}"
    if per_family:
        head += " | " + " ".join(f"{f[:8]:>8}" for f in fams)
    print(f"windows: {windows}; patterns alone: recall {rate([r['pattern'] for r in groups['attacks']])}%, "
          f"FPR ord {rate([r['pattern'] for r in groups['benign_ordinary']])}%, "
          f"FPR sec {rate([r['pattern'] for r in groups['benign_security']])}%")
    print(head)
    for a, b, c in settings:
        line = (f"{a:>5} {1 - b:>6.2f} {c:>6} | {rate([refused(r, a, b, c, windows) for r in groups['attacks']]):>6} "
                f"{rate([refused(r, a, b, c, windows) for r in groups['benign_ordinary']]):>7} "
                f"{rate([refused(r, a, b, c, windows) for r in groups['benign_security']]):>7}")
        if per_family:
            line += " | " + " ".join(
                f"{rate([refused(r, a, b, c, windows) for r in groups['attacks'] if r['family'] == f]):>8}" for f in fams)
        print(line)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="a labelled JSONL ({text, label, family}); default: the evaluation set")
    ap.add_argument("--cache", help="scores file: read if it exists, else written (scores only, no texts)")
    ap.add_argument("--windows", choices=("both", "128", "32"), default="both")
    ap.add_argument("--per-family", action="store_true", help="recall per attack family too")
    args = ap.parse_args(argv)
    cache = Path(args.cache) if args.cache else None
    if cache and cache.is_file():
        scores = json.loads(cache.read_text())
    else:
        scores = score(load_rows(args.data))
        if cache:
            cache.write_text(json.dumps(scores))
    # the pack's defaults first (a=0.9, svguardian.benign <= 0.25, class >= 0.7), then a grid
    settings = [(0.9, 0.75, 0.7)]
    settings += [(a, b, c) for c in (0.6, 0.7, 0.8, 2.0) for a, b in
                 ((0.8, 0.75), (0.9, 0.6), (0.9, 0.75), (0.9, 0.85), (0.95, 0.75), (2.0, 0.75))]
    table(scores, settings, args.windows, args.per_family)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
