"""Guard a stream of text chunks (an LLM's tokens) as it flows.

Algorithm (one :class:`StreamGuard` per response, nothing shared between streams):

1. **Profile** (once per guard and stage, cached). A rule is *local* when its outcome on
   any stretch of text that contains a hit equals its outcome on the whole text: no models,
   its ``when`` is an ``or`` of matchers (``count(m) >= 1`` counts), optionally ``and``-ed
   with request-context tests, and its ``unless`` (if any) reads only the request context.
   Local ``refuse``/``redact`` rules are compiled into a small *window engine* (the same
   Hyperscan database, only those rules). Any other non-shadow ``refuse``/``redact`` rule
   of the stage (models, ``len``, ``count(m) > 3``, ``a and b``, ``not``, ``unless m``) can
   only be decided on the whole text: by default the stream is then **buffered** and
   released at the end (``global_rules="end"`` streams anyway and applies those rules at
   the end only). ``flag`` and shadow rules never hold text back.
2. **Watermark.** With ``n`` characters received, text is released only up to
   ``n - (longest short match + right-edge allowance)`` (short: at most 48 characters by the
   pattern backend's ``match_widths``; the allowance is 1 character for ``\\b``, wholeword
   and ``$``, 64 for lookaround patterns confirmed by regex), and never past the start of a
   match of a LONG or UNBOUNDED pattern (``\\S+@...``) that more text could still complete:
   each such pattern's :mod:`regex` twin is asked for a partial match at the end of the text
   (pending starts only move forward, so a pattern is searched again only when the
   watermark reaches its last pending start). The
   watermark then moves back to the start of any redaction that straddles it, so a value is
   never released in part. ``hold_back`` bounds the characters held back (default: the
   fixed part when every pattern is short, else 256): past it, text is released even if a
   pending match might still cover it.
3. **Fast path**: each chunk goes through Hyperscan stream mode (``open_stream()``: state
   is kept across chunks, so a match split over chunks is found). When no pattern of a local
   rule has hit, nothing is pending and the unreleased window needs no normalization
   (ASCII, or text the policy's ``nfkc``/``invisible``/``confusables`` steps leave as it
   is), text up to the watermark is released as it is: a string slice per chunk.
4. **Slow path**: otherwise the window engine evaluates the unreleased window (plus a
   little already-released left context: the window's base only moves onto a whitespace
   character, kept as context, and never into a released redaction) with the block engine,
   normalization included. A definite refusal (a hit that ends at least the right-edge allowance before
   the end of the received text) stops the stream; a refusal whose evidence sits on the
   very edge waits for more text. Otherwise redactions are applied and text is released up
   to the watermark.
5. **End of stream**: the final decision is ``guard.check(whole_text, stage)``, the whole
   engine with every rule and model. The rest of the stream is ``decision.text`` minus what
   was already released (they agree whenever the released text is a prefix of it, which
   the rules above guarantee for local rules and bounded patterns); a refusal ends the
   stream with the refusal message. If the released text is not a prefix (a match longer
   than the hold-back, ``global_rules="end"``), the remainder is still redacted with the
   whole-text decision and the log record says ``"divergence": true``.

Bound: a stream holds at most the guard's ``max_text_chars`` characters (plus one chunk):
past it, the stream stops and fails closed (a refusal whose ``errors`` name the limit), since
the whole-text decision would refuse such a text anyway.

What cannot be guaranteed: a pending match longer than ``hold_back`` (a run of more than
256 characters that might still become an email, or a value padded with many invisible
characters that normalization removes) may have its beginning released before it is
recognized (the rest is still redacted, and ``divergence`` is reported); rules that are not
local are only applied at the end unless the stream is buffered; ``^``/``$`` anchors without
``m`` are only exact in the final decision.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
import weakref
from typing import Any, Iterable, Mapping

import regex

from policylang.compile.patterns import regex_fallback_source, regex_source
from policylang.compile.plan import STAGES, Plan
from policylang.decision import Decision
from policylang.errors import PolicyEvaluationError, Refused
from policylang.middleware.log import CallLog, DecisionLog
from policylang.middleware.messages import acheck
from policylang.runtime.evaluate import Engine
from policylang.syntax import ast

__all__ = ["StreamGuard", "GuardedStream", "AsyncGuardedStream", "stream_profile"]

DEFAULT_UNBOUNDED_HOLD_BACK = 256  # the bound when a pattern has no width bound
SHORT_MATCH = 48  # longer (or unbounded) patterns are tracked by partial matching, not a fixed hold-back
MAX_AUTO_HOLD_BACK = 512
EDGE = 1  # right-edge allowance: \b, \B, wholeword, multiline $ look one character ahead
LOOKAROUND_EDGE = 64  # for patterns confirmed by regex (lookahead of unknown length)
_CONFIRM, _TAIL = 3, 4  # pattern kinds (policylang.compile.patterns)
_ASCII_INERT_STEPS = frozenset({"nfkc", "invisible", "confusables"})
_WS = (" ", "\n", "\t", "\r")
_BREAK_BEFORE = frozenset(".,;:!?) \t\r\n")  # a whitespace after one of these is a strong break
SLOW_BATCH = 16  # while matches are pending, evaluate (and release) at most every this many characters
BASE_SLACK = 128  # released characters kept in the window before its base moves forward
MAX_WINDOW = 8192  # a window base that finds no safe place moves anyway past this many characters
GROW_BATCH_FRACTION = 4  # held at a growing value: evaluate again once the held text grew by 1/4
REGEX_TIMEOUT = 0.05  # seconds per pending-start search; over it, the start is held (fail closed)


# --------------------------------------------------------------------------- profile


@dataclasses.dataclass(frozen=True)
class StreamProfile:
    """How a stage of a guard is streamed (see the module docstring)."""
    stage: str
    engine: Engine | None  # local refuse/redact rules; None when there are none
    redact_engine: Engine | None  # local redact rules only
    triggers: frozenset[int]  # spec ids whose stream hits call the window engine
    fixed: int  # longest bounded trigger match + right-edge allowance
    unbounded: tuple  # (spec id, regex, fallback regex) of trigger specs with no width bound
    edge: int  # right-edge allowance
    ascii_fast: bool  # normalization cannot change ASCII text
    normalizes: bool  # the policy declares normalization steps
    global_rules: tuple[str, ...]  # non-local refuse/redact rules: decided on the whole text only

    def hold_back(self, override: int | None = None) -> int:
        """The most characters ever held back (the bound)."""
        if override is not None:
            if isinstance(override, bool) or not isinstance(override, int) or override < 0:
                raise ValueError("hold_back must be an int >= 0 (characters)")
            return override
        if self.engine is None or not self.triggers:
            return 0
        if self.unbounded:
            return max(DEFAULT_UNBOUNDED_HOLD_BACK, min(self.fixed, MAX_AUTO_HOLD_BACK))
        return min(self.fixed, MAX_AUTO_HOLD_BACK)


def _expr_kind(node, resolve) -> str | None:
    """"text" (a monotone, local function of hits), "const" (request context only) or None."""
    if node is None:
        return "const"
    if isinstance(node, ast.Literal):
        return "const"
    if isinstance(node, ast.ListExpr):
        return "const" if all(_expr_kind(i, resolve) == "const" for i in node.items) else None
    if isinstance(node, ast.Ref):
        res = resolve(node)
        if res is None:
            return None
        if res.kind in ("matcher", "group"):
            return "text"
        if res.kind == "context":
            return "const"
        return None  # models, len(text)
    if isinstance(node, ast.Or):
        kinds = [_expr_kind(i, resolve) for i in node.items]
        if None in kinds:
            return None
        return "text" if "text" in kinds else "const"
    if isinstance(node, ast.And):
        kinds = [_expr_kind(i, resolve) for i in node.items]
        if None in kinds or kinds.count("text") > 1:
            return None
        return "text" if "text" in kinds else "const"
    if isinstance(node, ast.Not):
        return "const" if _expr_kind(node.item, resolve) == "const" else None
    if isinstance(node, ast.Compare):
        left, right = node.left, node.right
        if (isinstance(left, ast.Call) and left.func.value == "count" and left.args
                and isinstance(right, ast.Literal) and isinstance(right.value, (int, float))
                and not isinstance(right.value, bool)
                and ((node.op == ">" and 0 <= right.value < 1) or (node.op == ">=" and 0 < right.value <= 1))):
            return "text" if _expr_kind(left.args[0], resolve) == "text" else None
        if _expr_kind(left, resolve) == "const" and _expr_kind(right, resolve) == "const":
            return "const"
        return None
    return None  # calls (len, count compared otherwise)


def _sub_plan(plan: Plan, stage: str, rules) -> Plan:
    sub = dataclasses.replace(plan, rules=tuple(rules))
    sub.by_stage = {s: () for s in STAGES}
    sub.by_stage[stage] = tuple(rules)
    sub.ungated = {s: () for s in STAGES}
    sub.ungated[stage] = tuple(r for r in rules if r.gate is None)
    sub.gated_by = {s: {} for s in STAGES}
    sub.scoped = {s: () for s in STAGES}  # a stream is one text: `over ... turns` rules see just it
    index: dict[int, list] = {}
    for r in rules:
        for m in r.gate or ():
            index.setdefault(m, []).append(r)
    sub.gated_by[stage] = {m: tuple(rs) for m, rs in index.items()}
    return sub


def _stream_kinds(patterns) -> tuple[int, ...]:
    try:
        return tuple(patterns._stream_state().kinds)  # the stream database's per-spec strategy
    except Exception:
        return tuple(getattr(patterns, "kinds", ()))


_PROFILES: "weakref.WeakKeyDictionary[Any, dict[str, StreamProfile]]" = weakref.WeakKeyDictionary()
_PROFILES_LOCK = threading.Lock()


def stream_profile(guard, stage: str) -> StreamProfile:
    """The (cached) streaming profile of ``guard`` at ``stage``."""
    if stage not in STAGES:
        raise PolicyEvaluationError(f"unknown stage `{stage}`: use one of {', '.join(STAGES)}")
    per = _PROFILES.get(guard)
    prof = per.get(stage) if per is not None else None
    if prof is not None:
        return prof
    with _PROFILES_LOCK:
        per = _PROFILES.get(guard)
        if per is None:
            per = {}
            try:
                _PROFILES[guard] = per
            except TypeError:  # pragma: no cover - not weak-referenceable
                pass
        prof = per.get(stage)
        if prof is None:
            prof = per[stage] = _build_profile(guard, stage)
    return prof


def _build_profile(guard, stage: str) -> StreamProfile:
    plan: Plan = guard.plan
    ps = plan.policy_set
    local, local_redact, global_rules = [], [], []
    for rule in plan.by_stage.get(stage, ()):
        if rule.shadow or rule.action.kind not in ("refuse", "redact"):
            continue
        info = ps.rules[rule.order].info

        def resolve(ref, _info=info):
            return ps.symbols.resolve(_info, ref.parts)

        ok = not rule.models
        if ok:
            k_when = _expr_kind(rule.node.when, resolve)
            k_unless = _expr_kind(rule.node.unless, resolve) if rule.node.unless is not None else "const"
            ok = k_when is not None and k_unless == "const"
        if ok:
            local.append(rule)
            if rule.action.kind == "redact":
                local_redact.append(rule)
        else:
            global_rules.append(rule.rule_id)
    salt = getattr(getattr(guard, "_engine", None), "salt", None)
    engine = Engine(_sub_plan(plan, stage, local), hash_salt=salt) if local else None
    redact_engine = Engine(_sub_plan(plan, stage, local_redact), hash_salt=salt) if local_redact else None
    trig_matchers: set[int] = set()
    for r in local:
        trig_matchers.update(r.matchers)
        trig_matchers.update(r.gate or ())
    triggers = frozenset(i for i, m in enumerate(plan.spec_matcher) if m in trig_matchers)
    pats = plan.patterns
    widths = getattr(pats, "match_widths", None)
    bounded = 0
    unbounded = []
    for i in sorted(triggers):
        w = widths[i] if widths is not None else None
        if w is None or w > SHORT_MATCH:
            unbounded.append(i)  # tracked by partial matching: a fixed hold-back would be long
        else:
            bounded = max(bounded, w)
    edge = EDGE
    if triggers:
        kinds = _stream_kinds(pats)
        block = tuple(getattr(pats, "kinds", ()))
        if any((i < len(kinds) and kinds[i] in (_CONFIRM, _TAIL)) or (i < len(block) and block[i] == _CONFIRM)
               for i in triggers):
            edge = LOOKAROUND_EDGE
    fixed = (bounded + edge) if triggers else 0
    unb = []
    for i in unbounded:
        spec = pats.specs[i]
        unb.append((i, _pending_twins(regex_source(spec)), _pending_twins(regex_fallback_source(spec))))
    ascii_fast = set(plan.normalize) <= _ASCII_INERT_STEPS
    return StreamProfile(stage, engine, redact_engine, triggers, fixed, tuple(unb), edge, ascii_fast,
                         bool(plan.normalize), tuple(global_rules))


def _pending_twins(source: tuple[str, int] | None):
    """Two :mod:`regex` twins whose leftmost hits give a pattern's earliest pending start.

    A start ``s`` is *pending* when some way of matching the pattern from ``s`` reaches the
    end of the text received so far: either a match ends exactly there (``P\\Z``: it may
    still grow, or its right edge is not settled) or a match attempt ran out of text
    (``P(?!)`` with ``partial=True``: it never completes, so `regex` reports the leftmost
    attempt that hit the end). Asking for the first partial-or-complete match of ``P``
    itself is not enough: a complete shorter alternative (``ab`` of ``ab+c|ab``, or a PEM
    key's cut-off alternative) hides a longer one still in progress at the same start.
    """
    if source is None:
        return None
    pattern, flags = source
    return (regex.compile(f"(?:{pattern})\\Z", flags), regex.compile(f"(?:{pattern})(?!)", flags))


def _earliest_pending(twins, win: str, pos: int, timeout: float | None) -> int:
    """Earliest pending start at or after ``pos`` in ``win`` (``len(win)`` when none)."""
    end = len(win)
    at_end, never = twins
    best = end
    m = at_end.search(win, pos, timeout=timeout)
    if m is not None:
        best = m.start()
    m = never.search(win, pos, best, partial=True, timeout=timeout)
    if m is not None and m.start() < best:
        best = m.start()
    return best


# --------------------------------------------------------------------------- core


class StreamGuard:
    """Incremental guard for ONE stream of text chunks (not thread-safe; one per response).

    ``feed(chunk)`` returns the text that may be released now; when it sets
    :attr:`stopped`, a refusal was found mid-stream: the caller computes the decision on
    :meth:`text` and calls :meth:`finish` with it. At the end, the caller computes the
    whole-text decision and calls :meth:`finish`, which returns the rest of the stream.
    """

    def __init__(self, guard, stage: str = "output", context: Mapping | None = None, *,
                 hold_back: int | None = None, global_rules: str = "buffer"):
        if global_rules not in ("buffer", "end"):
            raise ValueError('global_rules must be "buffer" or "end"')
        prof = stream_profile(guard, stage)
        self.guard = guard
        self.stage = stage
        self.context = context
        self.profile = prof
        self.hold = prof.hold_back(hold_back)
        self.buffered = bool(prof.global_rules) and global_rules == "buffer"
        self._engine = prof.engine
        self._edge = prof.edge
        self._fixed = min(prof.fixed, self.hold)
        self._unb = prof.unbounded
        self._ps = [0] * len(prof.unbounded)  # per unbounded spec: earliest start of a pending match
        self._ps_min = 0
        self._triggers = prof.triggers
        self._parts: list[str] = []
        self._n = 0  # characters received
        self._r = 0  # characters released (of the original text)
        self._wb = 0  # window base: self._win == text[self._wb:]
        self._win = ""
        self._emitted: list[str] = []
        self._reds: list[tuple[int, int, str]] = []  # known redactions not yet released
        self._red_floor = 0  # end of the last released redaction
        self._dirty = False  # a tentative refusal waits for more text
        self._next_eval = 0  # while held at a growing value: no evaluation before this many characters
        self._next_pending = 0  # while a long match is pending: no pending-start search before this
        self._hit_end = 0  # end of the last stream hit of a local rule's pattern
        self._hits: list[tuple[int, int]] = []  # stream hits of local rules' patterns past the base
        self._base_retry = 0
        self._nonascii_end = 0
        self.chunks = 0
        self.max_held = 0
        self.divergence = False
        self.stopped = False
        self.window_refusal: Decision | None = None
        self.decision: Decision | None = None
        self.slow_evals = 0
        self.overflowed = False
        self._limit = getattr(getattr(guard, "_engine", None), "max_text_chars", None)
        self._fast_ok = self._engine is not None and prof.ascii_fast and prof.edge == EDGE
        self._normalizer = prof.engine.normalizer if (prof.engine is not None and prof.normalizes) else None
        self._scanner = None
        if self._engine is not None and self._triggers and self._fast_ok and not self.buffered:
            self._scanner = guard.plan.patterns.open_stream()
        if self._engine is not None and not self.buffered and self._engine.plan.ungated.get(stage):
            d = self._engine.evaluate("", stage, context)  # rules on the request context alone
            if d.refused:
                self.stopped = True
                self.window_refusal = d

    def _overflow(self) -> None:
        """More text than the guard's ``max_text_chars``: stop, fail closed, release nothing more.

        The whole-text decision at the end would refuse such a text anyway ("text too
        large"); stopping here keeps what the stream holds (its held-back window, the text
        kept for that decision) within the limit plus one chunk, whatever the upstream sends,
        e.g. a PEM key whose END line never comes.
        """
        self.stopped = True
        self.overflowed = True
        msg = (f"stream too large: {self._n:,} characters received, the limit is {self._limit:,} "
               f"(Guard option max_text_chars); the stream was stopped, {self._n - self._r:,} characters "
               "held back were not released")
        eng = getattr(self.guard, "_engine", None)
        if eng is not None:
            self.window_refusal = eng._failed("", self.stage, msg, time.perf_counter_ns())
        else:  # pragma: no cover - every Guard has an engine
            raise PolicyEvaluationError(msg)

    # ------------------------------------------------------------------ feeding
    def text(self) -> str:
        """Everything received so far."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def feed(self, chunk: str) -> str:
        """Take the next chunk; the text that may be released now (often "")."""
        if self.stopped or self.decision is not None:
            raise RuntimeError("feed() after the stream was stopped or finished")
        if not isinstance(chunk, str):
            raise TypeError(
                f"guarded stream chunks must be str, got {type(chunk).__name__}"
                + (" (decode bytes first)" if isinstance(chunk, (bytes, bytearray)) else "")
            )
        self.chunks += 1
        if not chunk:
            return ""
        self._parts.append(chunk)
        n = self._n = self._n + len(chunk)
        if self._limit is not None and n > self._limit:
            self._overflow()
            return ""
        if self.buffered:
            self.max_held = n
            return ""
        if self._engine is None:
            self._r = n
            self._emitted.append(chunk)
            return chunk
        self._win += chunk
        if not chunk.isascii() and self._normalizer is not None:
            # raw-text hits are exact where normalization changes nothing (e.g. precomposed é)
            prev = self._win[-len(chunk) - 1:-len(chunk)] if len(self._win) > len(chunk) else ""
            if not self._normalizer(prev + chunk).identity:
                self._nonascii_end = n
        fresh = False
        if self._scanner is not None:
            triggers = self._triggers
            for h in self._scanner.feed(chunk):
                if h.id in triggers:
                    fresh = True
                    self._hits.append((h.start, h.end))
                    if h.end > self._hit_end:
                        self._hit_end = h.end
        w = self._watermark()
        # the fast path needs: no stream hit still ahead of the release point (the block
        # engine re-reads it with more right context on every chunk until it is released:
        # at the very end of a window, `\b` and leftmost-longest can give another span),
        # no known redaction pending, no tentative refusal, nothing to normalize
        if (self._fast_ok and self._hit_end <= self._r and not self._dirty and not self._reds
                and self._nonascii_end <= self._wb):
            if w <= self._r:
                out = ""
            else:
                out = self._win[self._r - self._wb:w - self._wb]
                self._r = w
                self._emitted.append(out)
                self._advance_base()
        elif (fresh or self._dirty or w - self._r >= SLOW_BATCH or self._stalled(w)) and n >= self._next_eval:
            out = self._evaluate(w)  # a new hit (refuse at once), or enough text to release
        else:
            out = ""  # holding a little longer is always safe
        held = n - self._r
        if held > self.max_held:
            self.max_held = held
        return out

    def _stalled(self, w: int) -> bool:
        """The watermark is at the hold-back bound: release what can be released now."""
        return w > self._r and w == self._n - self.hold

    def _watermark(self) -> int:
        """How far text may be released, before redactions are taken into account."""
        n = self._n
        w = n - self._fixed
        if self._unb:
            if self._nonascii_end > self._wb:
                w = min(w, n - DEFAULT_UNBOUNDED_HOLD_BACK)  # raw-text partial matches miss normalized text
            if w > self._r and w > self._ps_min:
                # pending starts only move forward, so while the last one known is past the
                # candidate watermark there is nothing to recompute
                if n >= self._next_pending:
                    w = min(w, self._pending_start(w))
                    # A long match still in progress (a key body) would be searched again on
                    # every chunk, each search reading all of it: quadratic. Search again once
                    # it grew by a quarter; meanwhile the last start known stands in for it
                    # (it is at or before the real one: holding more is always safe).
                    grown = (n - self._ps_min) // GROW_BATCH_FRACTION
                    self._next_pending = n + grown if grown > SLOW_BATCH else 0
                else:
                    w = min(w, self._ps_min)
        bound = n - self.hold
        return w if w > bound else bound

    def _pending_start(self, w: int) -> int:
        """Earliest start of a match of a tracked pattern that more text could still complete.

        A pattern's pending start only moves forward, so patterns whose last known one is
        at or past ``w`` are not searched again.
        """
        wb, r = self._wb, self._r
        best = self._n
        ps = self._ps
        for k, (_, rx, rx2) in enumerate(self._unb):
            if ps[k] >= w:
                if ps[k] < best:
                    best = ps[k]
                continue
            pos = max(ps[k], r, wb)
            start = self._pending_from(rx, rx2, pos)
            ps[k] = start
            if start < best:
                best = start
        self._ps_min = best
        return best

    def _pending_from(self, rx, rx2, pos: int) -> int:
        """Earliest pending start (original offset) of one tracked pattern at or after ``pos``.

        Regex work over its time budget fails closed: ``pos`` itself is taken as pending.
        """
        win, wb = self._win, self._wb
        try:
            start = _earliest_pending(rx, win, pos - wb, REGEX_TIMEOUT)
            if rx2 is not None:
                start = min(start, _earliest_pending(rx2, win, pos - wb, REGEX_TIMEOUT))
        except TimeoutError:
            return pos
        return start + wb if start < len(win) else self._n

    def _can_grow(self, s: int, e: int) -> bool:
        """Whether a match of a tracked (long or unbounded) pattern that starts in ``[s, e)``
        can still extend with more text: then a redaction there may still grow."""
        if s < self._wb:
            return True  # cannot be looked at again: hold (fails closed)
        for _, rx, rx2 in self._unb:
            if self._pending_from(rx, rx2, s) < e:
                return True
        return False

    def _advance_base(self) -> None:
        """Move the window base forward, to keep each window evaluation small.

        The base is a whitespace character before the release point that no match of a
        local rule's pattern crosses: the character stays in the window as left context (for
        ``\\b``), and since no match straddles it, the matches after it are the same in the
        window as in the whole text (leftmost-longest chains restart there). Matches are
        known from the stream scanner; without one (normalizing or regex-confirmed
        policies), only breaks that patterns do not cross in practice are used (a newline,
        punctuation followed by a space, two spaces). A window that finds no such place
        grows up to ``MAX_WINDOW`` characters, then moves to the last whitespace anyway.
        """
        r, wb = self._r, self._wb
        if r - wb <= BASE_SLACK or r < self._base_retry:
            return
        lo = max(self._red_floor, wb + 1)
        win = self._win
        hits = self._hits
        if hits:
            hits = self._hits = [h for h in hits if h[1] > wb]
        strong = self._scanner is None
        best = -1
        i = r - wb
        floor = lo - wb
        k = 0
        while k < 512:
            i = max(win.rfind(c, floor, i) for c in _WS)
            if i < 0:
                break
            k += 1
            pos = wb + i
            if any(s < pos < e for s, e in hits):
                continue
            if win[i] == "\n" or (i > 0 and (win[i - 1] in _BREAK_BEFORE)):
                best = i
                break
            if not strong and best < 0:
                best = i
                break
        if best < 0 and len(win) > MAX_WINDOW:
            best = max(win.rfind(c, floor, r - wb) for c in _WS)
            if best < 0:
                best = max(r - wb - 1, floor)
        if best <= 0:
            self._base_retry = r + 64  # try again once more text was released
            return
        self._win = win[best:]
        self._wb = wb + best

    def _evaluate(self, w: int) -> str:
        self.slow_evals += 1
        n, off = self._n, self._wb
        d = self._engine.evaluate(self._win, self.stage, self.context)
        if d.refused:
            state = self._refusal_state(d, off, n)
            if state == "definite":
                self.stopped = True
                self.window_refusal = d
                return ""
            if state == "tentative":
                self._dirty = True  # decide once more text has arrived
                return ""
            redact = self.profile.redact_engine  # the refusal came from stale left context only
            d = redact.evaluate(self._win, self.stage, self.context) if redact is not None else None
        reds = []
        if d is not None:
            r = self._r
            for red in d.redactions:
                s, e = red.start + off, red.end + off
                if e <= r:
                    continue
                if s < r:  # part of this value was released: it was longer than the hold-back
                    self.divergence = True
                    s = r
                reds.append((s, e, red.replacement))
        blocked = False
        for s, e, _ in reds:
            if s < w < e:
                w = s
                blocked = True
                break
            # A value wholly before the watermark is released only once no match inside it
            # can still grow (a PEM key's cut-off alternative ends on a line; the full block
            # is longer). This holds past ``hold_back``: a known secret is never split.
            if e <= w and self._unb and self._can_grow(s, e):
                w = s
                blocked = True
                break
        out = self._release(w, reds)
        self._dirty = False
        # Held at a value that is still growing (a key body arriving a few characters at a
        # time): each evaluation reads the whole held window, so evaluating on every chunk is
        # quadratic in the value's length. Wait until the held text grew by a quarter;
        # nothing is released meanwhile, so waiting is always safe (a refusal is only found,
        # and the stream stopped, a little later).
        held = n - self._r
        self._next_eval = n + held // GROW_BATCH_FRACTION if blocked and held // GROW_BATCH_FRACTION > SLOW_BATCH else 0
        return out

    def _refusal_state(self, d: Decision, off: int, n: int) -> str:
        limit = n - self._edge
        state = "stale"
        for c in d.citations:
            if c.action != "refuse" or c.shadow:
                continue
            spans = [(e.start + off, e.end + off) for e in c.evidence if e.start is not None]
            if not spans:
                return "definite"  # request context, or no span evidence
            for _s, e in spans:
                if e <= self._r:
                    continue  # already released: seen (and not refused) before, or left-context noise
                if e <= limit:
                    return "definite"
                state = "tentative"
        return state

    def _release(self, w: int, reds: list[tuple[int, int, str]]) -> str:
        r = self._r
        if w <= r:
            self._reds = reds
            return ""
        parts = []
        pos = r
        keep = []
        wb, win = self._wb, self._win
        for s, e, rep in reds:
            if e <= w and s >= pos:
                parts.append(win[pos - wb:s - wb])
                parts.append(rep)
                pos = e
                self._red_floor = e
            else:
                keep.append((s, e, rep))
        parts.append(win[pos - wb:w - wb])
        out = "".join(parts)
        self._r = w
        self._reds = keep
        if out:
            self._emitted.append(out)
        self._advance_base()
        return out

    # ------------------------------------------------------------------ ending
    def emitted(self) -> str:
        return "".join(self._emitted)

    def close_scanner(self) -> None:
        sc, self._scanner = self._scanner, None
        if sc is not None:
            try:
                sc.close()
            except Exception:
                pass

    def finish(self, decision: Decision) -> str:
        """Record the final decision; the text still to send (the refusal message when refused)."""
        self.close_scanner()
        self.decision = decision
        if decision.refused:
            return decision.text
        emitted = self.emitted()
        if decision.text.startswith(emitted):
            tail = decision.text[len(emitted):]
        else:
            self.divergence = True
            tail = self._tail_from(decision)
        self._r = self._n
        return tail

    def _tail_from(self, decision: Decision) -> str:
        """The unreleased text with the whole-text decision's redactions applied."""
        text = self.text()
        r = self._r
        parts, pos = [], r
        for red in decision.redactions:
            if red.end <= pos:
                continue
            s = max(red.start, pos)
            parts.append(text[pos:s])
            parts.append(red.replacement)
            pos = red.end
        parts.append(text[pos:])
        return "".join(parts)

    def stats(self) -> dict:
        return {
            "chunks": self.chunks,
            "chars": self._n,
            "released": self._r,
            "slow_evals": self.slow_evals,
            "hold_back": self.hold,
            "max_held": self.max_held,
            "mode": "buffered" if self.buffered else "incremental",
            "refused_mid_stream": self.window_refusal is not None,
            "divergence": self.divergence,
            "overflowed": self.overflowed,
        }


# --------------------------------------------------------------------------- adapters


def _refusal_value(decision: Decision, on_refuse):
    if on_refuse == "raise":
        raise Refused(decision)
    if callable(on_refuse):
        return on_refuse(decision)
    return decision.text


def _close_sync(it) -> None:
    close = getattr(it, "close", None)
    if callable(close):
        close()


async def _close_async(it) -> None:
    close = getattr(it, "aclose", None) or getattr(it, "close", None)
    if callable(close):
        res = close()
        if inspect.isawaitable(res):
            await res


def _prefix_decision(guard, sg: StreamGuard) -> Decision:
    if sg.overflowed:
        return sg.window_refusal
    d = guard.check(sg.text(), sg.stage, sg.context)
    return d if d.refused else sg.window_refusal


async def _aprefix_decision(guard, sg: StreamGuard) -> Decision:

    if sg.overflowed:
        return sg.window_refusal
    d = await acheck(guard, sg.text(), sg.stage, sg.context)
    return d if d.refused else sg.window_refusal


class _StreamBase:
    def __init__(self, guard, chunks, *, stage: str = "output", context: Mapping | None = None,
                 on_refuse="message", hold_back: int | None = None, global_rules: str = "buffer",
                 log: DecisionLog | None = None, calllog: CallLog | None = None, call: str = "stream",
                 part: str = "output"):
        if on_refuse not in ("message", "raise") and not callable(on_refuse):
            raise ValueError('on_refuse must be "message", "raise" or a callable(decision)')
        self._guard = guard
        self._chunks = chunks
        self._on_refuse = on_refuse
        self._opts = dict(stage=stage, context=context, hold_back=hold_back, global_rules=global_rules)
        self._calllog = calllog if calllog is not None else CallLog(log, call)
        self._part = part
        self._sg: StreamGuard | None = None
        self._refused_early: Decision | None = None  # input refused: the stream is the refusal
        self._started = False
        self.error: BaseException | None = None

    @property
    def decision(self) -> Decision | None:
        """The final decision: whole-text (or the refusal), once the stream has ended."""
        if self._refused_early is not None:
            return self._refused_early
        return self._sg.decision if self._sg is not None else None

    @property
    def stats(self) -> dict | None:
        return self._sg.stats() if self._sg is not None else None

    def _log(self, outcome: str, exc: BaseException | None = None) -> None:
        sg = self._sg
        extra = {}
        if sg is not None:
            if sg.decision is not None:
                self._calllog.add(sg.decision, sg.text(), self._part)
            else:
                self._calllog.add_bare(sg.stage, self._guard.policy_hash, self._part)
            extra["stream"] = sg.stats()
        elif not self._calllog.items and self._refused_early is None:
            self._calllog.add_bare(self._opts["stage"], self._guard.policy_hash, self._part)
        if exc is not None:
            extra["error"] = type(exc).__name__
        self._calllog.finish(outcome, extra)


class GuardedStream(_StreamBase):
    """An iterator of guarded text chunks over a sync iterable of str chunks.

    ``decision`` holds the final decision once the stream ended; ``close()`` closes the
    upstream iterator too.
    """

    def __init__(self, guard, chunks: Iterable[str], **kw):
        super().__init__(guard, chunks, **kw)
        self._gen = self._run()

    def __iter__(self):
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        """Stop: closes the upstream too (also when iteration never started)."""
        if not self._started:
            self._started = True
            self._gen.close()
            if self._chunks is not None:
                _close_sync(self._chunks)
            self._log("refused" if self._refused_early is not None else "incomplete")
            return
        self._gen.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _run(self):
        self._started = True
        guard = self._guard
        if self._refused_early is not None:
            self._calllog.finish("refused")
            yield _refusal_value(self._refused_early, self._on_refuse)
            return
        upstream = None
        exhausted = False
        outcome, error = "error", None
        try:
            sg = self._sg = StreamGuard(guard, **self._opts)
            if not sg.stopped:
                upstream = iter(self._chunks)
                for chunk in upstream:
                    out = sg.feed(chunk)
                    if out:
                        yield out
                    if sg.stopped:
                        break
                else:
                    exhausted = True
            if sg.stopped:
                if upstream is not None and not exhausted:
                    _close_sync(upstream)
                    exhausted = True
                tail = sg.finish(_prefix_decision(guard, sg))
            else:
                tail = sg.finish(guard.check(sg.text(), sg.stage, sg.context))
            if sg.decision.refused:
                outcome = "refused"
                value = _refusal_value(sg.decision, self._on_refuse)
                if value is not None and value != "":
                    yield value
            else:
                outcome = "allowed"
                if tail:
                    yield tail
        except GeneratorExit:
            outcome = "incomplete" if outcome == "error" else outcome
            raise
        except Refused:
            outcome = "refused"
            raise
        except BaseException as exc:  # the upstream broke: what was held back is dropped
            outcome, error = "error", exc
            self.error = exc
            raise
        finally:
            if self._sg is not None:
                self._sg.close_scanner()
            if upstream is not None and not exhausted:
                try:
                    _close_sync(upstream)
                except Exception:
                    pass
            self._log(outcome, error)


class AsyncGuardedStream(_StreamBase):
    """An async iterator of guarded text chunks over an async (or sync) iterable of str.

    ``input_check``, when given, is an async callable run before the upstream is created
    (a wrapped async generator function checks its input there).
    """

    def __init__(self, guard, chunks, *, input_check=None, **kw):
        super().__init__(guard, chunks, **kw)
        self._input_check = input_check
        self._agen = self._run()

    def __aiter__(self):
        return self

    async def __anext__(self) -> str:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop: closes the upstream too (also when iteration never started)."""
        if not self._started:
            self._started = True
            await self._agen.aclose()
            if self._chunks is not None:
                await _close_async(self._chunks)
            self._log("incomplete")
            return
        await self._agen.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    async def _run(self):
        self._started = True
        guard = self._guard
        upstream = None
        exhausted = False
        outcome, error = "error", None
        try:
            if self._input_check is not None:
                refused, self._chunks = await self._input_check()
                if refused is not None:
                    self._refused_early = refused
            if self._refused_early is not None:
                outcome = "refused"
                value = _refusal_value(self._refused_early, self._on_refuse)
                yield value
                return
            sg = self._sg = StreamGuard(guard, **self._opts)
            if not sg.stopped:
                chunks = self._chunks
                if hasattr(chunks, "__aiter__"):
                    upstream = chunks.__aiter__()
                    while True:
                        try:
                            chunk = await upstream.__anext__()
                        except StopAsyncIteration:
                            exhausted = True
                            break
                        out = sg.feed(chunk)
                        if out:
                            yield out
                        if sg.stopped:
                            break
                else:
                    upstream = iter(chunks)
                    for chunk in upstream:
                        out = sg.feed(chunk)
                        if out:
                            yield out
                        if sg.stopped:
                            break
                    else:
                        exhausted = True
            if sg.stopped:
                if upstream is not None and not exhausted:
                    await _close_async(upstream)
                    exhausted = True
                tail = sg.finish(await _aprefix_decision(guard, sg))
            else:
                tail = sg.finish(await acheck(guard, sg.text(), sg.stage, sg.context))
            if sg.decision.refused:
                outcome = "refused"
                value = _refusal_value(sg.decision, self._on_refuse)
                if value is not None and value != "":
                    yield value
            else:
                outcome = "allowed"
                if tail:
                    yield tail
        except GeneratorExit:
            outcome = "incomplete" if outcome == "error" else outcome
            raise
        except Refused:
            outcome = "refused"
            raise
        except BaseException as exc:
            outcome, error = "error", exc
            self.error = exc
            raise
        finally:
            if self._sg is not None:
                self._sg.close_scanner()
            if upstream is not None and not exhausted:
                try:
                    await _close_async(upstream)
                except Exception:
                    pass
            self._log(outcome, error)
