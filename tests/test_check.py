"""The checker: the golden corpus (one policy per diagnostic code) and focused pass tests.

Golden files: ``tests/corpus/check/PLnnn_<slug>.policy`` is checked on its own and the full
rendering of its diagnostics is compared with ``PLnnn_<slug>.expected``. Regenerate with

    POLICYLANG_UPDATE_GOLDEN=1 python -m pytest tests/test_check.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from policylang._source import SourceFile
from policylang.check.checker import CheckResult, check
from policylang.diagnostics import CODES, Diagnostic
from policylang.diagnostics.render import render
from policylang.loader import FileEnvironment, decode_source, load_modules, pack_names

CORPUS = Path(__file__).parent / "corpus" / "check"
UPDATE = os.environ.get("POLICYLANG_UPDATE_GOLDEN") == "1"
CASES = sorted(p.name for p in CORPUS.glob("*.policy"))

try:
    import policylang.compile.patterns  # noqa: F401

    HAVE_PATTERNS = True
except ImportError:  # pragma: no cover - while the compiler backend is missing
    HAVE_PATTERNS = False

# Codes no policy file in the corpus can show: PL006 needs a file over 2 MiB (see
# test_fuzz_check.py), PL901 is an internal error.
NOT_IN_CORPUS = {"PL006", "PL901"}


class CorpusEnv(FileEnvironment):
    """Word files from disk; a model folder "fits" unless it holds a problems.txt."""

    def inspect_model(self, node, path: str) -> list[str]:
        problems = Path(path) / "problems.txt"
        if problems.is_file():
            return [line for line in problems.read_text().splitlines() if line.strip()]
        return []

    def head_fit(self, node, path: str, emb_node, emb_path: str):
        """A head folder's fit.json: ``{"head_dim", "embedder_dim", "head_window", "embedder_window"}``
        or ``{"error": "..."}``; none means the head fits."""
        import json

        fit = Path(path) / "fit.json"
        data = json.loads(fit.read_text()) if fit.is_file() else {}
        if "error" in data:
            raise ValueError(data["error"])
        return (data.get("head_dim"), data.get("embedder_dim"), data.get("head_window"), data.get("embedder_window"))


def check_text(text: str, name: str = "test.policy", env=None) -> tuple[list[Diagnostic], CheckResult | None]:
    """Parse and check one in-memory policy; returns (all diagnostics, check result)."""
    infos, diags = load_modules([SourceFile(name, text)])
    result = check(infos, env)
    return list(diags) + list(result.diagnostics), result


def codes(diags) -> list[str]:
    return [d.code for d in diags]


def run_corpus_file(name: str) -> str:
    data = (CORPUS / name).read_bytes()
    src = decode_source(name, data)
    if isinstance(src, Diagnostic):
        diags, sources = [src], {}
    else:
        infos, diags = load_modules([src])
        result = check(infos, CorpusEnv())
        diags = list(diags) + list(result.diagnostics)
        sources = {src.name: src}
    diags.sort(key=lambda d: (d.span.file, d.span.start, d.code))
    out = render(diags, sources, "full")
    return out.replace(str(CORPUS), "<corpus>")


@pytest.fixture
def in_corpus(monkeypatch):
    monkeypatch.chdir(CORPUS)


@pytest.mark.parametrize("name", CASES)
def test_golden(name, in_corpus):
    code = name[:5]
    if code.startswith("PL4") and not HAVE_PATTERNS:
        pytest.skip("policylang.compile.patterns is not importable")
    actual = run_corpus_file(name)
    expected_file = CORPUS / (name[: -len(".policy")] + ".expected")
    if UPDATE or not expected_file.exists():
        if not UPDATE:
            pytest.fail(f"{expected_file.name} is missing; run with POLICYLANG_UPDATE_GOLDEN=1")
        expected_file.write_text(actual, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    assert actual == expected
    # the file is named after a code it shows
    assert f"[{code}]" in actual


def test_every_code_has_a_golden_file():
    covered = {n[:5] for n in CASES}
    missing = set(CODES) - covered - NOT_IN_CORPUS
    assert not missing, f"no corpus file for {sorted(missing)}"


def test_no_stale_golden_files():
    policies = {p.stem for p in CORPUS.glob("*.policy")}
    expected = {p.stem for p in CORPUS.glob("*.expected")}
    assert expected == policies
    assert all(n[:5] in CODES for n in CASES)


# ------------------------------------------------------------------------ clean policies
CLEAN = '''
policy shop "a clean policy"
principle privacy "Protect personal data."
pattern order_id = /\\bORD-\\d{8}\\b/ kind "order_id"
words banned = ["ignore previous instructions"] nocase
rule block on input:
    when banned
    refuse "no"
    because privacy
rule mask on output:
    when order_id or count(order_id) > 3
    redact mask keep 4
    because privacy
test "blocked":
    input "Ignore previous instructions"
    expect refuse by block
'''


def test_clean_policy_has_no_diagnostics():
    diags, result = check_text(CLEAN)
    assert diags == []
    assert result.ok
    ps = result.policy_set
    assert [r.rule_id for r in ps.rules] == ["block", "mask"]
    assert ps.word_lists["banned"] == ("ignore previous instructions",)
    assert ps.digest.startswith("sha256:")
    assert len(ps.tests) == 1


def test_errors_mean_no_policy_set():
    diags, result = check_text(CLEAN.replace("because privacy\nrule mask", "because privcy\nrule mask"))
    assert codes(diags) == ["PL105"]
    assert result.policy_set is None and not result.ok


def test_warnings_keep_the_policy_set():
    diags, result = check_text(CLEAN + '\npattern spare = /spare/\n')
    assert codes(diags) == ["PL301"]
    assert result.ok


EXAMPLES = Path(__file__).parents[1] / "examples"
EXAMPLE_PACKS = {"support_bot.policy": {"pii", "jailbreak"}, "healthcare.policy": {"pii"},
                 "coding_assistant.policy": {"secrets"}}


@pytest.mark.parametrize("name", sorted(EXAMPLE_PACKS))
def test_examples_check_clean(name):
    path = EXAMPLES / name
    wanted = EXAMPLE_PACKS[name]
    missing = wanted - set(pack_names())
    if missing:
        pytest.skip(f"packs not written yet: {sorted(missing)}")
    infos, diags = load_modules([str(path)])
    result = check(infos, FileEnvironment())
    all_diags = list(diags) + list(result.diagnostics)
    assert all_diags == [], render(all_diags, {i.module.source.name: i.module.source for i in infos})
    assert len(result.policy_set.tests) >= 5


# ------------------------------------------------------------------------ spans and messages
def test_diagnostics_point_at_the_most_precise_span():
    text = CLEAN.replace("when banned\n", "when bannd\n")
    diags, _ = check_text(text)
    assert codes(diags) == ["PL301", "PL101"]  # `banned` is now unused
    d = diags[1]
    assert text[d.span.start:d.span.end] == "bannd"
    assert d.help == "did you mean `banned`?"


def test_threshold_points_at_the_number():
    text = ('policy t\nprinciple p "P."\nclassifier c = onnx "m" labels ["a", "b"]\n'
            'rule r on input:\n    when c.b >= 1.5\n    refuse\n    because p\n')
    diags, _ = check_text(text)
    (d,) = [d for d in diags if d.code == "PL203"]
    assert text[d.span.start:d.span.end] == "1.5"


def test_regex_error_points_into_the_regex():
    text = ('policy t\nprinciple p "P."\npattern x = /ab\\/(cd/\n'
            'rule r on input:\n    when x\n    refuse\n    because p\n')
    diags, _ = check_text(text)
    (d,) = diags
    assert d.code == "PL201"
    assert d.message == "pattern `x` is not a valid regex: missing )"
    # the error is reported at the end of the regex body, just before the closing slash
    assert text[d.span.start] == "/" and text[d.span.start - 1] == "d"


def test_messages_follow_the_style_guide():
    for name in CASES:
        text = (CORPUS / name).read_bytes()
        try:
            src = SourceFile(name, text.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        infos, diags = load_modules([src])
        cwd = os.getcwd()
        os.chdir(CORPUS)
        try:
            diags = list(diags) + list(check(infos, CorpusEnv()).diagnostics)
        finally:
            os.chdir(cwd)
        for d in diags:
            assert d.message[:1] == d.message[:1].lower() or d.message[:1] in "`\"", d.message
            assert not d.message.endswith("."), d.message
            assert "\n" not in d.message
            assert d.code in CODES
            assert d.severity is CODES[d.code].severity or d.code in {"PL401"}, d


# ------------------------------------------------------------------------ passes
def test_env_none_skips_file_and_model_checks():
    text = ('policy t\nprinciple p "P."\nwords w = file "nowhere.txt"\n'
            'classifier c = onnx "nowhere" labels ["a", "b"]\n'
            'rule r on input:\n    when w or c.b > 0.5\n    refuse\n    because p\n')
    diags, result = check_text(text, env=None)
    assert diags == []
    diags, _ = check_text(text, env=FileEnvironment())
    assert {"PL205", "PL212"} <= set(codes(diags))


def test_model_inspection_exceptions_become_diagnostics(tmp_path):
    (tmp_path / "m").mkdir()

    class Exploding(FileEnvironment):
        def inspect_model(self, node, path):
            raise RuntimeError("boom")

    text = ('policy t\nprinciple p "P."\nclassifier c = onnx "m" labels ["a", "b"]\n'
            'rule r on input:\n    when c.b > 0.5\n    refuse\n    because p\n')
    diags, _ = check_text(text, name=str(tmp_path / "t.policy"), env=Exploding())
    (d,) = diags
    assert d.code == "PL212" and "boom" in d.message


def test_a_crashing_pass_becomes_pl901(monkeypatch):
    from policylang.check import checker
    from policylang.check.passes import PASSES

    def broken(ctx):
        raise ValueError("bad pass")
        yield  # pragma: no cover

    monkeypatch.setattr("policylang.check.passes.PASSES", PASSES + (("broken", broken),))
    diags, result = check_text(CLEAN)
    assert codes(diags) == ["PL901"]
    assert "bad pass" in diags[0].message and result.policy_set is None
    assert checker  # imported for monkeypatch target resolution


def test_max_diagnostics_stops_early():
    body = "".join(f'pattern p{i} = /x{i}/\n' for i in range(50))
    infos, _ = load_modules([SourceFile("t.policy", 'policy t\n' + body)])
    result = check(infos, None, max_diagnostics=10)
    assert len(result.diagnostics) == 10


def test_unused_ignores_pack_definitions():
    if "pii" not in pack_names():
        pytest.skip("pii pack not written yet")
    text = ('policy t\nprinciple p "P."\nuse pii\n'
            'rule r on output:\n    when pii.email\n    redact\n    because p\n')
    diags, result = check_text(text, env=FileEnvironment())
    assert diags == []


def test_pack_group_and_members_resolve():
    if "pii" not in pack_names():
        pytest.skip("pii pack not written yet")
    text = ('policy t\nprinciple p "P."\nuse pii\n'
            'rule r on output:\n    when count(pii) > 2 or pii.emial\n    redact\n    because p\n')
    diags, _ = check_text(text)
    (d,) = diags
    assert d.code == "PL101" and d.help == "did you mean `pii.email`?"


def test_redact_with_only_count_of_a_matcher_is_fine():
    text = ('policy t\nprinciple p "P."\npattern x = /xy+/\n'
            'rule r on output:\n    when count(x) > 2\n    redact\n    because p\n')
    diags, _ = check_text(text)
    assert diags == []


def test_type_checks_accept_the_documented_forms():
    text = '''policy t
principle p "P."
pattern x = /xy+/
classifier c = onnx "m" labels ["benign", "bad"] label "bad"
topic medical = embed "m" threshold 0.6 examples ["a rash"]
rule r on input:
    when (x or c or c.bad > 0.8 or medical or medical > 0.7) and not context.vip
         and len(text) < 10000 and count(x) >= 1 and context.role in ["a", "b"]
         and context.tier not in ["free"] and context.age != 3 and true
    unless context.role == "admin"
    refuse
    because p
'''
    diags, _ = check_text(text)
    assert diags == []


@pytest.mark.parametrize("cond, fragment", [
    ("x > 1", "`x` is a matcher (true or false) and cannot be compared with `>`"),
    ("x == 1", "cannot compare a matcher (true or false) with a number using `==`"),
    ("count(c) > 1", "`count` needs a matcher or pack, not `c`"),
    ("len(context.name) > 1", "`len` needs `text`, not `context.name`"),
    ("context.role in context.role and 1", "`1` is a number, not a condition"),
    ("text", "`text` is the text, not a condition"),
    ('x and "yes"', '`"yes"` is a string, not a condition'),
    ("c.bad > 2", "threshold `2` is outside [0, 1]"),
    ("[1, 2]", "`[...]` is a list, not a condition"),
    ("x in [1]", "`x` cannot be looked up in a list"),
    ("text > 3", "`text` is the text and cannot be compared with `>`"),
])
def test_type_errors(cond, fragment):
    text = ('policy t\nprinciple p "P."\npattern x = /xy+/\nclassifier c = onnx "m" labels ["ok", "bad"]\n'
            f'rule r on input:\n    when {cond}\n    flag\n    because p\n')
    diags, _ = check_text(text)
    messages = [d.message for d in diags]
    assert fragment in messages, messages


def test_pl305_only_where_decidable():
    text = '''policy t
principle p "P."
pattern a = /aa+/
pattern b = /bb+/
rule first on input:
    when a or b
    refuse
    because p
rule later_or on input:
    when b or a
    flag
    because p
rule later_and on input:
    when a and context.x == 1
    flag
    because p
rule other_stage on output:
    when a
    flag
    because p
rule negated on input:
    when not a
    flag
    because p
@mode(shadow)
rule shadowed_refusal on input:
    when b and a
    refuse
    because p
'''
    diags, _ = check_text(text)
    assert [(d.code, d.rule_id) for d in diags] == [("PL305", "later_or"), ("PL305", "later_and")]
    assert "the same condition" in diags[0].help and "a weaker condition" in diags[1].help


def test_pl304_ignores_ranges_escapes_and_vowel_sets():
    text = ('policy t\nprinciple p "P."\n'
            'pattern a = /[^a-z0-9]x/\npattern b = /[^\\w\\s]x/\npattern c = /[^aeiou]x/\npattern d = /[^login]x/\n'
            'rule r on input:\n    when a or b or c or d\n    flag\n    because p\n')
    diags, _ = check_text(text)
    assert [(d.code, text[d.span.start:d.span.end]) for d in diags] == [("PL304", "[^login]")]


def test_pl303_allows_plain_unicode_in_strings_and_emoji_joiners():
    text = ('policy t "Politique de confidentialité"\nprinciple p "Protéger les données — toujours."\n'
            'words w = ["straße", "👨\u200d👩\u200d👧", "пароль"]\n'
            'rule r on input:\n    when w\n    flag\n    because p\n')
    diags, _ = check_text(text)
    assert diags == []


def test_pl303_reports_each_kind():
    text = ('policy t\nprinciple p "P."\n# \u2066hidden\u2069\nwords w = ["a\u00adb"]\npattern x = /pаy/\n'
            'rule r on input:\n    when w or x\n    flag\n    because p\n')
    diags, _ = check_text(text)
    msgs = [d.message for d in diags]
    assert all(d.code == "PL303" for d in diags)
    assert any(m.startswith("bidi control character U+2066") for m in msgs)
    assert any(m.startswith("invisible character U+00AD") for m in msgs)
    assert any("looks like `a` in a regex" in m for m in msgs)


def test_lookalike_letter_in_a_name_is_explained():
    diags, _ = check_text('policy t\npattern оrder = /x/\n')
    (d,) = diags
    assert d.code == "PL001"
    assert "looks like `o`" in d.help and "retype it as `o`" in d.help


def test_tests_may_name_rules_by_quoted_id():
    text = ('policy t\nprinciple p "P."\npattern x = /xx+/\n@id("block-x")\nrule r on input:\n'
            '    when x\n    refuse\n    because p\ntest "t":\n    input "xx"\n    expect refuse by "block-x"\n')
    diags, _ = check_text(text)
    assert diags == []


def test_template_placeholders():
    from policylang.check.passes.actions import template_problems

    assert list(template_problems("[{kind}] by {rule} via {matcher}")) == []
    assert list(template_problems("{not a placeholder: 1}")) == []
    assert [m for m, _ in template_problems("[{knd}]")] == ["unknown placeholder `{knd}` in redaction template"]


# ------------------------------------------------------------------------ hyperscan prescreen
@pytest.mark.skipif(not HAVE_PATTERNS, reason="policylang.compile.patterns is not importable")
def test_simple_enough_agrees_with_hyperscan():
    """Patterns the prescreen waves through must compile in Hyperscan with no problem."""
    import random

    import regex

    from policylang.check.passes.hyperscan import simple_enough
    from policylang.compile.patterns import PatternSpec, check_pattern

    rng = random.Random(1234)
    atoms = ["a", r"\d", r"\w", "[A-Z]", "[^x]", ".", r"\s", "[a-z0-9]", "-", "(?:ab|cd)", "x", r"\b", r"\W",
             "^", "$", r"\D", r"\.", "@", r"\x41", r"\u0042", "[]a]", "(?P<g>q)", r"\Z", r"\A", "[a-]"]

    def gen(depth=0):
        out = []
        for _ in range(rng.randint(1, 5)):
            atom = rng.choice(atoms) if depth > 1 or rng.random() < 0.7 else "(?:" + gen(depth + 1) + ")"
            q = rng.choice(["", "", "*", "+", "?", "{2}", "{1,3}", "{1,%d}" % rng.randint(2, 40),
                            "{%d,}" % rng.randint(0, 5)])
            out.append(atom + q)
        return "".join(out)

    waved = 0
    for _ in range(400):
        p = gen()
        if not simple_enough(p):
            continue
        waved += 1
        spec = PatternSpec(0, p, spans=True, caseless=rng.random() < 0.5, dotall=rng.random() < 0.5,
                           multiline=rng.random() < 0.5)
        assert check_pattern(spec) == [], p
        # the regex pass skips `regex` for these, so `regex` must agree: valid, never empty
        assert regex.compile(p).search("") is None, p
    assert waved > 50
    # and the known-bad shapes are not waved through
    for p in [r"a\bb", r"(a|b)*.{50}c", r"(\w+) \1", r"foo(?=bar)", r"x^y", r".{1,32}[^x]{1,3}", r"a*"]:
        assert not simple_enough(p), p


# ------------------------------------------------------------------------ scale
def _big_policy(n: int) -> str:
    lines = ['policy bench "generated"', 'principle p "P."', 'principle q "Q."']
    for i in range(n):
        if i % 2:
            lines.append(f'pattern m{i} = /\\bID{i}-[A-Z]{{2}}\\d{{{4 + i % 5}}}\\b/ kind "id{i}"')
        else:
            lines.append(f'words m{i} = ["phrase number {i}", "another phrase {i}"] nocase')
    for i in range(n):
        cond = [f"m{i}", f'm{i} and context.role != "admin"', f"count(m{i}) > 2"][i % 3]
        act = ['refuse "no"', 'redact "[{kind}]"', 'flag "f"'][i % 3]
        lines.append(f"@severity(high)\nrule r{i} on input:\n    when {cond}\n    {act}\n    because {'pq'[i % 2]}")
    return "\n".join(lines) + "\n"


def test_1000_rules_parse_and_check_fast():
    src = SourceFile("bench.policy", _big_policy(1000))
    load_modules([SourceFile("warm.policy", "policy warm\n")])  # build the parser outside the timing
    t0 = time.process_time()
    infos, diags = load_modules([src])
    result = check(infos, None)
    elapsed = time.process_time() - t0
    assert not diags and result.ok
    assert len(result.policy_set.rules) == 1000
    assert elapsed < 2.5, f"parse+check of 1,000 rules took {elapsed:.2f}s of CPU"


def test_shadowing_check_is_not_quadratic():
    """2,000 refusals sharing one conjunct: PL305 examines a bounded number of candidates."""
    n = 2000
    body = "".join(f"rule r{i} on input:\n    when shared and context.k == {i}\n    refuse\n    because p\n"
                   for i in range(n))
    text = 'policy t\nprinciple p "P."\npattern shared = /zz+/\n' + body
    infos, _ = load_modules([SourceFile("t.policy", text)])
    from policylang.check.checker import CheckContext
    from policylang.check.passes import reachability
    from policylang.check.symbols import Symbols

    ctx = CheckContext(tuple(infos), Symbols.build(infos), None)
    t0 = time.process_time()
    found = list(reachability.run(ctx))
    assert found == []
    assert time.process_time() - t0 < 1.5


@pytest.mark.parametrize("name", sorted(EXAMPLE_PACKS))
def test_example_tests_pass_on_the_runtime(name):
    """The `test` blocks of the examples hold on the real engine (when it is importable)."""
    testing = pytest.importorskip("policylang.testing")
    import policylang

    missing = EXAMPLE_PACKS[name] - set(pack_names())
    if missing:
        pytest.skip(f"packs not written yet: {sorted(missing)}")
    try:
        guard = policylang.load(str(EXAMPLES / name))
    except ImportError as err:  # pragma: no cover - a runtime module still missing
        pytest.skip(f"runtime not importable: {err}")
    results = testing.run_tests(guard)
    assert len(results) >= 5
    assert [(r.name, r.problems) for r in results if not r.passed] == []


def test_pl303_scans_loaded_word_files(tmp_path):
    (tmp_path / "w.txt").write_text("good phrase\n# comment\nbad\u200bphrase\n", encoding="utf-8")
    text = 'policy t\nprinciple p "P."\nwords w = file "w.txt"\nrule r on input:\n  when w\n  flag\n  because p\n'
    diags, _ = check_text(text, name=str(tmp_path / "t.policy"), env=FileEnvironment())
    (d,) = diags
    assert d.code == "PL303"
    assert d.message == ("word file `w.txt` holds an invisible character U+200B zero width space "
                         "in phrase 2 (`bad\\u200bphrase`)")
    assert text[d.span.start:d.span.end] == '"w.txt"'


def test_check_source_reports_syntax_and_check_diagnostics_together():
    from policylang import check_source

    ok = check_source(CLEAN)
    assert ok.ok and ok.diagnostics == () and len(ok.policy_set.rules) == 2
    bad = check_source("policy t\npattern x = /(a/\nrule r on input:\n  when\n", name="bad.policy")
    assert [d.code for d in bad.diagnostics] == ["PL007"] and bad.policy_set is None
    # two entry policies are two namespaces: the same names may be defined in both...
    rule = 'principle p "P."\npattern x = /xx+/\nrule r on input:\n  when x\n  flag\n  because p\n'
    two = check_source([SourceFile("a.policy", "policy a\n" + rule), SourceFile("b.policy", "policy b\n" + rule)])
    assert two.ok and two.diagnostics == ()
    assert sorted(r.rule_id for r in two.policy_set.rules) == ["a.r", "b.r"]
    # ...and one does not see the other's definitions unless it includes it
    apart = check_source([SourceFile("a.policy", "policy a\npattern x = /xx+/\n"),
                          SourceFile("b.policy", 'policy b\nprinciple p "P."\nrule r on input:\n  when x\n  flag\n'
                                                  '  because p\n')])
    assert [d.code for d in apart.diagnostics] == ["PL101"] and "include" in apart.diagnostics[0].help


# ------------------------------------------------------------------ embedders and heads
HEAD_POLICY = '''policy p
principle q "Q."
embedder minilm = embed "m" max_length 128
classifier guard = head "h" on minilm labels ["benign", "injection"]
topic medical = embed minilm threshold 0.6 examples ["a rash"]
rule r on input:
    when guard.injection >= 0.9 or medical
    refuse
    because q
'''


def test_heads_and_topics_on_an_embedder_check_clean():
    diags, result = check_text(HEAD_POLICY)
    assert result is not None and result.ok, [d.concise() for d in diags]
    assert codes(diags) == []  # the embedder counts as used (no PL301)


def test_head_on_something_that_is_not_an_embedder_is_pl112():
    text = HEAD_POLICY.replace('classifier guard = head "h" on minilm', 'classifier guard = head "h" on medical')
    diags, _ = check_text(text)
    pl112 = [d for d in diags if d.code == "PL112"]
    assert len(pl112) == 1 and "`medical` is a topic, not an embedder" in pl112[0].message


def test_embedder_options_that_belong_elsewhere():
    text = HEAD_POLICY.replace('embed "m" max_length 128', 'embed "m" max_length 128 threshold 0.5 on_error allow')
    diags, _ = check_text(text)
    msgs = [d.message for d in diags if d.code == "PL210"]
    assert "`threshold` does not apply to an embedder" in msgs
    assert "`on_error` does not apply to an embedder" in msgs


def test_run_options_on_a_head_are_pl220():
    text = HEAD_POLICY.replace('labels ["benign", "injection"]', 'labels ["benign", "injection"] threads 2 timeout 1s')
    diags, _ = check_text(text)
    assert [d.message for d in diags if d.code == "PL220"] == [
        "`threads` of head `guard` belongs to its embedder `minilm`",
        "`timeout` of head `guard` belongs to its embedder `minilm`",
    ]


def test_unused_embedder_is_pl301():
    text = "policy p\nembedder minilm = embed \"m\"\n"
    diags, _ = check_text(text)
    assert codes(diags) == ["PL301"] and "embedder `minilm` is never used" in diags[0].message


class _FitEnv(CorpusEnv):
    def __init__(self, fit):
        self.fit = fit
        self.calls = []

    def head_fit(self, node, path, emb_node, emb_path):
        self.calls.append((node.name.value, emb_node.name.value))
        return self.fit


@pytest.mark.parametrize("fit, expect", [
    ((384, 384, 128, 128), []),
    ((256, 384, None, 128), ["PL218"]),
    ((384, 384, 128, 256), ["PL219"]),
    ((None, 384, None, None), []),  # nothing known: nothing claimed
])
def test_head_fit_against_its_embedder(tmp_path, fit, expect):
    (tmp_path / "m").mkdir()
    (tmp_path / "h").mkdir()
    env = _FitEnv(fit)
    diags, _ = check_text(HEAD_POLICY, name=str(tmp_path / "p.policy"), env=env)
    assert env.calls == [("guard", "minilm")]
    assert codes(diags) == expect


def test_hyperscan_verdicts_come_through_the_environment():
    """The check stage never imports the compiler: PL40x verdicts come from env.pattern_problems."""
    from policylang import check_source
    from policylang.loader import PatternEnvironment

    text = ('policy t\nprinciple p "P."\npattern lb = /(?<=id:)[0-9]{4}/\n'
            'rule r on input:\n    when lb\n    refuse\n    because p\n')
    assert "PL402" in codes(check_source(text).diagnostics)  # the default: a PatternEnvironment
    assert "PL402" in codes(check_text(text, env=FileEnvironment())[0])
    assert "PL402" not in codes(check_text(text, env=None)[0])
    asked = []

    class Counting(PatternEnvironment):
        def pattern_problems(self, **spec):
            asked.append(spec["expression"])
            return super().pattern_problems(**spec)

    assert "PL402" in codes(check_text(text.replace("4}", "5}"), env=Counting())[0])
    assert asked == ["(?<=id:)[0-9]{5}"]
