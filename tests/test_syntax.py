"""The parser: every construct of the grammar becomes the right AST node with the right span,
and bad input becomes a coded, located diagnostic."""

from __future__ import annotations

import threading

import pytest

from policylang._source import SourceFile
from policylang.syntax import MAX_NESTING, ast, parse

FULL = '''# a comment
policy shop "Shop assistant"
principle privacy "Protect personal data."
principle scope """Stay on
topic."""
use pii, secrets
normalize nfkc, invisible

@description("order numbers")
pattern order_id = /\\bORD-\\d{8}\\b/i validate luhn, iban kind "order" nocase wholeword fuzzy 1
words banned = ["foo", "bar baz",] nocase
words listed = file "lists/banned.txt"
classifier injection = onnx "models/guard" labels ["benign", "injection"] label "injection" activation softmax
    tokenizer "tok.json" max_length 256 threads 2 on_error allow timeout 200ms threshold 0.5
topic medical = embed "models/minilm" threshold 0.6 examples ["a rash", "a dose"] timeout 1s

@id("block-x") @severity(high) @mode(shadow)
rule block on input, output, context:
    when (order_id or not banned) and count(pii.email) > 3 and context.role in ["a", "b"]
         and context.x not in [1, 2.5] and len(text) <= 10 and injection.injection >= 0.9 and true
    unless context.role == "admin" or false
    refuse "no"
    because privacy, scope

rule r2 on output:
    when order_id
    redact mask keep 4 with "#"
    cite "policy 7.1"

rule r3 on input:
    when order_id
    redact replace "[{kind}]"

rule r4 on input:
    when order_id
    redact hash

rule r5 on input:
    when order_id
    redact remove

rule r6 on input:
    when order_id
    redact

rule r7 on input:
    when banned
    flag "seen"

rule r8 on input:
    when banned
    allow

test "blocked":
    input "ORD-12345678"
    with {role: "user", n: 3, vip: false}
    expect refuse by block, "block-x" text "x"

test "output":
    output "out"
    expect allow

test "ctx":
    context "doc"
    expect flag
'''


def _parse(text: str, name: str = "t.policy"):
    return parse(SourceFile(name, text))


def _src(text, node) -> str:
    return text[node.span.start:node.span.end]


@pytest.fixture(scope="module")
def full():
    result = _parse(FULL)
    assert result.ok, result.diagnostics
    return result.module


def test_every_declaration_kind(full):
    kinds = [type(i).__name__ for i in full.items]
    assert kinds[:9] == ["PolicyDecl", "Principle", "Principle", "Use", "Normalize", "Pattern", "Words", "Words",
                         "Classifier"]
    assert kinds.count("Rule") == 8 and kinds.count("Test") == 3
    assert full.policy.name.value == "shop" and full.policy.description == "Shop assistant"


def test_header(full):
    p1, p2 = full.of_type(ast.Principle)
    assert isinstance(p1.name, ast.Name) and p1.name.value == "privacy"
    assert p2.text == "Stay on\ntopic."
    (use,) = full.of_type(ast.Use)
    assert [n.value for n in use.packs] == ["pii", "secrets"]
    (norm,) = full.of_type(ast.Normalize)
    assert [n.value for n in norm.steps] == ["nfkc", "invisible"]


def test_pattern(full):
    (p,) = full.of_type(ast.Pattern)
    assert p.regex == "\\bORD-\\d{8}\\b" and p.flags == "i"
    assert FULL[p.regex_span.start:p.regex_span.end] == "/\\bORD-\\d{8}\\b/i"
    o = p.options
    assert [v.value for v in o.validators] == ["luhn", "iban"]
    assert o.kind.value == "order" and o.nocase and o.wholeword and o.fuzzy == 1
    assert FULL[o.fuzzy_span.start:o.fuzzy_span.end] == "1"
    assert p.annotations[0].name.value == "description" and p.annotations[0].args == ("order numbers",)
    # the declaration's span starts at its annotation and ends with its last option
    assert _src(FULL, p).startswith("@description") and _src(FULL, p).endswith("fuzzy 1")


def test_words(full):
    inline, listed = full.of_type(ast.Words)
    assert [w.value for w in inline.words] == ["foo", "bar baz"] and inline.file is None
    assert inline.options.nocase
    assert listed.words == () and listed.file.value == "lists/banned.txt"
    assert _src(FULL, listed) == 'words listed = file "lists/banned.txt"'


