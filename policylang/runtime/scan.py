"""Scan text with the compiled pattern database: one Hyperscan call per text.

:class:`CompiledPatterns` is what :func:`compile_patterns` (over :func:`policylang.compile.patterns.compile_pattern_database`)
returns. It is immutable and thread-safe: the database is shared, each thread gets its
own Hyperscan scratch (cloned from a prototype that is never scanned with).

Hot path (:meth:`CompiledPatterns.scan`): encode once, one ``db.scan`` whose callback only
appends ``(id, start, end)`` to a list, and return ``[]`` at once when nothing fired. Only
texts with hits pay for dedupe, offset mapping and (for the specs that need it) regex work.

Offsets: Hyperscan reports UTF-8 byte offsets; hits carry code-point offsets into the
``str``. Pure-ASCII text (``len(bytes) == len(str)``) needs no mapping; otherwise the
UTF-8 lead bytes before each offset are counted (``bytes.translate`` deleting continuation
bytes, one pass over the prefix, for up to 64 offsets; a numpy cumulative sum beyond).
Lone surrogates are encoded as U+FFFD (3 bytes, one character) so that Hyperscan always
sees valid UTF-8 (invalid UTF-8 is undefined behaviour for ``HS_FLAG_UTF8``) and the
character count is kept.

Hit semantics per spec (block mode), like ``finditer``: hits do not overlap, none is
nested in another and each is the longest match at its (leftmost) start. Hyperscan's SOM
gives, for every end offset, the leftmost start; the sweep keeps the longest hit at each
start and drops hits that overlap a kept one. When a *regex* spec has two overlapping
Hyperscan hits where neither contains the other, that spec's hits for this text are
recomputed with ``regex.finditer`` (exact). Note that where a pattern's alternation is
ambiguous (``a|ab``), Hyperscan specs give the longest match (``ab``) where Python's
``re`` would give the first alternative (``a``).

Streams (:class:`StreamScanner`): see its docstring.
"""

from __future__ import annotations

import codecs
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Sequence

import hyperscan as hs
import regex

from policylang.compile.patterns import (
    CONFIRM,
    LATE,
    SINGLE,
    SOM,
    TAIL,
    PatternDatabase,
    PatternProblem,
    PatternSpec,
    _max_width,
    compile_database,
    compile_pattern_database,
    edge_literal,
    load_blob,
    pack,
    regex_fallback_source,
    regex_source,
    specs_digest,
    unpack,
    window_for,
)

__all__ = ["Hit", "CompiledPatterns", "compile_patterns", "StreamScanner", "RegexTimeout", "DEFAULT_REGEX_TIMEOUT", "finditer_bounded"]

#: seconds of `regex` work (confirmation, start offsets) allowed per scanned text or stream chunk
DEFAULT_REGEX_TIMEOUT = 0.5


class RegexTimeout(Exception):
    """The `regex` work for spec ``spec_id`` went over its time budget (``seconds``).

    Hyperscan runs in linear time; `regex` (lookarounds, back-references, start offsets)
    backtracks, so every `regex` call on the scan path runs under one budget per text.
    The evaluator turns this into a refusal whose ``errors`` name the pattern.
    """

    def __init__(self, spec_id: int, seconds: float):
        super().__init__(f"pattern {spec_id}: regex work went over its time budget of {seconds * 1000:g} ms")
        self.spec_id = spec_id
        self.seconds = seconds

    def __reduce__(self):
        return (RegexTimeout, (self.spec_id, self.seconds))


class _Budget:
    """A deadline shared by every `regex` call made for one text (or one stream chunk)."""

    __slots__ = ("seconds", "deadline")

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, spec: int) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RegexTimeout(spec, self.seconds)
        return left


def _budget(seconds: float | None) -> _Budget | None:
    return None if seconds is None else _Budget(seconds)


def _finditer(r: Any, text: str, pos: int, budget: _Budget | None, spec: int, **kw):
    """``r.finditer(text, pos, **kw)`` under ``budget``: each step gets the time left (the
    `regex` timeout is per step) and the deadline is checked between matches."""
    if budget is None:
        yield from r.finditer(text, pos, **kw)
        return
    try:
        for m in r.finditer(text, pos, timeout=budget.left(spec), **kw):
            yield m
            budget.left(spec)
    except TimeoutError:
        raise RegexTimeout(spec, budget.seconds) from None


def finditer_bounded(rx: Any, text: str, pos: int = 0, *, seconds: float | None = DEFAULT_REGEX_TIMEOUT,
                     spec_id: int = -1, **kw):
    """``rx.finditer(text, pos, **kw)`` (e.g. ``partial=True``) under a total time budget of
    ``seconds``; raises :class:`RegexTimeout` past it. For `regex` work outside the scanner
    (stream middleware) that must stay bounded too."""
    return _finditer(rx, text, pos, _budget(seconds), spec_id, **kw)

_ERRORS = "policylang.fffd"


def _fffd(exc: UnicodeError) -> tuple[bytes, int]:
    if isinstance(exc, UnicodeEncodeError):
        return b"\xef\xbf\xbd" * (exc.end - exc.start), exc.end
    raise exc


try:
    codecs.lookup_error(_ERRORS)
