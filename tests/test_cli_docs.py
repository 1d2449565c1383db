"""docs/cli.md documents every command and every option the parser has (and nothing it lacks)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from policylang.cli import build_parser

DOC = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
#: options every command takes, documented once at the top of docs/cli.md
COMMON = {"--debug"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _section(name: str) -> str | None:
    m = re.search(rf"^## {re.escape(name)}\b(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    return m.group(1) if m else None


def test_the_command_table_lists_every_command():
    table = set(re.findall(r"^\| \[`([a-z]+)`\]\(#", DOC, re.M))
    assert table == set(_commands())


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_of_a_command_is_in_its_section(name):
    section = _section(name)
    assert section is not None, f"docs/cli.md has no `## {name}` section"
    missing = []
    for action in _commands()[name]._actions:
        opts = [o for o in action.option_strings if o not in ("-h", "--help")]
        if not opts or COMMON & set(opts):
            continue
        if not any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", section) for o in opts):
            missing.append("/".join(opts))
    assert not missing, f"`policylang {name}` options not documented in docs/cli.md: {missing}"


def test_common_options_are_documented_once_at_the_top():
    top = DOC.split("\n## ", 1)[0]
    for opt in COMMON:
        assert opt in top


def test_the_doc_names_no_option_a_command_lacks():
    """A flag written in a section's usage block must exist (docs that drifted from the code)."""
    for name, parser in _commands().items():
        section = _section(name) or ""
        usage = "\n".join(re.findall(rf"^policylang {name}\b.*$", section, re.M))
        known = {o for a in parser._actions for o in a.option_strings}
        written = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage))
        assert written <= known, f"{name}: {sorted(written - known)} in docs/cli.md but not in the parser"
