"""Stable diagnostic codes. Codes are never reused; a renamed code keeps its number.

| range | stage |
| --- | --- |
| PL0xx | syntax |
| PL1xx | names and references |
| PL2xx | types and semantics |
| PL3xx | lint warnings |
| PL4xx | compile (regex, Hyperscan, models) |
| PL9xx | internal |

``docs/diagnostics.md`` documents every code (what, why, example); a test keeps the
two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


E, W = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    name: str
    severity: Severity
    summary: str


_ALL = [
    # syntax
    Code("PL001", "syntax-error", E, "the text does not follow the grammar"),
    Code("PL002", "unterminated-string", E, "a string or regex literal is not closed"),
    Code("PL003", "invalid-encoding", E, "the file is not UTF-8 text"),
    Code("PL004", "nesting-too-deep", E, "an expression is nested too deeply"),
    Code("PL005", "empty-policy", E, "the file holds no declarations"),
    Code("PL006", "file-too-large", E, "the policy file is over the size limit"),
    Code("PL007", "unexpected-end-of-file", E, "the file ends in the middle of a declaration"),
    Code("PL008", "invalid-escape", E, "a string holds an unknown escape sequence"),
    # names and references
    Code("PL101", "undefined-name", E, "a name is used but never defined"),
    Code("PL102", "duplicate-definition", E, "a name is defined twice"),
    Code("PL103", "duplicate-rule-id", E, "two rules have the same id"),
    Code("PL104", "unknown-pack", E, "`use` names a pack that does not exist"),
    Code("PL105", "unknown-principle", E, "`because` names a principle that is not defined"),
    Code("PL106", "unknown-rule-in-test", E, "a test expects a rule that does not exist"),
    Code("PL107", "unknown-function", E, "a call to a function the language does not have"),
    Code("PL108", "unknown-label", E, "a classifier label that the model does not have"),
    Code("PL109", "unknown-validator", E, "`validate` names a validator that does not exist"),
    Code("PL110", "unknown-normalization", E, "`normalize` names a step that does not exist"),
    Code("PL111", "unknown-annotation", W, "an annotation policylang does not know"),
    Code("PL112", "unknown-embedder", E, "a head or topic is declared on an embedder that is not declared"),
    Code("PL113", "embedder-has-no-score", E, "a rule reads an embedder, which has no score"),
    Code("PL114", "include-not-found", E, "`include` names a file that is not a readable .policy file"),
    Code("PL115", "duplicate-policy-name", E, "two policies composed together have the same name"),
    # types and semantics
    Code("PL201", "invalid-regex", E, "a pattern is not a valid regular expression"),
    Code("PL202", "matches-empty", E, "a pattern matches the empty string"),
    Code("PL203", "threshold-out-of-range", E, "a score threshold is outside [0, 1]"),
    Code("PL204", "type-mismatch", E, "an operator is applied to values of the wrong type"),
    Code("PL205", "word-file-unreadable", E, "a word list file is missing or unreadable"),
    Code("PL206", "invalid-regex-flag", E, "a regex literal has an unknown flag"),
    Code("PL207", "invalid-redaction-template", E, "a redaction template uses an unknown placeholder"),
    Code("PL208", "wrong-argument-count", E, "a function is called with the wrong number of arguments"),
    Code("PL209", "empty-word-list", E, "a word list has no words"),
    Code("PL210", "invalid-option", E, "an option has a value it cannot take"),
    Code("PL211", "test-without-text", E, "a test has no input, output or context text"),
    Code("PL212", "model-unreadable", E, "a classifier or topic model directory cannot be used"),
    Code("PL213", "model-mismatch", E, "a model's inputs, outputs or labels do not fit the policy"),
    Code("PL214", "nothing-to-redact", E, "a `redact` rule names no matcher, so there is nothing to redact"),
    Code("PL215", "exponential-regex", E, "a pattern in the regex fallback has nested or ambiguous quantifiers"),
    Code("PL216", "word-file-not-allowed", E, "a word file is outside the allowed folder or not a regular file"),
    Code("PL217", "word-file-too-large", E, "a word file is over the size, phrase-length or phrase-count limit"),
    Code("PL218", "head-dimension-mismatch", E, "a head's input width differs from its embedder's output width"),
    Code("PL219", "head-window-mismatch", W, "a head was trained on another token window than its embedder uses"),
    Code("PL220", "option-belongs-to-embedder", E, "a head or topic on an embedder sets an option of the shared run"),
    Code("PL221", "head-input-invalid", E, "a head's model does not take one float [batch, dim] embedding input"),
    Code("PL222", "model-output-invalid", E, "a model's probe output is NaN, infinite, misshapen or out of range"),
    Code("PL223", "tool-outside-tool-stage", E, "a rule reads `tool.` on a stage that has no tool call (or `tool.args` on tool_result)"),
    Code("PL224", "tool-argument-type-conflict", E, "a tool argument is compared with a number in one place and a string in another"),
    Code("PL225", "turn-scope-invalid", E, "a rule's `over ... turns` scope sees no earlier turn, or is on a tool stage"),
    # lint
    Code("PL301", "unused-definition", W, "a matcher, model or principle is defined but never used"),
    Code("PL302", "rule-without-citation", W, "a rule cites no principle"),
    Code("PL303", "suspicious-character", W, "the policy text holds an invisible, bidi or confusable character"),
    Code("PL304", "negated-class-reads-like-word", W, "a negated character class looks like a word"),
    Code("PL305", "unreachable-rule", W, "a rule can never change the decision"),
    Code("PL306", "misspelled-context-attribute", W, "a context attribute is probably a misspelling of another"),
    Code("PL307", "undeclared-context-attribute", E, "a rule or test reads a context attribute the policy does not declare"),
    Code("PL308", "context-value-mismatch", E, "a declared context attribute is compared with a value its declaration rules out"),
    Code("PL309", "invalid-context-declaration", E, "a context declaration is repeated, conflicts with another or names an unknown type"),
    # compile
    Code("PL401", "hyperscan-rejected", E, "Hyperscan cannot compile a pattern"),
    Code("PL402", "regex-fallback", W, "a pattern needs the slower regex confirmation path"),
    Code("PL403", "no-start-of-match", W, "a pattern is too large for Hyperscan start offsets"),
    Code("PL404", "word-list-too-expensive", E, "a word list would take too long to compile"),
    Code("PL405", "slow-word-list", W, "a word list takes long to compile on first load"),
    # internal
    Code("PL901", "internal-error", E, "policylang failed; please report it"),
]

CODES: dict[str, Code] = {c.code: c for c in _ALL}
