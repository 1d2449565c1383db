"""Syntax errors a person can act on: each common mistake is named in words, coded and
located at the mistake (golden strings), and a broken file reports one error, nothing else."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang._source import SourceFile
from policylang.cli import main
from policylang.syntax import parse

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SUPPORT = (EXAMPLES / "support_bot.policy").read_text(encoding="utf-8")

# (mistake, text in support_bot.policy, what it is replaced with, message, line:col, help)
MISTAKES = [
    ('single quotes', 'refuse "I can\'t help with that request."', "refuse 'no'",
     'strings use double quotes', "38:12", 'write "no"'),
    ('curly quotes', 'refuse "I can\'t help with that request."', 'refuse “no”',
     '`“` (left double quotation mark) does not start a string', "38:12", 'strings use straight double quotes `"`: retype the quotes (editors and word processors turn them curly)'),
    ('on inputs', 'rule no_jailbreak on input:', 'rule no_jailbreak on inputs:',
     'unknown stage `inputs`', "36:22", 'did you mean `input`? a rule runs on `input`, `output`, `context`, `tool_call` or `tool_result`'),
    ('unknown stage', 'rule no_jailbreak on input:', 'rule no_jailbreak on request:',
     'unknown stage `request`', "36:22", 'a rule runs on `input`, `output`, `context`, `tool_call` or `tool_result`'),
    ('rule without on', 'rule no_jailbreak on input:', 'rule no_jailbreak:',
     'a rule needs the stages it runs on', "36:18", 'write `rule NAME on input:` or `rule NAME on output:` (also `context`, `tool_call`, `tool_result`; several with `,`)'),
    ('rule without when', '    when jailbreak or override_phrases\n', '',
     'a rule needs a condition: `when ...`', "37:5", 'write `when CONDITION` on the line after `rule NAME on STAGE:`, e.g. `when jailbreak`'),
    ('rule without action', '    refuse "I can\'t help with that request."\n', '',
     'a rule needs an action after its condition', "38:5", 'add `refuse`, `redact`, `flag` or `allow` before `because`, e.g. `refuse "I can\'t help with that."`'),
    ('= for ==', 'when count(order_id) > 5', 'when count(order_id) = 5',
     '`=` is not a comparison; compare with `==`', "57:26", 'write `==` (or `!=`, `<`, `<=`, `>`, `>=`)'),
    ('trailing comma in use', 'use pii, jailbreak', 'use pii, jailbreak,',
     'a `,` ends the list, so `normalize` was read as a list item', "13:19", 'delete the `,` at the end of the list'),
    ('trailing comma in a list', 'when count(order_id) > 5', 'when order_id in [1, 2,]',
     'a `,` before `]`: the list has no item after it', "57:27", 'delete the `,`'),
    ('because without a name', '    because instruction_integrity\n', '    because\n',
     '`because` needs a principle name', "39:5", 'write `because PRINCIPLE` with a declared `principle`, or drop the line'),
    ('because with a string', '    because customer_privacy\n', '    because "customer_privacy"\n',
     '`because` takes principle names, not a string', "46:13", 'write `because customer_privacy` (a declared `principle`), or `cite "customer_privacy"` to cite free text'),
    ('unknown action', 'refuse "I can\'t help with that request."', 'block "no"',
     'unknown action `block`', "38:5", "a rule's action is `refuse`, `redact`, `flag` or `allow`"),
    ('mistyped action', 'refuse "I can\'t help with that request."', 'refuze "no"',
     'unknown action `refuze`', "38:5", "did you mean `refuse`? a rule's action is `refuse`, `redact`, `flag` or `allow`"),
    ('missing colon', 'rule no_jailbreak on input:', 'rule no_jailbreak on input',
     'missing `:` at the end of line 36', "36:27", 'end line 36 with `:`'),
    ('&&', 'when jailbreak or override_phrases', 'when jailbreak && override_phrases',
     '`&&` is written `and` in policylang', "37:20", 'write `and`'),
    ('||', 'when jailbreak or override_phrases', 'when jailbreak || override_phrases',
     '`||` is written `or` in policylang', "37:20", 'write `or`'),
    ('!', 'when jailbreak or override_phrases', 'when !jailbreak',
     '`!` is written `not` in policylang', "37:10", 'write `not`'),
    ('two conditions', 'when jailbreak or override_phrases', 'when jailbreak override_phrases',
     '`jailbreak` and `override_phrases` need `and` or `or` between them', "37:20", 'write `jailbreak or override_phrases` or `jailbreak and override_phrases`; an action goes on the next line'),
    ('when without condition', '    when off_topic\n', '    when\n',
     '`when` has no condition', "63:5", 'write the condition after `when`, e.g. `when jailbreak or pii.email`'),
    ('string for regex', 'pattern order_id = /\\bORD-\\d{8}\\b/', 'pattern order_id = "ORD-\\d{8}"',
     'a pattern is a regex literal `/.../`, not a string', "19:20", 'write `/ORD-\\d{8}/`'),
    ('string for number', 'redact mask keep 4 with "*"', 'redact mask keep "4" with "*"',
     '`"4"` is a string; a number is expected here', "51:22", 'write the number without quotes: `4`'),
    ('dash in name', 'rule mask_order_ids on', 'rule mask-order-ids on',
     'names cannot hold `-`: `mask-order-ids`', "49:10", 'write `mask_order_ids` (letters, digits and `_`); an `@id("mask-order-ids")` may hold `-`'),
    ('unknown expected outcome', 'expect allow', 'expect pass',
     'unknown expected outcome `pass`', "89:12", 'a test expects `refuse`, `redact`, `flag` or `allow`'),
    ('annotation without @', '@severity(medium)', 'severity(medium)',
     'annotations start with `@`: `@severity(...)`', "55:1", 'write `@severity(medium)`'),
    ('test without colon', 'test "DAN is refused":', 'test "DAN is refused"',
     'missing `:` at the end of line 75', "75:22", 'end line 75 with `:`'),
    ('rule without a name', 'rule no_jailbreak on input:', 'rule on input:',
     'a rule needs a name', "36:6", 'write `rule NAME on input:`, e.g. `rule no_jailbreak on input:`'),
    ]


@pytest.mark.parametrize("name, old, new, message, where, help", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_named_mistake(name, old, new, message, where, help):
    assert old in SUPPORT
    r = parse(SourceFile("support_bot.policy", SUPPORT.replace(old, new, 1)))
    assert r.module is None
    assert len(r.diagnostics) == 1
    d = r.diagnostics[0]
    assert (d.code, d.message, f"{d.span.line}:{d.span.col}", d.help) == ("PL001", message, where, help)


def test_did_you_mean_a_keyword_still_works():
    r = parse(SourceFile("t.policy", 'policy t\nrule r on input:\n  when x\n  refuze "no"\n'))
    assert "did you mean `refuse`?" in r.diagnostics[0].help


def _check(files: dict[str, str]) -> tuple[int, str]:
    """``policylang check`` on the files, run in a folder holding the examples' word lists."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(EXAMPLES / "lists", Path(tmp) / "lists")
        paths = []
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
            paths.append(str(Path(tmp) / name))
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = main(["check", *paths])
        return rc, out.getvalue()


