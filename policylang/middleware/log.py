"""Decision log: one JSON line per decision, for audit.

A sink is a path (appended to), a text file object, a :class:`logging.Logger` or a
:class:`logging.Handler`. Every record carries a decision id (uuid4), the time (ISO 8601,
UTC), the stage, the policy digest, the action, the call's outcome, citations (rule id,
``file:line``, matcher, span), redacted spans and timings.

Matched text is MASKED by default (``"matched": "****"``, one ``*`` per character, at
most 64) and the checked texts are not written at all; ``log_text=True`` writes the raw
matched values, the checked text and the resulting text (only for logs you may store
personal data in). Appends are serialized with a lock, and each record is written with
one ``write`` call, so concurrent threads never interleave lines. Every line is strict JSON:
a non-finite number (a model's NaN score) is written as ``null`` with a note in the record's
``errors``, and text with lone surrogates is written ``\\u``-escaped (:func:`json_line`).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import logging
import math
import os
import threading
import uuid
from typing import Any, Iterable, Mapping

from policylang.decision import Decision

__all__ = ["DecisionLog", "as_log", "CallLog", "json_line"]

MAX_MASK = 64


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _mask(value: str) -> str:
    return "*" * min(len(value), MAX_MASK)


class DecisionLog:
    """A JSONL decision sink. Thread-safe; ``close()`` closes a file it opened itself."""

    def __init__(self, sink: Any, *, log_text: bool = False):
        self.log_text = bool(log_text)
        self._lock = threading.Lock()
        self._own = False
        self._file = None
        self._logger = None
        self._handler = None
        if isinstance(sink, (str, os.PathLike)):
            self._path = os.fspath(sink)
            self._own = True
        elif isinstance(sink, logging.Logger):
            self._logger = sink
        elif isinstance(sink, logging.Handler):
            self._handler = sink
        elif hasattr(sink, "write"):
            if isinstance(sink, (io.RawIOBase, io.BufferedIOBase)):
                raise TypeError("the decision log needs a text file (open it with 'a', not 'ab')")
            self._file = sink
        else:
            raise TypeError(
                "log= takes a path, a text file object, a logging.Logger or a logging.Handler; "
                f"got {type(sink).__name__}"
            )

    # ------------------------------------------------------------------ records
    def record(
        self,
        decision: Decision,
        *,
        text: str | None = None,
        call_id: str | None = None,
        call: str | None = None,
        part: str | None = None,
        outcome: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict:
        """The JSON-ready record for ``decision`` (``text`` is the text that was checked)."""
        log_text = self.log_text
        citations = []
        for c in decision.citations:
            evidence = []
            for e in c.evidence:
                item: dict[str, Any] = {"matcher": e.matcher}
                if e.start is not None:
                    item["span"] = [e.start, e.end]
                    if text is not None:
                        value = text[e.start:e.end]
                        item["matched"] = value if log_text else _mask(value)
                if e.score is not None:
                    item["score"] = e.score
                if e.label is not None:
                    item["label"] = e.label
                evidence.append(item)
            citations.append({
                "rule_id": c.rule_id,
                "location": c.location,
                "action": c.action,
                "principle_id": c.principle_id,
                "matcher": c.matcher,
                "span": list(c.span) if c.span is not None else None,
                "score": c.score,
                "severity": c.severity,
                "shadow": c.shadow,
                "error": c.error,
                "evidence": evidence,
            })
        rec: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "time": _now(),
            "call_id": call_id,
            "call": call,
            "part": part,
            "stage": decision.stage,
            "policy_hash": decision.policy_hash,
            "action": decision.action,
            "outcome": outcome,
            "citations": citations,
            "redactions": [
                {"start": r.start, "end": r.end, "kind": r.kind, "rule_id": r.rule_id, "matcher": r.matcher}
                for r in decision.redactions
            ],
            "scores": dict(decision.scores),
            "errors": list(decision.errors),
            "timings": dict(decision.timings),
        }
        if text is not None:
            rec["text_len"] = len(text)
            if log_text:
                rec["text"] = text
                rec["result_text"] = decision.text
        if extra:
            rec.update(extra)
        return rec

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record (one line of strict JSON, see :func:`json_line`)."""
        line = json_line(record)
        with self._lock:
            if self._logger is not None:
                self._logger.info(line)
                return
            if self._handler is not None:
                rec = logging.makeLogRecord({
                    "name": "policylang.decisions", "msg": line, "levelno": logging.INFO, "levelname": "INFO",
                })
                self._handler.handle(rec)
                return
            if self._file is None:
                self._file = open(self._path, "a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._own and self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> "DecisionLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        target = getattr(self, "_path", None) or self._logger or self._handler or self._file
        return f"<DecisionLog {target!r} log_text={self.log_text}>"


def _finite(value: Any, path: str, notes: list[str]) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (and a note saying where)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append(f"{path}: {value!r} is not a finite number; written as null")
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v, f"{path}[{i}]", notes) for i, v in enumerate(value)]
    return value


