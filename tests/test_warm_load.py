"""Warm loads do no regex work: the pattern cache stores the match widths, large files'
syntax trees are cached, and ``load()`` does not compile shipped packs' patterns one by one.
Speed itself is measured in bench/bench_load.py; these tests pin the mechanisms."""

from __future__ import annotations

from pathlib import Path

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang._source import SourceFile
from policylang.compile import patterns
from policylang.compile.patterns import PatternSpec
from policylang.runtime.scan import compile_patterns
from policylang.syntax import parse, parse_cache

ROOT = Path(__file__).resolve().parent.parent


def S(i, expr, **kw):
    return PatternSpec(id=i, expression=expr, **kw)


SPECS = [S(0, r"\b\d{3}-\d{2}-\d{4}\b", spans=True), S(1, r"(?:ab|cd){2,5}x", spans=True),
         S(2, r"\w+@\w+\.com", spans=True), S(3, "literal phrase", literal=True, spans=True)]


def test_a_cache_hit_parses_no_regex(tmp_path, monkeypatch):
    first = compile_patterns(SPECS, cache_dir=tmp_path)
    assert not first.from_cache

    def boom(*a, **k):
        raise AssertionError("a warm load must not parse regexes")

    monkeypatch.setattr(patterns, "_max_width", boom)
    monkeypatch.setattr(patterns, "_regex_problems", boom)
    import policylang.runtime.scan as scan

    monkeypatch.setattr(scan, "_max_width", boom)
    second = compile_patterns(SPECS, cache_dir=tmp_path)
    assert second.from_cache
    assert second.match_widths == first.match_widths and second.match_widths[0] == 11
    text = "id 123-45-6789 abcdabx me@ex.com a literal phrase"
    assert second.scan(text) == first.scan(text) and len(first.scan(text)) == 4


def test_widths_travel_with_dumps(tmp_path):
    cp = compile_patterns(SPECS, cache_dir=False)
    back = type(cp).loads(SPECS, cp.dumps())
    assert back.match_widths == cp.match_widths
    assert back.scan("x 123-45-6789") == cp.scan("x 123-45-6789")


def test_a_header_whose_widths_do_not_fit_is_rebuilt(tmp_path):
    cp = compile_patterns(SPECS, cache_dir=tmp_path)
    path = Path(cp.cache_path)
    data = path.read_bytes()
    bad = data.replace(b'"widths":[11,', b'"widths":[11,1,', 1)
    assert bad != data
    path.write_bytes(bad)  # header no longer matches its own checksum layout: rebuilt
    again = compile_patterns(SPECS, cache_dir=tmp_path)
    assert not again.from_cache and again.match_widths == cp.match_widths


def test_the_key_follows_the_code_and_the_regex_engine(monkeypatch):
    import regex

    key = patterns.cache_key(SPECS, 0)
    monkeypatch.setattr(patterns, "_CODE_DIGEST", "other code")
    assert patterns.cache_key(SPECS, 0) != key
    monkeypatch.setattr(patterns, "_CODE_DIGEST", None)
    assert patterns.cache_key(SPECS, 0) == key
    monkeypatch.setattr(regex, "__version__", "0.0-test")
    assert patterns.cache_key(SPECS, 0) != key


# ------------------------------------------------------------------- the syntax-tree cache
BIG = ROOT / "policylang" / "packs" / "jailbreak.policy"


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("POLICYLANG_NO_PARSER_CACHE", raising=False)
    return tmp_path


