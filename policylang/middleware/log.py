"""Decision log: one JSON line per decision, for audit.

A sink is a path (appended to), a text file object, a :class:`logging.Logger` or a
:class:`logging.Handler`. Every record is a :class:`LogRecord`: the fields it shares with
:class:`~policylang.decision.Decision` (:class:`~policylang.decision.DecisionFields`: stage,
policy digest, action, citations, redacted spans, scores, errors, models, timings) plus the
log's own: a decision id (uuid4), the time (ISO 8601, UTC), the call and its outcome. Its
JSON Schema ships as ``policylang/schemas/log.schema.json`` (``policylang schema log``).

Matched text is MASKED by default (``"matched": "****"``, one ``*`` per character, at
most 64) and the checked texts are not written at all; ``log_text=True`` writes the raw
matched values, the checked text and the resulting text (only for logs you may store
personal data in). ``mask=`` chooses per kind (or matcher name) what a match becomes:
``"stars"``, ``"hash"`` (a keyed HMAC-SHA256 digest: equal values give equal digests within
one log), ``"drop"`` (no ``matched`` at all) or ``"raw"``. Appends are serialized with a lock,
and each record is written with one ``write`` call, so concurrent threads never interleave
lines. Every line is strict JSON: a non-finite number (a model's NaN score) is written as
``null`` with a note in the record's ``errors``, and text with lone surrogates is written
``\\u``-escaped (:func:`json_line`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import io
import json
import logging
import math
import os
import threading
import uuid
import warnings
from typing import Any, Iterable, Literal, Mapping, Optional

from pydantic import ConfigDict, Field, ValidationError

from policylang.decision import Action, Citation, Decision, DecisionFields, Evidence, Stage

__all__ = ["DecisionLog", "as_log", "CallLog", "json_line", "LogRecord", "LogCitation", "LogEvidence", "MASKS"]

MAX_MASK = 64

#: what ``mask=`` may turn a matched value into
MASKS = ("stars", "hash", "drop", "raw")

Outcome = Literal["allowed", "refused", "error", "incomplete"]


class LogEvidence(Evidence):
    """:class:`~policylang.decision.Evidence` as logged: plus the (masked) matched text."""

    span: Optional[list[int]] = None  # [start, end], kept beside start/end for older readers
    matched: Optional[str] = None  # the matched value, as ``mask`` says (absent when dropped)
    mask: Optional[str] = None  # the mask mode applied: stars, hash, drop, raw


with warnings.catch_warnings():  # `location` is Citation's property; here a field of the same value
    warnings.filterwarnings("ignore", message='Field name "location"', category=UserWarning)

    class LogCitation(Citation):
        """:class:`~policylang.decision.Citation` as logged: plus ``location`` (``file:line``)."""

        location: str = Field(description="where the rule is written: `file:line`")
        evidence: list[LogEvidence] = Field(default_factory=list)


class LogRecord(DecisionFields):
    """One line of the decision log: the decision's shared fields plus the log's own.

    ``action`` is null only for a record with no decision (a stream that broke before it
    could be decided). ``text`` here is the CHECKED text and ``result_text`` the decision's
    ``text``; both are written only with ``log_text=True``. Adapters may add fields of
    their own (``extra="allow"``).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    time: str
    call_id: Optional[str] = None
    call: Optional[str] = None  # the guarded function, `openai.chat.completions.create`, `check`...
    part: Optional[str] = None  # input, output, messages[2], choices[0]...
    outcome: Optional[Outcome] = None
    action: Optional[Action] = None  # type: ignore[assignment]
    citations: list[LogCitation] = Field(default_factory=list)  # type: ignore[assignment]
    text_len: Optional[int] = None
    text: Optional[str] = None
    result_text: Optional[str] = None
    stream: Optional[dict[str, Any]] = None  # streams: chunks, hold-back, mode, divergence...
    error: Optional[str] = None  # the exception type when outcome is `error`
    detail: Optional[str] = None
    latency_us: Optional[float] = None  # a bare check(): microseconds the check took


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _mask(value: str) -> str:
    return "*" * min(len(value), MAX_MASK)


def _mask_modes(mask: Any, log_text: bool) -> tuple[str, dict[str, str]]:
    default = "raw" if log_text else "stars"
    if mask is None:
        return default, {}
    if isinstance(mask, str):
        mask = {"*": mask}
    if not isinstance(mask, Mapping):
        raise TypeError(f"mask= takes a mode ({', '.join(MASKS)}) or a mapping of kind to mode, got {type(mask).__name__}")
    modes = {}
    for kind, mode in mask.items():
        if not isinstance(kind, str) or mode not in MASKS:
            raise ValueError(f"mask[{kind!r}] = {mode!r}: a mode is one of {', '.join(MASKS)}")
        modes[kind] = mode
    return modes.pop("*", default), modes


