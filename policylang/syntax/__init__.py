"""Stage 1: text -> syntax tree. ``parse(source)`` never raises on bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass

from policylang._source import SourceFile
from policylang.diagnostics import Diagnostic, Severity
from policylang.syntax import ast, parse_cache

__all__ = ["ParseResult", "parse", "ast", "MAX_SOURCE_CHARS", "MAX_NESTING"]

MAX_SOURCE_CHARS = 2 * 1024 * 1024
MAX_NESTING = 64

# Brackets outside strings, regex literals and comments.
_BRACKETS = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|/(?![/*])(?:[^/\\\n]|\\.)+/[a-z]*|#[^\n]*|[()\[\]]',
    re.S,
)


@dataclass(frozen=True, slots=True)
class ParseResult:
    module: ast.Module | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.module is not None and not any(d.is_error for d in self.diagnostics)


def _too_deep(source: SourceFile) -> Diagnostic | None:
    depth = 0
    for m in _BRACKETS.finditer(source.text):
        tok = m.group()
        if len(tok) != 1:
            continue
        if tok in "([":
            depth += 1
            if depth > MAX_NESTING:
                return Diagnostic(
                    "PL004", Severity.ERROR,
                    f"expression nested more than {MAX_NESTING} levels deep",
                    source.span_at(m.start(), m.end()),
                    help="split the condition into named parts or flatten it",
                    label="too deep here",
                )
        elif tok in ")]":
            depth = max(0, depth - 1)
    return None


def _expr_depth_error(module: ast.Module) -> Diagnostic | None:
    """`not not not ...` chains nest without brackets; later stages recurse, so cap them."""
    for rule in module.of_type(ast.Rule):
        for root in (rule.when, rule.unless):
            if root is None:
                continue
            stack = [(root, 1)]
            while stack:
                node, d = stack.pop()
                if d > MAX_NESTING * 2:
                    return Diagnostic(
                        "PL004", Severity.ERROR, "expression nested too deeply", node.span,
                        help="simplify the condition",
                    )
                if isinstance(node, (ast.And, ast.Or, ast.ListExpr)):
                    stack.extend((c, d + 1) for c in node.items)
                elif isinstance(node, ast.Not):
                    stack.append((node.item, d + 1))
                elif isinstance(node, ast.Compare):
                    stack.extend(((node.left, d + 1), (node.right, d + 1)))
                elif isinstance(node, ast.Call):
                    stack.extend((a, d + 1) for a in node.args)
    return None


def parse(source: SourceFile) -> ParseResult:
    """Parse one policy file. Syntax errors come back as diagnostics, never as exceptions."""
    if len(source.text) > MAX_SOURCE_CHARS:
        return ParseResult(None, (Diagnostic(
            "PL006", Severity.ERROR,
            f"policy file is {len(source.text):,} characters; the limit is {MAX_SOURCE_CHARS:,}",
            source.span_at(0, 0),
            help="split the policy into several files, or move long word lists into `words NAME = file \"...\"`",
        ),))
    # a cached tree is a text that parsed before, so it passed the check below (~10 ms on a pack)
    cached = parse_cache.read(source)
    if cached is not None:
        return cached
    stripped = _BRACKETS.sub(lambda m: " " if m.group().startswith("#") else m.group(), source.text)
    if not stripped.strip():
        return ParseResult(None, (Diagnostic(
            "PL005", Severity.ERROR, "policy file has no declarations", source.span_at(0, 0),
            help="start with `policy NAME \"description\"` and add rules",
        ),))
    deep = _too_deep(source)
    if deep is not None:
        return ParseResult(None, (deep,))
    # a parse-cache hit above needs neither Lark nor the regex module it imports (~50 ms)
    from lark.exceptions import UnexpectedInput

    from policylang.syntax.parser import lark_parser, parse_items  # lazy: lark
    from policylang.syntax.syntax_errors import syntax_diagnostic  # lazy: lark

    try:
        items, diags = parse_items(source)
    except UnexpectedInput as err:
        return ParseResult(None, (syntax_diagnostic(lark_parser(), source, err),))
    module = ast.Module(source, tuple(items), source.span_at(0, len(source.text)))
    deep = _expr_depth_error(module)
    if deep is not None:
        diags.append(deep)
        return ParseResult(None, tuple(diags))
    result = ParseResult(module, tuple(diags))
    parse_cache.write(source, result)
    return result
