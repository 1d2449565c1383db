"""The `scan`, `explain` and `test` subcommands (``policylang.cli`` registers them)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from policylang.errors import PolicyError
from policylang.evaluation import Line, check_batch, dumps_line, evaluate, iter_jsonl, render_text, text_error
from policylang.loader import UsageError, expand_targets

SCAN_BATCH = 256
#: exit codes of the commands that run a policy (scan, eval, explain, test)
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def add_word_root(p) -> None:
    p.add_argument("--word-root", action="append", default=[], metavar="DIR",
                   help="a folder word files may come from besides each policy's own (repeatable)")


def _load_guard(policies: Sequence[str], err, word_roots=(), **options) -> object | None:
    import policylang

    try:
        return policylang.load(list(policies), word_roots=tuple(word_roots or ()), **options)
    except PolicyError as e:
        _report_policy_error(e, err)
        return None


def _report_policy_error(e: PolicyError, err) -> None:
    for d in e.diagnostics or ():
        print(_render(d), file=err)
    if not e.diagnostics:
        print(f"error: {e.message}", file=err)


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
    p.description = ('Check each line {"id": ..., "text": ...} of INPUT.jsonl and write one record per line: '
                     'the decision, or an error record for a bad line. Exit 0 when every line was scanned, '
                     '1 when some lines were bad, 2 on a usage or policy error.')
    p.add_argument("-p", "--policy", action="append", required=True, metavar="POLICY",
                   help="policy file, folder or built-in pack name (repeatable)")
    p.add_argument("input", help="JSONL input file (.parquet/.pq: Parquet with a `text` column), or - for stdin")
    p.add_argument("-o", "--output", default="-",
                   help="JSONL output file, or .parquet/.pq for Parquet (default: JSONL on standard output)")
    p.add_argument("--stage", default="input", choices=("input", "output", "context"))
    p.add_argument("--batch", type=int, default=SCAN_BATCH, help="texts per batch (bounds memory)")
    p.add_argument("--max-line-bytes", type=int, default=None, metavar="N",
                   help="longest input line read, in bytes; a longer line gets an error record and is skipped "
                        "unread (default: 6 x the guard's max_text_chars + 64 KiB, 24,065,536)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: a pool of Ray actors, the same records "
                        "(needs policylang[ray]; connects to $RAY_ADDRESS or starts a local cluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="Ray actors, one guard each (--engine ray; default: the cluster's CPUs)")
    add_word_root(p)


#: bytes of JSON a text of one character can take at most in a line (a ``\uXXXX`` escape)
LINE_BYTES_PER_CHAR = 6
LINE_SLACK = 64 * 1024  # the rest of the object: "id", other fields
READ_CHUNK = 1 << 20  # an over-long line is skipped this many bytes at a time


def max_line_bytes(guard, requested: int | None) -> int:
    """The longest input line ``scan`` reads: ``requested``, or what the guard's text limit allows."""
    if requested is not None:
        if requested < 1:
            raise UsageError("--max-line-bytes must be at least 1")
        return requested
    from policylang.runtime.evaluate import DEFAULT_MAX_TEXT_CHARS

    limit = getattr(getattr(guard, "_engine", None), "max_text_chars", DEFAULT_MAX_TEXT_CHARS)
    if limit is None:
        limit = DEFAULT_MAX_TEXT_CHARS
    return LINE_BYTES_PER_CHAR * limit + LINE_SLACK


def bounded_lines(src, limit: int):
    """The lines of a binary stream, none held longer than ``limit`` bytes.

    Yields ``bytes`` for each line (newline included), or an ``int`` (the bytes it had, at
    least ``limit + 1``) for a line longer than ``limit``: that line is read past in
    ``READ_CHUNK`` pieces and never held whole, so memory stays bounded whatever the input.
    """
    while True:
        raw = src.readline(limit + 1)
        if not raw:
            return
        if raw.endswith(b"\n") or len(raw) <= limit:
            yield raw  # a whole line (the last one may have no newline)
            continue
        size = len(raw)
        while not raw.endswith(b"\n"):
            raw = src.readline(READ_CHUNK)
            if not raw:
                break
            size += len(raw)
        yield size - raw.endswith(b"\n")


