"""Stage 4: run a Plan over texts and build Decisions.

Per text: normalize (offset map kept) -> one Hyperscan scan (one per part when
normalization appended views: leetspeak, decoded blobs) -> validators -> rule
programs without models -> models, only when they can still change the outcome
(batched across texts) -> rule programs with models -> combine actions -> Decision.
"""

from __future__ import annotations

import contextlib
import gc
import time
from bisect import bisect_left
from typing import Any, Mapping, Sequence

import regex

from policylang.compile.conditions import Frame, ModelFailed, ToolView, context_schema
from policylang.compile.patterns import regex_source
from policylang.compile.plan import STAGES, CompiledRule, Plan
from policylang.compile.validators import ValidatorError
from policylang.decision import PRECEDENCE, Citation, Decision, Evidence, fast_construct
from policylang.errors import PolicyEvaluationError
from policylang.runtime import redact, tools
from policylang.runtime.normalize import Normalizer
from policylang.runtime.scan import DEFAULT_REGEX_TIMEOUT, Hit, RegexTimeout

DEFAULT_REFUSAL = "I can't help with that request."
MAX_EVIDENCE = 20
MAX_REDACT_PASSES = 3
MANY_CHUNK = 512  # texts per phase in check_many
REVALIDATE_WINDOW = 256  # how far past a failed match a re-validated one may end
REVALIDATE_CONTEXT = 64  # right context a re-validated end is confirmed with (lookahead, \\b)
DEFAULT_MAX_TEXT_CHARS = 4_000_000  # longer texts are refused ("text too large"): bounded memory
_EMPTY: Mapping = {}


class _TextState:
    """Per-text working state between the two phases."""

    __slots__ = ("text", "norm", "hits", "frame", "fired", "needed", "t_norm", "t_scan", "t0", "errors",
                 "topic_examples", "span_scores", "frames", "failed", "context_failed")

    def __init__(self, text, norm, hits, frame, t0, t_norm, t_scan):
        self.text = text
        self.norm = norm
        self.hits = hits
        self.frame = frame
        # (rule, error, action): error and the on_error action when a model failed
        self.fired: list[tuple[CompiledRule, str | None, str]] = []
        self.needed: tuple[CompiledRule, ...] = ()
        self.t0 = t0
        self.t_norm = t_norm
        self.t_scan = t_scan
        self.errors: list[str] = []
        self.topic_examples: dict[int, str] = {}
        self.span_scores: dict[tuple[int, int, int], float] = {}  # (matcher, start, end) -> entity score
        self.frames: dict[int, Frame] = {}  # rule order -> the frame of a rule `over ... turns`
        self.failed: str | None = None  # a validator raised on a match a rule reads: what happened
        self.context_failed = False  # a context value its declaration rules out: the decision refuses