def json_line(record: Mapping[str, Any]) -> str:
    """One record as one line of strict JSON.

    * NaN and infinities (a broken model's score) are written as ``null``, and the record's
      ``errors`` list says which field held which value (``allow_nan=False`` then guarantees
      the line parses with any strict JSON reader);
    * text that cannot be encoded as UTF-8 (a lone surrogate such as ``"\\ud800"``) is written
      ``\\u``-escaped (the whole line ASCII), so ``json.loads`` gives the same string back and
      writing the line never raises.
    """
    notes: list[str] = []
    clean = _finite(record, "", notes)
    if notes:
        errors = clean.get("errors")
        clean["errors"] = (list(errors) if isinstance(errors, list) else []) + notes
    line = json.dumps(clean, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(clean, ensure_ascii=True, separators=(",", ":"), default=str, allow_nan=False)
    return line


def as_log(log: Any, log_text: bool = False) -> DecisionLog | None:
    """``None``, a DecisionLog, or anything DecisionLog accepts as a sink."""
    if log is None or isinstance(log, DecisionLog):
        return log
    return DecisionLog(log, log_text=log_text)


class CallLog:
    """The decisions of one guarded call, written together once the outcome is known.

    Outcomes: ``allowed`` (the call completed and its result was passed on, redacted if
    needed), ``refused``, ``error`` (the model call or the stream raised: nothing it
    produced was passed on as allowed), ``incomplete`` (the consumer stopped a stream).
    """

    __slots__ = ("log", "call", "call_id", "items", "done")

    def __init__(self, log: DecisionLog | None, call: str):
        self.log = log
        self.call = call
        self.call_id = str(uuid.uuid4()) if log is not None else None
        self.items: list[tuple[Decision | None, str | None, str | None, dict | None]] = []
        self.done = False

    def add(self, decision: Decision, text: str | None, part: str | None, extra: dict | None = None) -> None:
        if self.log is not None:
            self.items.append((decision, text, part, extra))

    def add_bare(self, stage: str, policy_hash: str, part: str | None, extra: dict | None = None) -> None:
        """A record with no decision (a stream that broke before it could be decided)."""
        if self.log is not None:
            self.items.append((None, None, part, {"stage": stage, "policy_hash": policy_hash, **(extra or {})}))

    def extend(self, entries: Iterable[tuple[Decision, str | None, str | None]]) -> None:
        if self.log is not None:
            for d, t, p in entries:
                self.items.append((d, t, p, None))

    def finish(self, outcome: str, extra: Mapping[str, Any] | None = None) -> None:
        if self.done:
            return
        self.done = True
        log = self.log
        if log is None:
            return
        for decision, text, part, own in self.items:
            merged = dict(extra or {})
            if own:
                merged.update(own)
            if decision is None:
                rec = {"id": str(uuid.uuid4()), "time": _now(), "call_id": self.call_id, "call": self.call,
                       "part": part, "stage": None, "policy_hash": None, "action": None, "outcome": outcome,
                       "citations": [], "redactions": []}
                rec.update(merged)
                log.write(rec)
                continue
            log.write(log.record(decision, text=text, call_id=self.call_id, call=self.call, part=part,
                                 outcome=outcome, extra=merged or None))
        self.items.clear()