def _read_lines(src, limit: int, start: int = 1):
    """:func:`iter_jsonl` over :func:`bounded_lines`: over-long lines become bad lines.

    ``start``: the line number of the first line of ``src`` (a Ray worker reads a slice of a file)."""
    for lineno, raw in enumerate(bounded_lines(src, limit), start=start):
        if isinstance(raw, int):
            yield Line(lineno, None, f"line too long: over {limit:,} bytes (read {raw:,}); skipped unread "
                                     "(--max-line-bytes; texts over the guard's max_text_chars are refused anyway)")
            continue
        for line in iter_jsonl((raw,)):
            yield Line(lineno, line.obj, line.error, line.id)


def _decision_record(rid, lineno, d) -> dict:
    rec = {"id": rid, "line": lineno}
    rec.update(d.model_dump(mode="json"))
    return rec


def _open_io(args, out):
    try:
        src = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")
    except OSError as e:
        raise UsageError(f"cannot read `{args.input}`: {e.strerror or e}") from None
    if getattr(args, "output", None) is None:
        return src, None
    try:
        dst = out if args.output == "-" else open(args.output, "w", encoding="utf-8")
    except OSError as e:
        if src is not sys.stdin.buffer:
            src.close()
        raise UsageError(f"cannot write `{args.output}`: {e.strerror or e}") from None
    return src, dst


def _local_records(guard, stage: str, batch_size: int, lines):
    """The records of the local engine, in input order: ``check_many`` per batch of lines."""
    from policylang.distributed.records import line_error, record_of

    batch: list[tuple[Line, str | None]] = []  # (line, error) in input order

    def flush():
        good = [line for line, why in batch if why is None]
        results = iter(check_batch(guard, [line.obj["text"] for line in good], stage))
        for line, why in batch:
            if why is not None:
                yield record_of(line.lineno, line.id, why)
            else:
                yield record_of(line.lineno, line.obj.get("id", line.lineno), next(results))
        batch.clear()

    for line in lines:
        batch.append((line, line_error(line)))
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()


def cmd_scan(args, out=None, err=None) -> int:
    from policylang.distributed.records import JsonlWriter, ParquetWriter, is_parquet, parquet_lines

    out = out or sys.stdout
    err = err or sys.stderr
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    engine = getattr(args, "engine", "local")
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if workers is not None and engine != "ray":
        raise UsageError("--workers needs --engine ray")
    parquet_in, parquet_out = is_parquet(args.input), is_parquet(args.output)
    if engine == "ray":
        from policylang.distributed import PolicyBundle, ray_data

        ray_data.require_ray()  # before the policy load: say at once what is missing
        try:
            bundle, guard = PolicyBundle.load(args.policy, word_roots=tuple(args.word_root or ()))
        except PolicyError as e:
            _report_policy_error(e, err)
            return EXIT_USAGE
    else:
        guard = _load_guard(args.policy, err, args.word_root)
        if guard is None:
            return EXIT_USAGE
    limit = max_line_bytes(guard, getattr(args, "max_line_bytes", None))
    if parquet_in:
        if not os.path.isfile(args.input):
            raise UsageError(f"cannot read `{args.input}`: no such file")
        src, lines = None, parquet_lines(args.input)
    else:
        src = sys.stdin.buffer if args.input == "-" else _open_input(args.input)
        lines = _read_lines(src, limit)
    try:
        if parquet_out:
            dst, writer = None, ParquetWriter(args.output)
        else:
            dst = out if args.output == "-" else open(args.output, "w", encoding="utf-8")
            writer = JsonlWriter(dst)
    except OSError as e:
        if src is not None and src is not sys.stdin.buffer:
            src.close()
        raise UsageError(f"cannot write `{args.output}`: {e.strerror or e}") from None
    except BaseException:
        if src is not None and src is not sys.stdin.buffer:
            src.close()
        raise
    show_progress = err.isatty() if hasattr(err, "isatty") else False
    counts = {"lines": 0, "bad": 0}
    started_ray = False
    try:
        if engine == "ray":
            started_ray = ray_data.init_ray()
            guard.close()
            if ray_data.can_split(args.input, parquet_in):  # the workers read slices of the file
                for part in ray_data.scan_file(bundle, args.input, limit=limit, stage=args.stage, workers=workers,
                                               batch_size=args.batch, parquet=parquet_out, parquet_in=parquet_in):
                    for lineno, why in part.errors:
                        print(f"{args.input}:{lineno}: error: {why}", file=err)
                    counts["lines"] += part.lines
                    counts["bad"] += len(part.errors)
                    writer.write_chunk(part.jsonl, part.table)
                    if show_progress:
                        print(f"\rscanned {counts['lines']:,} lines ({counts['bad']} bad)", end="", file=err,
                              flush=True)
                records = ()
            else:
                records = ray_data.scan_records(bundle, lines, stage=args.stage, workers=workers,
                                                batch_size=args.batch)
        else:
            records = _local_records(guard, args.stage, args.batch, lines)
        for rec in records:
            counts["lines"] += 1
            if rec.error is not None:
                counts["bad"] += 1
                print(f"{args.input}:{rec.line}: error: {rec.error}", file=err)
            writer.write(rec)
            if show_progress and counts["lines"] % args.batch == 0:
                print(f"\rscanned {counts['lines']:,} lines ({counts['bad']} bad)", end="", file=err, flush=True)
    finally:
        try:
            writer.close()
        finally:
            if src is not None and src is not sys.stdin.buffer:
                src.close()
            if dst is not None and dst is not out:
                dst.close()
            if started_ray:
                import ray

                ray.shutdown()
    if show_progress:
        print(file=err)
    print(f"scanned {counts['lines']:,} lines, {counts['bad']} bad", file=err)
    return EXIT_PROBLEMS if counts["bad"] else EXIT_OK