class Engine:
    """Evaluates one compiled Plan. Thread-safe: all per-call state is local."""

    def __init__(self, plan: Plan, *, models=None, explain: bool = False, hash_salt: bytes | None = None,
                 regex_timeout_ms: float | None = DEFAULT_REGEX_TIMEOUT * 1000,
                 max_text_chars: int | None = DEFAULT_MAX_TEXT_CHARS):
        self.plan = plan
        # fail-closed limits (docs/api.md): regex work per text, and text length
        self.regex_timeout = None if regex_timeout_ms is None else float(regex_timeout_ms) / 1000
        self.max_text_chars = max_text_chars
        self.models = models  # policylang.runtime.model_runner.ModelRunner | None
        self.explain = explain
        self.salt = hash_salt if hash_salt is not None else plan.digest.encode()
        self.normalizer = Normalizer(tuple(plan.normalize))
        self._scan = plan.patterns.scan
        self._spec_matcher = plan.spec_matcher
        self._matchers = plan.matchers
        self._regex_twins: dict[int, object] = {}  # spec id -> `regex` twin, for re-validation
        # per spec id: the validators of its matcher (None when it has none); looked up per hit
        self._spec_validators = tuple(plan.matchers[m].validators or None for m in plan.spec_matcher)
        # rule order -> what its citations share (see _citation); filled on first use
        self._cite_static: dict[int, tuple] = {}
        # `context NAME: TYPE` declarations: a passed value they rule out fails the check closed
        self._context = context_schema(plan.policy_set)

    # ------------------------------------------------------------------ input checks
    @staticmethod
    def _check_stage(stage: str) -> None:
        if stage not in STAGES:
            raise PolicyEvaluationError(f"unknown stage `{stage}`: use one of {', '.join(STAGES)}")

    @staticmethod
    def _check_text(text: Any) -> None:
        if not isinstance(text, str):
            raise PolicyEvaluationError(
                f"check() needs a str, got {type(text).__name__}"
                + (" (decode bytes first)" if isinstance(text, (bytes, bytearray)) else "")
            )

    # ------------------------------------------------------------------ phase 1
    @staticmethod
    def _add_hit(hits: dict, m: int, span: tuple[int, int]) -> None:
        lst = hits.get(m)
        if lst is None:
            hits[m] = [span]
        elif span[0] >= lst[-1][1]:
            lst.append(span)
        # else: overlaps the previous hit of this matcher (a re-validated alternative)

    @staticmethod
    def _bounded(a: int, b: int, ntext: str, validators) -> list[tuple[int, int]]:
        """The value spans inside a validated match ``ntext[a:b]``.

        A validator with a ``bounds(value)`` attribute says where the values are inside a
        match it accepted: context words and labels the pattern took in ("phone: ...",
        ``aws_secret_access_key = ...``) are not part of the value, and one match may hold
        several values. Without one, or when it finds none, the match is the value.
        """
        spans = [(a, b)]
        for v in validators:
            bounds = getattr(v, "bounds", None)
            if bounds is None:
                continue
            out = []
            for s, e in spans:
                found = [(s + x, s + y) for x, y in bounds(ntext[s:e]) if 0 <= x < y <= e - s]
                out.extend(found or [(s, e)])
            spans = out
        return spans

    @staticmethod
    def _add_late_hits(hits: dict, late: list, norm) -> None:
        """Add the hits that reach past the main text (leetspeak view, decoded blobs).

        They come after every main-text hit in scan order, but map to original
        spans anywhere, and the same value often matches in the main text and in
        its leetspeak view at the same original span. So per matcher: keep the
        main-text hits as they are, and add a mapped span only when it overlaps
        no span kept so far (in original order; exact duplicates are dropped).
        A span that holds characters of two parts (a re-validated match whose
        search window ran past its part) only exists across a separator: dropped.
        """
        added: dict[int, list[tuple[int, int]]] = {}
        for m, a, b in late:
            if not norm.crosses_segments(a, b):
                added.setdefault(m, []).append(norm.to_original(a, b))
        for m, spans in added.items():
            kept = hits.get(m)
            if kept is None:
                kept = hits[m] = []
            for span in sorted(set(spans)):
                i = bisect_left(kept, span)
                if i < len(kept) and (kept[i] == span or kept[i][0] < span[1]):
                    continue  # a duplicate, or overlaps the next kept span
                if i > 0 and kept[i - 1][1] > span[0]:
                    continue  # overlaps the previous kept span
                kept.insert(i, span)

    def _scan_parts(self, ntext: str, parts, norm) -> list:
        """Scan the main text and each appended view (leetspeak, decoded) on its own.

        One scan of the whole text would let a match run across a separator, from the
        end of the main text into its leetspeak view ("-----BEGIN ...", "born\\n1990-...").
        A match in a leetspeak or rot13 view that the main text has at the same place is
        left out here: it is the same match, and would only be validated a second time.
        """
        raw = []
        seen = ()
        copies = norm.copies()
        for a, b in parts:
            hits = self._scan(ntext[a:b], self.regex_timeout)
            if not a:
                raw.extend(hits)
                if copies and hits:
                    seen = {(h.id, h.start, h.end) for h in hits}
                continue
            shift = copies.get(a)
            if shift is None or not seen:
                raw.extend(Hit(h.id, h.start + a, h.end + a) for h in hits)
            else:
                d = a + shift
                raw.extend(Hit(h.id, h.start + a, h.end + a) for h in hits
                           if (h.id, h.start + d, h.end + d) not in seen)
        return raw

    def _revalidate(self, hit, ntext: str, validators) -> list[tuple[int, int]]:
        """Validated matches inside a match whose check failed, longest first at each start.

        Every start in the failed match is tried (``"1234 4111 1111 1111 1111"`` holds a
        valid card at its second group) and, at each start, every end from the longest down
        (``"4111 1111 1111 1111 12/29"``: the 18-digit run fails Luhn, the 16-digit card
        passes). Ends come from a leftmost-longest (POSIX) twin on the text cut at the last
        rejected end; each one is confirmed on the real text with up to
        ``REVALIDATE_CONTEXT`` characters of right context (``\\b`` after the cut is not
        ``\\b`` in the text). Non-overlapping, in order.
        """
        twins = self._regex_twins.get(hit.id)
        if twins is None:
            try:
                pattern, flags = regex_source(self.plan.patterns.specs[hit.id])
                twins = (regex.compile(pattern, flags | regex.POSIX), pattern, flags, {}, regex.compile(pattern, flags))
            except Exception:  # pragma: no cover - the spec compiled once already
                return []
            self._regex_twins[hit.id] = twins
        longest, pattern, flags, exact, fast = twins
        n = len(ntext)
        limit = min(n, hit.end + REVALIDATE_WINDOW)
        budget = self.regex_timeout
        # the budget is for regex *matching*: compiling a twin and running the validators
        # (phonenumbers loads its metadata on first use) move the deadline out
        deadline = [None if budget is None else time.monotonic() + budget]

        def left() -> float | None:
            if deadline[0] is None:
                return None
            t = deadline[0] - time.monotonic()
            if t <= 0:
                raise TimeoutError
            return t

        def unbudgeted(fn, *args):
            t0 = time.monotonic()
            try:
                return fn(*args)
            finally:
                if deadline[0] is not None:
                    deadline[0] += time.monotonic() - t0

        def real(p: int, e: int) -> bool:
            """The pattern matches exactly ntext[p:e], its right edge seeing the real text."""
            k = min(REVALIDATE_CONTEXT, n - e)
            rx = exact.get(k)
            if rx is None:
                rx = exact[k] = unbudgeted(regex.compile, f"(?:{pattern})(?=[\\s\\S]{{{k}}}\\Z)", flags)
            return rx.match(ntext, p, e + k, timeout=left()) is not None

        def valid(value: str) -> bool:
            return unbudgeted(lambda: all(v(value) for v in validators))

        out: list[tuple[int, int]] = []
        p = hit.start
        while p < hit.end:
            # the next start where any match exists (a match exists at a start for the POSIX
            # twin iff for the pattern itself): one forward search skips the starts the pattern
            # cannot match at, where trying the POSIX twin at each was most of this cost
            nxt = fast.search(ntext, p, limit, timeout=left())
            if nxt is None or nxt.start() >= hit.end:
                break
            p = nxt.start()
            found = None
            cut = limit
            while cut > p:
                m = longest.match(ntext, p, cut, timeout=left())
                if m is None:
                    break
                e = m.end()
                if e > p and real(p, e) and valid(ntext[p:e]):
                    found = (p, e)
                    break
                if e == p:
                    break
                cut = e - 1  # the next candidate ends before this one
            if found is not None:
                out.append(found)
                p = found[1]
            else:
                p += 1
        return out

    def _validate(self, h, m: int, validators, ntext: str, main_len: int, norm, hits: dict, late: list) -> bool:
        """Run ``m``'s validators on hit ``h``; True when that placed its hits (the value spans
        it holds, or the re-validated matches inside it), False when ``h`` is a plain hit.
        A validator that raises raises :class:`ValidatorError` through here."""
        identity = norm.identity
        value = ntext[h.start:h.end]
        if not all(v(value) for v in validators):
            # The longest match failed its check; a shorter or later one inside
            # it may pass ("1234 4111 1111 1111 1111" holds a valid card).
            try:
                again = self._revalidate(h, ntext, validators)
            except TimeoutError:  # `regex` timeout= of the re-validation search
                raise RegexTimeout(h.id, self.regex_timeout or 0.0) from None
            for p, q in again:
                for a, b in self._bounded(p, q, ntext, validators):
                    if b > main_len:
                        late.append((m, a, b))
                    else:
                        self._add_hit(hits, m, (a, b) if identity else norm.to_original(a, b))
            return True
        if any(hasattr(v, "bounds") for v in validators):
            for a, b in self._bounded(h.start, h.end, ntext, validators):
                if b > main_len:
                    late.append((m, a, b))
                else:
                    self._add_hit(hits, m, (a, b) if identity else norm.to_original(a, b))
            return True
        return False

    def _validator_failures(self, st: "_TextState", stage: str, failed: list) -> dict[int, str]:
        """Fail closed on validators that raised: each failure is an error on the decision, and
        every rule of ``stage`` that reads a failed pattern refuses (rule order -> the error).
        Like a model error with ``on_error refuse``; a rule that does not read it is unaffected."""
        plan = self.plan
        norm = st.norm
        by_matcher: dict[int, str] = {}
        for m, a, b, exc in failed:
            entry = plan.matchers[m]
            try:
                oa, ob = (a, b) if norm.identity else norm.to_original(a, b)
                where = f" on the match at {oa}-{ob}"
            except Exception:  # noqa: BLE001 - a span across views: say no offsets
                where = ""
            err = (f"validator `{exc.validator}` of pattern `{entry.qname}` ({entry.span.file}:{entry.span.line}) "
                   f"raised {exc.reason}{where}")
            msg = f"{err}; the rules that read it refuse (fail closed)"
            if msg not in st.errors:
                st.errors.append(msg)
            by_matcher.setdefault(m, err)
        refusing: dict[int, str] = {}
        for rule in plan.by_stage.get(stage, ()):
            for m in (*rule.matchers, *(rule.gate or ())):
                err = by_matcher.get(m)
                if err is not None:
                    refusing[rule.order] = err
                    break
        return refusing

    def _context_failures(self, st: "_TextState", stage: str, bad: dict, refusing) -> dict[int, str]:
        """Fail closed on context values the policy's declarations rule out: each is an error on
        the decision, every rule of ``stage`` that reads the attribute refuses citing it, and the
        decision refuses even when no rule reads it (the application broke the declared contract)."""
        for msg in bad.values():
            msg = f"{msg}; refused (fail closed)"
            if msg not in st.errors:
                st.errors.append(msg)
        st.context_failed = True
        refusing = dict(refusing or {})
        readers = self._context.readers
        for rule in self.plan.by_stage.get(stage, ()):
            names = readers.get(rule.order)
            if names and rule.order not in refusing:
                for name in names:
                    if name in bad:
                        refusing[rule.order] = bad[name]
                        break
        return refusing

    def _phase1(self, text: str, stage: str, context: Mapping, tool=None, history=None) -> _TextState:
        t0 = time.perf_counter_ns()
        norm = self.normalizer(text)
        t1 = time.perf_counter_ns()
        parts = norm.parts
        raw = self._scan(norm.text, self.regex_timeout) if not parts else self._scan_parts(norm.text, parts, norm)
        t2 = time.perf_counter_ns()
        hits: dict[int, list[tuple[int, int]]] = {}
        if raw:
            spec_matcher, spec_validators = self._spec_matcher, self._spec_validators
            identity = norm.identity
            ntext = norm.text
            main_len = len(ntext) if identity else norm.main_length
            late = []  # (matcher, start, end): hits reaching past the main text
            failed = []  # (matcher, start, end, ValidatorError): a validator raised on a match
            for h in raw:
                m = spec_matcher[h.id]
                validators = spec_validators[h.id]
                if validators is not None:
                    try:
                        if self._validate(h, m, validators, ntext, main_len, norm, hits, late):
                            continue
                    except ValidatorError as exc:  # the check itself failed: not a non-match
                        failed.append((m, h.start, h.end, exc))
                        continue
                if h.end > main_len:
                    late.append((m, h.start, h.end))
                    continue
                span = (h.start, h.end) if identity else norm.to_original(h.start, h.end)
                lst = hits.get(m)  # _add_hit, inlined: this runs once per hit
                if lst is None:
                    hits[m] = [span]
                elif span[0] >= lst[-1][1]:
                    lst.append(span)
            if late:
                self._add_late_hits(hits, late, norm)
            if tool is not None and tool.leaves:
                _clip_to_leaves(hits, tool.leaves)
        else:
            failed = None
        frame = Frame(hits, {}, context, len(text), tool)
        st = _TextState(text, norm, hits, frame, t0, t1 - t0, t2 - t1)
        plan = self.plan
        refusing = self._validator_failures(st, stage, failed) if failed else None
        candidates = plan.ungated[stage]
        if hits:
            gated = plan.gated_by[stage]
            extra = {}
            for m in hits:
                for r in gated.get(m, ()):
                    extra[r.order] = r
            if extra:
                candidates = sorted((*candidates, *extra.values()), key=lambda r: r.order)
        scoped = plan.scoped.get(stage)
        if scoped:
            candidates = sorted((*candidates, *scoped), key=lambda r: r.order)
            for rule in scoped:
                # the condition sees this turn's hits and those of the earlier turns in scope
                st.frames[rule.order] = Frame(_turn_hits(hits, history, rule.turns), frame.scores, context,
                                              len(text), tool)
        if refusing:
            st.failed = next(iter(refusing.values()))
        if self._context:
            bad = self._context.problems(context)
            if bad:
                refusing = self._context_failures(st, stage, bad, refusing)
        if refusing:
            known = {r.order for r in candidates}
            more = [r for r in plan.by_stage[stage] if r.order in refusing and r.order not in known]
            if more:
                candidates = sorted((*candidates, *more), key=lambda r: r.order)
        needed = []
        frames = st.frames
        for rule in candidates:
            if refusing and rule.order in refusing:
                st.fired.append((rule, refusing[rule.order], "refuse"))
            elif rule.models:
                needed.append(rule)
            elif rule.condition(frames.get(rule.order, frame) if frames else frame):
                st.fired.append((rule, None, rule.action.kind))
        if needed and not self.explain and (st.context_failed or any(
            act == "refuse" and not r.shadow for r, _, act in st.fired
        )):
            needed = []  # the outcome is final: skip the models
        st.needed = tuple(needed)
        return st

    # ------------------------------------------------------------------ phase 2
    def _run_models(self, states: Sequence[_TextState]) -> None:
        wanted: dict[int, list[_TextState]] = {}
        for st in states:
            for rule in st.needed:
                for m in rule.models:
                    lst = wanted.setdefault(m, [])
                    if not lst or lst[-1] is not st:
                        lst.append(st)
        # all models at once: heads and topics on one embedder share one embedding run
        scored = (self.models.score_many({m: [st.text for st in sts] for m, sts in wanted.items()})
                  if self.models is not None and wanted else {})
        for m, sts in wanted.items():
            if self.models is None:
                for st in sts:
                    st.frame.scores[m] = ModelFailed(m, "model runtime is not available (install policylang[cpu])")
                continue
            results = scored[m]
            for st, res in zip(sts, results):
                if isinstance(res, ModelFailed):
                    st.frame.scores[m] = res
                else:
                    value, example = res
                    st.frame.scores[m] = value
                    if isinstance(example, dict):  # a token classifier: entity spans become hits
                        for label, mi in self.plan.entity_matchers.get(m, {}).items():
                            spans = example.get(label)
                            if spans:
                                st.hits[mi] = [(a, b) for a, b, _ in spans]
                                for a, b, score in spans:
                                    st.span_scores[(mi, a, b)] = score
                    elif example is not None:
                        st.topic_examples[m] = example

    def _phase2(self, st: _TextState) -> None:
        for rule in st.needed:
            try:
                if rule.condition(st.frames.get(rule.order, st.frame)):
                    st.fired.append((rule, None, rule.action.kind))
            except ModelFailed as fail:
                entry = self.plan.models[fail.model]
                msg = f"model `{entry.qname}` failed: {fail.reason}; {_ON_ERROR_SAYS[entry.on_error]}"
                if msg not in st.errors:
                    st.errors.append(msg)
                if entry.on_error in ("refuse", "flag"):
                    st.fired.append((rule, f"model `{entry.qname}` failed: {fail.reason}", entry.on_error))
        if len(st.fired) > 1:
            st.fired.sort(key=lambda fr: fr[0].order)

    # ------------------------------------------------------------------ decision
    def _decide(self, st: _TextState, stage: str) -> Decision:
        text = st.text
        fired = st.fired
        if not fired and not st.errors and not st.needed:
            total = time.perf_counter_ns() - st.t0
            return fast_construct(Decision, dict(
                action="allow", text=text, stage=stage, citations=[], redactions=[], scores={}, errors=[],
                models={}, policy_hash=self.plan.digest, arguments=None,
                timings={"normalize_us": st.t_norm / 1000, "scan_us": st.t_scan / 1000, "total_us": total / 1000},
            ))
        plan = self.plan
        action = "allow"
        refusal = None
        citations = []
        redact_items = []
        for rule, err, act in fired:
            if not rule.shadow:
                if PRECEDENCE[act] > PRECEDENCE[action]:
                    action = act
                if act == "refuse" and refusal is None:
                    refusal = rule.message if err is None else (rule.message or DEFAULT_REFUSAL)
            citations.append(self._citation(rule, act, err, st))
            if act == "redact" and not rule.shadow and err is None:
                for m in rule.matchers:
                    entry = plan.matchers[m]
                    for start, end in st.hits.get(m, ()):
                        redact_items.append((start, end, entry.kind, rule.action, rule.rule_id, entry.qname))
        if st.context_failed and action != "refuse":  # a declared context attribute had a bad value
            action = "refuse"
            refusal = refusal or DEFAULT_REFUSAL
        scores = {}
        models_info = {}
        for m, value in st.frame.scores.items():
            entry = plan.models[m]
            if isinstance(value, dict):
                for label, p in value.items():
                    if label is not None:
                        scores[f"{entry.qname}.{label}"] = float(p)
            elif not isinstance(value, ModelFailed):
                scores[entry.qname] = float(value)
            if self.models is not None:
                info = self.models.info(m)
                if info:
                    models_info[entry.qname] = info
        redactions = []
        out_text = text
        if action == "refuse":
            out_text = refusal or DEFAULT_REFUSAL
        elif action == "redact":
            redactions = redact.merge(redact_items, text, self.salt)
            out_text = redact.apply(text, redactions)
            # A replacement can change what surrounds a value ("a@b.co4111 1111 ..." hid
            # the card behind a word boundary). Re-scan until nothing is left to redact.
            for _ in range(MAX_REDACT_PASSES):
                more = self._redact_items(out_text, stage, st.frame.context)
                if not more:
                    break
                for start, end, *rest in more:
                    ostart, oend = redact.to_original(redactions, start, end)
                    redact_items.append((ostart, oend, *rest))
                redactions = redact.merge(redact_items, text, self.salt)
                out_text = redact.apply(text, redactions)
        total = time.perf_counter_ns() - st.t0
        return fast_construct(Decision, dict(
            action=action, text=out_text, stage=stage, citations=citations, redactions=redactions,
            scores=scores, errors=list(st.errors), models=models_info, policy_hash=plan.digest, arguments=None,
            timings={"normalize_us": st.t_norm / 1000, "scan_us": st.t_scan / 1000, "total_us": total / 1000},
        ))

    def _redact_items(self, text: str, stage: str, context: Mapping) -> list:
        """Spans that redact rules (without models) would redact in ``text``."""
        st = self._phase1(text, stage, context)
        if st.failed:  # a validator raised on the redacted text: the whole decision fails closed
            raise _RescanFailed(f"{st.failed} on the re-scan of the redacted text; refused (fail closed)")
        items = []
        for rule, err, act in st.fired:
            if act != "redact" or rule.shadow or err is not None:
                continue
            for m in rule.matchers:
                entry = self.plan.matchers[m]
                for start, end in st.hits.get(m, ()):
                    items.append((start, end, entry.kind, rule.action, rule.rule_id, entry.qname))
        return items

    def _citation(self, rule: CompiledRule, act: str, err: str | None, st: _TextState) -> Citation:
        static = self._cite_static.get(rule.order)
        if static is None:
            static = self._cite_static[rule.order] = self._citation_static(rule)
        rule_id, file, line, principle, principle_id, severity, shadow, named = static
        evidence: list[Evidence] = []
        if named:
            hits = st.hits
            span_scores = st.span_scores
            for m, qname in named:
                found = hits.get(m)
                if not found:
                    continue
                for start, end in found[:MAX_EVIDENCE]:
                    evidence.append(_evidence(qname, start, end,
                                              span_scores.get((m, start, end)) if span_scores else None, None, None))
                    if len(evidence) >= MAX_EVIDENCE:
                        break
        if rule.models:
            plan = self.plan
            for m in rule.models:
                entry = plan.models[m]
                value = st.frame.scores.get(m)
                if isinstance(value, dict):
                    label = _default_label(entry, value, rule)
                    evidence.append(_evidence(entry.qname, None, None,
                                              float(value[label]) if label in value else None, label, None))
                elif isinstance(value, float):
                    evidence.append(_evidence(entry.qname, None, None, value, None, st.topic_examples.get(m)))
        if evidence:
            first = evidence[0].__dict__
            matcher, score = first["matcher"], first["score"]
            span = (first["start"], first["end"]) if first["start"] is not None else None
        else:
            matcher = span = score = None
        c = _new(Citation)
        _setattr(c, "__dict__", {
            "rule_id": rule_id, "action": act, "file": file, "line": line,
            "principle": principle, "principle_id": principle_id,
            "matcher": matcher, "span": span, "score": score,
            "severity": severity, "shadow": shadow, "error": err, "evidence": evidence,
        })
        _setattr(c, "__pydantic_fields_set__", set(_CITATION_FIELDS))
        _setattr(c, "__pydantic_extra__", None)
        _setattr(c, "__pydantic_private__", None)
        return c

    def _citation_static(self, rule: CompiledRule) -> tuple:
        """What every citation of ``rule`` holds whatever the text: computed once per rule."""
        principle_id, principle = (rule.principles[0] if rule.principles else (None, None))
        if principle is None and rule.cite is not None:
            principle = rule.cite
        named = tuple((m, self.plan.matchers[m].qname) for m in rule.matchers)
        return (rule.rule_id, rule.file, rule.line, principle, principle_id, rule.severity, rule.shadow, named)

    # ------------------------------------------------------------------ public
    def evaluate_turn(self, text: str, stage: str, context: Mapping | None, history) -> tuple[Decision, dict]:
        """``evaluate`` as one turn of a conversation: rules ``over ... turns`` also see the
        earlier turns' hit counts, ``history(turns) -> {matcher index: count}``. Returns the
        decision and this turn's hit counts (matcher index -> number of hits), for the next turns."""
        self._check_stage(stage)
        self._check_text(text)
        if stage == "tool_call":
            raise PolicyEvaluationError("stage `tool_call` checks a tool call: use check_tool_call(name, arguments)")
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            return self._failed(text, stage, self._too_large(text), time.perf_counter_ns()), {}
        t0 = time.perf_counter_ns()
        try:
            st = self._phase1(text, stage, context if context is not None else _EMPTY, None, history)
            if st.needed:
                self._run_models([st])
                self._phase2(st)
            return self._decide(st, stage), {m: len(v) for m, v in st.hits.items() if v}
        except RegexTimeout as exc:
            return self._failed(text, stage, self._timeout_message(exc), t0), {}
        except _RescanFailed as exc:
            return self._failed(text, stage, str(exc), t0), {}

    def evaluate(self, text: str, stage: str = "input", context: Mapping | None = None, tool=None) -> Decision:
        self._check_stage(stage)
        if stage == "tool_call":
            raise PolicyEvaluationError("stage `tool_call` checks a tool call: use check_tool_call(name, arguments)")
        self._check_text(text)
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            return self._failed(text, stage, self._too_large(text), time.perf_counter_ns())
        t0 = time.perf_counter_ns()
        try:
            st = self._phase1(text, stage, context if context is not None else _EMPTY, tool)
            if st.needed:
                self._run_models([st])
                self._phase2(st)
            return self._decide(st, stage)
        except RegexTimeout as exc:
            return self._failed(text, stage, self._timeout_message(exc), t0)
        except _RescanFailed as exc:
            return self._failed(text, stage, str(exc), t0)

    # ------------------------------------------------------------------ tool calls
    def evaluate_tool_call(self, name: str, arguments, context: Mapping | None = None) -> Decision:
        """Check a tool call at stage ``tool_call``; the decision carries ``arguments``:
        the (redacted) argument object, or None when the call is refused."""

        if not isinstance(name, str):
            raise PolicyEvaluationError(f"check_tool_call() needs the tool name as str, got {type(name).__name__}")
        t0 = time.perf_counter_ns()
        try:
            text, view = tools.flatten(name, arguments, self.max_text_chars)
        except tools.BadArguments as exc:
            return self._failed("", "tool_call", f"{exc}; refused (fail closed)", t0)
        try:
            st = self._phase1(text, "tool_call", context if context is not None else _EMPTY, view)
            if st.needed:
                self._run_models([st])
                self._phase2(st)
            d = self._decide(st, "tool_call")
        except RegexTimeout as exc:
            return self._failed(text, "tool_call", self._timeout_message(exc), t0)
        except _RescanFailed as exc:
            return self._failed(text, "tool_call", str(exc), t0)
        if d.action == "refuse":
            return d
        args = tools.rewrite(view.args, text, view.leaves, d.redactions) if d.action == "redact" else view.args
        return fast_construct(Decision, {**d.__dict__, "arguments": args})

    def evaluate_tool_result(self, name: str, text: str, context: Mapping | None = None) -> Decision:
        """Check a tool's result text at stage ``tool_result`` (``tool.name`` is the tool's name)."""

        if not isinstance(name, str):
            raise PolicyEvaluationError(f"check_tool_result() needs the tool name as str, got {type(name).__name__}")
        return self.evaluate(text, "tool_result", context, tool=ToolView(name))

    # ------------------------------------------------------------------ fail-closed decisions
    def _too_large(self, text: str) -> str:
        return (f"text too large: {len(text):,} characters, the limit is {self.max_text_chars:,} "
                "(Guard option max_text_chars); refused without scanning")

    def _timeout_message(self, exc: BaseException) -> str:
        budget = f"{self.regex_timeout * 1000:g} ms" if self.regex_timeout is not None else "its time budget"
        spec_id = getattr(exc, "spec_id", None)
        if spec_id is not None and 0 <= spec_id < len(self._spec_matcher):
            entry = self._matchers[self._spec_matcher[spec_id]]
            span = entry.span
            where = f"pattern `{entry.qname}` ({span.file}:{span.line})"
        else:
            where = "a pattern's re-validation"
        return (f"regex timeout: {where} took more than {budget} of regex work on this text "
                "(Guard option regex_timeout_ms); refused (fail closed)")

    def _failed(self, text: str, stage: str, message: str, t0: int) -> Decision:
        """Fail closed: a refusal with no rule cited, whose ``errors`` say what happened."""
        total = time.perf_counter_ns() - t0
        return fast_construct(Decision, dict(
            action="refuse", text=DEFAULT_REFUSAL, stage=stage, citations=[], redactions=[], scores={},
            errors=[message], models={}, policy_hash=self.plan.digest, arguments=None,
            timings={"normalize_us": 0.0, "scan_us": 0.0, "total_us": total / 1000},
        ))

    def evaluate_many(self, texts: Sequence[str], stage: str = "input",
                      context: Mapping | Sequence[Mapping] | None = None) -> list[Decision]:
        self._check_stage(stage)
        if stage == "tool_call":
            raise PolicyEvaluationError("stage `tool_call` checks a tool call: use check_tool_call(name, arguments)")
        if isinstance(texts, str):
            raise PolicyEvaluationError("check_many() needs a sequence of str, got a single str")
        texts = list(texts)
        if context is None or isinstance(context, Mapping):
            contexts = [context if context is not None else _EMPTY] * len(texts)
        else:
            contexts = list(context)
            if len(contexts) != len(texts):
                raise PolicyEvaluationError("check_many(): one context per text, or a single context for all")
        for t in texts:
            self._check_text(t)
        out: list[Decision] = []
        # Decisions hold no reference cycles, so the cyclic GC only re-traverses the growing
        # result list (measured: ~30% of check_many time on 20k texts); pause it meanwhile.
        with _gc_paused():
            self._many(texts, contexts, stage, out)
        return out

    def _many(self, texts, contexts, stage, out) -> None:
        # Chunks bound the working state (and the model batch); decisions come back in order.
        for i in range(0, len(texts), MANY_CHUNK):
            # a text that cannot be scanned (too large, regex over budget) gets its own
            # fail-closed decision; the others are checked as usual
            states = [self._phase1_or_fail(t, stage, c)
                      for t, c in zip(texts[i:i + MANY_CHUNK], contexts[i:i + MANY_CHUNK])]
            pending = [st for st in states if isinstance(st, _TextState) and st.needed]
            if pending:
                self._run_models(pending)
                for st in pending:
                    self._phase2(st)
            out.extend(st if isinstance(st, Decision) else self._decide_or_fail(st, stage) for st in states)

    def _phase1_or_fail(self, text: str, stage: str, context: Mapping):
        if self.max_text_chars is not None and len(text) > self.max_text_chars:
            return self._failed(text, stage, self._too_large(text), time.perf_counter_ns())
        t0 = time.perf_counter_ns()
        try:
            return self._phase1(text, stage, context)
        except RegexTimeout as exc:
            return self._failed(text, stage, self._timeout_message(exc), t0)
        except _RescanFailed as exc:
            return self._failed(text, stage, str(exc), t0)

    def _decide_or_fail(self, st: _TextState, stage: str) -> Decision:
        try:
            return self._decide(st, stage)
        except RegexTimeout as exc:  # the re-scan of a redacted text
            return self._failed(st.text, stage, self._timeout_message(exc), st.t0)
        except _RescanFailed as exc:
            return self._failed(st.text, stage, str(exc), st.t0)


