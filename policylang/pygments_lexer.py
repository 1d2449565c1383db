"""A Pygments lexer for ``.policy`` files (Sphinx, MkDocs, ``pygmentize``).

Registered as the ``pygments.lexers`` entry point ``policylang``, so
``pygmentize -l policy examples/support_bot.policy`` and ```` ```policy ```` fences work once
policylang is installed with its ``pygments`` extra. Nothing in ``policylang`` imports this
module: ``import policylang`` does not import Pygments.

The keyword lists follow ``grammar/policy.lark`` (tests/test_pygments_lexer.py checks that
every keyword of the grammar is here).
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

__all__ = ["PolicyLexer", "DECLARATIONS", "KEYWORDS", "CONSTANTS"]

DECLARATIONS = ("policy", "principle", "use", "include", "normalize", "pattern", "words", "embedder",
                "classifier", "topic", "rule", "test", "context")
KEYWORDS = (
    # rules and actions
    "on", "when", "unless", "over", "last", "all", "turns", "refuse", "redact", "flag", "allow",
    "replace", "mask", "hash", "remove", "keep", "with", "because", "cite",
    # stages
    "input", "output", "tool_call", "tool_result",
    # matchers and models
    "file", "validate", "kind", "nocase", "wholeword", "fuzzy", "embed", "onnx", "head", "ner",
    "labels", "label", "activation", "tokenizer", "max_length", "threads", "on_error", "timeout",
    "threshold", "examples", "entity", "min_parts", "joins",
    # expressions and tests
    "and", "or", "not", "in", "expect", "by", "text",
)
CONSTANTS = ("true", "false")


class PolicyLexer(RegexLexer):
    """policylang ``.policy`` files."""

    name = "policylang"
    aliases = ["policy", "policylang"]
    filenames = ["*.policy"]
    mimetypes = ["text/x-policylang"]
    url = "https://github.com/policylang/policylang"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"""(?:[^"\\]|\\.|"(?!""))*"""', String.Double),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            # a regex literal: after `=` of a pattern (a `/` elsewhere is not the language's)
            (r"(=)(\s*)(/(?![/*])(?:[^/\\\n]|\\.)+/[a-z]*)", bygroups(Operator, Whitespace, String.Regex)),
            (r"(@)([A-Za-z_][A-Za-z0-9_]*)", bygroups(Name.Decorator, Name.Decorator)),
            (words(DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (r"\d+(?:\.\d*)?(?:ms|s)\b", Number),
            (r"\d+\.\d*|\.\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"==|!=|<=|>=|<|>|=", Operator),
            (r"[()\[\]{},.:]", Punctuation),
            (r".", Text),  # never an Error token: the checker reports bad characters
        ],
    }
