"""Guard: a compiled policy set you check texts with. ``load()`` and ``loads()`` build one."""

from __future__ import annotations

import functools
import os
from typing import Mapping, Sequence

from policylang._source import SourceFile
from policylang.check.checker import CheckResult, check
from policylang.compile.plan import Plan, compile_plan
from policylang import observability as _obs
from policylang.decision import Decision
from policylang.diagnostics import Diagnostic
from policylang.errors import PolicyCheckError, PolicySyntaxError
from policylang.loader import FileEnvironment, load_modules
from policylang.compile.patterns import SOM, PatternDatabase
from policylang.runtime.evaluate import DEFAULT_MAX_TEXT_CHARS, Engine
from policylang.runtime.scan import DEFAULT_REGEX_TIMEOUT, CompiledPatterns

#: texts ``acheck`` may check on the event loop itself (pattern-only plans, see ``acheck``)
INLINE_MAX_CHARS = 2048


def _check_limit(name: str, value, integer: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not value > 0:
        kind = "a positive int" if integer else "a positive number"
        raise TypeError(f"{name} must be {kind} or None, got {value!r}")


class Guard:
    """A compiled policy set.

    ``check(text, stage, context)`` returns a :class:`Decision`; ``check_many`` does the
    same for many texts at once, batching model calls. Thread-safe.
    """

    def __init__(self, plan: Plan, *, explain: bool = False, hash_salt: bytes | str | None = None,
                 warnings: Sequence[Diagnostic] = (), batch_wait_ms: float = 1.0, max_batch: int = 32,
                 model_registry=None, regex_timeout_ms: float | None = DEFAULT_REGEX_TIMEOUT * 1000,
                 max_text_chars: int | None = DEFAULT_MAX_TEXT_CHARS, log=None, log_text: bool = False):
        _check_limit("regex_timeout_ms", regex_timeout_ms)
        _check_limit("max_text_chars", max_text_chars, integer=True)
        self._log = None  # a DecisionLog: every check() writes a record (policylang.observability)
        if log is not None:
            from policylang.middleware.log import as_log

            self._log = as_log(log, log_text)
        if isinstance(plan.patterns, PatternDatabase):
            # the compile stage hands over a database; the scanner over it is the runtime's
            plan.patterns = CompiledPatterns.from_database(plan.patterns)
        self.plan = plan
        self.warnings = tuple(warnings)
        runner = None
        if plan.models:
            from policylang.runtime.model_runner import ModelRunner

            runner = ModelRunner(plan, model_registry, batch_wait_ms=batch_wait_ms, max_batch=max_batch)
            _check_labels(plan, runner)
        self._runner = runner
        if isinstance(hash_salt, str):
            hash_salt = hash_salt.encode()
        if hash_salt is None:
            # A secret key per guard: `redact hash` digests of low-entropy values (SSNs,
            # phone numbers) can't be reversed by hashing every candidate. Pass a salt of
            # your own for digests that stay the same across processes.
            hash_salt = os.urandom(32)
        self._engine = Engine(plan, models=runner, explain=explain, hash_salt=hash_salt,
                              regex_timeout_ms=regex_timeout_ms, max_text_chars=max_text_chars)

    # ------------------------------------------------------------------ info
    @property
    def policy_hash(self) -> str:
        """sha256 of every loaded policy source and word list: the audit record's policy digest."""
        return self.plan.digest

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.rule_id for r in self.plan.rules)

    def __repr__(self) -> str:
        return f"<Guard rules={len(self.plan.rules)} matchers={len(self.plan.matchers)} {self.policy_hash[:19]}>"

    def model_info(self) -> dict[str, dict[str, str]]:
        """Per model: its sha256 digest and the execution provider ONNX Runtime really uses."""
        if self._runner is None:
            return {}
        return {e.qname: info for e in self.plan.models if (info := self._runner.info(e.index))}

    def close(self) -> None:
        """Stop the micro-batching threads (models stay loaded until the Guard is dropped)."""
        if self._runner is not None:
            self._runner.close()

    def __enter__(self) -> "Guard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def with_log(self, log, *, log_text: bool = False, mask=None) -> "Guard":
        """This guard (same compiled plan, engine and models) writing every ``check()`` and
        ``check_many()`` decision to ``log`` (a DecisionLog or anything it takes as a sink;
        ``mask`` per kind, docs/middleware.md#decision-log). ``log=None``: a guard that logs nothing."""
        import copy

        from policylang.middleware.log import as_log

        view = copy.copy(self)
        view._log = as_log(log, log_text, mask)
        return view

    # ------------------------------------------------------------------ checks
    def check(self, text: str, stage: str = "input", context: Mapping | None = None) -> Decision:
        """Check one text at ``stage`` (input, output or context)."""
        tr = _obs.tracer()  # None unless opentelemetry-api is installed and a provider is set
        if tr is None and self._log is None:
            d = self._engine.evaluate(text, stage, context)
            if d.action == "refuse" or d.errors:
                _obs.decision_event(d)  # logging.getLogger("policylang"): rule ids, never text
            return d
        return _obs.check(self, self._engine.evaluate, text, stage, context, tr)

    def check_many(self, texts: Sequence[str], stage: str = "input",
                   context: Mapping | Sequence[Mapping] | None = None) -> list[Decision]:
        """Check many texts; same decisions as ``check``, with model calls batched."""
        return _obs.check_many(self, self._engine.evaluate_many, texts, stage, context, _obs.tracer())

    def conversation(self, context: Mapping | None = None):
        """A :class:`policylang.runtime.conversation.Conversation`: ``conv.check(text, stage)``
        per turn; rules ``over last N turns`` / ``over all turns`` see the earlier turns' hits."""
        from policylang.runtime.conversation import Conversation

        return Conversation(self._engine, context)

    def check_tool_call(self, name: str, arguments, context: Mapping | None = None) -> Decision:
        """Check a tool call the model asked for (rules ``on tool_call``; docs/language.md, "Tool calls").

        ``arguments``: a dict, or its JSON text. The decision's ``arguments`` are what to call
        the tool with (redacted when a rule redacts); refused, ``text`` is the message the agent
        gets as the tool's result and ``arguments`` is None. Arguments that are not a JSON
        object, too deep or too large are refused with the reason in ``errors``.
        """
        return self._engine.evaluate_tool_call(name, arguments, context)

    def check_tool_result(self, name: str, text: str, context: Mapping | None = None) -> Decision:
        """Check a tool's result text (rules ``on tool_result``, which may read ``tool.name``)."""
        return self._engine.evaluate_tool_result(name, text, context)

    async def acheck(self, text: str, stage: str = "input", context: Mapping | None = None) -> Decision:
        """``check`` without blocking the event loop: the work runs in the loop's default executor.

        Only texts that cannot cost more than a few microseconds stay on the loop: up to
        ``INLINE_MAX_CHARS`` characters, on a plan without models or validators whose
        patterns are all literals or words (no `regex` work at all).
        """
        if self._inline and isinstance(text, str) and len(text) <= INLINE_MAX_CHARS:
            return self.check(text, stage, context)
        import asyncio  # already imported by the running loop; check() and scans never pay its ~20 ms

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.check, text, stage, context))

    async def acheck_many(self, texts: Sequence[str], stage: str = "input", context=None) -> list[Decision]:
        """``check_many`` in the loop's default executor (never on the event loop)."""
        import asyncio  # already imported by the running loop

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.check_many, texts, stage, context))

    @functools.cached_property
    def _inline(self) -> bool:
        plan = self.plan
        if plan.models or any(m.validators for m in plan.matchers):
            return False
        patterns = plan.patterns
        # literals with exact Hyperscan spans: no `regex` call can happen (a SOM *regex* may
        # still be re-run by `regex` when two of its hits overlap)
        return all(k == SOM and s.literal for k, s in zip(patterns.kinds, patterns.specs))

    # ------------------------------------------------------------------ middleware (policylang.middleware)
    def wrap(self, fn=None, **options):
        """Guard a model call (sync, async, generator): input checked, output checked.

        ``@guard.wrap``, ``@guard.wrap(on_refuse="raise")`` or ``guard.wrap(fn, log="decisions.jsonl")``;
        options in :func:`policylang.middleware.wrap.wrap` and docs/middleware.md.
        """
        from policylang.middleware.wrap import wrap

        return wrap(self, fn, **options)

    def stream(self, chunks, stage: str = "output", context: Mapping | None = None, **options):
        """Guard an iterable of str chunks as it flows; an iterator of released chunks."""
        from policylang.middleware import stream

        return stream(self, chunks, stage=stage, context=context, **options)

    def astream(self, chunks, stage: str = "output", context: Mapping | None = None, **options):
        """Guard an async iterable of str chunks as it flows; an async iterator."""
        from policylang.middleware import astream

        return astream(self, chunks, stage=stage, context=context, **options)

    def openai(self, client, **options):
        """A view of an ``openai.OpenAI``/``AsyncOpenAI`` client whose ``chat.completions.create`` is guarded."""
        from policylang.middleware import guard_openai

        return guard_openai(self, client, **options)

    def anthropic(self, client, **options):
        """A view of an ``anthropic.Anthropic``/``AsyncAnthropic`` client whose ``messages.create`` is guarded."""
        from policylang.middleware.anthropic import guard_anthropic

        return guard_anthropic(self, client, **options)

    def as_runnable(self, chain=None, **options):
        """A LangChain ``Runnable`` guarding ``chain`` (input and output), or a checking step at ``stage=``."""
        from policylang.middleware.langchain import GuardRunnable

        return GuardRunnable(self, chain, **options)


