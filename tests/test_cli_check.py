"""`policylang check`: output formats, exit codes, usage and internal errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policylang import cli
from policylang.loader import pack_names

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''policy good "a clean policy"
principle privacy "Protect personal data."
pattern order_id = /\\bORD-\\d{8}\\b/
rule mask on output:
    when order_id
    redact mask keep 4
    because privacy
'''

WARN = GOOD + '\npattern spare = /spare-\\d+/\n'

BAD = GOOD.replace("when order_id", "when ordr_id")


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.policy").write_text(GOOD)
    (tmp_path / "warn.policy").write_text(WARN)
    (tmp_path / "bad.policy").write_text(BAD)
    return tmp_path


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_file(files, capsys):
    code, out, err = run(capsys, "check", "good.policy")
    assert code == 0
    assert out == "checked 1 file: no problems\n"
    assert err == ""


def test_warnings_exit_zero_unless_asked(files, capsys):
    code, out, _ = run(capsys, "check", "warn.policy")
    assert code == 0
    assert "warning[PL301]: pattern `spare` is never used" in out
    assert out.rstrip().endswith("checked 1 file: 1 warning")
    code, _, _ = run(capsys, "check", "--warnings-as-errors", "warn.policy")
    assert code == 1


def test_errors_full_format(files, capsys):
    code, out, _ = run(capsys, "check", "bad.policy")
    assert code == 1
    assert out == """\
warning[PL301]: pattern `order_id` is never used
 --> bad.policy:3:9
  |
3 | pattern order_id = /\\bORD-\\d{8}\\b/
  |         ^^^^^^^^ never used
  |
help: use it in a rule's `when`, or remove it
error[PL101]: undefined name `ordr_id`
 --> bad.policy:5:10
  |
5 |     when ordr_id
  |          ^^^^^^^ not defined
  |
