"""The Decision: what a check returns, and the audit record it serializes to.

One model family: :class:`DecisionFields` holds what a decision and a decision-log record
share (action, stage, citations, redactions, scores, errors, models, policy_hash, timings);
:class:`Decision` adds the resulting ``text``, and the log record
(:class:`policylang.middleware.log.LogRecord`) adds the log-only fields. Their JSON Schemas
ship in ``policylang/schemas/`` (``policylang schema`` writes them).
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["allow", "flag", "redact", "refuse"]
Stage = Literal["input", "output", "context", "tool_call", "tool_result"]

# Precedence when several rules fire: refuse > redact > flag > allow.
PRECEDENCE = {"allow": 0, "flag": 1, "redact": 2, "refuse": 3}


class Evidence(BaseModel):
    """One reason a rule fired: a matched span, or a model score."""

    model_config = ConfigDict(frozen=True)

    matcher: Optional[str] = None  # "pii.email", "jailbreak", "injection", "medical"
    start: Optional[int] = None  # code-point offsets into the ORIGINAL text
    end: Optional[int] = None
    score: Optional[float] = None
    label: Optional[str] = None  # classifier label
    example: Optional[str] = None  # topic: the closest example phrase


class Citation(BaseModel):
    """A rule that fired, where it is written, the principle it enforces, and the evidence."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    action: Action
    file: str
    line: int
    principle: Optional[str] = None  # the principle's text
    principle_id: Optional[str] = None
    matcher: Optional[str] = None  # first evidence, repeated here for convenience
    span: Optional[tuple[int, int]] = None
    score: Optional[float] = None
    severity: Optional[str] = None
    shadow: bool = False  # @mode(shadow): reported, does not change the action
    error: Optional[str] = None  # a model failed or timed out and on_error decided
    evidence: list[Evidence] = Field(default_factory=list)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


class RedactedSpan(BaseModel):
    """A redacted span of the original text: where, what kind, which rule (not the replacement)."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    kind: str
    rule_id: str
    matcher: str


class Redaction(RedactedSpan):
    """A span of the original text and what replaced it."""

    replacement: str


class DecisionFields(BaseModel):
    """The fields a :class:`Decision` and a decision-log record share (same names, same types)."""

    model_config = ConfigDict(frozen=True)

    action: Action
    stage: Stage
    citations: list[Citation] = Field(default_factory=list)
    redactions: list[RedactedSpan] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)
    models: dict[str, dict[str, str]] = Field(default_factory=dict)  # name -> {digest, provider}
    policy_hash: str
    timings: dict[str, float] = Field(default_factory=dict)  # microseconds per phase


class Decision(DecisionFields):
    """The outcome of checking one text.

    ``text`` is what to pass on: the original text (allow, flag), the redacted text
    (redact) or the refusal message (refuse).
    """

    redactions: list[Redaction] = Field(default_factory=list)
    text: str
    # stage tool_call: the (redacted) argument object to call the tool with; None when refused or for text stages
    arguments: Optional[dict] = None

    @property
    def allowed(self) -> bool:
        """True when the text may pass on as ``text`` (allow, flag or redact)."""
        return self.action != "refuse"

    @property
    def refused(self) -> bool:
        return self.action == "refuse"


_setattr = object.__setattr__


def fast_construct(cls, values: dict):
    """Build a model from trusted, complete field values (every field given, in any order).

    The evaluator makes one Decision per text; ``model_construct`` costs ~10 µs because it
    walks aliases and defaults. This does what ``model_construct`` ends with, for values the
    engine already produced with the right types. ``tests/test_decision.py`` checks that the
    result equals a validated model, so a pydantic change that breaks this fails loudly.
    """
    m = cls.__new__(cls)
    _setattr(m, "__dict__", values)
    _setattr(m, "__pydantic_fields_set__", set(values))
    _setattr(m, "__pydantic_extra__", None)
    _setattr(m, "__pydantic_private__", None)
    return m
