"""Exceptions policylang raises.

::

    PolicyError                  every policylang error; .diagnostics
    ├── PolicySyntaxError        a policy file does not parse (PL0xx)
    ├── PolicyCheckError         names, types or lint errors (PL1xx-PL3xx)
    ├── PolicyCompileError       Hyperscan or a model refused the policy (PL4xx)
    └── PolicyEvaluationError    bad input to check(): not a str, unknown stage
    Refused                      raised by wrapped model calls when configured to raise

``str(err)`` renders the diagnostics concisely; the errors pickle (for worker pools).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from policylang.decision import Decision
    from policylang.diagnostics import Diagnostic


class PolicyError(Exception):
    """Base class. ``diagnostics`` holds the coded, located findings (may be empty)."""

    def __init__(self, message: str, diagnostics: "Sequence[Diagnostic]" = ()):
        super().__init__(message)
        self.message = message
        self.diagnostics = tuple(diagnostics)

    def __str__(self) -> str:
        if not self.diagnostics:
            return self.message
        lines = [self.message] + [d.concise() for d in self.diagnostics if d.is_error][:20]
        return "\n".join(lines)

    def __reduce__(self):
        return (self.__class__, (self.message, self.diagnostics))


class PolicySyntaxError(PolicyError):
    """A policy file does not parse."""


class PolicyCheckError(PolicyError):
    """A policy parses but the checker found errors."""


class PolicyCompileError(PolicyError):
    """A checked policy could not be compiled (a pattern or model was refused)."""


class PolicyEvaluationError(PolicyError, ValueError):
    """``check()`` was called with input it cannot evaluate (not a str, unknown stage)."""


class Refused(PolicyError):
    """Raised by a wrapped model call when the policy refused; ``decision`` says why."""

    def __init__(self, decision: "Decision"):
        rules = ", ".join(c.rule_id for c in decision.citations if c.action == "refuse") or "policy"
        super().__init__(f"refused by {rules}: {decision.text}")
        self.decision = decision

    def __reduce__(self):
        return (self.__class__, (self.decision,))
