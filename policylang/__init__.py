"""policylang: declarative guardrails for LLM applications.

    import policylang
    guard = policylang.load("examples/support_bot.policy")
    decision = guard.check("my card is 4111 1111 1111 1111", stage="input")
    decision.action, decision.text, decision.citations
"""

from policylang.check import check_source
from policylang.decision import Citation, Decision, Evidence, Redaction
from policylang.errors import (
    PolicyCheckError,
    PolicyCompileError,
    PolicyError,
    PolicyEvaluationError,
    PolicySyntaxError,
    Refused,
)
from policylang.guard import Guard, load, loads

__version__ = "0.1.0"

__all__ = [
    "Citation",
    "Decision",
    "Evidence",
    "Guard",
    "PolicyCheckError",
    "PolicyCompileError",
    "PolicyError",
    "PolicyEvaluationError",
    "PolicySyntaxError",
    "Redaction",
    "Refused",
    "check_source",
    "load",
    "loads",
]