def _open_input(path: str):
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError(f"cannot read `{path}`: {e.strerror or e}") from None


# ---------------------------------------------------------------------------- eval
def configure_eval(p) -> None:
    p.description = ('Score a policy on labelled JSONL: {"text", "label": "attack"|"benign", "family"?} lines '
                     '(recall and FPR per family, recall at a fixed FPR, latency) and {"text", "spans": '
                     '[[start, end, "kind"?], ...]} lines (span precision/recall/F1). Exit 0 when every line '
                     'was scored, 1 when some lines were bad, 2 on a usage or policy error.')
    p.add_argument("-p", "--policy", action="append", required=True, metavar="POLICY",
                   help="policy file, folder or built-in pack name (repeatable)")
    p.add_argument("input", help="labelled JSONL file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--stage", default="input", choices=("input", "output", "context"))
    p.add_argument("--positive", default="refuse", metavar="ACTIONS",
                   help="comma-separated actions that count as catching an attack (default: refuse)")
    p.add_argument("--at-fpr", type=float, default=0.01, metavar="RATE",
                   help="false-positive rate for 'recall at a fixed FPR' (default: 0.01)")
    p.add_argument("--batch", type=int, default=SCAN_BATCH, help="texts per check_many batch")
    p.add_argument("--latency-sample", type=int, default=200, metavar="N",
                   help="texts timed one by one with check() for p50/p99 (default: 200; 0: none)")
    p.add_argument("--score", action="append", metavar="KEY",
                   help="Decision.scores key to rank texts by for --at-fpr (repeatable; default: the model "
                        "scores that rules with a --positive action read)")
    add_word_root(p)