def _check_labels(plan: Plan, runner) -> None:
    """Labels the policy reads must exist in the loaded model (labels may come from config.json)."""
    from policylang.diagnostics import Severity
    from policylang.errors import PolicyCompileError

    diags = []
    for index, label, span, rule_id in plan.label_refs:
        labels = runner.labels(index)
        if labels and label not in labels:
            name = plan.models[index].qname
            diags.append(Diagnostic(
                "PL108", Severity.ERROR, f"classifier `{name}` has no label `{label}`", span,
                help=f"its labels are {', '.join(f'`{x}`' for x in labels)}", rule_id=rule_id,
            ))
    if diags:
        raise PolicyCompileError("a rule reads a label its classifier does not have", diags)


def _raise_for(diags: Sequence[Diagnostic], result: CheckResult | None = None) -> None:
    errors = [d for d in diags if d.is_error]
    if not errors:
        return
    syntax = [d for d in errors if d.code < "PL100"]
    if syntax:
        raise PolicySyntaxError("policy does not parse", errors)
    raise PolicyCheckError("policy has errors", errors)


def build(targets, **options) -> Guard:
    infos, diags = load_modules(targets)
    _raise_for(diags)
    # word files: the policy's folder plus `word_roots`; `word_limits` a loader.WordLimits
    result = check(infos, FileEnvironment(options.pop("word_roots", ()), options.pop("word_limits", None)),
                   verify_pack_patterns=False)
    _raise_for(result.diagnostics)
    cache_dir = options.pop("cache_dir", None)
    plan = compile_plan(result.policy_set, cache_dir=cache_dir, trace_conditions=options.pop("trace_conditions", None))
    warnings = [d for d in (*diags, *result.diagnostics) if not d.is_error]
    return Guard(plan, warnings=warnings, **options)


