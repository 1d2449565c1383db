"""Patterns Hyperscan cannot take as written: PL401 (rejected), PL402 (needs the slower
``regex`` confirmation path), PL403 (too large for start-of-match offsets).

The verdict comes from the environment's ``pattern_problems(**spec)`` (the loader's
environments answer with ``policylang.compile.patterns.check_pattern``, the same code the
compiler uses, so ``check`` and ``compile`` agree; the check stage never imports the
compiler). An environment without it (``check(infos, None)``) gets no verdicts. Patterns
already reported by the regex pass are skipped, and so are patterns ``simple_enough`` proves fine without
compiling them. Verdicts are cached per pattern spec for the process.
"""

from __future__ import annotations

import functools

from policylang.check.checker import CheckContext, error
from policylang.check.symbols import refs_in
from policylang.check.util import walk
from policylang.diagnostics import CODES, Severity
from policylang.syntax import ast

_CACHE: dict[tuple, tuple] = {}
_CACHE_LIMIT = 20_000

HELP = {
    "PL401": "rewrite the pattern in the subset Hyperscan compiles, or split it into two patterns "
             "combined with `and`",
    "PL402": "the pattern still works, but each candidate match is confirmed with the `regex` module; "
             "drop lookarounds and back-references for full speed",
    "PL201": "check the regex syntax",
    "PL202": "require at least one character (e.g. `+` instead of `*`)",
    "PL403": "match positions are found with a slower second pass; shorten bounded repeats like `{1,200}` "
             "if this pattern is used for redaction",
}


# ---------------------------------------------------------------------------- prescreen
# Compiling one pattern with Hyperscan costs about 1-4 ms, which adds up to seconds on
# policies with a thousand patterns. Most patterns are small: literals, classes, short
# bounded repeats, `\b`. For those Hyperscan's verdict is known ("compiles, with start of
# match"), so `simple_enough` skips the compile. It is deliberately conservative, and
# tests/test_check.py cross-checks it against `check_pattern` on random patterns.
MAX_SIMPLE_LEN = 200
MAX_BOUNDED = 32  # largest {m,n} upper bound
MAX_BOUNDED_WITH_UNBOUNDED = 8  # ... when the pattern also has `*` or `+` somewhere
MAX_BOUNDED_SUM = 64


def simple_enough(expression: str, *, caseless=False, dotall=False, multiline=False, ucp=False,
                  wholeword=False, fuzzy=0, **_ignored) -> bool:
    """True when Hyperscan surely compiles ``expression`` with start-of-match and no fallback."""
    if ucp or wholeword or fuzzy or len(expression) > MAX_SIMPLE_LEN or not expression.isascii():
        return False
    return simple_regex(expression)


@functools.lru_cache(maxsize=4096)
def simple_regex(expression: str) -> bool:
    """``expression`` uses only literals, classes, greedy repeats, groups and edge anchors,
    within the size limits above, and cannot match the empty string. Such a regex is valid
    for ``re``, ``regex`` and Hyperscan alike."""
    try:
        try:
            import re._constants as C
            import re._parser as P
        except ImportError:  # Python 3.10
            import sre_constants as C  # type: ignore[no-redef]
            import sre_parse as P  # type: ignore[no-redef]
        parsed = P.parse(expression, 0)
    except Exception:  # noqa: BLE001 - anything `re` cannot read goes to Hyperscan
        return False
    ok_at = {C.AT_BEGINNING, C.AT_END, C.AT_BEGINNING_STRING, C.AT_END_STRING, C.AT_BOUNDARY, C.AT_NON_BOUNDARY}
    ok_cat = {C.CATEGORY_DIGIT, C.CATEGORY_NOT_DIGIT, C.CATEGORY_WORD, C.CATEGORY_NOT_WORD,
              C.CATEGORY_SPACE, C.CATEGORY_NOT_SPACE}
    bounded: list[int] = []
    unbounded = 0
    wide_bounded: list[int] = []  # bounded repeats of `.`, `[^...]`, `\D`, `\W`, `\S`
    not_cats = {C.CATEGORY_NOT_DIGIT, C.CATEGORY_NOT_WORD, C.CATEGORY_NOT_SPACE}

    def wide(sub) -> bool:
        for op, av in sub:
            if op in (C.ANY, C.NOT_LITERAL):
                return True
            if op is C.IN and any(i == C.NEGATE or (i is C.CATEGORY and a in not_cats) for i, a in av):
                return True
            if op in (C.SUBPATTERN, C.BRANCH, C.MAX_REPEAT):
                return True  # be conservative about groups
        return False

    def walk(items, in_repeat: int, top: bool = False) -> bool:
        nonlocal unbounded
        items = list(items)
        last = len(items) - 1
        for i, (op, av) in enumerate(items):
            if op in (C.LITERAL, C.NOT_LITERAL, C.ANY):
                continue
            if op is C.IN:
                for iop, iav in av:
                    if iop in (C.LITERAL, C.RANGE, C.NEGATE):
                        continue
                    if iop is C.CATEGORY and iav in ok_cat:
                        continue
                    return False
                continue
            if op is C.AT:
                if av not in ok_at:
                    return False
                # anchors only at the edges: inside a pattern they can make it unmatchable
                # (`\s\b-`) or Hyperscan refuses them (embedded `^`)
                if not top:
                    return False
                if av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING) and i != 0:
                    return False
                if av in (C.AT_END, C.AT_END_STRING) and i != last:
                    return False
                if av in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY) and i not in (0, last):
                    return False
                continue
            if op is C.BRANCH:
                if not all(walk(alt, in_repeat) for alt in av[1]):
                    return False
                continue
            if op is C.SUBPATTERN:
                _group, add, dele, sub = av
                if add or dele:
                    return False
                if not walk(sub, in_repeat):
                    return False
                continue
            if op is C.MAX_REPEAT:
                lo, hi, sub = av
                if hi is C.MAXREPEAT:
                    if in_repeat:
                        return False
                    unbounded += 1
                else:
                    if in_repeat and (hi > 1 or in_repeat > 8):
                        return False
                    bounded.append(hi)
                    if wide(sub):
                        wide_bounded.append(hi)
                if not walk(sub, in_repeat or (hi if hi is not C.MAXREPEAT else 1)):
                    return False
                continue
            return False  # lazy or possessive repeats, groups references, lookarounds, ...
        return True

    if not walk(parsed, 0, top=True):
        return False
    if wide_bounded and (len(wide_bounded) > 1 or max(wide_bounded) > 8 or unbounded):
        return False
    if bounded:
        limit = MAX_BOUNDED_WITH_UNBOUNDED if unbounded else MAX_BOUNDED
        if max(bounded) > limit or sum(bounded) > MAX_BOUNDED_SUM:
            return False
    lo, _hi = parsed.getwidth()
    return lo > 0