def test_files_are_parsed_once(cache_home, monkeypatch):
    src = SourceFile("<pack:jailbreak>", BIG.read_text(encoding="utf-8"))
    fresh = parse(src)
    assert fresh.ok and list((cache_home / "ast").glob("*.ast"))
    import policylang.syntax.parser as parser

    def boom(*a, **k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(parser, "parse_items", boom)
    again = parse(SourceFile("<pack:jailbreak>", src.text))
    assert again.module.items == fresh.module.items and again.diagnostics == fresh.diagnostics
    # another name or one character more is another entry
    with pytest.raises(AssertionError, match="parsed again"):
        parse(SourceFile("other.policy", src.text))
    with pytest.raises(AssertionError, match="parsed again"):
        parse(SourceFile("<pack:jailbreak>", src.text + "\n"))


def test_opt_out_and_broken_files_are_not_cached(cache_home, monkeypatch):
    assert not parse(SourceFile("bad.policy", "rule r on input: when refuse\n")).ok
    assert not (cache_home / "ast").exists()
    monkeypatch.setenv("POLICYLANG_NO_PARSER_CACHE", "1")
    parse(SourceFile("<pack:jailbreak>", BIG.read_text(encoding="utf-8")))
    assert not (cache_home / "ast").exists()


@pytest.mark.parametrize("damage", [b"", b"garbage", b"policylang-ast-1\n\x80\x05junk"])
def test_a_damaged_entry_is_parsed_again(cache_home, damage):
    src = SourceFile("<pack:jailbreak>", BIG.read_text(encoding="utf-8"))
    fresh = parse(src)
    (entry,) = (cache_home / "ast").glob("*.ast")
    entry.write_bytes(damage)
    again = parse(src)
    assert again.ok and again.module.items == fresh.module.items


def test_the_entry_must_hold_the_same_text(cache_home):
    src = SourceFile("<pack:jailbreak>", BIG.read_text(encoding="utf-8"))
    parse(src)
    (entry,) = (cache_home / "ast").glob("*.ast")
    # an entry written for another text under this key (a collision, or tampering)
    other = SourceFile("<pack:jailbreak>", src.text.replace("policy jailbreak", "policy jailbroken", 1))
    import pickle

    entry.write_bytes(parse_cache._FORMAT + b"\n" + pickle.dumps((other.name, other.text, parse(other))))
    assert parse(src).module.policy.name.value == "jailbreak"


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghij é😀\\\"\t", min_size=1, max_size=12), min_size=1, max_size=30))
def test_cached_parse_equals_fresh_parse(tmp_path_factory, words):
    import os

    os.environ["POLICYLANG_CACHE_DIR"] = str(tmp_path_factory.mktemp("astc"))
    try:
        body = ", ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'
                         for w in words)
        filler = "# " + "x" * max(parse_cache.MIN_CHARS, 100) + "\n"
        src = SourceFile("w.policy", f"{filler}policy w\nwords w = [{body}]\nrule r on input: when w refuse\n")
        a = parse(src)
        assert list((Path(os.environ["POLICYLANG_CACHE_DIR"]) / "ast").glob("*.ast"))
        b = parse(SourceFile("w.policy", src.text))
        assert a.module.items == b.module.items and a.diagnostics == b.diagnostics
        assert [x.value for x in b.module.items[1].words] == words
        assert b.module.items[1].span.start == len(filler) + len("policy w\n")
    finally:
        del os.environ["POLICYLANG_CACHE_DIR"]


# ------------------------------------------------------------------- load() and the packs
def test_load_does_not_verify_shipped_patterns_one_by_one(monkeypatch):
    calls = []
    real = patterns.check_pattern
    monkeypatch.setattr(patterns, "check_pattern", lambda *a, **k: calls.append(a) or real(*a, **k))
    policylang.load("secrets")
    assert calls == []
    # a user's own patterns are still checked, and a broken one is still a located error
    with pytest.raises(policylang.PolicyError) as e:
        policylang.loads('policy p\npattern a = /a{3,1}b/\nrule r on input: when a refuse\n', "p.policy")
    assert "p.policy:2" in str(e.value) or any(d.span.line == 2 for d in e.value.diagnostics)


def test_check_still_verifies_a_pack_given_by_name():
    from policylang.check.checker import check
    from policylang.loader import FileEnvironment, load_modules

    infos, _ = load_modules(["secrets"])
    calls = []
    real = patterns.check_pattern
    patterns.check_pattern = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        check(infos, FileEnvironment((), None))
    finally:
        patterns.check_pattern = real
    assert calls  # `policylang check secrets` compiles its non-trivial patterns


