"""CLI tooling for CI: output formats, `rule`, [tool.policylang], noqa, test -k/--format/--coverage, the cache."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from policylang.cli import main

TYPO = '''policy bank
principle access "Premium features for premium customers."
rule premium_only on input:
    when context.teir != "premium"
    refuse "Premium only."
    because access
test "staff may":
    input "hello"
    with { tier: "staff" }
    expect refuse
'''

BROKEN = 'policy t\nprinciple p "P."\nrul r on input:\n  when context.x == 1\n  refuse\n  because p\n'


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLICYLANG_NO_CONFIG", raising=False)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bank.policy").write_text(TYPO)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_mistyped_keyword_says_did_you_mean(project, capsys):
    (project / "b.policy").write_text(BROKEN)
    code, out, _ = run(capsys, "check", "b.policy")
    assert code == 1 and "did you mean `rule`?" in out


def test_misspelled_context_attribute_warns_and_noqa_silences(project, capsys):
    code, out, _ = run(capsys, "check", "policies")
    assert code == 0 and "warning[PL306]" in out and "`teir`" in out
    assert run(capsys, "check", "--warnings-as-errors", "policies")[0] == 1
    text = TYPO.replace('!= "premium"', '!= "premium"  # noqa: PL306')
    (project / "policies" / "bank.policy").write_text(text)
    code, out, _ = run(capsys, "check", "policies")
    assert code == 0 and "PL306" not in out and "no problems" in out
    # noqa of another code silences nothing; errors are never silenced
    (project / "policies" / "bank.policy").write_text(TYPO.replace('!= "premium"', '!= "premium"  # noqa: PL301'))
    assert "PL306" in run(capsys, "check", "policies")[1]
    (project / "b.policy").write_text(BROKEN.replace("rul r on input:", "rul r on input:  # noqa: PL001"))
    assert run(capsys, "check", "b.policy")[0] == 1


def test_github_annotations(project, capsys):
    (project / "b.policy").write_text(BROKEN)
    code, out, _ = run(capsys, "check", "--format", "github", "b.policy", "policies")
    lines = [l for l in out.splitlines() if l.startswith("::")]
    assert code == 1 and len(lines) == 2
    err = next(l for l in lines if l.startswith("::error "))
    assert "file=b.policy,line=3,col=1," in err and "title=PL001 syntax-error::" in err
    warn = next(l for l in lines if l.startswith("::warning "))
    assert "line=4" in warn and "PL306" in warn


def test_sarif_is_a_valid_2_1_0_log(project, capsys):
    (project / "b.policy").write_text(BROKEN)
    code, out, err = run(capsys, "check", "--format", "sarif", "b.policy", "policies")
    log = json.loads(out)
    assert code == 1 and log["version"] == "2.1.0" and "checked 2 files" in err
    run_ = log["runs"][0]
    assert run_["tool"]["driver"]["name"] == "policylang" and run_["columnKind"] == "unicodeCodePoints"
    ids = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    results = run_["results"]
    assert sorted(r["ruleId"] for r in results) == ["PL001", "PL306"]
    for r in results:
        assert ids[r["ruleIndex"]] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    clean = project / "clean.policy"
    clean.write_text('policy c\nwords w = ["x"]\nrule r on input:\n  when w\n  flag\n  cite "c"\n')
    code, out, _ = run(capsys, "check", "--format", "sarif", str(clean))
    assert code == 0 and json.loads(out)["runs"][0]["results"] == []


def test_rule_command(capsys):
    code, out, _ = run(capsys, "rule", "PL101")
    assert code == 0 and out.startswith("## PL101 undefined-name") and "**Fix**" in out
    code, out, _ = run(capsys, "rule", "unreachable-rule")
    assert code == 0 and "PL305" in out
    code, _, err = run(capsys, "rule", "PL1O1")
    assert code == 2 and "unknown diagnostic code" in err
    code, out, _ = run(capsys, "rule", "--list")
    assert code == 0 and "PL306" in out and len(out.splitlines()) > 50


def test_pyproject_settings(project, capsys):
    (project / "pyproject.toml").write_text('[tool.policylang]\npaths = ["policies"]\nignore = ["PL306"]\n')
    code, out, _ = run(capsys, "check")  # paths from the file
    assert code == 0 and "checked 1 file: no problems" in out
    os.chdir(project / "policies")  # found from a subfolder too
    assert "no problems" in run(capsys, "check", str(project / "policies"))[1]
    os.chdir(project)
    (project / "pyproject.toml").write_text('[tool.policylang]\npaths = ["policies"]\nwarnings-as-errors = true\n'
                                           'select = ["PL3"]\n')
    code, out, _ = run(capsys, "check")
    assert code == 1 and "PL306" in out
    assert run(capsys, "check", "--ignore", "PL306")[0] == 0  # flags add to the file
    (project / "pyproject.toml").write_text('[tool.policylang]\npathz = ["policies"]\n')
    code, _, err = run(capsys, "check")
    assert code == 2 and "unknown key `pathz`" in err
    (project / "pyproject.toml").write_text('[tool.policylang]\nignore = ["XX1"]\n')
    code, _, err = run(capsys, "check", "policies")
    assert code == 2 and "`XX1` is not a diagnostic code" in err
    (project / "pyproject.toml").write_text('[tool.other]\n')
    code, _, err = run(capsys, "check")
    assert code == 2 and "no PATH given" in err


def test_test_filter_formats_and_coverage(project, capsys):
    pol = project / "t.policy"
    pol.write_text('''policy t
principle p "P."
words bad = ["apple"]
words worse = ["durian"]
rule r on input:
    when bad or worse
    refuse
    because p
rule never on input:
    when context.role == "intruder"
    refuse
    because p
test "apple is refused":
    input "an apple"
    expect refuse by r
test "pear is fine":
    input "a pear"
    expect allow
''')
    code, out, _ = run(capsys, "test", "-k", "APPLE", str(pol))
    assert code == 0 and "1 passed, 0 failed" in out and "pear" not in out
    code, out, _ = run(capsys, "test", "--format", "json", str(pol))
    doc = json.loads(out)
    assert code == 0 and doc["passed"] == 2 and {t["name"] for t in doc["tests"]} == {"apple is refused", "pear is fine"}
    code, out, _ = run(capsys, "test", "--format", "junit", str(pol))
    suite = ET.fromstring(out).find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    code, out, _ = run(capsys, "test", "--format", "json", "--coverage", str(pol))
    (cov,) = json.loads(out)["coverage"]
    assert (cov["rules"], cov["rules_covered"], cov["branches"], cov["branches_covered"]) == (2, 1, 3, 1)
    assert cov["percent"] == 40.0
    missing = {(m["line"], m["what"]) for m in cov["not_covered"]}
    assert missing == {(6, "condition never true"), (9, "rule never fired"), (10, "condition never true")}
    # a failing test in junit
    pol.write_text(pol.read_text().replace('input "a pear"', 'input "a durian"'))
    code, out, _ = run(capsys, "test", "--format", "junit", str(pol))
    suite = ET.fromstring(out).find("testsuite")
    assert code == 1 and suite.get("failures") == "1" and suite.find("testcase/failure") is not None


def test_cache_honours_xdg_and_is_evicted(tmp_path, monkeypatch):
    from policylang.compile import patterns

    monkeypatch.delenv("POLICYLANG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert patterns.resolve_cache_dir(None) == str(tmp_path / "xdg" / "policylang" / "hs")
    folder = tmp_path / "hs"
    folder.mkdir()
    for i in range(6):
        f = folder / f"{i}.hsdb"
        f.write_bytes(b"x" * 1000)
        os.utime(f, (1000 + i, 1000 + i))
    (folder / "notes.txt").write_text("not a database")
    freed = patterns.evict(str(folder), max_bytes=2500, keep=str(folder / "0.hsdb"))
    left = sorted(p.name for p in folder.iterdir())
    assert freed == 4000 and left == ["0.hsdb", "5.hsdb", "notes.txt"]  # oldest first, never `keep`
