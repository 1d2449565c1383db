"""The `scan`, `explain` and `test` subcommands (``policylang.cli`` registers them)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from policylang.errors import PolicyError
from policylang.loader import UsageError

SCAN_BATCH = 256


def _load_guard(policies: Sequence[str], err) -> object | None:
    import policylang

    try:
        return policylang.load(list(policies))
    except PolicyError as e:
        for d in e.diagnostics or ():
            print(_render(d), file=err)
        if not e.diagnostics:
            print(f"error: {e.message}", file=err)
        return None


def _render(d) -> str:
    try:
        from policylang.diagnostics.render import render_concise

        return render_concise([d])
    except Exception:  # renderer not available: the concise line is always there
        return d.concise()


def _context_arg(values: Sequence[str] | None) -> dict:
    ctx: dict = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--context takes KEY=VALUE, got `{item}`")
        ctx[key] = value
    return ctx


# ---------------------------------------------------------------------------- scan
def configure_scan(p) -> None:
    p.description = 'Check each line {"id": ..., "text": ...} of INPUT.jsonl and write one decision per line.'
    p.add_argument("-p", "--policy", action="append", required=True, metavar="POLICY",
                   help="policy file, folder or built-in pack name (repeatable)")
    p.add_argument("input", help="JSONL input file, or - for standard input")
    p.add_argument("-o", "--output", default="-", help="JSONL output file (default: standard output)")
    p.add_argument("--stage", default="input", choices=("input", "output", "context"))
    p.add_argument("--batch", type=int, default=SCAN_BATCH, help="texts per batch (bounds memory)")


def _decision_record(rid, d) -> dict:
    rec = {"id": rid}
    rec.update(d.model_dump(mode="json"))
    return rec


def cmd_scan(args, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    guard = _load_guard(args.policy, err)
    if guard is None:
        return 1
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    try:
        src = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    except OSError as e:
        raise UsageError(f"cannot read `{args.input}`: {e.strerror or e}") from None
    try:
        dst = out if args.output == "-" else open(args.output, "w", encoding="utf-8")
    except OSError as e:
        if src is not sys.stdin.buffer:
            src.close()
        raise UsageError(f"cannot write `{args.output}`: {e.strerror or e}") from None
    show_progress = err.isatty() if hasattr(err, "isatty") else False
    counts = {"lines": 0, "bad": 0}
    batch: list[tuple[int, object, str]] = []

    def flush():
        if not batch:
            return
        decisions = guard.check_many([t for _, _, t in batch], stage=args.stage)
        for (_, rid, _), d in zip(batch, decisions):
            dst.write(json.dumps(_decision_record(rid, d), ensure_ascii=False) + "\n")
        batch.clear()
        if show_progress:
            print(f"\rscanned {counts['lines']:,} lines ({counts['bad']} bad)", end="", file=err, flush=True)

    def bad(lineno: int, rid, why: str):
        counts["bad"] += 1
        print(f"{args.input}:{lineno}: error: {why}", file=err)
        dst.write(json.dumps({"id": rid, "line": lineno, "error": why}, ensure_ascii=False) + "\n")

    try:
        for lineno, raw in enumerate(src, start=1):
            counts["lines"] += 1
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                flush()
                bad(lineno, None, f"line is not valid UTF-8 (byte offset {e.start})")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                flush()
                bad(lineno, None, f"invalid JSON: {e.msg} at column {e.colno}")
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                flush()
                bad(lineno, obj.get("id") if isinstance(obj, dict) else None,
                    'each line must be an object with a string "text"')
                continue
            text = obj["text"]
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                pass  # lone surrogates from JSON escapes: the engine handles them
            batch.append((lineno, obj.get("id", lineno), text))
            if len(batch) >= args.batch:
                flush()
        flush()
    finally:
        if src is not sys.stdin.buffer:
            src.close()
        if dst is not out:
            dst.close()
    if show_progress:
        print(file=err)
    print(f"scanned {counts['lines']:,} lines, {counts['bad']} bad", file=err)
    return 0


# ---------------------------------------------------------------------------- explain
def configure_explain(p) -> None:
    p.description = "Check TEXT and print the decision with each cited rule's source line and the matched span."
    p.add_argument("-p", "--policy", action="append", required=True, metavar="POLICY")
    p.add_argument("text", help="the text to check (- reads standard input)")
    p.add_argument("--stage", default="input", choices=("input", "output", "context"))
    p.add_argument("--context", action="append", metavar="KEY=VALUE", help="request context attribute")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")


def _highlight(text: str, start: int, end: int, color: bool) -> str:
    if color:
        return f"{text[:start]}\x1b[1;31m{text[start:end]}\x1b[0m{text[end:]}"
    return f"{text[:start]}[[{text[start:end]}]]{text[end:]}"


def cmd_explain(args, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    guard = _load_guard(args.policy, err)
    if guard is None:
        return 1
    text = sys.stdin.read() if args.text == "-" else args.text
    d = guard.check(text, stage=args.stage, context=_context_arg(args.context))
    if args.json:
        print(d.model_dump_json(indent=2), file=out)
        return 0
    color = hasattr(out, "isatty") and out.isatty()
    sources = {i.module.source.name: i.module.source for i in guard.plan.policy_set.infos}
    print(f"decision: {d.action}", file=out)
    if d.action != "allow":
        print(f"text: {d.text}", file=out)
    if not d.citations:
        print("no rule fired", file=out)
    for c in d.citations:
        tag = " (shadow)" if c.shadow else ""
        print(f"\n{c.action}{tag} by {c.rule_id}  --> {c.file}:{c.line}", file=out)
        src = sources.get(c.file)
        if src is not None:
            print(f"  {c.line:>4} | {src.line_text(c.line).rstrip()}", file=out)
        if c.principle:
            print(f"  principle: {c.principle}", file=out)
        if c.error:
            print(f"  error: {c.error}", file=out)
        for e in c.evidence:
            if e.start is not None:
                print(f"  {e.matcher} at {e.start}..{e.end}: {_highlight(text, e.start, e.end, color)}", file=out)
            elif e.score is not None:
                extra = f" (closest example: {e.example!r})" if e.example else ""
                label = f".{e.label}" if e.label else ""
                print(f"  {e.matcher}{label} score {e.score:.3f}{extra}", file=out)
    for e in d.errors:
        print(f"error: {e}", file=out)
    return 0


# ---------------------------------------------------------------------------- test
def configure_test(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="policy files, folders or built-in pack names")
    p.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")


def cmd_test(args, out=None, err=None) -> int:
    from policylang.testing import run_tests

    out = out or sys.stdout
    err = err or sys.stderr
    guard = _load_guard(args.paths, err)
    if guard is None:
        return 1
    results = run_tests(guard)
    failed = [r for r in results if not r.passed]
    for r in results:
        if r.passed and not args.quiet:
            print(f"PASS {r.span.file}:{r.span.line} {r.name}", file=out)
        elif not r.passed:
            print(f"FAIL {r.span.file}:{r.span.line} {r.name}", file=out)
            for p in r.problems:
                print(f"     {p}", file=out)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=out)
    if not results:
        print("warning: no test blocks found", file=err)
    return 1 if failed else 0