def load(*targets: str | os.PathLike | Sequence, **options) -> Guard:
    """Load policies: paths to ``.policy`` files, folders, or built-in pack names (``"pii"``).

    ``load("a.policy", "pii")`` and ``load(["a.policy", "pii"])`` are the same. Raises
    PolicySyntaxError / PolicyCheckError / PolicyCompileError with diagnostics.
    Options: ``explain=True`` runs every model even when the outcome is decided;
    ``hash_salt`` keys the ``redact hash`` operator (default: a random key per guard);
    ``cache_dir`` for compiled Hyperscan databases (False disables the cache);
    ``batch_wait_ms``/``max_batch`` tune micro-batching of concurrent model calls
    (``batch_wait_ms=0`` turns it off); ``model_registry`` shares loaded models between guards.
    Fail-closed limits (a refusal whose ``errors`` say why, docs/api.md): ``regex_timeout_ms``
    (500) bounds the `regex` work per text, ``max_text_chars`` (4,000,000) the text length.
    ``log`` (a path, file, logger or DecisionLog) writes a decision-log record per ``check()``.
    """
    flat: list = []
    for t in targets:
        if isinstance(t, (list, tuple)):
            flat.extend(t)
        else:
            flat.append(t)
    if not flat:
        raise TypeError("load() needs at least one policy path or pack name")
    return build(flat, **options)


def loads(source: str, name: str = "<string>", **options) -> Guard:
    """Load a policy from its source text (relative paths resolve against the current folder)."""
    if not isinstance(source, str):
        raise TypeError(f"loads() needs the policy text as str, got {type(source).__name__}")
    return build([SourceFile(name, source)], **options)
