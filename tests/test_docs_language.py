"""The docs stay true: every `policy` block of docs/language.md parses (and complete ones
check without errors), every keyword of the grammar is shown there, and docs/diagnostics.md
documents exactly the codes of codes.py, each with an example that really produces it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policylang._source import SourceFile
from policylang.check.checker import check
from policylang.diagnostics import CODES
from policylang.loader import FileEnvironment, load_modules, pack_names
from policylang.syntax import parse

ROOT = Path(__file__).resolve().parents[1]
LANGUAGE = ROOT / "docs" / "language.md"
DIAGNOSTICS = ROOT / "docs" / "diagnostics.md"
GRAMMAR = ROOT / "grammar" / "policy.lark"

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.S | re.M)

try:
    import policylang.compile.patterns  # noqa: F401

    HAVE_PATTERNS = True
except ImportError:  # pragma: no cover
    HAVE_PATTERNS = False


def blocks(path: Path):
    """(info string, code, line number) of every fenced block."""
    text = path.read_text(encoding="utf-8")
    for m in _FENCE.finditer(text):
        yield m.group(1).strip(), m.group(2), text.count("\n", 0, m.start()) + 1


def policy_blocks(path: Path):
    return [(info, code, line) for info, code, line in blocks(path) if info.split()[:1] == ["policy"]]


LANGUAGE_BLOCKS = policy_blocks(LANGUAGE)


def _uses(code: str) -> set[str]:
    return {p.strip() for m in re.finditer(r"^use\s+([\w, ]+)$", code, re.M) for p in m.group(1).split(",")}


def test_language_has_enough_examples():
    complete = [b for b in LANGUAGE_BLOCKS if b[0] == "policy"]
    fragments = [b for b in LANGUAGE_BLOCKS if b[0] == "policy fragment"]
    assert len(complete) >= 15 and len(fragments) >= 2
    assert {info for info, _, _ in LANGUAGE_BLOCKS} == {"policy", "policy fragment"}


@pytest.mark.parametrize("info, code, line", LANGUAGE_BLOCKS, ids=[f"line{b[2]}" for b in LANGUAGE_BLOCKS])
def test_language_block(info, code, line):
    result = parse(SourceFile(f"language.md:{line}", code))
    assert result.ok, [d.concise() for d in result.diagnostics]
    if info == "policy fragment":
        return
    missing = _uses(code) - set(pack_names())
    if missing:
        pytest.skip(f"packs not written yet: {sorted(missing)}")
    infos, diags = load_modules([SourceFile(f"language.md:{line}", code)])
    checked = check(infos, None)
    errors = [d.concise() for d in list(diags) + list(checked.diagnostics) if d.is_error]
    assert errors == []


def test_every_keyword_of_the_grammar_is_shown():
    grammar = GRAMMAR.read_text(encoding="utf-8")
    grammar = re.sub(r"//[^\n]*", "", grammar)
    # terminals defined by a regex are token classes, not literal text
    grammar = "\n".join(line for line in grammar.splitlines() if not re.match(r"\s*[A-Z_]+\s*:\s*/", line))
    keywords = set(re.findall(r'"([a-z_]+)"', grammar))
    operators = set(re.findall(r'"([^a-z"\s]+)"', grammar))
    shown = "\n".join(code for _, code, _ in LANGUAGE_BLOCKS)
    shown_words = set(re.findall(r"[A-Za-z_]+", re.sub(r'"(?:[^"\\\n]|\\.)*"', " ", shown)))
    assert keywords - shown_words == set()
    assert {op for op in operators if op not in shown} == set()
    # the terminals with their own syntax
    for sample in ['"""', "/", "0.", "ms", "context"]:
        assert sample in shown, sample


# ------------------------------------------------------------------------ diagnostics.md
def _sections():
    text = DIAGNOSTICS.read_text(encoding="utf-8")
    heads = list(re.finditer(r"^## (PL\d{3}) ([a-z0-9-]+)\s*$", text, re.M))
    out = {}
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        out[h.group(1)] = (h.group(2), text[h.end():end])
    return out


SECTIONS = _sections()


def test_every_code_is_documented_and_nothing_stale():
    assert set(SECTIONS) == set(CODES)
    for code, (name, _) in SECTIONS.items():
        assert name == CODES[code].name, code
    # the headings follow the order of codes.py
    assert list(SECTIONS) == list(CODES)


@pytest.mark.parametrize("code", sorted(SECTIONS))
def test_diagnostic_section(code, tmp_path, monkeypatch):
    name, body = SECTIONS[code]
    severity = CODES[code].severity.value
    assert f"**{severity.capitalize()}.**" in body, "each section starts with its severity"
    assert "**Fix**" in body
    fenced = [(m.group(1).strip(), m.group(2)) for m in _FENCE.finditer(body)]
    assert fenced, "each section has an example"
    examples = [c for info, c in fenced if info == "policy"]
    for info, c in fenced:
        if info == "policy fragment":
            assert parse(SourceFile("fragment.policy", c)).ok
    if not examples:
        assert code in {"PL003", "PL006", "PL115", "PL213", "PL217", "PL218", "PL219", "PL221", "PL222", "PL901"}, \
            "only codes no text can show (or that need a real model folder or a second file) lack an example"
        return
    if code.startswith("PL4") and not HAVE_PATTERNS:
        pytest.skip("policylang.compile.patterns is not importable")
    missing = set().union(*(_uses(c) for c in examples)) - set(pack_names()) - {"pi"}
    if missing:
        pytest.skip(f"packs not written yet: {sorted(missing)}")
    monkeypatch.chdir(tmp_path)
    for c in examples:
        infos, diags = load_modules([SourceFile("example.policy", c)])
        checked = check(infos, FileEnvironment())
        found = {d.code for d in list(diags) + list(checked.diagnostics)}
        assert code in found, (code, found)


def test_language_tests_pass_on_the_runtime():
    """The `test` blocks in docs/language.md hold on the real engine (when it is importable)."""
    testing = pytest.importorskip("policylang.testing")
    import policylang

    ran = 0
    for info, code, line in LANGUAGE_BLOCKS:
        if info != "policy" or "\ntest " not in code or "classifier " in code or "topic " in code:
            continue
        if _uses(code) - set(pack_names()):
            continue
        try:
            guard = policylang.loads(code)
        except ImportError as err:  # pragma: no cover - a runtime module still missing
            pytest.skip(f"runtime not importable: {err}")
        results = testing.run_tests(guard)
        assert [(line, r.name, r.problems) for r in results if not r.passed] == []
        ran += len(results)
    assert ran >= 5