def test_models(full):
    (c,) = full.of_type(ast.Classifier)
    o = c.options
    assert [s.value for s in o.labels] == ["benign", "injection"] and o.label.value == "injection"
    assert o.activation.value == "softmax" and o.tokenizer.value == "tok.json"
    assert (o.max_length, o.threads, o.on_error, o.timeout_ms, o.threshold) == (256, 2, "allow", 200.0, 0.5)
    assert FULL[o.on_error_span.start:o.on_error_span.end] == "allow"
    assert FULL[o.threshold_span.start:o.threshold_span.end] == "0.5"
    (t,) = full.of_type(ast.Topic)
    assert t.options.threshold == 0.6 and [e.value for e in t.options.examples] == ["a rash", "a dose"]
    assert t.options.timeout_ms == 1000.0


def test_rule_and_expression_spans(full):
    block = full.of_type(ast.Rule)[0]
    assert block.rule_id == "block-x" and block.stages == ("input", "output", "context")
    assert _src(FULL, block).startswith("@id(") and _src(FULL, block).endswith("because privacy, scope")
    assert [a.name.value for a in block.annotations] == ["id", "severity", "mode"]
    assert block.annotations[1].args == ("high",)
    a = block.annotations[0]
    assert FULL[a.arg_spans[0].start:a.arg_spans[0].end] == '"block-x"'
    when = block.when
    assert isinstance(when, ast.And) and len(when.items) == 7
    group = when.items[0]
    assert isinstance(group, ast.Or)
    neg = group.items[1]
    assert isinstance(neg, ast.Not) and _src(FULL, neg) == "not banned"
    cmp_count = when.items[1]
    assert isinstance(cmp_count, ast.Compare) and cmp_count.op == ">"
    assert isinstance(cmp_count.left, ast.Call) and _src(FULL, cmp_count.left) == "count(pii.email)"
    assert cmp_count.left.args[0].parts == ("pii", "email")
    in_list = when.items[2]
    assert in_list.op == "in" and _src(FULL, in_list.right) == '["a", "b"]'
    assert [i.value for i in in_list.right.items] == ["a", "b"]
    assert when.items[3].op == "not in" and [i.value for i in when.items[3].right.items] == [1, 2.5]
    assert when.items[4].op == "<=" and when.items[4].left.func.value == "len"
    assert when.items[5].left.parts == ("injection", "injection")
    assert isinstance(when.items[6], ast.Literal) and when.items[6].value is True
    assert _src(FULL, when.items[6]) == "true"
    assert isinstance(block.unless, ast.Or)
    assert block.unless.items[0].left.parts == ("context", "role")
    assert block.unless.items[0].right.value == "admin"
    assert block.unless.items[1].value is False
    assert block.action.kind == "refuse" and block.action.message.value == "no"
    assert _src(FULL, block.action) == 'refuse "no"'
    assert [p.value for p in block.citation.principles] == ["privacy", "scope"]


def test_actions(full):
    rules = {r.name.value: r for r in full.of_type(ast.Rule)}
    a = rules["r2"].action
    assert (a.kind, a.op, a.keep, a.mask_char) == ("redact", "mask", 4, "#")
    assert _src(FULL, a) == 'redact mask keep 4 with "#"'
    assert rules["r2"].citation.text.value == "policy 7.1" and rules["r2"].citation.principles == ()
    assert (rules["r3"].action.op, rules["r3"].action.template.value) == ("replace", "[{kind}]")
    assert rules["r4"].action.op == "hash" and rules["r5"].action.op == "remove"
    assert rules["r6"].action.op == "replace" and rules["r6"].action.template is None
    assert _src(FULL, rules["r6"].action) == "redact"
    assert rules["r7"].action.kind == "flag" and rules["r7"].action.message.value == "seen"
    assert rules["r8"].action.kind == "allow" and rules["r8"].citation is None


def test_tests(full):
    t1, t2, t3 = full.of_type(ast.Test)
    assert t1.name.value == "blocked" and t1.stage == "input" and t1.text.value == "ORD-12345678"
    assert t1.context == (("role", "user"), ("n", 3), ("vip", False))
    assert t1.expect.action == "refuse" and [r.value for r in t1.expect.rules] == ["block", "block-x"]
    assert t1.expect.text.value == "x"
    assert (t2.stage, t2.expect.action, t2.expect.rules) == ("output", "allow", ())
    assert (t3.stage, t3.expect.action) == ("context", "flag")
    assert _src(FULL, t3) == 'test "ctx":\n    context "doc"\n    expect flag'


def test_string_escapes_and_regex_slashes():
    text = 'policy t\nwords w = ["a\\tb", "\\u00e9\\x41", "q\\"q"]\npattern p = /a\\/b/\n'
    r = _parse(text)
    assert r.ok
    w, p = r.module.items[1], r.module.items[2]
    assert [s.value for s in w.words] == ["a\tb", "éA", 'q"q']
    assert p.regex == "a/b"


def test_brackets_inside_regex_literals_do_not_count_as_nesting():
    regexes = "".join(f"pattern p{i} = /\\(x{i}/\n" for i in range(MAX_NESTING + 5))
    r = _parse("policy t\n" + regexes)
    assert r.ok, r.diagnostics


