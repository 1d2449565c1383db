"""A conversation: rules ``over last N turns`` / ``over all turns`` see earlier turns' hits.

Each turn is scanned once; its hits (matcher -> spans) are kept per stage, and a scoped
rule's condition reads the hits of the current turn plus those of the earlier turns in its
scope. Nothing is re-scanned: a turn costs one scan whatever the length of the history.
Only the turns a rule can still see are kept (all of them when a rule reads ``all turns``).
Model scores (classifiers, topics, entities) are those of the current turn.
"""

from __future__ import annotations

import threading
from typing import Mapping

from policylang.decision import Decision


class Conversation:
    """Turns checked one after another; ``check`` is ``Guard.check`` with memory."""

    def __init__(self, engine, context: Mapping | None = None):
        self._engine = engine
        self._context = dict(context) if context else None
        self._lock = threading.Lock()
        self._history: dict[str, list[dict]] = {}
        # per stage: how many earlier turns any rule can see (None: all)
        self._keep: dict[str, int | None] = {}
        for stage, rules in engine.plan.scoped.items():
            if rules:
                ks = [r.turns for r in rules]
                self._keep[stage] = None if 0 in ks else max(ks) - 1
        self.turns = 0

    def check(self, text: str, stage: str = "input", context: Mapping | None = None) -> Decision:
        """Check the next turn's ``text`` at ``stage``; it joins the history of that stage."""
        ctx = context if context is not None else self._context
        with self._lock:
            history = self._history.get(stage)
            d, hits = self._engine.evaluate_turn(text, stage, ctx, history)
            if stage in self._keep:
                lst = self._history.setdefault(stage, [])
                lst.append(hits)
                keep = self._keep[stage]
                if keep is not None and len(lst) > keep:
                    del lst[:len(lst) - keep]
            self.turns += 1
        return d

    def reset(self) -> None:
        """Forget every earlier turn."""
        with self._lock:
            self._history.clear()
            self.turns = 0
