"""Typed request context: `context NAME: TYPE in [...]` declarations, parsed, formatted,
checked (PL307-PL309) and enforced at run time (a value the declaration rules out refuses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang._source import SourceFile
from policylang.check.checker import check
from policylang.errors import PolicyCheckError
from policylang.loader import load_modules
from policylang.syntax import ast, parse
from policylang.syntax.formatter import format_source

ROOT = Path(__file__).resolve().parents[1]

POLICY = '''policy bank
principle access "Premium features for premium customers."
context tier: string in ["free", "pro", "enterprise"]
context age: number
context verified: bool
context tags: list
rule premium_only on input:
    when context.tier == "free" and "beta" in context.tags
    refuse "Premium only."
    because access
rule minors on input:
    when context.age < 18 and not context.verified
    refuse "Adults only."
    because access
test "pro passes":
    input "hello"
    with { tier: "pro", age: 30, verified: true }
    expect allow
'''


def diags_of(text: str, name: str = "t.policy"):
    infos, diags = load_modules([SourceFile(name, text)])
    return list(diags) + list(check(infos, None).diagnostics)


def concise(text: str) -> list[str]:
    return [d.concise() for d in diags_of(text)]


# ------------------------------------------------------------------ syntax and fmt
def test_parse_declarations():
    r = parse(SourceFile("t.policy", POLICY))
    assert r.ok, r.diagnostics
    decls = r.module.of_type(ast.ContextDecl)
    assert [(d.name.value, d.type.value) for d in decls] == [
        ("tier", "string"), ("age", "number"), ("verified", "bool"), ("tags", "list")]
    assert [s.value for s in decls[0].allowed] == ["free", "pro", "enterprise"]
    assert decls[1].allowed is None
    assert (decls[0].span.line, decls[0].span.col, decls[0].name.span.col, decls[0].type.span.col) == (3, 1, 9, 15)


def test_format_is_canonical_and_idempotent():
    messy = 'policy p\ncontext   tier :string   in [ "free","pro" ]   # plans\ncontext age:number\n'
    out = format_source(messy)
    assert out == 'policy p\ncontext tier: string in ["free", "pro"]  # plans\ncontext age: number\n'
    assert format_source(out) == out


def test_format_round_trip_keeps_the_tree():
    out = format_source(POLICY)
    assert format_source(out) == out
    a = parse(SourceFile("a", POLICY)).module.of_type(ast.ContextDecl)
    b = parse(SourceFile("a", out)).module.of_type(ast.ContextDecl)
    assert [(d.name.value, d.type.value, d.allowed and [s.value for s in d.allowed]) for d in a] == \
        [(d.name.value, d.type.value, d.allowed and [s.value for s in d.allowed]) for d in b]


_NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: s not in {"in", "and", "or", "not", "true", "false", "context", "on"})
_WORD = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e, blacklist_characters='"\\'), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_NAME, st.sampled_from(["string", "number", "bool", "list"]),
                          st.none() | st.lists(_WORD, min_size=1, max_size=12)), min_size=1, max_size=5),
       st.sampled_from([" ", "  ", "\n", "\n    "]))
def test_generated_declarations_format_to_the_same_tree(decls, sep):
    lines = []
    for name, t, allowed in decls:
        text = f"context{sep}{name}{sep}:{sep}{t}"
        if allowed is not None:
            text += f"{sep}in{sep}[" + f",{sep}".join(f'"{w}"' for w in allowed) + "]"
        lines.append(text)
    src = "policy p\n" + "\n".join(lines) + "\n"
    out = format_source(src)
    assert format_source(out) == out
    before = parse(SourceFile("g", src)).module.of_type(ast.ContextDecl)
    after = parse(SourceFile("g", out)).module.of_type(ast.ContextDecl)
    key = lambda d: (d.name.value, d.type.value, None if d.allowed is None else [s.value for s in d.allowed])  # noqa: E731
    assert [key(d) for d in before] == [key(d) for d in after] == [
        (n, t, a) for n, t, a in decls]
    assert all(len(line) <= 100 or line.count('"') <= 2 for line in out.splitlines())


# ------------------------------------------------------------------ checker
def test_declared_policy_checks_clean():
    assert [d for d in diags_of(POLICY) if d.is_error] == []


def test_pl307_undeclared_attribute_with_did_you_mean():
    src = POLICY.replace('when context.tier == "free"', 'when context.teir == "free"')
    ds = [d for d in diags_of(src) if d.code == "PL307"]
    assert len(ds) == 1
    d = ds[0]
    assert (d.span.line, d.span.col) == (8, 10)
    assert d.message == "context attribute `teir` is not declared"
    assert d.help == "did you mean `tier`?"
    assert d.is_error and d.rule_id == "premium_only"
    # no PL306 warning on top of it
    assert not [x for x in diags_of(src) if x.code == "PL306"]


def test_pl307_in_a_test_and_without_a_close_name():
    src = POLICY.replace("with { tier:", "with { plan: 1, tier:")
    ds = [d for d in diags_of(src) if d.code == "PL307"]
    assert [d.message for d in ds] == ["test `pro passes` sets context attribute `plan`, which is not declared"]
    assert (ds[0].span.line, ds[0].span.col) == (15, 6)
    src2 = POLICY.replace("context.age < 18", "context.zzzzzz < 18")
    d = next(d for d in diags_of(src2) if d.code == "PL307")
    assert "the declared attributes are `age`, `tags`, `tier`, `verified`" in d.help


@pytest.mark.parametrize("old, new, col, message", [
    ('context.tier == "free"', 'context.tier == "gold"', 26, '`"gold"` can never match context attribute `tier`'),
    ('context.tier == "free"', 'context.tier == 3', 26, "`3` can never match context attribute `tier`"),
    ('context.tier == "free"', 'context.tier in ["pro", "platinum"]', 34,
     '`"platinum"` can never match context attribute `tier`'),
    ('"beta" in context.tags', 'context.tags == "beta"', 53, 'context attribute `tags` is a list, never equal to `"beta"`'),
    ('"beta" in context.tags', '"beta" in context.age', 47, "`in` needs a list, and context attribute `age` is a number"),
    ('context.tier == "free"', 'context.verified == "yes"', 30,
     '`"yes"` can never match context attribute `verified`'),
])
def test_pl308_value_ruled_out(old, new, col, message):
    src = POLICY.replace(old, new)
    ds = [d for d in diags_of(src) if d.code == "PL308"]
    assert [(d.span.line, d.span.col, d.message) for d in ds] == [(8, col, message)]
    assert ds[0].is_error


def test_pl308_help_says_why_and_where():
    d = next(d for d in diags_of(POLICY.replace('"free" and', '"gold" and')) if d.code == "PL308")
    assert d.help == ('the value is "gold", not one of "free", "pro", "enterprise": '
                      '`context tier: string in ["free", "pro", "enterprise"]` at t.policy:3')


def test_pl308_ordering_a_string_and_a_test_value():
    src = POLICY.replace("context.age < 18", "context.tier < 18").replace('tier: "pro"', 'tier: "gold"')
    ds = [(d.span.line, d.span.col, d.message) for d in diags_of(src) if d.code == "PL308"]
    assert (12, 10, "context attribute `tier` is a string and cannot be compared with `<`") in ds
    assert (15, 6, "test `pro passes` sets context attribute `tier` to a value its declaration rules out") in ds


def test_pl309_duplicate_and_unknown_type():
    src = POLICY.replace("context tags: list\n", "context tags: list\ncontext age: number\ncontext x: integer\n")
    ds = [(d.code, d.span.line, d.span.col, d.message, d.help) for d in diags_of(src) if d.code == "PL309"]
    assert ds == [
        ("PL309", 7, 9, "context attribute `age` is declared twice", "the first declaration is at t.policy:4; keep one"),
        ("PL309", 8, 12, "unknown context type `integer`", "did you mean `number`?"),
    ]
    ds2 = [d.message for d in diags_of(POLICY.replace("verified: bool", "verified: bool in [\"y\"]"))
           if d.code == "PL309"]
    assert ds2 == ["a `bool` attribute takes no list of allowed values"]


def test_composed_files_share_declarations(tmp_path):
    (tmp_path / "common.policy").write_text('policy common\ncontext tier: string in ["free", "pro"]\n')
    main = tmp_path / "main.policy"
    main.write_text('include "common.policy"\nprinciple p "P."\n'
                    'rule r on input:\n    when context.tier == "free" or context.rol == "x"\n    refuse\n    because p\n')
    infos, diags = load_modules([str(main)])
    found = [(d.code, d.span.line, d.help) for d in check(infos, None).diagnostics if d.is_error]
    assert [(c, line) for c, line, _ in found] == [("PL307", 4)]
    assert "the declared attributes are `tier`" in found[0][2]
    # a conflicting declaration in the including file
    main.write_text('include "common.policy"\ncontext tier: number\n')
    infos, diags = load_modules([str(main)])
    codes = [(d.code, d.message) for d in check(infos, None).diagnostics if d.is_error]
    assert codes == [("PL309", "context attribute `tier` is declared differently in two composed files")]


def test_undeclared_policies_keep_free_form_context():
    src = ('policy shop\nprinciple p "P."\nrule r on input:\n    when context.teir != "premium" and context.tier != "staff"\n'
           '    refuse\n    because p\ntest "t":\n    input "hi"\n    with { tier: "staff" }\n    expect allow\n')
    ds = diags_of(src)
    assert [d.code for d in ds] == ["PL306"] and not ds[0].is_error
    g = policylang.loads(src)
    assert g.check("hi", context={"tier": 3, "teir": ["x"]}).errors == []


def test_shipped_examples_still_check(monkeypatch):
    for path in sorted((ROOT / "examples").glob("*.policy")):
        infos, diags = load_modules([str(path)])
        errors = [d.concise() for d in list(diags) + list(check(infos, None).diagnostics) if d.is_error]
        assert errors == [], path


def test_load_raises_policy_check_error():
    with pytest.raises(PolicyCheckError) as exc:
        policylang.loads(POLICY.replace("context.age", "context.agee"))
    assert [d.code for d in exc.value.diagnostics] == ["PL307"]


# ------------------------------------------------------------------ runtime
@pytest.fixture(scope="module")
def guard():
    return policylang.loads(POLICY)


def test_allowed_values_pass(guard):
    d = guard.check("hello", context={"tier": "pro", "age": 30, "verified": True, "tags": ["beta"]})
    assert d.action == "allow" and d.errors == []
    d = guard.check("hello", context={"tier": "free", "tags": ["beta"]})
    assert d.action == "refuse" and [c.rule_id for c in d.citations] == ["premium_only"] and d.errors == []


def test_missing_or_none_is_absent(guard):
    assert guard.check("hello", context={}).action == "allow"
    assert guard.check("hello", context={"tier": None, "other": object()}).action == "allow"
    assert guard.check("hello").errors == []


def test_value_not_allowed_refuses_citing_the_readers(guard):
    d = guard.check("hello", context={"tier": "gold", "tags": []})
    assert d.action == "refuse"
    assert d.errors == ['context attribute `tier` is "gold", not one of "free", "pro", "enterprise" '
                        '(`context tier: string` at <string>:3); refused (fail closed)']
    assert [(c.rule_id, c.error is not None and "`tier`" in c.error) for c in d.citations] == [("premium_only", True)]


@pytest.mark.parametrize("context, says", [
    ({"age": "30"}, "context attribute `age` is a string, declared `number`"),
    ({"age": True}, "context attribute `age` is a bool, declared `number`"),
    ({"age": float("nan")}, "context attribute `age` is nan, declared `number` (a finite number)"),
    ({"verified": "yes"}, "context attribute `verified` is a string, declared `bool`"),
    ({"tags": "beta"}, "context attribute `tags` is a string, declared `list` (of strings)"),
    ({"tags": ["beta", 3]}, "context attribute `tags` holds a number, declared `list` (of strings)"),
    ({"tier": ["pro"]}, "context attribute `tier` is a list, declared `string`"),
])
def test_wrong_type_refuses_fail_closed(guard, context, says):
    d = guard.check("hello", context=context)
    assert d.action == "refuse" and d.text in ("I can't help with that request.", "Adults only.", "Premium only.")
    assert len(d.errors) == 1 and d.errors[0].startswith(says) and d.errors[0].endswith("refused (fail closed)")
    json.dumps(d.model_dump())  # the decision still serializes


def test_refuses_even_when_no_rule_of_the_stage_reads_it(guard):
    d = guard.check("hello", stage="output", context={"age": "old"})
    assert d.action == "refuse" and d.citations == [] and "`age`" in d.errors[0]


def test_check_many_and_policy_tests_see_the_same(guard):
    ds = guard.check_many(["a", "b"], context=[{"tier": "pro"}, {"tier": "gold"}])
    assert [d.action for d in ds] == ["allow", "refuse"]
    assert ds[1].errors and not ds[0].errors
