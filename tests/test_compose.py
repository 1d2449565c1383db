"""Policies as namespaces: entries, `include`, several entries in one guard, the CLI over folders."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import policylang
from policylang.cli import main

CONTACT = '''\
policy contact "Contact details every bot redacts"
principle privacy "Never repeat personal data."
pattern email = /[a-z.]+@[a-z]+\\.[a-z]{2,}/
rule redact_contact on input, output:
    when email
    redact "[{kind}]"
    because privacy
test "contact redacts alone":
    input "mail a.b@example.com"
    expect redact text "mail [email]"
'''

SUPPORT = '''\
policy support "Support bot"
include "shared/contact.policy"
principle scope "Stay on topic."
words competitors = ["globex"] nocase wholeword
rule no_competitors on output:
    when competitors or contact.email and len(text) > 500
    refuse "Only ACME."
    because scope
test "support composes contact":
    output "write to a.b@example.com about Globex"
    expect refuse by no_competitors
'''


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def tree(tmp_path):
    write(tmp_path, {"shared/contact.policy": CONTACT, "support.policy": SUPPORT})
    return tmp_path


def test_included_rules_run_with_qualified_ids_and_definitions_are_namespaced(tree):
    g = policylang.load(tree / "support.policy")
    assert set(g.rule_ids) == {"no_competitors", "contact.redact_contact"}
    d = g.check("mail a.b@example.com", stage="input")
    assert d.action == "redact" and d.text == "mail [email]"
    assert d.citations[0].rule_id == "contact.redact_contact" and d.citations[0].file.endswith("contact.policy")
    assert g.check("we beat Globex", stage="output").action == "refuse"


def test_included_tests_run_only_when_the_file_is_an_entry(tree):
    from policylang.testing import run_tests

    names = [r.name for r in run_tests(policylang.load(tree / "support.policy"))]
    assert names == ["support composes contact"]
    names = [r.name for r in run_tests(policylang.load(tree / "shared" / "contact.policy"))]
    assert names == ["contact redacts alone"]


def test_two_unrelated_entries_may_define_the_same_names(tmp_path, capsys):
    body = '''
    principle p "P."
    words bad = ["{w}"]
    rule r on input:
        when bad
        refuse "no {w}"
        because p
    test "t":
        input "say {w}"
        expect refuse by r
    '''
    write(tmp_path, {"a.policy": "policy a\n" + textwrap.dedent(body.format(w="apple")),
                     "b.policy": "policy b\n" + textwrap.dedent(body.format(w="banana"))})
    assert main(["check", str(tmp_path / "a.policy"), str(tmp_path / "b.policy")]) == 0
    assert "no problems" in capsys.readouterr().out
    assert main(["test", str(tmp_path)]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
    # one guard over both: every rule runs, ids qualified by the policy name
    g = policylang.load(tmp_path / "a.policy", tmp_path / "b.policy")
    assert sorted(g.rule_ids) == ["a.r", "b.r"]
    d = g.check("apple and banana")
    assert d.action == "refuse" and {c.rule_id for c in d.citations} == {"a.r", "b.r"}


def test_a_name_from_another_file_needs_include(tmp_path, capsys):
    write(tmp_path, {"words.policy": 'policy lists\nwords bad = ["x"]\n',
                     "rules.policy": 'policy rules\nrule r on input:\n    when bad\n    flag\n    cite "c"\n'})
    with pytest.raises(policylang.PolicyError) as exc:
        policylang.load(tmp_path / "words.policy", tmp_path / "rules.policy")
    (diag,) = [d for d in exc.value.diagnostics if d.is_error]
    assert diag.code == "PL101" and 'include "' in diag.help and "lists.bad" in diag.help


def test_include_cycles_and_shared_includes_load_once(tmp_path):
    write(tmp_path, {
        "a.policy": 'policy a\ninclude "b.policy"\nwords wa = ["alpha"]\nrule ra on input:\n  when wa or b.wb\n  flag\n  cite "c"\n',
        "b.policy": 'policy b\ninclude "a.policy"\nwords wb = ["beta"]\nrule rb on input:\n  when wb\n  flag\n  cite "c"\n',
    })
    g = policylang.load(tmp_path / "a.policy")
    assert sorted(g.rule_ids) == ["b.rb", "ra"]
    assert g.check("beta").action == "flag"


def test_include_diagnostics(tmp_path, capsys):
    write(tmp_path, {"self.policy": 'policy me\ninclude "self.policy"\n',
                     "named.policy": 'policy pii\nwords w = ["x"]\n',
                     "uses.policy": 'policy u\ninclude "named.policy", "gone.policy"\n'})
    assert main(["check", str(tmp_path / "self.policy")]) == 1
    assert "error[PL114]" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "uses.policy")]) == 1
    out = capsys.readouterr().out
    assert "error[PL115]" in out and "error[PL114]" in out and "gone.policy" in out
    # two entries with one policy name cannot share a guard
    write(tmp_path, {"one/x.policy": 'policy same\nwords w = ["x"]\n', "two/x.policy": 'policy same\nwords w = ["y"]\n'})
    with pytest.raises(policylang.PolicyError) as exc:
        policylang.load(tmp_path / "one", tmp_path / "two")
    assert "PL115" in [d.code for d in exc.value.diagnostics]


def test_examples_folder_tests_all_pass_as_independent_entries(capsys):
    root = Path(__file__).resolve().parent.parent / "examples"
    assert main(["test", str(root)]) == 0
    out = capsys.readouterr().out
    assert " 0 failed" in out


def test_undefined_principle_is_not_suggested_as_itself():
    with pytest.raises(policylang.PolicyError) as exc:
        policylang.loads('policy t\nuse jailbreak\nrule r on input:\n  when jailbreak\n  refuse\n  because integrity\n')
    (d,) = [d for d in exc.value.diagnostics if d.code == "PL105"]
    assert "did you mean `integrity`" not in d.help and "is a principle of `jailbreak`" in d.help
