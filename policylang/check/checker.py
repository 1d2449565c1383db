"""Stage 2: parsed modules -> a checked PolicySet plus diagnostics.

``check`` runs ``PASSES`` (one file each in ``policylang/check/passes/``) in order. Each
pass is a function ``(CheckContext) -> Iterable[Diagnostic]``. Passes do no I/O of their
own: reading word files and inspecting model folders goes through the ``Environment``
the caller hands in (the loader's, by default).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from policylang._source import NO_SPAN
from policylang.check.symbols import ModuleInfo, Symbols, rule_id
from policylang.diagnostics import Diagnostic, Severity
from policylang.diagnostics.codes import CODES
from policylang.syntax import ast
from policylang.syntax.vocabulary import DEFAULT_STEPS, STEPS


class Environment(Protocol):
    def read_words(self, policy_file: str, rel: str):  # -> loader.WordFile
        ...

    def inspect_model(self, node, path: str) -> list[str]:
        ...

    # Optional: ``pattern_problems(**pattern_spec)`` (Hyperscan's verdict: PL401-PL403; without
    # it patterns are not compiled), ``resolve_model_path(policy_file, raw)`` (default: relative to the policy
    # file, ``builtin:NAME`` as written) and ``head_fit(head_node, head_path, embedder_node,
    # embedder_path)`` -> ``(head input width, embedder width, head's trained window,
    # embedder window)`` (without it heads are not compared with their embedders).


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule_id: str
    node: ast.Rule
    info: ModuleInfo


@dataclass(frozen=True, slots=True)
class TestInfo:
    node: ast.Test
    info: ModuleInfo


@dataclass(frozen=True)
class PolicySet:
    """Everything the compiler needs: modules, resolved names, active rules, loaded word lists."""

    infos: tuple[ModuleInfo, ...]
    symbols: Symbols
    rules: tuple[RuleInfo, ...]
    tests: tuple[TestInfo, ...]
    normalize: tuple[str, ...]
    word_lists: dict[str, tuple[str, ...]]  # matcher qname -> words (inline or from file)
    digest: str

    def rule(self, rid: str) -> RuleInfo | None:
        for r in self.rules:
            if r.rule_id == rid:
                return r
        return None


@dataclass
class CheckContext:
    infos: tuple[ModuleInfo, ...]
    symbols: Symbols
    env: Environment | None
    word_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # filled by passes that learn things later passes need
    facts: dict = field(default_factory=dict)

    @property
    def active_rules(self) -> list[RuleInfo]:
        out = []
        for info in self.infos:
            if info.active:
                out.extend(RuleInfo(rule_id(info, r), r, info) for r in info.module.of_type(ast.Rule))
        return out

    @property
    def all_rules(self) -> list[RuleInfo]:
        return [RuleInfo(rule_id(i, r), r, i) for i in self.infos for r in i.module.of_type(ast.Rule)]


Pass = Callable[[CheckContext], Iterable[Diagnostic]]


@dataclass(frozen=True)
class CheckResult:
    policy_set: PolicySet | None  # None when there are errors
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def ok(self) -> bool:
        return self.policy_set is not None


def _passes() -> tuple[tuple[str, Pass], ...]:
    from policylang.check.passes import PASSES  # the passes import CheckContext and error() from here

    return PASSES


def policy_digest(infos: Iterable[ModuleInfo], word_lists: dict[str, tuple[str, ...]]) -> str:
    h = hashlib.sha256()
    for info in sorted(infos, key=lambda i: (i.namespace, i.module.source.name)):
        h.update(f"{info.namespace}\0{int(info.active)}{int(info.entry)}\0{info.module.source.name}\0".encode())
        h.update(info.module.source.text.encode("utf-8", "surrogatepass"))
    for key in sorted(word_lists):
        h.update(key.encode() + b"\0" + "\n".join(word_lists[key]).encode("utf-8", "surrogatepass"))
    return "sha256:" + h.hexdigest()


def known_normalize_steps() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(STEPS, DEFAULT_STEPS)``: every step name of the language, and the default steps."""
    return STEPS, DEFAULT_STEPS