def cmd_eval(args, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    positive = tuple(a.strip() for a in args.positive.split(",") if a.strip())
    unknown = [a for a in positive if a not in ("refuse", "flag", "redact", "allow")]
    if not positive or unknown:
        raise UsageError(f"--positive takes actions among refuse, flag, redact, allow; got `{args.positive}`")
    if not 0 <= args.at_fpr < 1:
        raise UsageError("--at-fpr must be in [0, 1)")
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    # explain: every model runs on every text, so each text has the scores recall-at-FPR ranks by
    guard = _load_guard(args.policy, err, args.word_root, explain=True)
    if guard is None:
        return EXIT_USAGE
    src, _ = _open_io(argparse.Namespace(input=args.input), out)
    try:
        report = evaluate(guard, iter_jsonl(src), stage=args.stage, positive=positive, at_fpr=args.at_fpr,
                          batch=args.batch, latency_sample=args.latency_sample, score_keys=args.score)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    for e in report.errors:
        print(f"{args.input}:{e['line']}: error: {e['error']}", file=err)
    if args.json:
        data = report.to_json()
        data["policy"] = list(args.policy)
        out.write(dumps_line(data) + "\n")
    else:
        out.write(render_text(report))
    return EXIT_PROBLEMS if report.errors else EXIT_OK


# ---------------------------------------------------------------------------- explain
def configure_explain(p) -> None:
    p.description = "Check TEXT and print the decision with each cited rule's source line and the matched span."
    p.add_argument("-p", "--policy", action="append", required=True, metavar="POLICY")
    p.add_argument("text", help="the text to check (- reads standard input)")
    p.add_argument("--stage", default="input", choices=("input", "output", "context"))
    p.add_argument("--context", action="append", metavar="KEY=VALUE", help="request context attribute")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--fail", action="store_true",
                   help="exit 1 when the decision is refuse (for scripts and CI; default: exit 0)")
    add_word_root(p)


def _highlight(text: str, start: int, end: int, color: bool) -> str:
    if color:
        return f"{text[:start]}\x1b[1;31m{text[start:end]}\x1b[0m{text[end:]}"
    return f"{text[:start]}[[{text[start:end]}]]{text[end:]}"


def cmd_explain(args, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    guard = _load_guard(args.policy, err, args.word_root)
    if guard is None:
        return EXIT_USAGE
    text = sys.stdin.read() if args.text == "-" else args.text
    d = guard.check(text, stage=args.stage, context=_context_arg(args.context))
    status = 1 if args.fail and d.action == "refuse" else 0  # --fail: scripts can test for a refusal
    if args.json:
        print(d.model_dump_json(indent=2), file=out)
        return status
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
    return status


# ---------------------------------------------------------------------------- test
def configure_test(p) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="policy files, folders or built-in pack names (default: `paths` of [tool.policylang])")
    p.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")
    p.add_argument("-k", metavar="TEXT", dest="select", default=None,
                   help="run only the tests whose name contains TEXT (case-insensitive)")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text",
                   help="text (default), json (one object) or junit (JUnit XML for CI)")
    p.add_argument("--coverage", action="store_true",
                   help="report the rules and the conditions of rules that no test exercises, per file")
    add_word_root(p)


def cmd_test(args, out=None, err=None) -> int:
    from policylang.cli import project_config
    from policylang.testing import Coverage, junit_xml, result_json, run_tests

    out = out or sys.stdout
    err = err or sys.stderr
    cfg = project_config(args)
    results = []
    broken = 0
    coverage = Coverage() if args.coverage else None
    for target in expand_targets(args.paths):  # each file's tests run against what that file composes
        options = {"trace_conditions": coverage.tracer} if coverage is not None else {}
        guard = _load_guard([target], err, tuple(args.word_root) + cfg.word_roots, **options)
        if guard is None:
            broken += 1
            continue
        ran = run_tests(guard, args.select)
        if coverage is not None:
            coverage.record(ran)
        results.extend(ran)
        guard.close()
    failed = [r for r in results if not r.passed]
    report = coverage.report() if coverage is not None else None
    if args.format == "json":
        doc = {"passed": len(results) - len(failed), "failed": len(failed), "tests": [result_json(r) for r in results]}
        if report is not None:
            doc["coverage"] = report
        print(json.dumps(doc, indent=2, ensure_ascii=False), file=out)
    elif args.format == "junit":
        out.write(junit_xml(results))
    else:
        for r in results:
            if r.passed and not args.quiet:
                print(f"PASS {r.span.file}:{r.span.line} {r.name}", file=out)
            elif not r.passed:
                print(f"FAIL {r.span.file}:{r.span.line} {r.name}", file=out)
                for p in r.problems:
                    print(f"     {p}", file=out)
        print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=out)
        if report is not None:
            print("\ncoverage (rules fired, conditions made true):", file=out)
            for f in report:
                print(f"  {f['percent']:5.1f}%  {f['file']}  rules {f['rules_covered']}/{f['rules']}, "
                      f"conditions {f['branches_covered']}/{f['branches']}", file=out)
                for miss in f["not_covered"]:
                    where = f"{miss['line']}" + (f":{miss['col']}" if "col" in miss else "")
                    print(f"         {f['file']}:{where} {miss['rule']}: {miss['what']}", file=out)
    if not results and not broken:
        print("warning: no test blocks found" + (f" matching `{args.select}`" if args.select else ""), file=err)
    if broken:
        print(f"error: {broken} {'policy does' if broken == 1 else 'policies do'} not load", file=err)
        return EXIT_USAGE
    return 1 if failed else 0


