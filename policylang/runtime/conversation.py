"""A conversation: rules ``over last N turns`` / ``over all turns`` see earlier turns' hits.

Each turn is scanned once; its hit counts (matcher -> number of hits) are kept per stage,
and a scoped rule's condition reads the current turn's hits plus the counts of the earlier
turns in its scope (conditions count and test hits: ``count(m)``, ``m``). Nothing is
re-scanned, and ``over all turns`` reads one running total: a turn costs the same whatever
the length of the history. Only the turns a ``last N`` rule can still see are kept. Model
scores (classifiers, topics, entities) are those of the current turn.
"""

from __future__ import annotations

import threading
from typing import Mapping

from policylang.decision import Decision


class _StageHistory:
    __slots__ = ("recent", "keep", "total")

    def __init__(self, keep: int, total: bool):
        self.recent: list[dict[int, int]] = []  # the last `keep` turns' counts, oldest first
        self.keep = keep
        self.total: dict[int, int] | None = {} if total else None  # every turn's counts, summed

    def earlier(self, turns: int) -> Mapping[int, int]:
        if turns == 0:
            return self.total or {}
        window = self.recent[max(0, len(self.recent) - (turns - 1)):]
        if len(window) == 1:
            return window[0]
        out: dict[int, int] = {}
        for counts in window:
            for m, n in counts.items():
                out[m] = out.get(m, 0) + n
        return out

    def add(self, counts: dict[int, int]) -> None:
        if self.keep:
            self.recent.append(counts)
            if len(self.recent) > self.keep:
                del self.recent[0]
        if self.total is not None:
            for m, n in counts.items():
                self.total[m] = self.total.get(m, 0) + n


class Conversation:
    """Turns checked one after another; ``check`` is ``Guard.check`` with memory."""

    def __init__(self, engine, context: Mapping | None = None):
        self._engine = engine
        self._context = dict(context) if context else None
        self._lock = threading.Lock()
        # per stage with scoped rules: (turns kept for `last N` rules, whether a rule reads all turns)
        self._shape: dict[str, tuple[int, bool]] = {}
        for stage, rules in engine.plan.scoped.items():
            if rules:
                ks = [r.turns for r in rules]
                self._shape[stage] = (max((k for k in ks if k > 1), default=1) - 1, 0 in ks)
        self._history: dict[str, _StageHistory] = {}
        self.turns = 0

    def check(self, text: str, stage: str = "input", context: Mapping | None = None) -> Decision:
        """Check the next turn's ``text`` at ``stage``; it joins the history of that stage."""
        ctx = context if context is not None else self._context
        with self._lock:
            shape = self._shape.get(stage)
            hist = None
            if shape is not None:
                hist = self._history.get(stage)
                if hist is None:
                    hist = self._history[stage] = _StageHistory(*shape)
            d, counts = self._engine.evaluate_turn(text, stage, ctx, hist.earlier if hist is not None else None)
            if hist is not None:
                hist.add(counts)
            self.turns += 1
        return d

    def reset(self) -> None:
        """Forget every earlier turn."""
        with self._lock:
            self._history.clear()
            self.turns = 0
