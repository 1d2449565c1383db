"""The Pygments lexer (policylang/pygments_lexer.py) on every example policy."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments")
from pygments.token import Comment, Error, Keyword, String  # noqa: E402

from policylang.pygments_lexer import CONSTANTS, DECLARATIONS, KEYWORDS, PolicyLexer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.policy"))
ALL_KEYWORDS = set(DECLARATIONS) | set(KEYWORDS) | set(CONSTANTS)


def _tokens(text):
    return list(PolicyLexer().get_tokens(text))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_policies_lex_cleanly(path):
    text = path.read_text(encoding="utf-8")
    toks = _tokens(text)
    assert "".join(v for _, v in toks) == text if text.endswith("\n") else text + "\n"
    assert not [v for t, v in toks if t in Error]
    for t, v in toks:
        if v in ALL_KEYWORDS:
            assert t in Keyword, (v, t)
        if v.startswith('"'):
            assert t in String, (v, t)
        if v.startswith("#"):
            assert t in Comment, (v, t)
    kinds = {t for t, _ in toks}
    assert any(t in Keyword for t in kinds) and any(t in String for t in kinds)
    if "#" in text:
        assert any(t in Comment for t in kinds)


def test_support_bot_token_kinds():
    toks = [(t, v) for t, v in _tokens((ROOT / "examples" / "support_bot.policy").read_text()) if v.strip()]
    assert (Keyword.Declaration, "rule") in toks and (Keyword, "refuse") in toks and (Keyword, "because") in toks
    assert (String.Regex, r"/\bORD-\d{8}\b/") in toks
    assert (String.Double, '"I can\'t help with that request."') in toks
    assert (Comment.Single, "# ACME customer-support assistant.") in toks
    # a name that happens to start with a keyword is a name
    assert all(t not in Keyword for t, v in toks if v == "override_phrases")


def test_every_grammar_keyword_is_a_keyword():
    grammar = re.sub(r"//[^\n]*", "", (ROOT / "grammar" / "policy.lark").read_text(encoding="utf-8"))
    quoted = set(re.findall(r'"([a-z_]+)"', grammar)) - {"ms", "s"}
    assert quoted <= ALL_KEYWORDS, sorted(quoted - ALL_KEYWORDS)


def test_found_by_pygments_by_name_and_file_name():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("policy"), PolicyLexer)
    assert isinstance(get_lexer_by_name("policylang"), PolicyLexer)
    assert isinstance(get_lexer_for_filename("support_bot.policy"), PolicyLexer)


def test_import_policylang_does_not_import_pygments():
    code = "import sys, policylang; policylang.__dir__(); print('pygments' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