help: did you mean `order_id`?
checked 1 file: 1 error, 1 warning
"""


def test_concise_format(files, capsys):
    code, out, _ = run(capsys, "check", "--format", "concise", "bad.policy")
    assert code == 1
    lines = out.splitlines()
    assert "bad.policy:5:10: error[PL101] undefined name `ordr_id`" in lines
    assert "bad.policy:3:9: warning[PL301] pattern `order_id` is never used" in lines
    assert lines[-1] == "checked 1 file: 1 error, 1 warning"


def test_json_format_keeps_stdout_valid(files, capsys):
    code, out, err = run(capsys, "check", "--format", "json", "bad.policy")
    assert code == 1
    data = json.loads(out)
    assert {d["code"] for d in data} == {"PL101", "PL301"}
    d = next(d for d in data if d["code"] == "PL101")
    assert {k: d[k] for k in ("name", "severity", "file", "line", "col", "end_line", "end_col")} == {
        "name": "undefined-name", "severity": "error", "file": "bad.policy",
        "line": 5, "col": 10, "end_line": 5, "end_col": 17}
    assert d["help"] == "did you mean `order_id`?"
    assert err == "checked 1 file: 1 error, 1 warning\n"


def test_json_clean_is_an_empty_list(files, capsys):
    code, out, err = run(capsys, "check", "--format", "json", "good.policy")
    assert (code, json.loads(out)) == (0, [])
    assert "no problems" in err


def test_folder(files, capsys):
    (files / "sub").mkdir()
    (files / "sub" / "a.policy").write_text(GOOD.replace("order_id", "order_a").replace("rule mask", "rule mask_a")
                                            .replace("principle privacy", "principle privacy_a")
                                            .replace("because privacy", "because privacy_a"))
    code, out, _ = run(capsys, "check", "sub")
    assert (code, out) == (0, "checked 1 file: no problems\n")


def test_pack_names_are_targets(files, capsys):
    if "pii" not in pack_names():
        pytest.skip("pii pack not written yet")
    code, out, _ = run(capsys, "check", "pii")
    assert code == 0 and out == "checked 1 file: no problems\n"


@pytest.mark.parametrize("argv, message", [
    (["check", "missing.policy"], "no such file or folder: `missing.policy`"),
    (["check", "empty_dir"], "no .policy files in folder `empty_dir`"),
    (["check", "nopack"], "`nopack` is neither a file nor a built-in pack"),
])
def test_usage_errors(files, capsys, argv, message):
    (files / "empty_dir").mkdir()
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("policylang: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_argparse_errors_exit_2(files, capsys):
    code, _, err = run(capsys, "check", "--format", "xml", "good.policy")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "check")
    assert code == 2 and "PATH" in err
    code, _, err = run(capsys)
    assert code == 2 and "check" in err


def test_help_exits_zero(capsys):
    assert cli.main(["--help"]) == 0
    assert "check" in capsys.readouterr().out


def test_internal_error_is_reported_without_traceback(files, capsys, monkeypatch):
    def explode(*a, **k):
        raise KeyError("boom")

    monkeypatch.setattr("policylang.check.checker.check", explode)
    code, out, err = run(capsys, "check", "good.policy")
    assert code == 2
    assert err.startswith("error[PL901]: internal error: KeyError: 'boom'")
    assert "Traceback" not in err
    code, out, err = run(capsys, "check", "--debug", "good.policy")
    assert code == 2 and "Traceback" in err


def test_bad_files_get_diagnostics(files, capsys):
    (files / "binary.policy").write_bytes(b"\x00\x01\x02policy")
    (files / "latin1.policy").write_bytes(b'policy t "caf\xe9"\n')
    (files / "empty.policy").write_text("")
    code, out, _ = run(capsys, "check", "--format", "concise", "binary.policy", "latin1.policy", "empty.policy")
    assert code == 1
    assert "binary.policy:1:1: error[PL003] file is binary, not policy text" in out
    assert "latin1.policy:1:14: error[PL003] file is not valid UTF-8 (byte 0xe9 at offset 13)" in out
    assert "empty.policy:1:1: error[PL005] policy file has no declarations" in out
    assert out.splitlines()[-1] == "checked 3 files: 3 errors"


def test_syntax_error_in_one_file_does_not_flood_the_others(files, capsys):
    (files / "defs.policy").write_text('policy defs\npattern shared = /shared-\\d+/\nrule r on input:\n  when\n')
    (files / "uses.policy").write_text('policy uses\ninclude "defs.policy"\nprinciple p "P."\nrule u on input:\n'
                                       '  when defs.shared\n  refuse\n  because p\n')
    code, out, _ = run(capsys, "check", "--format", "concise", "defs.policy", "uses.policy")
    assert code == 1
    assert "error[PL007]" in out
    assert "PL101" not in out  # `defs.shared` may well be defined in the file that did not parse
    assert out.count("error[PL007]") == 1  # the included file's error is reported once, not per entry


def test_python_dash_m(files):
    proc = subprocess.run([sys.executable, "-m", "policylang", "check", "--format", "concise", "bad.policy"],
                          capture_output=True, text=True, cwd=files,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 1
    assert "bad.policy:5:10: error[PL101] undefined name `ordr_id`" in proc.stdout


def test_subcommand_registry_leaves_room_for_more():
    assert "check" in cli.SUBCOMMANDS
    calls = []
    cli.register("demo", "a demo", lambda p: p.add_argument("x"), lambda args: calls.append(args.x) or 0)
    try:
        assert cli.main(["demo", "hello"]) == 0
        assert calls == ["hello"]
    finally:
        del cli.SUBCOMMANDS["demo"]


# ---------------------------------------------------------------- renderers
from policylang._source import SourceFile  # noqa: E402
from policylang.diagnostics import Diagnostic, Label, Severity  # noqa: E402
from policylang.diagnostics.render import render, render_full, summary  # noqa: E402


def _diag(src: SourceFile, start: int, end: int, **kw) -> Diagnostic:
    code = kw.pop("code", "PL101")
    severity = kw.pop("severity", Severity.ERROR)
    message = kw.pop("message", "undefined name `x`")
    return Diagnostic(code, severity, message, src.span_at(start, end), **kw)


def _caret_column(rendered: str) -> tuple[str, str]:
    lines = rendered.splitlines()
    src_line = next(line for line in lines if line[:1].isdigit())
    marks = lines[lines.index(src_line) + 1]
    return src_line, marks


def test_full_rendering_aligns_the_caret_after_tabs_and_wide_characters():
    text = 'policy t\nwords w = ["\t日本", "x"]\n'
    src = SourceFile("t.policy", text)
    at = text.index('"x"')
    out = render_full(_diag(src, at, at + 3, label="here"), {"t.policy": src})
    src_line, marks = _caret_column(out)
    # tab -> 4 spaces, each CJK character is two columns wide
    assert src_line == '2 | words w = ["    日本", "x"]'
    assert marks == "  |" + " " * 24 + "^^^ here"  # 11 + 1 + 4 (tab) + 4 (日本) + 1 + 2 columns, plus the gutter space


def test_full_rendering_of_a_multiline_span_marks_its_first_line():
    text = 'policy t\nprinciple p """one\ntwo"""\n'
    src = SourceFile("t.policy", text)
    at = text.index('"""')
    out = render_full(_diag(src, at, len(text) - 1), {"t.policy": src})
    src_line, marks = _caret_column(out)
    assert src_line == '2 | principle p """one'
    assert marks == "  |             ^^^^^^"


