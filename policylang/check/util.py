"""Small helpers the checker passes share: walking expressions, naming things."""

from __future__ import annotations

from policylang.check.symbols import ModuleInfo
from policylang.syntax import ast

# What a definition is called in messages.
KIND_WORDS = {
    ast.Pattern: "pattern",
    ast.Words: "word list",
    ast.Embedder: "embedder",
    ast.Classifier: "classifier",
    ast.Topic: "topic",
    ast.Principle: "principle",
}


def kind_word(node) -> str:
    return KIND_WORDS.get(type(node), "definition")


def qualified(info: ModuleInfo, local: str) -> str:
    return f"{info.namespace}.{local}" if info.namespace else local


walk = ast.walk


def rule_exprs(rule: ast.Rule):
    return tuple(e for e in (rule.when, rule.unless) if e is not None)


def user_infos(infos) -> list[ModuleInfo]:
    """Active modules: the files (or packs) the user asked to check. Lint runs on these."""
    return [i for i in infos if i.active]


def annotation_value(node, name: str):
    for a in getattr(node, "annotations", ()):
        if a.name.value == name and a.args:
            return a.args[0]
    return None


def is_shadow(rule: ast.Rule) -> bool:
    return annotation_value(rule, "mode") == "shadow"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