except LookupError:
    codecs.register_error(_ERRORS, _fffd)

#: characters a regex-confirmed spec's matches lag behind the stream's end (lookahead room)
STREAM_CONFIRM_LAG = 256


@dataclass(frozen=True, slots=True)
class Hit:
    """One match of spec ``id`` at code-point offsets ``[start, end)`` of the scanned text."""

    id: int
    start: int
    end: int


def _collect(id_: int, start: int, end: int, flags: int, ctx: list) -> None:
    ctx.append((id_, start, end))


def _noop(id_: int, start: int, end: int, flags: int, ctx: Any) -> None:
    return None


_np: Any = None
_CONTINUATION = bytes(range(0x80, 0xC0))


def _char_offsets(data: bytes, offsets: Sequence[int]) -> list[int]:
    """Map UTF-8 byte offsets of ``data`` to code-point offsets (lead bytes before each).

    Few offsets: count the lead bytes between consecutive sorted offsets (``translate``
    deletes continuation bytes, in C). Many: a numpy cumulative count over the whole text.
    """
    if len(offsets) <= 64:
        at: dict[int, int] = {}
        pos = count = 0
        for b in sorted(set(offsets)):
            count += len(data[pos:b].translate(None, _CONTINUATION))
            pos = b
            at[b] = count
        return [at[b] for b in offsets]
    global _np
    if _np is None:
        import numpy

        _np = numpy
    a = _np.frombuffer(data, dtype=_np.uint8)
    idx = _np.zeros(len(a) + 1, dtype=_np.int64)
    _np.cumsum((a & 0xC0) != 0x80, out=idx[1:])
    return idx[_np.asarray(offsets, dtype=_np.int64)].tolist()


# ----------------------------------------------------------------- word edges

_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_UWORD = regex.compile(r"\w")  # Unicode \w, as in the ``(?<!\w)...(?!\w)`` guards of regex_source


def _edges_of(specs: Sequence[PatternSpec], kinds: Sequence[int]) -> tuple[int, ...] | None:
    """Per spec: 0, or 1 / 2 for a wholeword literal whose ASCII / Unicode word edges the
    scanner checks (see ``edge_literal``); None when no spec needs it."""
    edges = tuple(
        (2 if s.ucp else 1) if k == SOM and edge_literal(s) else 0 for s, k in zip(specs, kinds)
    )
    return edges if any(edges) else None


def _word_before(data: bytes, s: int, lo: int, uni: int) -> bool:
    """Whether the character that ends at byte ``s`` (``data`` starts at offset ``lo``) is a word character."""
    j = s - lo - 1
    if j < 0:
        return False
    b = data[j]
    if b < 0x80:
        return b in _WORD_BYTES
    if uni != 2:
        return False
    k = j
    while k > 0 and data[k] & 0xC0 == 0x80 and j - k < 3:
        k -= 1
    return _UWORD.match(data[k : j + 1].decode("utf-8", "replace")) is not None


def _word_at(data: bytes, e: int, lo: int, uni: int) -> bool:
    """Whether the character that starts at byte ``e`` is a word character."""
    j = e - lo
    if j >= len(data):
        return False
    b = data[j]
    if b < 0x80:
        return b in _WORD_BYTES
    if uni != 2:
        return False
    n = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
    return _UWORD.match(data[j : j + n].decode("utf-8", "replace")) is not None


def _edge_filter(raw: list, edges: tuple[int, ...], data: bytes, lo: int = 0) -> list:
    """Drop hits of wholeword literals that a word character touches (byte offsets)."""
    out = []
    for ev in raw:
        u = edges[ev[0]]
        if u and (_word_before(data, ev[1], lo, u) or _word_at(data, ev[2], lo, u)):
            continue
        out.append(ev)
    return out


# ----------------------------------------------------------------- regex helpers


def _spans_for_ends(rx: Any, rx2: Any, text: str, ends: list[int], window: int, base: int = 0,
                    budget: _Budget | None = None, spec: int = -1) -> list[tuple[int, int]]:
    """Spans (finditer semantics) of the matches that end at Hyperscan-reported ``ends``.

    ``ends`` are sorted code-point offsets into ``text``; the search for each cluster of ends
    starts ``window`` characters before its first end (never before ``base``) and stops once
    the cluster is explained. A cluster the regex cannot explain gives one conservative hit
    from the window start to its last end.
    """
    out: list[tuple[int, int]] = []
    consumed = base
    i, n = 0, len(ends)
    while i < n:
        j = i
        while j + 1 < n and ends[j + 1] - ends[j] <= window:
            j += 1
        first, last = ends[i], ends[j]
        endset = set(ends[i : j + 1])
        lo = max(consumed, base, first - window)
        found = False
        for r in (rx, rx2):
            if r is None:
                continue
            for m in _finditer(r, text, lo, budget, spec):
                ms, me = m.span()
                if ms >= last:
                    break
                if me in endset and me > ms:
                    out.append((ms, me))
                    found = True
                    consumed = me
                if me >= last:
                    break
            if found:
                break
        if not found and last > lo:
            out.append((lo, last))
            consumed = last
        i = j + 1
    return out