def normalize_steps(infos: Iterable[ModuleInfo]) -> tuple[str, ...]:
    """Union of the steps every loaded module declares, in canonical order; defaults when none does."""
    declared: set[str] = set()
    any_decl = False
    for info in infos:
        for n in info.module.of_type(ast.Normalize):
            any_decl = True
            declared.update(s.value for s in n.steps)
    if not any_decl:
        return tuple(DEFAULT_STEPS)
    return tuple(s for s in STEPS if s in declared)


def check(infos: Iterable[ModuleInfo], env: Environment | None = None, *, max_diagnostics: int = 1000,
          verify_pack_patterns: bool = True) -> CheckResult:
    """Run every pass; return the PolicySet when no pass reported an error.

    ``verify_pack_patterns=False`` skips compiling the built-in packs' regexes one by one
    (``load()`` does: the packs are shipped checked, and compiling the plan compiles them
    all again and reports any failure at its pattern). ``policylang check`` verifies all.
    """
    infos = tuple(infos)
    ctx = CheckContext(infos, Symbols.build(infos), env)
    ctx.facts["verify_pack_patterns"] = verify_pack_patterns
    diags: list[Diagnostic] = []
    for name, run in _passes():
        try:
            for d in run(ctx):
                diags.append(d)
                if len(diags) >= max_diagnostics:
                    break
        except Exception as exc:  # a bug in a pass must not hide every other finding
            diags.append(internal_error(name, exc, infos))
        if len(diags) >= max_diagnostics:
            break
    diags = suppress_noqa(diags, infos)
    diags.sort(key=lambda d: (d.span.file, d.span.start, d.code))
    if any(d.is_error for d in diags):
        return CheckResult(None, tuple(diags))
    policy_set = PolicySet(
        infos=infos,
        symbols=ctx.symbols,
        rules=tuple(ctx.active_rules),
        tests=tuple(TestInfo(t, i) for i in infos if i.active and i.entry for t in i.module.of_type(ast.Test)),
        normalize=normalize_steps(infos),
        word_lists=dict(ctx.word_lists),
        digest=policy_digest(infos, ctx.word_lists),
    )
    return CheckResult(policy_set, tuple(diags))


_NOQA = re.compile(r"#\s*noqa:\s*(PL\d{3}(?:\s*,\s*PL\d{3})*)")


def suppress_noqa(diags: list[Diagnostic], infos: Iterable[ModuleInfo]) -> list[Diagnostic]:
    """Drop the warnings whose line carries ``# noqa: PLnnn`` naming their code.

    Only warnings can be silenced: an error means the policy cannot run as written.
    """
    sources = {i.module.source.name: i.module.source for i in infos}
    kept = []
    for d in diags:
        src = sources.get(d.span.file)
        if d.is_error or src is None:
            kept.append(d)
            continue
        m = _NOQA.search(src.line_text(d.span.line))
        if m is None or d.code not in {c.strip() for c in m.group(1).split(",")}:
            kept.append(d)
    return kept


def internal_error(pass_name: str, exc: BaseException, infos=()) -> Diagnostic:
    """PL901 for an exception raised inside a checker pass."""
    span = infos[0].module.span if infos else NO_SPAN
    span = type(span)(span.file, 0, 0, 1, 1, 1, 1)
    return Diagnostic(
        "PL901", Severity.ERROR,
        f"internal error in check pass `{pass_name}`: {type(exc).__name__}: {exc}".replace("\n", " "),
        span, help="this is a bug in policylang, not in your policy; please report it with the policy file",
    )


def error(code: str, message: str, span, *, help: str | None = None, label: str | None = None,
          rule_id: str | None = None, severity: Severity | None = None) -> Diagnostic:
    """Shorthand for passes; severity defaults to the code's own."""
    sev = severity or CODES[code].severity
    return Diagnostic(code, sev, message, span, help=help, label=label, rule_id=rule_id)
