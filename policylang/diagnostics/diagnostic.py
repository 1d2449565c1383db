"""The Diagnostic record every stage reports user mistakes with."""

from __future__ import annotations

from dataclasses import dataclass, field

from policylang._source import Span
from policylang.diagnostics.codes import CODES, Severity


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary span with a short message (``^^^ not defined``)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a policy: a stable code, where it is, and what to do.

    Messages are lowercase, without a final period, with user input in backticks;
    advice goes in ``help``.
    """

    code: str
    severity: Severity
    message: str
    span: Span
    help: str | None = None
    labels: tuple[Label, ...] = field(default=())
    label: str | None = None  # short text under the primary caret
    rule_id: str | None = None

    @property
    def name(self) -> str:
        code = CODES.get(self.code)
        return code.name if code else "unknown"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def concise(self) -> str:
        return f"{self.span.file}:{self.span.line}:{self.span.col}: {self.severity.value}[{self.code}] {self.message}"

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "help": self.help,
            "rule_id": self.rule_id,
        }