# What a decision's `errors` entry says the model's `on_error` did with the failure.
_ON_ERROR_SAYS = {
    "refuse": "refused by `on_error refuse` (fail closed)",
    "flag": "flagged by `on_error flag`",
    "allow": "allowed by `on_error allow` (the rule did not fire)",
}


def _turn_hits(hits: dict, history, turns: int):
    """The hits a rule ``over ... turns`` sees: this turn's, plus the earlier turns' counts.

    ``history(turns)`` gives the earlier turns' hit counts per matcher (None: a plain check,
    no conversation). Conditions only count and test hits (``count(m)``, ``m``), so earlier
    turns are kept as counts: a turn costs the same whatever the length of the history."""
    if history is None:
        return hits
    earlier = history(turns)
    if not earlier:
        return hits
    return _TurnHits(hits, earlier)


class _Count:
    """The hits of a matcher over several turns, as conditions read them: a length."""

    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # spans of earlier turns index other texts: none are given
        return iter(())


class _TurnHits(Mapping):
    __slots__ = ("current", "earlier")

    def __init__(self, current: dict, earlier: Mapping):
        self.current = current
        self.earlier = earlier

    def __contains__(self, m) -> bool:
        return m in self.current or self.earlier.get(m, 0) > 0

    def __getitem__(self, m):
        if m not in self:
            raise KeyError(m)
        return _Count(len(self.current.get(m, ())) + self.earlier.get(m, 0))

    def get(self, m, default=None):
        return self[m] if m in self else default

    def __iter__(self):
        return iter({*self.current, *(m for m, n in self.earlier.items() if n > 0)})

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _clip_to_leaves(hits: dict, leaves: tuple) -> None:
    """Drop the hits that are not inside one leaf of a tool call's scan text."""
    starts = [a for _, a, _ in leaves]
    for m in list(hits):
        kept = []
        for a, b in hits[m]:
            i = bisect_left(starts, a + 1) - 1
            if i >= 0 and b <= leaves[i][2]:
                kept.append((a, b))
        if kept:
            hits[m] = kept
        else:
            del hits[m]


@contextlib.contextmanager
def _gc_paused():
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _default_label(entry, value: dict, rule) -> str | None:
    for label in value:
        if label is not None and value[label] == value.get(None):
            return label
    return None


class _RescanFailed(Exception):
    """A validator raised while a redacted text was scanned again: refuse the whole text."""


# Evidence and Citation are built once per fired rule (and per hit): what ``fast_construct``
# does, without the call and the kwargs dict (tests/test_decision.py checks the result against
# validated models; tests/test_rule_scaling.py checks these two against fast_construct).
_new = object.__new__
_setattr = object.__setattr__
_EVIDENCE_FIELDS = frozenset(Evidence.model_fields)
_CITATION_FIELDS = frozenset(Citation.model_fields)


def _evidence(matcher, start, end, score, label, example) -> Evidence:
    e = _new(Evidence)
    _setattr(e, "__dict__", {"matcher": matcher, "start": start, "end": end, "score": score,
                             "label": label, "example": example})
    _setattr(e, "__pydantic_fields_set__", set(_EVIDENCE_FIELDS))
    _setattr(e, "__pydantic_extra__", None)
    _setattr(e, "__pydantic_private__", None)
    return e
