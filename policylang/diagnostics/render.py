"""Render diagnostics as text for people (``full``, ``concise``) or machines (``json``,
``github`` workflow annotations, ``sarif`` 2.1.0).

``full`` follows rustc and Ruff::

    error[PL101]: undefined name `ordr_id`
      --> support.policy:12:10
       |
    12 |     when ordr_id
       |          ^^^^^^^ not defined
       |
    help: did you mean `order_id`?

The source text comes from ``sources``: a mapping from file name (as in ``Span.file``)
to ``SourceFile`` or ``str``. Without the text of a file only the header, location and
help are shown. Renderers do no I/O.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Iterable, Mapping, Union

from policylang._source import SourceFile, Span
from policylang.diagnostics.codes import CODES
from policylang.diagnostics.diagnostic import Diagnostic, Severity

FORMATS = ("full", "concise", "json", "github", "sarif")
DOCS_URL = "https://github.com/policylang/policylang/blob/main/docs/diagnostics.md"
MAX_LINE_WIDTH = 120
TAB_WIDTH = 4

Sources = Mapping[str, Union[SourceFile, str]]


def render(diagnostics: Iterable[Diagnostic], sources: Sources | None = None, format: str = "full") -> str:
    """All diagnostics in one format; ``json`` is a JSON array, the others one block per diagnostic."""
    diagnostics = list(diagnostics)
    if format == "json":
        return render_json(diagnostics)
    if format == "concise":
        return "".join(render_concise(d) + "\n" for d in diagnostics)
    if format == "full":
        return "".join(render_full(d, sources) + "\n" for d in diagnostics)
    if format == "github":
        return "".join(render_github(d) + "\n" for d in diagnostics)
    if format == "sarif":
        return render_sarif(diagnostics)
    raise ValueError(f"unknown format `{format}`; use one of {', '.join(FORMATS)}")


def render_concise(d: Diagnostic) -> str:
    """``file:line:col: error[PL101] message``."""
    return f"{d.span.file}:{d.span.line}:{d.span.col}: {d.severity.value}[{d.code}] {_one_line(d.message)}"


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2, ensure_ascii=False)


def _gh_escape(s: str, prop: bool = False) -> str:
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return s.replace(":", "%3A").replace(",", "%2C") if prop else s


def render_github(d: Diagnostic) -> str:
    """A GitHub Actions workflow command: ``::error file=F,line=L,col=C,...::message``."""
    level = "error" if d.severity is Severity.ERROR else "warning"
    sp = d.span
    props = [f"file={_gh_escape(sp.file, True)}", f"line={sp.line}", f"col={sp.col}",
             f"endLine={sp.end_line}", f"endColumn={sp.end_col}", f"title={_gh_escape(f'{d.code} {d.name}', True)}"]
    msg = d.message + (f" (help: {d.help})" if d.help else "")
    return f"::{level} {','.join(props)}::{_gh_escape(msg)}"


def render_sarif(diagnostics: Iterable[Diagnostic]) -> str:
    """One SARIF 2.1.0 log with one run; columns count code points, like every span here."""

    diagnostics = list(diagnostics)
    codes = sorted({d.code for d in diagnostics})
    rules = []
    for code in codes:
        c = CODES.get(code)
        rules.append({
            "id": code,
            "name": c.name if c else "unknown",
            "shortDescription": {"text": c.summary if c else code},
            "helpUri": f"{DOCS_URL}#{code.lower()}-{c.name if c else ''}",
            "defaultConfiguration": {"level": "error" if (c is None or c.severity is Severity.ERROR) else "warning"},
        })
    results = []
    for d in diagnostics:
        message = d.message + (f"\nhelp: {d.help}" if d.help else "")
        results.append({
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": "error" if d.severity is Severity.ERROR else "warning",
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": d.span.file.replace("\\", "/")},
                "region": {"startLine": d.span.line, "startColumn": d.span.col,
                           "endLine": d.span.end_line, "endColumn": d.span.end_col},
            }}],
        })
    try:
        from importlib.metadata import version

        tool_version = version("policylang")
    except Exception:  # pragma: no cover - running from a source tree without metadata
        tool_version = "0"
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "policylang", "version": tool_version, "informationUri": DOCS_URL,
                                "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _one_line(s: str) -> str:
    return s.replace("\r", " ").replace("\n", " ")


def _text_of(sources: Sources | None, file: str) -> str | None:
    if not sources:
        return None
    src = sources.get(file)
    if src is None:
        return None
    return src.text if isinstance(src, SourceFile) else str(src)


def render_full(d: Diagnostic, sources: Sources | None = None) -> str:
    text = _text_of(sources, d.span.file)
    lines = [f"{d.severity.value}[{d.code}]: {_one_line(d.message)}"]
    snippet = _snippet(text, d.span, d.label, "^") if text is not None else None
    extra = []
    if text is not None:
        for lab in d.labels:
            if lab.span.file == d.span.file:
                extra.append(_snippet(text, lab.span, lab.message, "-"))
    width = max([len(str(d.span.line))] + [len(str(lab.span.line)) for lab in d.labels])
    pad = " " * width
    lines.append(f"{pad}--> {d.span.file}:{d.span.line}:{d.span.col}")
    if snippet is not None:
        lines.append(f"{pad} |")
        for block in [snippet, *[e for e in extra if e is not None]]:
            for num, body in block:
                lines.append(f"{str(num).rjust(width) if num else pad} |{(' ' + body) if body else ''}")
        lines.append(f"{pad} |")
    for lab in d.labels:
        if text is None or lab.span.file != d.span.file:
            lines.append(f"note: {_one_line(lab.message)} at {lab.span}")
    if d.help:
        lines.append(f"help: {_one_line(d.help)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ snippet
def _line_bounds(text: str, line: int) -> tuple[int, int] | None:
    """Offsets of the start and end (without the newline) of 1-based ``line``."""
    if line < 1:
        return None
    start = 0
    for _ in range(line - 1):
        nl = text.find("\n", start)
        if nl < 0:
            return None
        start = nl + 1
    end = text.find("\n", start)
    if end < 0:
        end = len(text)
    if end > start and text[end - 1] == "\r":
        end -= 1
    return start, end


def _cell(ch: str) -> str:
    """How a character is shown in a source line: tabs expanded, invisible and bidi made visible."""
    if ch == "\t":
        return " " * TAB_WIDTH
    o = ord(ch)
    if o < 0x20 or o == 0x7F:
        return f"<{o:02X}>"
    cat = unicodedata.category(ch)
    if cat in ("Cf", "Cc", "Zl", "Zp", "Co", "Cs", "Cn") or (cat == "Zs" and ch != " "):
        return f"<U+{o:04X}>"
    return ch


def _width(s: str) -> int:
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _snippet(text: str, span: Span, label: str | None, mark: str):
    """[(line number or 0, text)]: the span's first line and a marker line under it."""
    bounds = _line_bounds(text, span.line)
    if bounds is None:
        return None
    ls, le = bounds
    start = min(max(span.start, ls), le)
    if span.end_line == span.line:
        end = min(max(span.end, start), le)
    else:
        end = le  # a multi-line span: mark to the end of its first line
    raw_before, raw_span, raw_after = text[ls:start], text[start:end], text[end:le]
    before = "".join(_cell(c) for c in raw_before)
    inside = "".join(_cell(c) for c in raw_span)
    after = "".join(_cell(c) for c in raw_after)
    # keep very long lines readable: a window around the span
    if _width(before) + _width(inside) + _width(after) > MAX_LINE_WIDTH:
        keep = max(10, (MAX_LINE_WIDTH - min(_width(inside), MAX_LINE_WIDTH // 2)) // 2)
        if _width(before) > keep:
            before = "..." + _tail(before, keep - 3)
        if _width(inside) > MAX_LINE_WIDTH // 2:
            inside = _head(inside, MAX_LINE_WIDTH // 2 - 3) + "..."
        room = MAX_LINE_WIDTH - _width(before) - _width(inside)
        if _width(after) > room:
            after = _head(after, max(0, room - 3)) + "..."
    shown = (before + inside + after).rstrip()
    marks = mark * max(1, _width(inside))
    under = " " * _width(before) + marks + (f" {_one_line(label)}" if label else "")
    return [(span.line, shown), (0, under)]


def _head(s: str, width: int) -> str:
    out, w = [], 0
    for ch in s:
        cw = _width(ch)
        if w + cw > width:
            break
        out.append(ch)
        w += cw
    return "".join(out)


def _tail(s: str, width: int) -> str:
    return _head(s[::-1], width)[::-1]


def summary(n_files: int, diagnostics: Iterable[Diagnostic]) -> str:
    """``checked 3 files: 2 errors, 1 warning`` (or ``no problems``)."""
    diagnostics = list(diagnostics)
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    files = f"{n_files} file" + ("" if n_files == 1 else "s")
    parts = []
    if errors:
        parts.append(f"{errors} error" + ("" if errors == 1 else "s"))
    if warnings:
        parts.append(f"{warnings} warning" + ("" if warnings == 1 else "s"))
    return f"checked {files}: " + (", ".join(parts) if parts else "no problems")