class DecisionLog:
    """A JSONL decision sink. Thread-safe; ``close()`` closes a file it opened itself."""

    def __init__(self, sink: Any, *, log_text: bool = False, mask: Any = None,
                 hash_key: bytes | str | None = None):
        self.log_text = bool(log_text)
        self._default_mask, self._masks = _mask_modes(mask, self.log_text)
        if isinstance(hash_key, str):
            hash_key = hash_key.encode()
        # a key per log: digests of low-entropy values (SSNs, phones) can't be reversed by
        # hashing every candidate; pass your own for digests that agree across processes
        self._hash_key = hash_key if hash_key is not None else os.urandom(32)
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
    def mask_mode(self, kind: str | None, matcher: str | None) -> str:
        """The mask mode for a match of ``kind`` by ``matcher`` (``pii.email`` also tries ``email``)."""
        masks = self._masks
        if masks:
            for key in (kind, matcher, matcher.rsplit(".", 1)[-1] if matcher else None):
                if key is not None and key in masks:
                    return masks[key]
        return self._default_mask

    def _masked(self, value: str, mode: str) -> str | None:
        if mode == "stars":
            return _mask(value)
        if mode == "raw":
            return value
        if mode == "hash":
            data = value.encode("utf-8", "surrogatepass")
            return "hmac-sha256:" + hmac.new(self._hash_key, data, hashlib.sha256).hexdigest()[:32]
        return None  # drop

    def record_model(
        self,
        decision: Decision,
        *,
        text: str | None = None,
        call_id: str | None = None,
        call: str | None = None,
        part: str | None = None,
        outcome: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> LogRecord:
        """The :class:`LogRecord` for ``decision`` (``text`` is the text that was checked)."""
        return _validated(self._fields(decision, text, call_id, call, part, outcome, extra))

    def record(self, decision: Decision, *, text: str | None = None, call_id: str | None = None,
               call: str | None = None, part: str | None = None, outcome: str | None = None,
               extra: Mapping[str, Any] | None = None) -> dict:
        """The JSON-ready record for ``decision`` (``record_model`` as a dict of the fields set)."""
        return _dump(self.record_model(decision, text=text, call_id=call_id, call=call, part=part,
                                       outcome=outcome, extra=extra))

    def _fields(self, decision, text, call_id, call, part, outcome, extra) -> dict:
        kinds = {(r.start, r.end): r.kind for r in decision.redactions} if decision.redactions else {}
        citations = []
        for c in decision.citations:
            evidence = []
            for e in c.evidence:
                item: dict[str, Any] = {"matcher": e.matcher}
                if e.start is not None:
                    item["start"], item["end"] = e.start, e.end
                    item["span"] = [e.start, e.end]
                    if text is not None:
                        mode = self.mask_mode(kinds.get((e.start, e.end)), e.matcher)
                        item["mask"] = mode
                        if mode != "drop":
                            item["matched"] = self._masked(text[e.start:e.end], mode)
                if e.score is not None:
                    item["score"] = e.score
                if e.label is not None:
                    item["label"] = e.label
                if e.example is not None:
                    item["example"] = e.example
                evidence.append(item)
            cd = dict(c.__dict__)
            cd["location"] = c.location
            cd["evidence"] = evidence
            citations.append(cd)
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
            "models": dict(decision.models),
            "timings": dict(decision.timings),
        }
        if text is not None:
            rec["text_len"] = len(text)
            if self.log_text:
                rec["text"] = text
                rec["result_text"] = decision.text
        if extra:
            rec.update(extra)
        return rec

    def log_check(self, decision: Decision, text: str | None, *, call: str = "check",
                  latency_us: float | None = None) -> None:
        """Write the record of one bare ``guard.check()`` (a call of its own, decided at once)."""
        extra = {"latency_us": latency_us} if latency_us is not None else None
        self.write(self.record(decision, text=text, call_id=str(uuid.uuid4()), call=call, part=decision.stage,
                               outcome="refused" if decision.action == "refuse" else "allowed", extra=extra))

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


def _validated(rec: dict) -> LogRecord | dict:
    """``rec`` as a LogRecord; a record that does not fit (an adapter's bug) is still written,
    as the dict, with a note in ``errors``: the log never loses a decision over its shape."""
    try:
        return LogRecord.model_validate(rec)
    except ValidationError as err:
        errors = rec.get("errors")
        bad = dict(rec)
        bad["errors"] = (list(errors) if isinstance(errors, list) else []) + [
            f"log record does not match the schema: {err.error_count()} error(s), first: "
            f"{'.'.join(map(str, err.errors()[0]['loc']))}: {err.errors()[0]['msg']}"]
        return bad


_FIRST = ("id", "time", "call_id", "call", "part", "stage", "policy_hash", "action", "outcome")


def _dump(model: LogRecord | dict) -> dict:
    """The fields set, the record's identity first (id, time, call, ...) as before the models."""
    if not isinstance(model, LogRecord):
        return model
    d = model.model_dump(exclude_unset=True)
    out = {k: d.pop(k) for k in _FIRST if k in d}
    out.update(d)
    return out


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


def as_log(log: Any, log_text: bool = False, mask: Any = None) -> DecisionLog | None:
    """``None``, a DecisionLog, or anything DecisionLog accepts as a sink."""
    if log is None or isinstance(log, DecisionLog):
        return log
    return DecisionLog(log, log_text=log_text, mask=mask)


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
                log.write(_dump(_validated(rec)))
                continue
            log.write(log.record(decision, text=text, call_id=self.call_id, call=self.call, part=part,
                                 outcome=outcome, extra=merged or None))
        self.items.clear()