# ---------------------------------------------------------------------------- rule
def configure_rule(p) -> None:
    p.add_argument("code", nargs="?", metavar="PLnnn", help="a diagnostic code, e.g. PL101 (or a name: undefined-name)")
    p.add_argument("--list", action="store_true", help="list every code with its name, severity and summary")


def diagnostics_doc() -> str | None:
    """The text of docs/diagnostics.md: shipped in the wheel as policylang/_docs, or the source tree's."""
    from importlib import resources
    from pathlib import Path

    shipped = resources.files("policylang").joinpath("_docs").joinpath("diagnostics.md")
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    tree = Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"
    return tree.read_text(encoding="utf-8") if tree.is_file() else None


def cmd_rule(args, out=None, err=None) -> int:
    """``policylang rule PLnnn``: what a diagnostic code means, why, an example and the fix."""
    import re

    from policylang.diagnostics import CODES

    out = out or sys.stdout
    err = err or sys.stderr
    if args.list or not args.code:
        for c in CODES.values():
            print(f"{c.code}  {c.severity.value:<7}  {c.name:<32} {c.summary}", file=out)
        return 0
    want = args.code.strip()
    code = next((c for c in CODES.values() if c.code.lower() == want.lower() or c.name == want.lower()), None)
    if code is None:
        import difflib

        close = difflib.get_close_matches(want.upper(), list(CODES), n=1) or difflib.get_close_matches(
            want.lower(), [c.name for c in CODES.values()], n=1)
        hint = f"; did you mean `{close[0]}`?" if close else "; `policylang rule --list` lists them"
        print(f"policylang: error: unknown diagnostic code `{want}`{hint}", file=err)
        return EXIT_USAGE
    doc = diagnostics_doc()
    section = None
    if doc is not None:
        m = re.search(rf"^## {code.code} .*?(?=^## |\Z)", doc, re.S | re.M)
        section = m.group(0).rstrip() if m else None
    if section is None:  # the documentation is not installed: the summary is all there is
        section = f"## {code.code} {code.name}\n\n**{code.severity.value.capitalize()}.** {code.summary}."
    print(section, file=out)
    return 0


# ---------------------------------------------------------------------------- fmt
def configure_fmt(p) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="policy files or folders, `-` for stdin (default: `paths` of [tool.policylang])")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file would be reformatted")
    p.add_argument("--diff", action="store_true", help="change nothing; print a unified diff of what would change")


