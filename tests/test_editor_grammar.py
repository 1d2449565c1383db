"""The editor grammar (editors/vscode) stays in step with grammar/policy.lark."""

from __future__ import annotations

import json
import re
from pathlib import Path

import regex

ROOT = Path(__file__).resolve().parent.parent
# grammar/policy.tmLanguage.json is the one source; the VS Code extension carries a copy,
# because an extension can only point at files inside its own folder (vsce packs nothing else)
SOURCE = ROOT / "grammar" / "policy.tmLanguage.json"
VSCODE_COPY = ROOT / "editors" / "vscode" / "syntaxes" / "policylang.tmLanguage.json"
TM = json.loads(SOURCE.read_text(encoding="utf-8"))
PKG = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text(encoding="utf-8"))


def _patterns(node):
    if isinstance(node, dict):
        for key in ("match", "begin", "end"):
            if key in node:
                yield node.get("name") or node.get("captures", {}).get("1", {}).get("name", ""), node[key]
        for v in node.values():
            yield from _patterns(v)
    elif isinstance(node, list):
        for v in node:
            yield from _patterns(v)


PATTERNS = list(_patterns(TM["repository"]))


def _grammar_keywords() -> set[str]:
    g = re.sub(r"//[^\n]*", "", (ROOT / "grammar" / "policy.lark").read_text(encoding="utf-8"))
    g = "\n".join(line for line in g.splitlines() if not re.match(r"\s*[A-Z_]+\s*:\s*/", line))
    return set(re.findall(r'"([a-z_]+)"', g)) | {"context"}


def _scope_of(word: str) -> str | None:
    for name, pat in PATTERNS:
        if name.startswith(("keyword", "support", "constant.language")):
            m = regex.fullmatch(pat, word)
            if m:
                return name
    return None


def test_every_pattern_compiles():
    assert len(PATTERNS) > 10
    for _, pat in PATTERNS:
        regex.compile(pat)


def test_every_keyword_is_highlighted():
    missing = {k for k in _grammar_keywords() if k not in {"ms", "s"} and _scope_of(k) is None}
    assert missing == set()


def test_tokens_of_a_real_file_get_their_scope():
    line = 'pattern order_id = /\\bORD-\\d{8}\\b/ kind "order_id"  # ACME'
    found = {name for name, pat in PATTERNS for _ in regex.finditer(pat, line)}
    assert {"keyword.declaration.policylang", "string.regexp.policylang", "string.quoted.double.policylang",
            "comment.line.number-sign.policylang"} <= found
    # a division-looking slash in a comment or the `/` of a path string is not a regex start
    regex_pat = next(p for n, p in PATTERNS if n == "string.regexp.policylang")
    assert regex.search(regex_pat, 'words w = file "lists/a.txt"') is None


def test_the_extension_names_the_grammar():
    (lang,) = PKG["contributes"]["languages"]
    (gram,) = PKG["contributes"]["grammars"]
    assert lang["extensions"] == [".policy"] and gram["scopeName"] == TM["scopeName"]
    assert (ROOT / "editors" / "vscode" / gram["path"]).is_file()
    assert (ROOT / "editors" / "vscode" / lang["configuration"]).is_file()


def test_the_vscode_copy_is_the_grammar_file():
    assert VSCODE_COPY.read_bytes() == SOURCE.read_bytes(), (
        "editors/vscode/syntaxes/policylang.tmLanguage.json differs from grammar/policy.tmLanguage.json: "
        "edit the one under grammar/ and copy it: cp grammar/policy.tmLanguage.json " + str(VSCODE_COPY.relative_to(ROOT)))
