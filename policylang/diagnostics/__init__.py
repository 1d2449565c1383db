"""Diagnostics: codes, the Diagnostic record and its renderers."""

from policylang.diagnostics.diagnostic import Diagnostic, Label, Severity
from policylang.diagnostics.codes import CODES, Code

__all__ = ["CODES", "Code", "Diagnostic", "Label", "Severity"]
