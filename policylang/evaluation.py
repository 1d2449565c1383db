"""Scoring a policy on labelled data: what ``policylang eval`` computes (docs/cli.md).

Edge code, like the loader: it reads JSONL lines and calls a :class:`~policylang.Guard`;
the CLI (``policylang.commands``) only parses flags and prints.

Two kinds of data line, told apart by their keys (one file may hold both):

- refusal: ``{"text": str, "label": "attack" | "benign", "family": str?}``. An attack
  is *caught* when the decision's action is one of ``positive`` (default ``refuse``); a
  benign text with such an action is a false positive.
- redaction: ``{"text": str, "spans": [[start, end, "kind"?], ...]}``, code-point offsets
  into ``text``. The decision's ``redactions`` are compared with the spans, exactly.
"""

from __future__ import annotations

import json
import math
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

NO_FAMILY = "(none)"


# ---------------------------------------------------------------------------- JSONL
@dataclass(frozen=True, slots=True)
class Line:
    """One input line: the parsed object, or why it is bad."""

    lineno: int
    obj: dict | None
    error: str | None = None
    id: object = None


def iter_jsonl(src: Iterable[bytes]) -> Iterator[Line]:
    """Every line of a binary JSONL stream, in order, each once (blank lines are bad lines)."""
    for lineno, raw in enumerate(src, start=1):
        if not raw.strip():
            yield Line(lineno, None, "blank line")
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield Line(lineno, None, f"line is not valid UTF-8 (byte offset {e.start})")
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            msg = f"invalid JSON: {e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) \
                else "invalid JSON: nested too deeply"
            yield Line(lineno, None, msg)
            continue
        if not isinstance(obj, dict):
            yield Line(lineno, None, f"each line must be a JSON object, got {_json_type(obj)}")
            continue
        yield Line(lineno, obj, None, obj.get("id"))


def _json_type(v) -> str:
    if isinstance(v, list):
        return "an array"
    if isinstance(v, str):
        return "a string"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    return "a number"


def dumps_line(rec: dict) -> str:
    """One JSON line; a str holding a lone surrogate is written as a ``\\ud800`` escape."""
    s = json.dumps(rec, ensure_ascii=False)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = json.dumps(rec, ensure_ascii=True)
    return s


def text_error(obj: dict) -> str | None:
    if "text" not in obj:
        return 'missing "text"'
    if not isinstance(obj["text"], str):
        return f'"text" must be a string, got {_json_type(obj["text"])}'
    return None


def check_batch(guard, texts: list[str], stage: str) -> list:
    """Decisions for ``texts``; a text the engine fails on gets an error string, never the batch."""
    try:
        return guard.check_many(texts, stage=stage)
    except Exception:  # noqa: BLE001 - find the one text, check the others
        out = []
        for t in texts:
            try:
                out.append(guard.check(t, stage=stage))
            except Exception as e:  # noqa: BLE001
                out.append(f"internal error checking this text: {type(e).__name__}: {e}".replace("\n", " "))
        return out


# ---------------------------------------------------------------------------- samples
@dataclass(frozen=True, slots=True)
class Sample:
    lineno: int
    id: object
    text: str
    label: str | None = None  # "attack" / "benign" (refusal data)
    family: str | None = None
    spans: tuple | None = None  # ((start, end, kind | None), ...) (redaction data)


