"""Bad input never crashes or hangs parse, check or `policylang check`: it becomes a coded,
located diagnostic (exit 1) or a one-line usage error (exit 2)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang import cli
from policylang._source import SourceFile
from policylang.check.checker import check
from policylang.diagnostics import CODES
from policylang.loader import FileEnvironment, load_modules

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SOURCES = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.policy"))}
NAMES = sorted(SOURCES)

# what a token is, roughly: strings, regex literals, words, numbers, operators, punctuation
_TOKEN = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|/(?:[^/\\\n]|\\.)+/[a-z]*|#[^\n]*'
                    r"|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[<>=!]=|\S")

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_and_check(name: str, text: str):
    """Everything `policylang check` does short of printing; must never raise."""
    infos, diags = load_modules([SourceFile(str(EXAMPLES / name), text)])
    result = check(infos, FileEnvironment())
    all_diags = list(diags) + list(result.diagnostics)
    for d in all_diags:
        assert d.code in CODES
        assert d.span.line >= 1 and d.span.col >= 1
        assert d.code != "PL901", d.message
    return all_diags


def tokens(text: str) -> list[re.Match]:
    return [m for m in _TOKEN.finditer(text) if not m.group().startswith("#")]


def test_examples_are_the_fuzz_seeds():
    assert {"support_bot.policy", "healthcare.policy", "coding_assistant.policy"} <= set(NAMES)
    for name in NAMES:
        assert len(tokens(SOURCES[name])) > 50


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_truncated_examples(name, data):
    text = SOURCES[name]
    cut = data.draw(st.integers(0, len(text)))
    diags = parse_and_check(name, text[:cut])
    if cut < len(text.rstrip()) and text[:cut].strip():
        # a cut file is usually broken; when it is, the diagnostic lies inside the file
        for d in diags:
            assert d.span.start <= cut


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_examples_missing_a_token(name, data):
    text = SOURCES[name]
    toks = tokens(text)
    m = toks[data.draw(st.integers(0, len(toks) - 1))]
    parse_and_check(name, text[:m.start()] + text[m.end():])


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_examples_with_a_token_duplicated_or_swapped(name, data):
    text = SOURCES[name]
    toks = tokens(text)
    i = data.draw(st.integers(0, len(toks) - 2))
    a, b = toks[i], toks[i + 1]
    if data.draw(st.booleans()):
        mutated = text[:a.end()] + " " + a.group() + text[a.end():]
    else:
        mutated = text[:a.start()] + b.group() + text[a.end():b.start()] + a.group() + text[b.end():]
    parse_and_check(name, mutated)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list('policy rule when on input refuse "x" /a/ ( ) [ ] , : @ # \n'
                                                   "and or not in count len context . = > 0.5 test expect"))
                    | st.characters(), max_size=200))
def test_random_text(text):
    infos, diags = load_modules([SourceFile("random.policy", text)])
    check(infos, None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(NAMES), data=st.data())
def test_cli_on_broken_examples(name, data, tmp_path_factory, capsys):
    text = SOURCES[name]
    toks = tokens(text)
    m = toks[data.draw(st.integers(0, len(toks) - 1))]
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "lists").mkdir()
    for f in (EXAMPLES / "lists").iterdir():
        (folder / "lists" / f.name).write_text(f.read_text())
    path = folder / name
    path.write_text(text[:m.start()] + text[m.end():])
    code = cli.main(["check", "--format", "json", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert "Traceback" not in err and "PL901" not in out + err


# ---------------------------------------------------------------- specific bad inputs
def _cli(capsys, *paths, fmt="concise"):
    t0 = time.monotonic()
    code = cli.main(["check", "--format", fmt, *map(str, paths)])
    out, err = capsys.readouterr()
    assert time.monotonic() - t0 < 30, "check hung"
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("name, data, code, message", [
    ("empty.policy", b"", "PL005", "policy file has no declarations"),
    ("spaces.policy", b"  \n\t\n# only a comment\n", "PL005", "policy file has no declarations"),
    ("binary.policy", bytes(range(256)) * 4, "PL003", "file is binary, not policy text"),
    ("latin1.policy", 'policy café "x"\n'.encode("latin-1"), "PL003", "file is not valid UTF-8"),
    ("nested.policy", b"policy t\nrule r on input:\n  when " + b"(" * 5000 + b"x" + b")" * 5000 + b"\n  refuse\n",
     "PL004", "expression nested more than 64 levels deep"),
    ("nots.policy", b"policy t\nrule r on input:\n  when " + b"not " * 5000 + b"x\n  refuse\n",
     "PL004", "expression nested too deeply"),
    ("huge.policy", b"policy t\n" + b"# filler line of a policy file that is far too large\n" * 100_000,
     "PL006", "policy file is 5,300,009 bytes; the limit is 2,097,152"),
    ("bom.policy", b"\xef\xbb\xbfpolicy t\nrule r on input:\n  when\n", "PL007",
     "file ends in the middle of a declaration"),
], ids=lambda v: v if isinstance(v, str) and v.endswith(".policy") else "")
def test_bad_files(tmp_path, capsys, name, data, code, message):
    path = tmp_path / name
    path.write_bytes(data)
    exit_code, out, err = _cli(capsys, path)
    assert exit_code == 1
    first = out.splitlines()[0]
    assert f"error[{code}]" in first and message in first
    assert first.startswith(f"{path}:")  # located: file:line:col
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", first)


def test_bad_files_full_format_never_crashes(tmp_path, capsys):
    path = tmp_path / "x.policy"
    path.write_bytes(b"policy t\nrule r on input:\n  when " + b"(" * 5000 + b"x")
    code, out, _ = _cli(capsys, path, fmt="full")
    assert code == 1 and "error[PL004]" in out and "^" in out


def test_folder_without_policies(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a policy")
    code, out, err = _cli(capsys, tmp_path)
    assert code == 2 and out == ""
    assert err == f"policylang: error: no .policy files in folder `{tmp_path}`\n"


def test_large_valid_policy_is_not_slow(tmp_path, capsys):
    rules = "".join(f"rule r{i} on input:\n  when w{i % 50}\n  refuse\n  because p\n" for i in range(3000))
    words = "".join(f'words w{i} = ["phrase {i}"]\n' for i in range(50))
    path = tmp_path / "big.policy"
    path.write_text('policy big\nprinciple p "P."\n' + words + rules)
    t0 = time.process_time()
    code, out, _ = _cli(capsys, path)
    assert code == 0, out
    assert time.process_time() - t0 < 10


def test_every_cut_of_a_small_policy():
    text = ('policy t "d"\nprinciple p "P."\npattern x = /ab+/i kind "k"\nwords w = ["a", "b"] nocase\n'
            'rule r on input, output:\n  when x and not w or count(x) > 2\n  unless context.role in ["a"]\n'
            '  redact mask keep 2\n  because p\ntest "t":\n  input "ab"\n  with {role: "b"}\n  expect redact by r\n')
    for cut in range(len(text) + 1):
        infos, diags = load_modules([SourceFile("cut.policy", text[:cut])])
        result = check(infos, None)
        assert all(d.code != "PL901" for d in list(diags) + list(result.diagnostics))