def _anchored_span(rxr: Any, fwd: Sequence[Any], text: str, end: int, window: int, budget: _Budget | None = None,
                   spec: int = -1) -> tuple[int, int] | None:
    """The span of a detection-only spec's first hit, from the first end Hyperscan reported:
    the start by matching backwards from ``end`` (one anchored match, where a forward search
    tries every position of the window and cost up to ~0.2 ms a hit on the jailbreak pack's
    alternations), then the forward match from that start (greedy tails run on past the
    first end: ``\\S+@\\S+\\.\\w+`` ends first at "a@b.i", its match is "a@b.io"): the first
    of ``fwd`` (the spec's regex, or the fired alternatives of its pattern in order) that
    matches there. None when the regex finds no match ending there (the caller searches
    forwards)."""
    if rxr is None:
        return None
    lo = max(0, end - window)
    try:
        m = rxr.match(text, lo, end, timeout=None if budget is None else budget.left(spec))
        if m is None or m.start() >= end:
            return None
        start = m.start()
        for rx in fwd:
            f = rx.match(text, start, timeout=None if budget is None else budget.left(spec))
            if f is not None:
                return (start, f.end()) if f.end() > start else (start, end)
    except TimeoutError:
        raise RegexTimeout(spec, budget.seconds if budget is not None else 0.0) from None
    return (start, end)


def _groups_of(specs: Sequence[PatternSpec], kinds: Sequence[int]) -> tuple[int, ...] | None:
    groups = tuple(s.group if s.group >= 0 and k == SINGLE else -1 for s, k in zip(specs, kinds))
    return groups if any(g >= 0 for g in groups) else None


def _first_alternatives(work: dict[int, list[int]], groups: Sequence[int]
                        ) -> tuple[dict[int, list[int]], dict[int, list[int]] | None]:
    """Of each group of alternatives that fired, the one whose first match ends first (the
    lowest id on a tie, as the whole pattern's alternation order would pick): ``work``
    without the others, and ``{kept id: the group's fired ids in order}`` where several
    fired. The span is then the whole pattern's first hit: its start from the kept
    alternative, its end from the first fired alternative that matches at that start."""
    best: dict[int, tuple[int, int]] | None = None
    fired: dict[int, list[int]] = {}
    for i, ends in work.items():
        g = groups[i]
        if g < 0:
            continue
        key = (min(ends), i)
        if best is None:
            best = {g: key}
        else:
            b = best.get(g)
            if b is None or key < b:
                best[g] = key
        fired.setdefault(g, []).append(i)
    if best is None:
        return work, None
    alts = {i: sorted(fired[g]) for g, (_, i) in best.items() if len(fired[g]) > 1}
    keep = {i for _, i in best.values()}
    return {i: ends for i, ends in work.items() if groups[i] < 0 or i in keep}, alts or None


def _first_span(rx: Any, rx2: Any, text: str, end: int, window: int, base: int = 0,
                budget: _Budget | None = None, spec: int = -1) -> tuple[int, int]:
    lo = max(base, end - window)
    for r in (rx, rx2):
        if r is None:
            continue
        for m in _finditer(r, text, lo, budget, spec):
            if m.start() >= end:
                break
            if m.end() > m.start():
                return m.span()
    return (lo, end) if end > lo else (max(base, end - 1), end)


def _sweep(raw: list[tuple[int, int, int]], kinds: Sequence[int], literal: Sequence[bool], redo_regex: bool):
    """Dedupe sorted ``(id, start, end)`` events of SOM specs; collect others per id.

    Returns ``(kept, work, redo)``: kept SOM hits ``(start, end, id)``, ``{id: [ends]}`` for
    specs that need regex, and the ids of regex specs with partially overlapping hits
    (when ``redo_regex``; otherwise those hits are kept).
    """
    kept: list[tuple[int, int, int]] = []
    work: dict[int, list[int]] | None = None
    redo: set[int] | None = None
    cur = -1
    k = 0
    last_s = last_e = -1
    for i, s, e in raw:
        if i != cur:
            cur = i
            k = kinds[i]
            last_s = last_e = -1
        if k:
            if work is None:
                work = {}
            lst = work.get(i)
            if lst is None:
                work[i] = [e]
            else:
                lst.append(e)
            continue
        if s == last_s:
            if e > last_e:
                kept[-1] = (s, e, i)
                last_e = e
        elif s >= last_e:
            kept.append((s, e, i))
            last_s = s
            last_e = e
        elif e > last_e and not literal[i]:
            if redo_regex:
                if redo is None:
                    redo = set()
                redo.add(i)
            else:
                kept.append((s, e, i))
                last_s = s
                last_e = e
    return kept, work, redo


# ----------------------------------------------------------------- compiled set