def parse_sample(line: Line) -> Sample | str:
    """A data line as a Sample, or the error message for it."""
    if line.error:
        return line.error
    obj = line.obj
    err = text_error(obj)
    if err:
        return err
    text = obj["text"]
    has_label, has_spans = "label" in obj, "spans" in obj
    if has_label == has_spans:
        return 'each line needs "label" (refusal data) or "spans" (redaction data), not both' if has_label \
            else 'each line needs "label" ("attack" or "benign") or "spans"'
    if has_label:
        label = obj["label"]
        if label not in ("attack", "benign"):
            return f'"label" must be "attack" or "benign", got {json.dumps(label)[:40]}'
        family = obj.get("family")
        if family is not None and not isinstance(family, str):
            return f'"family" must be a string, got {_json_type(family)}'
        return Sample(line.lineno, line.id, text, label=label, family=family)
    spans = obj["spans"]
    if not isinstance(spans, list):
        return f'"spans" must be an array of [start, end, "kind"?], got {_json_type(spans)}'
    out = []
    for i, sp in enumerate(spans):
        ok = (isinstance(sp, list) and len(sp) in (2, 3)
              and all(isinstance(x, int) and not isinstance(x, bool) for x in sp[:2])
              and (len(sp) == 2 or sp[2] is None or isinstance(sp[2], str)))
        if not ok:
            return f'span {i} must be [start, end] or [start, end, "kind"] with integer offsets'
        start, end = sp[0], sp[1]
        if not 0 <= start < end <= len(text):
            return f"span {i} [{start}, {end}] is not inside the text (length {len(text)})"
        out.append((start, end, sp[2] if len(sp) == 3 else None))
    return Sample(line.lineno, line.id, text, spans=tuple(out))


# ---------------------------------------------------------------------------- metrics
def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of ``values``; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(1, math.ceil(q / 100 * len(s)))
    return s[k - 1]


def default_score_keys(plan, positive: Sequence[str], stage: str) -> tuple[str, ...]:
    """The ``Decision.scores`` keys that rules with a counted action read at ``stage``: for a
    classifier label ``NAME.LABEL``, for a topic or a one-output model ``NAME``. The other
    labels of a classifier (``injection.benign``) are not a measure of attack."""
    labels: dict[tuple[str, int], list[str]] = {}
    for index, label, _span, rule_id in plan.label_refs:
        labels.setdefault((rule_id, index), []).append(label)
    keys: list[str] = []
    for rule in plan.rules:
        if rule.action.kind not in positive or stage not in rule.stages or rule.shadow:
            continue
        for m in rule.models:
            entry = plan.models[m]
            read = labels.get((rule.rule_id, m))
            if read:
                keys.extend(f"{entry.qname}.{lab}" for lab in read)
            else:
                keys.append(entry.qname)
    return tuple(dict.fromkeys(keys))


def text_score(decision, keys: Sequence[str] | None = None) -> float | None:
    """The score a text is ranked by for recall at a fixed FPR: the highest of the decision's
    model scores under ``keys`` (all of ``Decision.scores`` when None); None when the text
    has none of them."""
    scores = decision.scores
    items = scores.values() if keys is None else (scores[k] for k in keys if k in scores)
    values = [v for v in items if isinstance(v, (int, float)) and math.isfinite(v)]
    return max(values) if values else None


def recall_at_fpr(attack_scores: Sequence[float], benign_scores: Sequence[float], target: float) -> dict:
    """The lowest threshold whose false-positive rate on benign scores is <= ``target``, and
    the recall of attacks at it (a text is positive when its score >= threshold)."""
    benign = sorted(benign_scores)
    n_b = len(benign)
    allowed = math.floor(target * n_b + 1e-9)
    for t in sorted(set(attack_scores) | set(benign_scores)):
        fp = n_b - bisect_left(benign, t)
        if fp <= allowed:
            tp = sum(1 for s in attack_scores if s >= t)
            return {"target_fpr": target, "threshold": t, "recall": ratio(tp, len(attack_scores)),
                    "fpr": ratio(fp, n_b), "caught": tp, "false_positives": fp}
    return {"target_fpr": target, "threshold": None, "recall": 0.0 if attack_scores else None,
            "fpr": 0.0 if n_b else None, "caught": 0, "false_positives": 0}


def prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p, r = ratio(tp, n_pred), ratio(tp, n_gold)
    return {"tp": tp, "predicted": n_pred, "gold": n_gold, "precision": p, "recall": r, "f1": f1(p, r)}


# ---------------------------------------------------------------------------- run
@dataclass
class Report:
    stage: str
    positive: tuple[str, ...]
    lines: int = 0
    errors: list[dict] = field(default_factory=list)
    refusal: dict | None = None
    redaction: dict | None = None
    latency_us: dict = field(default_factory=dict)
    texts_per_s: float | None = None
    score_keys: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "stage": self.stage, "positive": list(self.positive), "lines": self.lines,
            "bad_lines": len(self.errors), "errors": self.errors, "refusal": self.refusal,
            "redaction": self.redaction, "latency_us": self.latency_us, "texts_per_s": self.texts_per_s,
            "score_keys": list(self.score_keys),
        }


