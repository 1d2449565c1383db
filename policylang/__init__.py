"""policylang: declarative guardrails for LLM applications.

    import policylang
    guard = policylang.load("examples/support_bot.policy")
    decision = guard.check("my card is 4111 1111 1111 1111", stage="input")
    decision.action, decision.text, decision.citations
"""

from typing import TYPE_CHECKING

from policylang.errors import (
    PolicyCheckError,
    PolicyCompileError,
    PolicyError,
    PolicyEvaluationError,
    PolicySyntaxError,
    Refused,
)

if TYPE_CHECKING:  # pragma: no cover
    from policylang.loader import check_source
    from policylang.decision import Citation, Decision, Evidence, Redaction
    from policylang.guard import Guard, load, loads
    from policylang.middleware.vault import Vault

__version__ = "0.1.0"

# The runtime (numpy, pydantic, Hyperscan) is imported on first use, so that the command
# line's `check` and `fmt` start without it (PEP 562).
_LAZY = {
    "check_source": "policylang.loader",
    "Citation": "policylang.decision",
    "Decision": "policylang.decision",
    "Evidence": "policylang.decision",
    "Redaction": "policylang.decision",
    "Guard": "policylang.guard",
    "load": "policylang.guard",
    "loads": "policylang.guard",
    "Vault": "policylang.middleware.vault",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'policylang' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

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
    "Vault",
    "check_source",
    "load",
    "loads",
]