class _StreamState:
    __slots__ = ("db", "kinds", "warnings", "tls", "proto", "close_lock", "from_cache", "retain", "tracked",
                 "edges", "edge_keep")

    def __init__(self, db: Any, kinds: list[int], warnings: list, from_cache: bool, windows: Sequence[int],
                 specs: Sequence[PatternSpec] = ()):
        self.db = db
        self.kinds = tuple(kinds)
        self.warnings = tuple(warnings)
        self.tls = threading.local()
        self.proto = db.scratch.clone() if db is not None else None
        self.close_lock = threading.Lock()
        self.from_cache = from_cache
        needs_text = [w for w, k in zip(windows, kinds) if k != SOM]
        self.retain = (max(needs_text) + STREAM_CONFIRM_LAG + 64) if needs_text else 0
        self.tracked = tuple(i for i, k in enumerate(kinds) if k == TAIL)
        self.edges = _edges_of(specs, kinds) if specs else None
        # bytes kept to look at the character before a wholeword literal's start
        self.edge_keep = (
            max(4 * len(s.expression) for s, u in zip(specs, self.edges) if u) + 8 if self.edges else 0
        )

    def scratch(self) -> Any:
        try:
            return self.tls.s
        except AttributeError:
            s = self.tls.s = self.proto.clone()
            return s