def evaluate(guard, lines: Iterable[Line], *, stage: str = "input", positive: Sequence[str] = ("refuse",),
             at_fpr: float = 0.01, batch: int = 256, latency_sample: int = 200,
             score_keys: Sequence[str] | None = None) -> Report:
    """Score ``guard`` on data lines; decisions come from ``guard.check_many`` in batches.

    Latency is measured separately: ``guard.check`` of each of the first ``latency_sample``
    texts, timed one at a time (a batch's decisions carry no per-text latency).
    """
    report = Report(stage, tuple(positive))
    if score_keys is None:
        score_keys = default_score_keys(guard.plan, positive, stage)
    report.score_keys = tuple(score_keys)
    keys = report.score_keys
    ref: list[tuple] = []  # (label, family, action, score): no text or Decision is kept
    red: list[tuple] = []  # (gold spans, predicted spans)
    timed: list[str] = []  # texts for the latency pass
    n_texts = 0
    wall = 0.0
    pending: list[Sample] = []

    def flush():
        nonlocal wall, n_texts
        if not pending:
            return
        t0 = time.perf_counter()
        decisions = check_batch(guard, [x.text for x in pending], stage)
        wall += time.perf_counter() - t0
        n_texts += len(pending)
        for x, d in zip(pending, decisions):
            if isinstance(d, str):
                report.errors.append({"line": x.lineno, "id": x.id, "error": d})
            elif x.label is not None:
                ref.append((x.label, x.family, d.action, text_score(d, keys)))
            else:
                red.append((x.spans, {(r.start, r.end, r.kind) for r in d.redactions}))
        pending.clear()

    for line in lines:
        report.lines += 1
        x = parse_sample(line)
        if isinstance(x, str):
            report.errors.append({"line": line.lineno, "id": line.id, "error": x})
            continue
        if len(timed) < latency_sample:
            timed.append(x.text)
        pending.append(x)
        if len(pending) >= batch:
            flush()
    flush()
    if n_texts and wall > 0:
        report.texts_per_s = n_texts / wall
    lat = []
    for text in timed:
        t = time.perf_counter_ns()
        try:
            guard.check(text, stage=stage)
        except Exception:  # noqa: BLE001 - already reported by its error record
            continue
        lat.append((time.perf_counter_ns() - t) / 1000)
    report.errors.sort(key=lambda e: e["line"])
    report.latency_us = {"texts": len(lat), "p50": percentile(lat, 50), "p99": percentile(lat, 99)}
    if ref:
        report.refusal = _refusal(ref, set(positive), at_fpr, keys)
    if red:
        report.redaction = _redaction(red)
    return report


def _refusal(items, pos: set[str], at_fpr: float, keys: Sequence[str]) -> dict:
    fams: dict[str, dict] = {}
    n_a = n_b = caught = fps = 0
    a_scores, b_scores = [], []
    have_scores = True
    for label, family, action, score in items:
        hit = action in pos
        fam = fams.setdefault(family or NO_FAMILY, {"attacks": 0, "caught": 0, "benign": 0, "false_positives": 0})
        if score is None:
            have_scores = False
        if label == "attack":
            n_a += 1
            caught += hit
            fam["attacks"] += 1
            fam["caught"] += hit
            a_scores.append(score)
        else:
            n_b += 1
            fps += hit
            fam["benign"] += 1
            fam["false_positives"] += hit
            b_scores.append(score)
    families = []
    for name in sorted(fams):
        f = fams[name]
        families.append({"family": name, **f, "recall": ratio(f["caught"], f["attacks"]),
                         "fpr": ratio(f["false_positives"], f["benign"])})
    if have_scores and a_scores and b_scores:
        at = recall_at_fpr(a_scores, b_scores, at_fpr)
    else:
        at = {"target_fpr": at_fpr, "threshold": None, "recall": None, "fpr": None,
              "why": ("the counted rules read no model score" if not keys else
                      "some texts have no model score" if not have_scores else "needs attacks and benign texts")}
    at["score"] = "max of " + (", ".join(keys) if keys else "(no model scores)")
    return {"attacks": n_a, "benign": n_b, "caught": caught, "false_positives": fps,
            "recall": ratio(caught, n_a), "fpr": ratio(fps, n_b), "families": families, "at_fpr": at}