def test_parses_in_threads():
    results = []

    def work(i):
        res = _parse(FULL, name=f"f{i}.policy")
        results.append((i, res.module.items[0].span.file, res.ok))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [(i, f"f{i}.policy", True) for i in range(8)]


# ---------------------------------------------------------------- syntax errors
@pytest.mark.parametrize("text, code, at, message", [
    ("policy t\nrule r on input\n  when x\n  refuse\n", "PL001", "", "missing `:` at the end of line 2"),
    ('policy t\nwords w = ["abc]\n', "PL002", '"', "string is not closed"),
    ("policy t\npattern p = /abc\n", "PL002", "/", "regex literal is not closed"),
    ("policy t\nrule r on input:\n  when " + "(" * 80 + "x" + ")" * 80 + "\n  refuse\n", "PL004", "(",
     "expression nested more than 64 levels deep"),
    ("# nothing\n\n", "PL005", "", "policy file has no declarations"),
    ("policy t\nrule r on input:\n  when x and", "PL007", "", "file ends in the middle of a declaration"),
    ('policy t\nwords w = ["a\\qb"]\n', "PL008", '"a\\qb"', "unknown escape sequence `\\q` in string"),
    ("policy t\npattern p = /x/ ~\n", "PL001", "~", "unexpected character `~`"),
])
def test_syntax_errors(text, code, at, message):
    r = _parse(text)
    assert not r.ok
    d = r.diagnostics[0]
    assert (d.code, d.message) == (code, message)
    assert text[d.span.start:d.span.end].startswith(at)
    assert d.span.file == "t.policy" and d.span.line >= 1


def test_not_chains_are_capped():
    r = _parse("policy t\nrule r on input:\n  when " + "not " * 500 + "x\n  refuse\n")
    assert [d.code for d in r.diagnostics] == ["PL004"]
    assert r.module is None


def test_too_large_file():
    r = _parse("policy t\n" + "#" * (3 * 1024 * 1024))
    assert [d.code for d in r.diagnostics] == ["PL006"]


def test_expected_tokens_are_listed():
    r = _parse("policy t\nrule r on:\n")
    (d,) = r.diagnostics
    assert d.code == "PL001" and "`input`" in d.help and "`output`" in d.help and "`context`" in d.help


def test_bidi_outside_strings_is_a_syntax_error_with_advice():
    r = _parse("policy t\u202e\n")
    (d,) = r.diagnostics
    assert d.code == "PL001" and "bidi control character U+202E" in d.help


# ------------------------------------------------------------------ embedders and heads
HEADS = '''embedder minilm = embed "builtin:minilm" max_length 128 timeout 500ms
@severity(high)
classifier jailguard = head "models/jailguard" on minilm labels ["benign", "jailbreak"] on_error allow
classifier packed = head "models/h" on jailbreak_models.minilm
classifier plain = onnx "models/guard"
topic medical = embed minilm threshold 0.6 examples ["a rash"]
topic legacy = embed "models/minilm" threshold 0.6 examples ["a rash"]
'''


def test_embedders_heads_and_shared_topics():
    r = _parse(HEADS)
    assert r.ok, r.diagnostics
    emb, head, packed, plain, medical, legacy = r.module.items
    assert isinstance(emb, ast.Embedder) and emb.path.value == "builtin:minilm"
    assert emb.options.max_length == 128 and emb.options.timeout_ms == 500.0
    assert _src(HEADS, emb) == 'embedder minilm = embed "builtin:minilm" max_length 128 timeout 500ms'
    assert isinstance(head, ast.Classifier) and head.is_head and head.on.parts == ("minilm",)
    assert head.path.value == "models/jailguard" and head.options.on_error == "allow"
    assert [a.name.value for a in head.annotations] == ["severity"]
    assert _src(HEADS, head.on) == "minilm"
    assert packed.on.parts == ("jailbreak_models", "minilm")
    assert _src(HEADS, packed.on) == "jailbreak_models.minilm"
    assert not plain.is_head and plain.on is None
    assert medical.path is None and medical.embedder.parts == ("minilm",)
    assert _src(HEADS, medical).startswith("topic medical = embed minilm")
    assert legacy.embedder is None and legacy.path.value == "models/minilm"


@pytest.mark.parametrize("text", [
    'classifier x = head "d"',  # no `on`
    'classifier x = head on minilm',  # no folder
    'embedder e = embed minilm',  # an embedder needs a folder
    'classifier x = head "d" on "minilm"',  # the embedder is a name
])
def test_head_syntax_errors(text):
    r = parse(SourceFile("t.policy", text + "\n"))
    assert not r.ok and r.diagnostics[0].code in ("PL001", "PL007")