# ------------------------------------------------------------------- view gates
def test_view_gates_come_from_the_cache(tmp_path, monkeypatch):
    import hyperscan as hs

    from policylang.runtime import views

    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path))
    names = ("spaced", "rot13", "morse")
    specs = {n: views._GATE_SPECS[n] for n in names if n in views._GATE_SPECS}
    assert specs
    first = views._Gate(tuple(specs), specs)
    (entry,) = tmp_path.glob("gate-*.hsdb")
    compiled = []
    real = hs.Database
    monkeypatch.setattr(hs, "Database", lambda *a, **k: compiled.append(1) or real(*a, **k))
    second = views._Gate(tuple(specs), specs)
    assert compiled == []  # loaded, not compiled
    for text in ("i g n o r e   a l l", "vtaber nyy cerivbhf", "... --- ...", "plain text"):
        assert second(text) == first(text)
    entry.write_bytes(b"\0" * 64)  # damaged: compiled again, same answers
    third = views._Gate(tuple(specs), specs)
    assert compiled == [1] and third("i g n o r e   a l l") == first("i g n o r e   a l l")


# ------------------------------------------------------------------- lazy regex objects
def test_compiling_a_regex_on_first_use_does_not_spend_the_texts_budget(monkeypatch):
    """A warm load compiles no `regex` object; the first text that needs one compiles it.
    On a busy machine that compile can take longer than the whole per-text budget: it must
    not turn into a spurious time-out (a refusal with no rule behind it)."""
    import time as _time

    import regex

    specs = [S(0, r"(?<=key=)[a-z]{4}\d", spans=True), S(1, r"(\w+)\s+\1", spans=True)]
    cp = compile_patterns(specs, cache_dir=False)
    real = regex.compile

    def slow(*a, **k):
        _time.sleep(0.15)
        return real(*a, **k)

    monkeypatch.setattr(regex, "compile", slow)
    hits = cp.scan("key=abcd1 and the the end", timeout=0.05)
    assert sorted((h.start, h.end) for h in hits) == [(4, 9), (14, 21)]
    # the budget still binds the matching itself
    from policylang.runtime.scan import RegexTimeout

    with pytest.raises(RegexTimeout):
        cp.scan("x" * 10 + " the the " * 200_000, timeout=1e-6)


def test_revalidation_budget_counts_matching_only(monkeypatch):
    """Re-validating a failed match ("1234 4111 1111 1111 1111": the 19-digit run fails Luhn,
    the card inside passes) compiles twin regexes and runs validators (phonenumbers loads its
    metadata on first use); neither may spend the regex budget: in a fresh environment that
    was a spurious time-out refusal (pii's phone pattern in a fresh-venv CI run)."""
    import time as _time

    import regex

    guard = policylang.loads('policy p\npattern card = /\\b(?:\\d[ -]?){12,18}\\d\\b/ validate luhn kind "card"\n'
                             'rule r on input: when card redact\n', "p.policy", cache_dir=False,
                             regex_timeout_ms=50)
    real = regex.compile

    def slow(*a, **k):
        _time.sleep(0.08)
        return real(*a, **k)

    monkeypatch.setattr(regex, "compile", slow)
    d = guard.check("pay 1234 4111 1111 1111 1111 now")
    assert d.action == "redact" and not d.errors, d.errors
    assert d.text == "pay 1234 [card] now"


def test_a_warm_check_imports_no_lark(cache_home, tmp_path):
    """A parse-cache hit needs neither Lark nor the parser: `policylang check` starts ~50 ms sooner."""
    import subprocess
    import sys

    policy = tmp_path / "seven.policy"
    policy.write_text('principle p "x"\n\npattern order_id = /ORD-[0-9]{8}/\n\n'
                      'rule r on input:\n    when order_id\n    refuse "no" because p\n')
    probe = ("import sys; from policylang.cli import main\n"
             "code = main(['check', sys.argv[1]])\n"
             "print('LARK' if 'lark' in sys.modules else 'NOLARK', code)")
    env = {**os.environ, "POLICYLANG_CACHE_DIR": str(cache_home)}
    env.pop("POLICYLANG_NO_PARSER_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", probe, str(policy)], capture_output=True, text=True, env=env)
            for _ in range(2)]
    assert [r.stdout.split()[-2:] for r in runs] == [["LARK", "0"], ["NOLARK", "0"]], [r.stderr for r in runs]
    # an edited file misses the cache and is parsed (with Lark) again
    policy.write_text(policy.read_text() + "\n")
    again = subprocess.run([sys.executable, "-c", probe, str(policy)], capture_output=True, text=True, env=env)
    assert again.stdout.split()[-2:] == ["LARK", "0"], again.stderr