def _redaction(items) -> dict:
    tp_u = n_pred = n_gold = tp_t = 0
    typed_ok = True
    kinds: dict[str, list[int]] = {}  # kind -> [tp, predicted, gold]
    for spans, pred in items:
        gold = set(spans)
        gold_u = {(a, b) for a, b, _ in gold}
        pred_u = {(a, b) for a, b, _ in pred}
        tp_u += len(gold_u & pred_u)
        n_pred += len(pred_u)
        n_gold += len(gold_u)
        if any(k is None for _, _, k in gold):
            typed_ok = False
        tp_t += len(gold & pred)
        for a, b, k in pred:
            kinds.setdefault(k, [0, 0, 0])[1] += 1
        for a, b, k in gold:
            if k is None:
                continue
            row = kinds.setdefault(k, [0, 0, 0])
            row[2] += 1
            row[0] += (a, b, k) in pred
    out = {"texts": len(items), "untyped": prf(tp_u, n_pred, n_gold),
           "typed": prf(tp_t, n_pred, n_gold) if typed_ok else None,
           "kinds": [{"kind": k, **prf(*kinds[k])} for k in sorted(kinds)]}
    if not typed_ok:
        out["typed_why"] = "some gold spans have no kind"
    return out


# ---------------------------------------------------------------------------- text
def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def table(rows: Sequence[Sequence[str]], right: set[int] = frozenset()) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def render_text(report: Report) -> str:
    parts = []
    pos = ",".join(report.positive)
    if report.refusal:
        r = report.refusal
        rows = [("family", "attacks", "caught", "recall", "benign", "flagged", "fpr")]
        for f in r["families"]:
            rows.append((f["family"], f["attacks"], f["caught"], _pct(f["recall"]), f["benign"],
                         f["false_positives"], _pct(f["fpr"])))
        rows.append(("all", r["attacks"], r["caught"], _pct(r["recall"]), r["benign"], r["false_positives"],
                     _pct(r["fpr"])))
        parts.append(f"refusal (positive: {pos})\n" + table(rows, right={1, 2, 3, 4, 5, 6}))
        at = r["at_fpr"]
        if at.get("threshold") is not None:
            parts.append(f"recall at FPR <= {_pct(at['target_fpr'])}: {_pct(at['recall'])} "
                         f"({at['score']} >= {at['threshold']:.4f}, FPR {_pct(at['fpr'])})")
        else:
            parts.append(f"recall at FPR <= {_pct(at['target_fpr'])}: - ({at.get('why', 'no threshold')})")
    if report.redaction:
        r = report.redaction
        rows = [("spans", "gold", "predicted", "tp", "precision", "recall", "f1")]
        for name, m in (("untyped", r["untyped"]), ("typed", r["typed"])):
            if m is not None:
                rows.append((name, m["gold"], m["predicted"], m["tp"], _pct(m["precision"]), _pct(m["recall"]),
                             _pct(m["f1"])))
        for k in r["kinds"]:
            rows.append((f"kind {k['kind']}", k["gold"], k["predicted"], k["tp"], _pct(k["precision"]),
                         _pct(k["recall"]), _pct(k["f1"])))
        parts.append(f"redaction ({r['texts']} texts, exact spans)\n" + table(rows, right={1, 2, 3, 4, 5, 6}))
    lat = report.latency_us
    if lat.get("texts"):
        tps = f", {report.texts_per_s:,.0f} texts/s batched" if report.texts_per_s else ""
        parts.append(f"latency per text (check, {lat['texts']} texts): p50 {lat['p50']:,.0f} us, "
                     f"p99 {lat['p99']:,.0f} us{tps}")
    parts.append(f"{report.lines} lines, {len(report.errors)} bad")
    return "\n\n".join(parts) + "\n"