def _needs_spans(ctx: CheckContext) -> set[str]:
    """Matchers whose match positions are needed: redaction, count(), validators (as the compiler decides)."""
    need: set[str] = set()
    syms = ctx.symbols

    def add(res):
        if res is None:
            return
        if res.kind == "matcher":
            need.add(res.symbol.qname)
        elif res.kind == "group":
            need.update(s.qname for s in syms.in_namespace(res.pack, (ast.Pattern, ast.Words)))

    for r in ctx.active_rules:
        redact = r.node.action.kind == "redact"
        for expr in (r.node.when, r.node.unless):
            if expr is None:
                continue
            if redact:
                for ref in refs_in(expr):
                    add(syms.resolve(r.info, ref.parts))
            for node in walk(expr):
                if isinstance(node, ast.Call) and node.func.value == "count":
                    for a in node.args:
                        if isinstance(a, ast.Ref):
                            add(syms.resolve(r.info, a.parts))
    return need


def run(ctx: CheckContext):
    pattern_problems = getattr(ctx.env, "pattern_problems", None)
    if pattern_problems is None:
        return
    bad = ctx.facts.get("bad_patterns", set())
    need_spans = _needs_spans(ctx)
    for sym in list(ctx.symbols.table.values()):
        node = sym.node
        if not isinstance(node, ast.Pattern) or sym.qname in bad:
            continue
        if not sym.info.active:
            continue
        if not ctx.facts.get("verify_pack_patterns", True) and sym.info.module.source.name.startswith("<pack:"):
            continue  # load(): a shipped pack, compiled (and so verified) with the plan  # packs brought in by `use` are checked by their own tests (`policylang check PACK`)
        o = node.options
        expression = node.regex
        if "x" in node.flags:
            expression = "(?x)" + expression + "\n"
        kw = dict(
            id=0, expression=expression, literal=False,
            caseless="i" in node.flags or o.nocase, dotall="s" in node.flags, multiline="m" in node.flags,
            ucp="u" in node.flags, wholeword=o.wholeword, fuzzy=o.fuzzy or 0,
            spans=sym.qname in need_spans or bool(o.validators),
        )
        if simple_enough(**{k: v for k, v in kw.items() if k not in ("id", "literal", "spans")}):
            continue
        key = tuple(sorted(kw.items()))
        problems = _CACHE.get(key)
        if problems is None:
            problems = tuple(pattern_problems(**kw))
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            _CACHE[key] = problems
        if any(getattr(p, "code", None) == "PL402" for p in problems):
            # runs in the backtracking `regex` fallback: the redos pass (PL215) looks at it
            ctx.facts.setdefault("fallback_patterns", {})[sym.qname] = node
        for p in problems:
            code = getattr(p, "code", "PL401")
            message = getattr(p, "message", str(p))
            sev = None
            if code not in CODES:
                code, sev = "PL401", Severity.ERROR
            message = message.strip().rstrip(".")
            message = message[:1].lower() + message[1:]
            help = getattr(p, "help", None) or HELP.get(code)
            if "never match" in message:
                help = ("no text can match this pattern; look for `\\b` between two word (or two non-word) "
                        "characters, or `^`/`$` in the middle")
            yield error(code, f"pattern `{node.name.value}`: {message}", node.regex_span, help=help, severity=sev)