def test_full_rendering_of_an_empty_span_and_of_a_missing_source():
    src = SourceFile("t.policy", "policy t\nrule r on input:\n")
    end = len(src.text)
    out = render_full(_diag(src, end, end, code="PL007", message="file ends here"), {"t.policy": src})
    assert out.splitlines()[1] == " --> t.policy:3:1"
    no_src = render_full(_diag(src, 0, 6, help="advice"), {})
    assert no_src.splitlines() == ["error[PL101]: undefined name `x`", " --> t.policy:1:1", "help: advice"]


def test_full_rendering_shows_invisible_characters():
    text = "policy t\n# a\u202eb\n"
    src = SourceFile("t.policy", text)
    at = text.index("\u202e")
    out = render_full(_diag(src, at, at + 1, code="PL303", severity=Severity.WARNING), {"t.policy": src})
    src_line, marks = _caret_column(out)
    assert "\u202e" not in out
    assert src_line == "2 | # a<U+202E>b"
    assert marks == "  |    ^^^^^^^^"


def test_full_rendering_windows_long_lines():
    text = "policy t\nwords w = [" + ", ".join(f'"w{i}"' for i in range(200)) + "]\n"
    src = SourceFile("t.policy", text)
    at = text.index('"w150"')
    out = render_full(_diag(src, at, at + 6), {"t.policy": src})
    src_line, marks = _caret_column(out)
    assert len(src_line) < 140 and src_line.startswith("2 | ...") and src_line.endswith("...")
    col = marks.index("^")
    assert src_line[col:col + 6] == '"w150"'


def test_full_rendering_of_secondary_labels_and_json():
    text = "policy t\npattern a = /a/\npattern a = /b/\n"
    src = SourceFile("t.policy", text)
    first, second = text.index("a ="), text.rindex("a =")
    d = _diag(src, second, second + 1, code="PL102", message="`a` is defined twice",
              labels=(Label(src.span_at(first, first + 1), "first defined here"),))
    out = render([d], {"t.policy": src}, "full")
    assert "3 | pattern a = /b/" in out and "2 | pattern a = /a/" in out
    assert "  |         - first defined here" in out
    data = json.loads(render([d], None, "json"))
    assert data[0]["code"] == "PL102" and data[0]["line"] == 3 and data[0]["col"] == 9
    with pytest.raises(ValueError):
        render([d], None, "xml")


def test_summary_line():
    src = SourceFile("t.policy", "x")
    e = _diag(src, 0, 1)
    w = _diag(src, 0, 1, code="PL301", severity=Severity.WARNING)
    assert summary(1, []) == "checked 1 file: no problems"
    assert summary(3, [e, e, w]) == "checked 3 files: 2 errors, 1 warning"
    assert summary(2, [w, w]) == "checked 2 files: 2 warnings"


def test_a_file_named_twice_is_checked_once(files, capsys):
    (files / "sub").mkdir()
    (files / "sub" / "good.policy").write_text(GOOD)
    code, out, _ = run(capsys, "check", "sub", "sub/good.policy", "./sub/good.policy")
    assert (code, out) == (0, "checked 1 file: no problems\n")