def test_one_error_no_cascade_and_other_files_still_checked():
    broken = SUPPORT.replace("use pii, jailbreak", "use pii, jailbreak,", 1)
    # a warning the other file must still report: an unknown annotation (PL111)
    other = SUPPORT.replace("@severity(medium)", "@severity(medium) @colour(red)", 1)
    rc, out = _check({"a_broken.policy": broken, "b_ok.policy": other})
    assert rc == 1
    assert out.count("error[") == 1 and "a_broken.policy:13:19" in out
    assert "warning[PL111]" in out and out.index("error[") < out.index("warning[")
    assert "checked 2 files: 1 error, 1 warning" in out


_TOKEN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|/(?:[^/\\\n]|\\.)+/[a-z]*(?=\s)'
                    r"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|==|!=|<=|>=|\S")


def _tokens(text: str) -> list[tuple[int, int]]:
    code = re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), text)
    return [m.span() for m in _TOKEN.finditer(code)]


POLICIES = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.policy"))}
TOKENS = {name: _tokens(text) for name, text in POLICIES.items()}


@st.composite
def mutants(draw):
    name = draw(st.sampled_from(sorted(POLICIES)))
    text, spans = POLICIES[name], TOKENS[name]
    start, end = spans[draw(st.integers(0, len(spans) - 1))]
    if draw(st.booleans()):
        return name, text[:start] + text[end:]
    return name, text[:end] + " " + text[start:end] + text[end:]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_one_token_deleted_or_duplicated_gives_one_located_error(mutant):
    name, text = mutant
    r = parse(SourceFile(name, text))
    if r.module is not None:  # some deletions leave a valid policy
        return
    errors = [d for d in r.diagnostics if d.is_error]
    assert len(errors) == 1 and len(r.diagnostics) == 1, r.diagnostics
    d = errors[0]
    assert d.code.startswith("PL0") and d.message
    assert 0 <= d.span.start <= d.span.end <= len(text)
    lines = text.split("\n")
    assert 1 <= d.span.line <= len(lines)
    assert 1 <= d.span.col <= len(lines[d.span.line - 1]) + 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_policylang_check_of_a_mutant_prints_one_error_first(mutant):
    name, text = mutant
    if parse(SourceFile(name, text)).module is not None:
        return
    rc, out = _check({name: text})
    assert rc == 1 and "Traceback" not in out
    assert out.startswith("error[PL0") and out.count("error[") == 1 and "warning[" not in out