class CompiledPatterns:
    """Every spec in one Hyperscan block-mode database; immutable and thread-safe.

    Attributes: ``specs``; ``problems`` (``(spec id, PatternProblem)`` warnings such as
    ``PL402``/``PL403``); ``kinds`` (the strategy per spec, see
    :mod:`policylang.compile.patterns`); ``from_cache`` (the database was loaded from the disk
    cache); ``cache_path``; ``match_widths`` (per spec, a bound on a match's length in
    characters or None when unbounded); ``max_match_width`` (the largest, None if any is
    unbounded).
    """

    __slots__ = (
        "specs",
        "problems",
        "kinds",
        "from_cache",
        "cache_dir",
        "cache_path",
        "match_widths",
        "max_match_width",
        "_db",
        "_kinds",
        "_late",
        "_side",
        "_side_proto",
        "_literal",
        "_fixed",
        "_edges",
        "_windows",
        "_groups",
        "_rx",
        "_rx2",
        "_rxr",
        "_proto",
        "_tls",
        "_stream",
        "_stream_lock",
        "__weakref__",
    )

    specs: tuple[PatternSpec, ...]

    def __init__(self) -> None:  # pragma: no cover - use compile_patterns() or loads()
        raise TypeError("use policylang.runtime.scan.compile_patterns(), CompiledPatterns.from_database() "
                        "or CompiledPatterns.loads()")

    @classmethod
    def from_database(cls, pdb: PatternDatabase) -> "CompiledPatterns":
        """The scanner over a compile-stage :class:`~policylang.compile.patterns.PatternDatabase`."""
        return cls._build(pdb.specs, pdb.db, pdb.kinds, pdb.warnings, widths=pdb.widths,
                          from_cache=pdb.from_cache, cache_dir=pdb.cache_dir, cache_path=pdb.cache_path,
                          side=pdb.side)

    @classmethod
    def _build(
        cls,
        specs: Sequence[PatternSpec],
        db: Any,
        kinds: Sequence[int],
        warnings: Sequence[tuple[int, PatternProblem]],
        *,
        widths: Sequence[int | None] | None = None,
        from_cache: bool = False,
        cache_dir: str | None = None,
        cache_path: str | None = None,
        side: dict[int, Any] | None = None,
    ) -> "CompiledPatterns":
        self = object.__new__(cls)
        specs = tuple(specs)
        widths = tuple(_max_width(s) for s in specs) if widths is None else tuple(widths)
        kinds = tuple(kinds)
        side = dict(side or {})
        late = frozenset(i for i, k in enumerate(kinds) if k == LATE)
        if set(side) != late:
            raise ValueError("every LATE pattern needs its own database")
        init = {
            "specs": specs,
            "problems": tuple(warnings),
            "kinds": kinds,
            "from_cache": from_cache,
            "cache_dir": cache_dir,
            "cache_path": cache_path,
            "match_widths": widths,
            "max_match_width": None if any(w is None for w in widths) else max(widths, default=0),
            "_db": db,
            # a LATE spec's events come from its own SOM database: handled as SOM from there on
            "_kinds": tuple(SOM if k == LATE else k for k in kinds),
            "_late": late,
            "_side": side,
            "_side_proto": {i: d.scratch.clone() for i, d in side.items()},
            "_literal": tuple(s.literal for s in specs),
            # per spec: the length of an ASCII literal that matches only itself (no fuzzy, no
            # word edges), else 0: on ASCII text its match starts exactly that far before its end
            "_fixed": tuple(len(s.expression) if s.literal and not s.fuzzy and not s.wholeword
                            and s.expression.isascii() else 0 for s in specs),
            "_edges": _edges_of(specs, kinds),
            "_windows": tuple(window_for(s, w) for s, w in zip(specs, widths)),
            # per spec, the group of alternatives it belongs to (SINGLE specs only), else -1;
            # None when no spec is in one
            "_groups": _groups_of(specs, kinds),
            # lazily compiled regex objects (a benign race at worst compiles one twice)
            "_rx": [None] * len(specs),
            "_rx2": [None] * len(specs),
            "_rxr": [None] * len(specs),  # reversed twins (False: the pattern has none)
            # the prototype scratch is only ever cloned, never scanned with
            "_proto": db.scratch.clone() if db is not None else None,
            "_tls": threading.local(),
            "_stream": None,
            "_stream_lock": threading.Lock(),
        }
        for name, value in init.items():
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    # -- regex objects (compiled lazily; a benign race at worst compiles one twice)

    def _regex(self, i: int, budget: "_Budget | None" = None) -> tuple[Any, Any]:
        """Spec ``i``'s regex objects, compiled on first use. Compiling is not matching: a
        ``budget`` running for this text is extended by the compile time (compiling a large
        pattern in pure Python can take longer than the whole budget on a busy machine)."""
        rx = self._rx[i]
        if rx is None:
            t0 = time.monotonic()
            spec = self.specs[i]
            pattern, flags = regex_source(spec)
            rx = regex.compile(pattern, flags)
            fb = regex_fallback_source(spec)
            self._rx2[i] = regex.compile(*fb) if fb is not None else None
            self._rx[i] = rx
            if budget is not None:
                budget.deadline += time.monotonic() - t0
        return rx, self._rx2[i]

    def _reversed(self, i: int, budget: "_Budget | None" = None) -> Any:
        """Spec ``i``'s regex compiled to match backwards (``regex.REVERSE``), or None."""
        rxr = self._rxr[i]
        if rxr is None:
            t0 = time.monotonic()
            pattern, flags = regex_source(self.specs[i])
            try:
                rxr = regex.compile(pattern, flags | regex.REVERSE)
            except Exception:  # pragma: no cover - every pattern that compiles forwards does
                rxr = False
            self._rxr[i] = rxr
            if budget is not None:
                budget.deadline += time.monotonic() - t0
        return rxr or None

    def _scratch(self) -> Any:
        s = self._tls.s = self._proto.clone()
        return s

    # -- scanning

    def scan(self, text: str, timeout: float | None = DEFAULT_REGEX_TIMEOUT) -> list[Hit]:
        """All hits in ``text``, sorted by ``(start, end, id)``, code-point offsets.

        ``timeout``: seconds of `regex` work allowed for this text (None: no limit); past
        it, :class:`RegexTimeout` names the spec. Hyperscan's own scan is linear time.
        """
        db = self._db
        if db is None:
            return []
        data = text.encode("utf-8", _ERRORS)
        try:
            scratch = self._tls.s
        except AttributeError:
            scratch = self._scratch()
        raw: list[tuple[int, int, int]] = []
        db.scan(data, _collect, 0, raw, scratch)
        if not raw:
            return []
        return self._finish(text, data, raw, timeout)

    def scan_many(self, texts: Sequence[str], timeout: float | None = DEFAULT_REGEX_TIMEOUT) -> list[list[Hit]]:
        """:meth:`scan` for each text (one Hyperscan call per text)."""
        db = self._db
        if db is None:
            return [[] for _ in texts]
        try:
            scratch = self._tls.s
        except AttributeError:
            scratch = self._scratch()
        out: list[list[Hit]] = []
        append = out.append
        finish = self._finish
        for text in texts:
            data = text.encode("utf-8", _ERRORS)
            raw: list[tuple[int, int, int]] = []
            db.scan(data, _collect, 0, raw, scratch)
            append(finish(text, data, raw, timeout) if raw else [])
        return out

    def _late_events(self, data: bytes, raw: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """``raw`` with each fired LATE spec's single event replaced by the events of a scan of
        ``data`` with that spec's own SOM database (exact starts, every match)."""
        late = self._late
        fired = None
        out = []
        for ev in raw:
            if ev[0] in late:
                if fired is None:
                    fired = {ev[0]}
                else:
                    fired.add(ev[0])
            else:
                out.append(ev)
        if fired is None:
            return raw
        try:
            scratches = self._tls.side
        except AttributeError:
            scratches = self._tls.side = {}
        for i in fired:
            scratch = scratches.get(i)
            if scratch is None:
                scratch = scratches[i] = self._side_proto[i].clone()
            self._side[i].scan(data, _collect, 0, out, scratch)
        return out

    def _finish(self, text: str, data: bytes, raw: list[tuple[int, int, int]],
                timeout: float | None = DEFAULT_REGEX_TIMEOUT) -> list[Hit]:
        if self._late:
            raw = self._late_events(data, raw)
        if self._edges is not None:
            raw = _edge_filter(raw, self._edges, data)
            if not raw:
                return []
        raw.sort()
        kept, work, redo = _sweep(raw, self._kinds, self._literal, True)
        ascii_ = len(data) == len(text)
        if redo:
            kept = [h for h in kept if h[2] not in redo]
            if work is None:
                work = {}
            for i, _s, e in raw:
                if i in redo:
                    work.setdefault(i, []).append(e)
        if kept and not ascii_:
            flat = [o for s, e, _ in kept for o in (s, e)]
            mapped = _char_offsets(data, flat)
            kept = [(mapped[2 * n], mapped[2 * n + 1], h[2]) for n, h in enumerate(kept)]
        if work:
            alts = None
            if self._groups is not None:
                work, alts = _first_alternatives(work, self._groups)
            kept.extend(self._regex_hits(text, data, work, redo, ascii_, _budget(timeout), alts))
        if len(kept) > 1:
            kept.sort()
        return [Hit(i, s, e) for s, e, i in kept]

    def _regex_hits(self, text: str, data: bytes, work: dict[int, list[int]], redo: set[int] | None, ascii_: bool,
                    budget: _Budget | None = None, alts: dict[int, list[int]] | None = None):
        out: list[tuple[int, int, int]] = []
        fixed = self._fixed
        for i, ends in work.items():
            kind = self._kinds[i]
            if kind == SINGLE and ascii_ and fixed[i]:
                # Hyperscan reported the first end of an ASCII literal on ASCII text: the match
                # is the literal's length before it, the span the regex search would find
                # (per hit this search was most of a fired rule's cost with many rules)
                e = min(ends)
                out.append((e - fixed[i], e, i))
                continue
            spec = self.specs[i]
            rx, rx2 = self._regex(i, budget)
            if kind == CONFIRM:
                if spec.spans:
                    out.extend((m.start(), m.end(), i) for m in _finditer(rx, text, 0, budget, i) if m.end() > m.start())
                else:
                    for m in _finditer(rx, text, 0, budget, i):
                        if m.end() > m.start():
                            out.append((m.start(), m.end(), i))
                            break
                continue
            ends = sorted(set(ends))
            if not ascii_:
                ends = _char_offsets(data, ends)
            if kind == SINGLE:
                group = alts.get(i) if alts is not None else None
                fwd = (rx,) if group is None else tuple(self._regex(j, budget)[0] for j in group)
                span = _anchored_span(self._reversed(i, budget), fwd, text, ends[0], self._windows[i], budget, i)
                if span is None:  # the regex cannot explain that end: search forwards
                    span = _first_span(rx, rx2, text, ends[0], self._windows[i], 0, budget, i)
                out.append((*span, i))
            else:  # NOSOM, or a SOM regex spec whose hits overlapped
                out.extend((s, e, i) for s, e in _spans_for_ends(rx, rx2, text, ends, self._windows[i], 0, budget, i))
        return out

    # -- streams

    def _stream_state(self) -> _StreamState:
        st = self._stream
        if st is None:
            with self._stream_lock:
                st = self._stream
                if st is None:
                    pdb = compile_database(self.specs, hs.HS_MODE_STREAM, self.cache_dir, self.match_widths)
                    st = _StreamState(pdb.db, pdb.kinds, pdb.warnings, pdb.from_cache, self._windows, self.specs)
                    object.__setattr__(self, "_stream", st)
        return st

    def open_stream(self) -> "StreamScanner":
        """A new stream (one per LLM response). The stream database is built on first use."""
        return StreamScanner(self)

    @property
    def stream_problems(self) -> tuple[tuple[int, PatternProblem], ...]:
        """Warnings of the stream-mode database (builds it)."""
        return self._stream_state().warnings

    # -- shipping

    def dumps(self) -> bytes:
        """The block database and its plan as bytes, for :meth:`loads` in another process."""
        blob = hs.dumpb(self._db) if self._db is not None else b""
        return pack(specs_digest(self.specs), hs.HS_MODE_BLOCK, self.kinds, self.problems, blob, self.match_widths,
                    {i: hs.dumpb(d) for i, d in self._side.items()})

    @classmethod
    def loads(cls, specs: Sequence[PatternSpec], blob: bytes) -> "CompiledPatterns":
        """Rebuild from :meth:`dumps` output; ``specs`` must be the same specs (ValueError if not)."""
        specs = tuple(specs)
        mode, kinds, warnings, raw, widths, side = unpack(bytes(blob), specs_digest(specs), hs.HS_MODE_BLOCK)
        if len(kinds) != len(specs):
            raise ValueError("pattern database does not fit these specs")
        db = load_blob(raw, mode) if raw else None
        if db is None and specs:
            raise ValueError("pattern database is empty")
        return cls._build(specs, db, kinds, warnings, widths=widths,
                          side={i: load_blob(b, mode) for i, b in side.items()})

    def __reduce__(self):
        return (_loads, (self.specs, self.dumps()))

    def __repr__(self) -> str:
        return f"<CompiledPatterns {len(self.specs)} specs, from_cache={self.from_cache}>"


def compile_patterns(
    specs: Sequence[PatternSpec], *, cache_dir: Any = None
) -> CompiledPatterns:
    """Compile ``specs`` (:func:`policylang.compile.patterns.compile_pattern_database`: same
    ``cache_dir`` meaning, same :class:`~policylang.compile.patterns.PatternSetError`) and
    build the scanner over the database; PL402/PL403 warnings are on ``.problems``."""
    return CompiledPatterns.from_database(compile_pattern_database(specs, cache_dir=cache_dir))


def _loads(specs: Sequence[PatternSpec], blob: bytes) -> CompiledPatterns:
    return CompiledPatterns.loads(specs, blob)


# ----------------------------------------------------------------- streams


class StreamScanner:
    """Scan a text that arrives in chunks (Hyperscan stream mode).

    ``feed(chunk)`` returns the hits completed so far, with ABSOLUTE code-point offsets
    across the whole stream; a match split across chunks is found. ``close()`` returns the
    hits that only complete at the end (``$``-anchored patterns, trailing ``\\b``...).

    Per spec kind (see :mod:`policylang.compile.patterns`):

    * SOM: exact spans from Hyperscan.
    * NOSOM / SINGLE: Hyperscan gives the end; the start is found with regex in the retained
      tail of the text (``window`` characters before the end).
    * CONFIRM (prefilter) and TAIL (cannot be compiled for streams): the regex runs over the
      retained tail after a candidate (CONFIRM) or after every chunk (TAIL). Their matches
      are reported once the stream is ``STREAM_CONFIRM_LAG`` characters past their end (room
      for lookahead) or at ``close()``.

    Across chunks a match can keep growing: a hit reported by a later call may contain a
    hit reported earlier for the same spec (``a+`` fed as ``"aa"``, ``"a"`` gives (0, 2) then
    (0, 3)). A hit is never reported twice. ``max_match_width`` bounds how far back a match
    that is still pending may start (None when some pattern is unbounded): hold back at
    least that many characters before releasing text.

    Binding pitfalls handled here: the Hyperscan stream keeps *borrowed* references to its
    database, callback and context, so this object holds strong references to all three;
    the stream is opened with ``__enter__`` and closed exactly once. Not for concurrent use
    by several threads (one stream per response); different streams may run in parallel.
    """

    __slots__ = (
        "_owner",
        "_state",
        "_db",
        "_stream",
        "_handler",
        "_events",
        "_closed",
        "_byte_pos",
        "_char_pos",
        "_seg_bytes",
        "_seg_chars",
        "_seg_data",
        "_tail",
        "_tail_start",
        "_last",
        "_single_done",
        "_regex_from",
        "_active",
        "_ebuf",
        "_ebuf_start",
        "_epending",
        "_budget",
        "_degraded",
        "max_match_width",
    )

    def __init__(self, owner: CompiledPatterns):
        state = owner._stream_state()
        self._owner = owner
        self._state = state
        self._db = state.db  # strong reference: the Stream only borrows it
        self._handler = _collect  # strong reference: the Stream only borrows its callback
        self._events: list[tuple[int, int, int]] = []  # the context; never rebound
        self._closed = False
        self._byte_pos = 0
        self._char_pos = 0
        self._seg_bytes = [0]
        self._seg_chars = [0]
        self._seg_data: list[bytes | None] = [None]
        self._tail = ""
        self._tail_start = 0
        self._last: dict[int, tuple[int, int]] = {}
        self._single_done: set[int] = set()
        self._regex_from: dict[int, int] = {}
        self._active: dict[int, int] = {i: 0 for i in state.tracked}
        self._ebuf = b""  # the last bytes of the stream, for wholeword literals' edges
        self._ebuf_start = 0
        self._epending: list[tuple[int, int, int]] = []  # wholeword hits waiting for the next byte
        self._budget: _Budget | None = None
        self._degraded: set[int] = set()  # specs whose regex went over budget: reported, not searched
        self.max_match_width = owner.max_match_width
        self._stream = None
        if state.db is not None:
            stream = state.db.stream(match_event_handler=self._handler, context=self._events)
            stream.__enter__()  # the binding opens the Hyperscan stream here
            self._stream = stream

    # -- offsets

    def _to_char(self, b: int) -> int:
        idx = bisect_right(self._seg_bytes, b) - 1
        payload = self._seg_data[idx]
        if payload is None:
            return self._seg_chars[idx] + (b - self._seg_bytes[idx])
        return self._seg_chars[idx] + len(payload[: b - self._seg_bytes[idx]].translate(None, _CONTINUATION))

    def feed(self, chunk: str, timeout: float | None = DEFAULT_REGEX_TIMEOUT) -> list[Hit]:
        """Scan the next chunk; hits completed so far (absolute code-point offsets).

        ``timeout``: seconds of `regex` work for this chunk. A spec whose regex goes over
        it is *degraded* for the rest of the stream: from then on it reports one
        conservative hit (from its last hit to the end of the text so far) on every call,
        so a caller that re-checks text around hits (the stream middleware) keeps doing so.
        """
        self._budget = _budget(timeout)
        if self._closed:
            raise ValueError("feed() on a closed stream")
        if not chunk:
            return []
        data = chunk.encode("utf-8", _ERRORS)
        if len(data) == len(chunk):
            if self._seg_data[-1] is not None:
                self._seg_bytes.append(self._byte_pos)
                self._seg_chars.append(self._char_pos)
                self._seg_data.append(None)
        else:
            self._seg_bytes.append(self._byte_pos)
            self._seg_chars.append(self._char_pos)
            self._seg_data.append(data)
        self._byte_pos += len(data)
        self._char_pos += len(chunk)
        state = self._state
        if state.retain:
            self._tail += chunk
        if state.edges is not None:
            self._ebuf += data
        if self._stream is not None:
            self._stream.scan(data, 0, state.scratch(), self._handler, self._events)
        hits = self._drain(final=False)
        if state.edges is not None:
            cut = len(self._ebuf) - state.edge_keep
            if cut > 0:
                self._ebuf = self._ebuf[cut:]
                self._ebuf_start += cut
        if state.retain:
            cut = len(self._tail) - state.retain
            if cut > 0:
                self._tail = self._tail[cut:]
                self._tail_start += cut
        return hits

    def close(self, timeout: float | None = DEFAULT_REGEX_TIMEOUT) -> list[Hit]:
        """End the stream; the hits that complete only at the end. Idempotent."""
        self._budget = _budget(timeout)
        if self._closed:
            return []
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            # Stream.close() of the binding uses the database's own scratch (passing a scratch
            # there is broken in 0.9.1), so closes are serialized per database.
            with self._state.close_lock:
                stream.close(match_event_handler=self._handler, context=self._events)
        return self._drain(final=True)

    def __enter__(self) -> "StreamScanner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed and self._stream is not None:
                stream, self._stream = self._stream, None
                self._closed = True
                with self._state.close_lock:
                    stream.close(match_event_handler=_noop, context=self._events)
        except Exception:
            pass

    # -- event processing

    def _drain(self, final: bool) -> list[Hit]:
        events = self._events
        out: list[tuple[int, int, int]] = []
        state = self._state
        if state.edges is not None and (events or self._epending):
            events.extend(self._epending)
            self._epending.clear()
            if not final:
                # a hit that ends where the stream ends so far waits for the next character
                at_end = [ev for ev in events if state.edges[ev[0]] and ev[2] >= self._byte_pos]
                if at_end:
                    self._epending.extend(at_end)
                    keep = [ev for ev in events if not (state.edges[ev[0]] and ev[2] >= self._byte_pos)]
                    events.clear()
                    events.extend(keep)
            kept_events = _edge_filter(events, state.edges, self._ebuf, self._ebuf_start)
            events.clear()
            events.extend(kept_events)
        if events:
            raw = sorted(events)
            events.clear()
            kept, work, _ = _sweep(raw, state.kinds, self._owner._literal, False)
            for s, e, i in kept:
                self._report(out, i, self._to_char(s), self._to_char(e))
            if work:
                for i, ends in work.items():
                    if i in self._degraded:
                        continue
                    try:
                        self._regex_event(out, i, ends)
                    except RegexTimeout:
                        self._degraded.add(i)
        if self._active:
            self._run_trackers(out, final)
        for i in self._degraded:
            prev = self._last.get(i)
            start = max(self._tail_start, prev[1] if prev else 0)
            if self._char_pos > start:
                self._report(out, i, start, self._char_pos)
        if len(out) > 1:
            out.sort()
        return [Hit(i, s, e) for s, e, i in out]

    def _report(self, out: list, i: int, s: int, e: int) -> None:
        prev = self._last.get(i)
        if prev is not None:
            ps, pe = prev
            if e <= pe:
                return  # nested in, or equal to, a hit already reported
            if ps < s < pe and self._owner._literal[i]:
                return  # overlaps the previous occurrence of a literal
        self._last[i] = (s, e)
        out.append((s, e, i))

    def _regex_event(self, out: list, i: int, byte_ends: list[int]) -> None:
        kind = self._state.kinds[i]
        if i in self._single_done:
            return
        if kind == CONFIRM:
            end = self._to_char(max(byte_ends))
            self._active[i] = max(self._active.get(i, 0), end)
            return
        rx, rx2 = self._owner._regex(i, self._budget)
        window = self._owner._windows[i]
        base = self._tail_start
        ends = sorted({self._to_char(b) - base for b in byte_ends})
        if kind == SINGLE:
            s, e = _first_span(rx, rx2, self._tail, ends[0], window, 0, self._budget, i)
            self._single_done.add(i)
            self._report(out, i, s + base, e + base)
        else:  # NOSOM
            for s, e in _spans_for_ends(rx, rx2, self._tail, ends, window, 0, self._budget, i):
                self._report(out, i, s + base, e + base)

    def _run_trackers(self, out: list, final: bool) -> None:
        lag = 0 if final else STREAM_CONFIRM_LAG
        safe = self._char_pos - lag
        base = self._tail_start
        tail = self._tail
        done = []
        for i, cand in self._active.items():
            if i in self._degraded:
                done.append(i)
                continue
            spec = self._owner.specs[i]
            window = self._owner._windows[i]
            rx, _ = self._owner._regex(i, self._budget)
            start = max(self._regex_from.get(i, 0), base)
            found = False
            try:
                for m in _finditer(rx, tail, start - base, self._budget, i):
                    ms, me = m.start() + base, m.end() + base
                    if me == ms:
                        continue
                    if me > safe:
                        break
                    self._report(out, i, ms, me)
                    self._regex_from[i] = me
                    found = True
                    if not spec.spans:
                        break
            except RegexTimeout:
                self._degraded.add(i)
                done.append(i)
                continue
            if found and not spec.spans:
                self._single_done.add(i)
                done.append(i)
                continue
            if not found:
                self._regex_from[i] = max(self._regex_from.get(i, 0), safe - window)
            if self._state.kinds[i] == CONFIRM and cand + window + STREAM_CONFIRM_LAG < safe:
                done.append(i)  # the candidate is settled
        for i in done:
            if self._state.kinds[i] == TAIL and i not in self._single_done and i not in self._degraded:
                continue  # a spec Hyperscan cannot stream stays tracked for the whole stream
            self._active.pop(i, None)