def cmd_fmt(args, out=None, err=None) -> int:
    """``policylang fmt``: rewrite policy files in the canonical layout (docs/cli.md#fmt)."""
    import difflib
    from pathlib import Path

    from policylang.cli import project_config
    from policylang.loader import discover, read_source
    from policylang.syntax.formatter import FormatError, format_source

    out = out or sys.stdout
    err = err or sys.stderr
    if args.paths == ["-"]:
        text = sys.stdin.read()
        try:
            out.write(format_source(text, "<stdin>"))
        except FormatError as e:
            for d in e.diagnostics:
                print(_render(d), file=err)
            return EXIT_USAGE
        return 0
    project_config(args)
    changed = broken = 0
    files = discover(args.paths)
    for path in files:
        src = read_source(path)
        if not hasattr(src, "text"):
            print(_render(src), file=err)
            broken += 1
            continue
        try:
            new = format_source(src.text, str(path))
        except FormatError as e:
            for d in e.diagnostics:
                print(_render(d), file=err)
            broken += 1
            continue
        if new == src.text:
            continue
        changed += 1
        if args.diff:
            out.writelines(difflib.unified_diff(src.text.splitlines(True), new.splitlines(True),
                                                f"{path}", f"{path} (formatted)"))
        elif args.check:
            print(f"would reformat {path}", file=out)
        else:
            Path(path).write_text(new, encoding="utf-8")
            print(f"reformatted {path}", file=out)
    verb = "would be reformatted" if (args.check or args.diff) else "reformatted"
    print(f"{changed} of {len(files)} file{'s' if len(files) != 1 else ''} {verb}"
          + (f", {broken} could not be parsed" if broken else ""), file=err)
    if broken:
        return EXIT_USAGE
    return 1 if changed and (args.check or args.diff) else 0


# ---------------------------------------------------------------------------- schema
def configure_schema(p) -> None:
    p.add_argument("which", nargs="?", choices=("decision", "log", "all"), default="all",
                   help="decision (what check() returns), log (a decision-log record) or all (default: all)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def cmd_schema(args, out=None, err=None) -> int:
    """``policylang schema [decision|log|all] [-o FILE]``: the JSON Schema of decisions and log records."""
    from policylang import schemas

    out = out or sys.stdout
    if args.which == "all":
        schema = {name: schemas.generate(name) for name in schemas.NAMES}
    else:
        schema = schemas.generate(args.which)
    text = schemas.dumps(schema)
    if args.output and args.output != "-":
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        out.write(text)
    return EXIT_OK


# ---------------------------------------------------------------------------- cache
def configure_cache(p) -> None:
    p.add_argument("action", nargs="?", choices=("info", "clear"), default="info",
                   help="info (default): where the caches are and their size; clear: delete them")


def _cache_files():
    """``(folder, [files])`` of every cache policylang writes: pattern and gate databases,
    Lark's parser tables, parsed syntax trees. Only policylang's own file names."""
    import glob

    import platformdirs

    from policylang.compile.patterns import resolve_cache_dir

    base = os.environ.get("POLICYLANG_CACHE_DIR") or platformdirs.user_cache_dir("policylang", appauthor=False)
    hs_dir = resolve_cache_dir(None)
    found = [
        (hs_dir, sorted(glob.glob(os.path.join(glob.escape(hs_dir), "*.hsdb"))
                        + glob.glob(os.path.join(glob.escape(hs_dir), ".tmp-*")))),
        (base, sorted(glob.glob(os.path.join(glob.escape(base), "parser-*.lark")))),
        (os.path.join(base, "ast"), sorted(glob.glob(os.path.join(glob.escape(base), "ast", "*.ast")))),
    ]
    return found


def cmd_cache(args, out=None, err=None) -> int:
    """``policylang cache [info|clear]`` (docs/cli.md#cache)."""
    from policylang.cli import project_config

    out = out or sys.stdout
    err = err or sys.stderr
    project_config(args)
    total = count = 0
    failed = []
    for folder, files in _cache_files():
        size = 0
        for f in files:
            try:
                size += os.path.getsize(f)
                if args.action == "clear":
                    os.unlink(f)
            except FileNotFoundError:
                continue
            except OSError as e:
                failed.append(f"{f}: {e.strerror}")
        total += size
        count += len(files)
        if args.action == "info":
            print(f"{folder}  {len(files)} files, {size / 1e6:.1f} MB", file=out)
    if args.action == "clear":
        print(f"removed {count - len(failed)} files, {total / 1e6:.1f} MB", file=out)
        for line in failed:
            print(f"error: cannot remove {line}", file=err)
        return 1 if failed else 0
    print(f"total {count} files, {total / 1e6:.1f} MB", file=out)
    return 0
