"""The pattern matcher backend: one real Hyperscan database, no mocks."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.compile.patterns import (
    CONFIRM,
    LATE,
    NOSOM,
    SINGLE,
    SOM,
    PatternProblem,
    PatternSetError,
    PatternSpec,
    check_pattern,
    regex_source,
    top_level_branches,
)
from policylang.runtime.scan import CompiledPatterns, Hit, compile_patterns

ROOT = Path(__file__).resolve().parents[1]
S = PatternSpec


def build(*specs: PatternSpec, **kw) -> CompiledPatterns:
    fixed = [PatternSpec(i, *_fields(s)[1:]) for i, s in enumerate(specs)]
    kw.setdefault("cache_dir", False)
    return compile_patterns(fixed, **kw)


def _fields(s: PatternSpec):
    return (s.id, s.expression, s.literal, s.caseless, s.dotall, s.multiline, s.ucp, s.wholeword, s.fuzzy, s.spans)


def spans(cp: CompiledPatterns, text: str, spec_id: int | None = None) -> list[tuple[int, int]]:
    return [(h.start, h.end) for h in cp.scan(text) if spec_id is None or h.id == spec_id]


def texts(cp: CompiledPatterns, text: str) -> list[tuple[int, str]]:
    return [(h.id, text[h.start : h.end]) for h in cp.scan(text)]


# --------------------------------------------------------------------------- literals


def test_literal_metacharacters_are_plain_text():
    cp = build(S(0, "a.b", literal=True), S(0, "(x)+[y]", literal=True), S(0, "\\d$", literal=True))
    text = "axb a.b (x)+[y] xxy \\d$ 5"
    assert texts(cp, text) == [(0, "a.b"), (1, "(x)+[y]"), (2, "\\d$")]


def test_nul_in_literal_and_text():
    cp = build(S(0, "ab\x00cd", literal=True), S(0, "zz", literal=True))
    text = "ab\x00cX ab\x00cd \x00zz\x00"
    assert spans(cp, text) == [(6, 11), (13, 15)]
    assert text[6:11] == "ab\x00cd"


def test_nul_in_regex_pattern():
    cp = build(S(0, "a\x00+b"))
    assert spans(cp, "a\x00\x00b ab") == [(0, 4)]


def test_caseless_literal_and_regex():
    cp = build(S(0, "PassWord", literal=True, caseless=True), S(0, r"secret-\d+", caseless=True))
    assert texts(cp, "password PASSWORD Secret-12 SECRET-x") == [
        (0, "password"),
        (0, "PASSWORD"),
        (1, "Secret-12"),
    ]


def test_caseless_non_ascii_literal_folds_like_hyperscan():
    cp = build(S(0, "sécurité", literal=True, caseless=True), S(0, "straße", literal=True, caseless=True))
    text = "SÉCURITÉ / STRAẞE / STRASSE"
    assert texts(cp, text) == [(0, "SÉCURITÉ"), (1, "STRAẞE")]


def test_wholeword_ascii():
    cp = build(S(0, "cat", literal=True, wholeword=True), S(0, "@home", literal=True, wholeword=True))
    text = "cat cats bobcat (cat) cat_x @home x@home @homes @home."
    assert texts(cp, text) == [(0, "cat"), (0, "cat"), (1, "@home"), (1, "@home")]
    assert spans(cp, text, 1) == [(28, 33), (48, 53)]


def test_wholeword_ascii_mode_treats_non_ascii_as_non_word():
    cp = build(S(0, "caf", literal=True, wholeword=True))
    assert spans(cp, "café cafe caf") == [(0, 3), (10, 13)]


def test_wholeword_ucp_uses_unicode_word_characters():
    cp = build(S(0, "caf", literal=True, wholeword=True, ucp=True))
    assert cp.kinds == (SOM,)  # a bare literal; the scanner checks the Unicode word edges
    assert cp.problems == ()
    assert spans(cp, "café cafe caf écaf caf") == [(10, 13), (19, 22)]


def test_fuzzy_literal():
    cp = build(S(0, "password", literal=True, fuzzy=1))
    assert texts(cp, "my passw0rd, pasword and p4ssw0rd") == [(0, "passw0rd"), (0, "pasword")]


def test_python_only_regex_spellings_keep_their_meaning():
    cp = build(
        S(0, r"\u00e9+"),
        S(0, r"\N{LATIN SMALL LETTER E WITH ACUTE}x"),
        S(0, r"a{,3}b"),
        S(0, r"x\Z"),
        S(0, r"[\u00e0-\u00ff]{2}"),
    )
    text = "ééx aaaab x\n àÿ x"
    assert texts(cp, text) == [(0, "éé"), (4, "éé"), (1, "éx"), (2, "aaab"), (4, "àÿ"), (3, "x")]
    assert spans(cp, text, 3) == [(len(text) - 1, len(text))]


def test_multiline_dotall_and_verbose():
    cp = build(S(0, "^foo$", multiline=True), S(0, "a.b", dotall=True), S(0, "^bar"), S(0, "(?x) c \\s d  # note é\n"))
    assert texts(cp, "foo\nbar\na\nb foo c d") == [(0, "foo"), (1, "a\nb"), (3, "c d")]


def test_compiled_patterns_are_immutable():
    cp = build(S(0, "a", literal=True))
    with pytest.raises(AttributeError):
        cp.specs = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cp.anything = 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- offsets


def test_offsets_are_code_points():
    cp = build(S(0, "fox", literal=True), S(0, r"\d+"), S(0, "ß", literal=True), S(0, "🙂", literal=True))
    text = "é🙂ß fox 42 日本 fox🙂 ß"
    got = cp.scan(text)
    assert [(h.id, text[h.start : h.end]) for h in got] == [
        (3, "🙂"),
        (2, "ß"),
        (0, "fox"),
        (1, "42"),
        (0, "fox"),
        (3, "🙂"),
        (2, "ß"),
    ]
    assert got[0] == Hit(3, 1, 2)


def test_many_hits_on_non_ascii_text_use_the_vectorised_map():
    cp = build(S(0, "x", literal=True))
    text = "é x " * 300
    got = spans(cp, text)
    assert len(got) == 300
    assert all(text[s:e] == "x" for s, e in got)


def test_dot_and_negated_classes_consume_whole_characters():
    cp = build(S(0, "a.c"), S(0, "b[^ ]{2}d"))
    assert texts(cp, "aéc a🙂c ab c bé🙂d") == [(0, "aéc"), (0, "a🙂c"), (1, "bé🙂d")]


def test_lone_surrogate_does_not_crash():
    cp = build(S(0, "ok", literal=True), S(0, "a.b"))
    text = "x\ud800 ok a\udfffb \ud83d"
    assert texts(cp, text) == [(0, "ok"), (1, "a\udfffb")]


# --------------------------------------------------------------------------- dedupe


def test_every_end_offset_is_merged_into_one_hit():
    cp = build(S(0, "a+"))
    assert spans(cp, "aaa b aa") == [(0, 3), (6, 8)]


def test_overlapping_literal_occurrences_follow_finditer():
    cp = build(S(0, "aa", literal=True), S(0, "abab", literal=True))
    assert spans(cp, "aaaa", 0) == [(0, 2), (2, 4)]
    assert spans(cp, "ababab", 1) == [(0, 4)]


def test_overlapping_regex_hits_are_recomputed_exactly():
    cp = build(S(0, r"\d{2,3}"), S(0, "ab|b+c"))
    assert spans(cp, "12345", 0) == [(0, 3), (3, 5)]
    assert spans(cp, "abbc", 1) == [(0, 2), (2, 4)]


def test_hits_are_sorted_by_start_end_id():
    cp = build(S(0, "abc", literal=True), S(0, "ab", literal=True), S(0, "b", literal=True))
    assert cp.scan("abc") == [Hit(1, 0, 2), Hit(0, 0, 3), Hit(2, 1, 2)]


# --------------------------------------------------------------------------- degraded paths


@functools.lru_cache(maxsize=None)
def _large_som() -> CompiledPatterns:
    return build(
        S(0, r"\S+@\S+\.\w+", ucp=True),
        S(0, r"(\w+\s+){3,8}password", ucp=True),
        S(0, r"\w+é", ucp=True),
    )


def test_som_too_large_falls_back_to_regex_starts():
    cp = _large_som()
    assert cp.kinds == (NOSOM, NOSOM, NOSOM)
    assert [p.code for _, p in cp.problems] == ["PL403", "PL403", "PL403"]
    assert "Pattern is too large" in cp.problems[0][1].message
    text = "écrivez à jérôme@exemple.fr ou bob@x.io — the one two three four password is " + "x" * 25 + "é"
    got = texts(cp, text)
    assert got == [
        (2, "jé"),
        (0, "jérôme@exemple.fr"),
        (0, "bob@x.io"),
        (1, "the one two three four password"),
        (2, "x" * 25 + "é"),
    ]


def test_som_too_large_matches_regex_finditer():
    cp = _large_som()
    text = "a@b.c d@e.fg\n" * 5 + "w1 w2 w3 password w4 w5 w6 w7 w8 w9 password"
    for spec in cp.specs[:2]:
        rx = regex.compile(*regex_source(spec))
        assert spans(cp, text, spec.id) == [m.span() for m in rx.finditer(text)]


@functools.lru_cache(maxsize=None)
def _nonportable() -> CompiledPatterns:
    return build(S(0, r"(\w+) \1"), S(0, "foo(?=bar)"), S(0, "(?<!un)safe"), S(0, "(?>a+)b"), S(0, r"\bword\b", ucp=True))


def test_prefilter_and_confirm_give_exact_results():
    cp = _nonportable()
    assert cp.kinds == (CONFIRM,) * 5
    assert {p.code for _, p in cp.problems} == {"PL402"}
    text = "hello world foobaz unsafe hello hello foobar safe aab wordy word"
    assert texts(cp, text) == [
        (0, "hello hello"),
        (1, "foo"),
        (2, "safe"),
        (3, "aab"),
        (4, "word"),
    ]
    assert spans(cp, text, 1) == [(38, 41)]
    assert cp.scan("hello world foobaz unsafe") == []


def test_detection_only_spec_gives_the_first_span():
    cp = build(
        S(0, r"\d{3}-\d{2}-\d{4}", spans=False),
        S(0, "token", literal=True, caseless=True, spans=False),
        S(0, r"\S+@\S+\.\w+", ucp=True, spans=False),
    )
    text = "ssn 123-45-6789 and 987-65-4321, TOKEN token, mail a@b.io c@d.io"
    got = texts(cp, text)
    assert got[0] == (0, "123-45-6789") and spans(cp, text, 0)[0] == (4, 15)
    assert (1, "TOKEN") in got and spans(cp, text, 1)[0] == (33, 38)
    assert spans(cp, text, 2)[0] == (text.index("a@b.io"), text.index("a@b.io") + 6)


# --------------------------------------------------------------------------- problems


def test_empty_regex_is_pl202():
    for expr in ("", "a*", "x|", r"\b", "(?=a)", "^"):
        assert [p.code for p in check_pattern(S(0, expr))] == ["PL202"], expr
    assert [p.code for p in check_pattern(S(0, "", literal=True))] == ["PL202"]
    assert [p.code for p in check_pattern(S(0, "ab", literal=True, fuzzy=2))] == ["PL202"]
    assert [p.code for p in check_pattern(S(0, "abc", literal=True, fuzzy=-1))] == ["PL201"]


def test_invalid_regex_is_pl201():
    (problem,) = check_pattern(S(0, "(unclosed"))
    assert problem.code == "PL201"
    assert problem.message.startswith("invalid regular expression") and not problem.message.endswith(".")


def test_backreference_is_pl402_and_hyperscan_only_failure_is_pl401():
    (problem,) = check_pattern(S(0, r"(a)\1"))
    assert problem == PatternProblem(problem.code, problem.message)
    assert problem.code == "PL402"
    assert "Back-references are unsupported" in problem.message
    (problem,) = check_pattern(S(0, r"a\Rb"))
    assert problem.code == "PL401"
    assert problem.message.startswith("hyperscan cannot compile this pattern: ")


def test_check_pattern_clean_and_pl403():
    assert check_pattern(S(0, r"\d{3}-\d{2}-\d{4}")) == []
    assert [p.code for p in check_pattern(S(0, r"\S+@\S+\.\w+", ucp=True))] == ["PL403"]
    assert check_pattern(S(0, r"\S+@\S+\.\w+", ucp=True, spans=False)) == []


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab()[]{}\\*+?|^$.-,:=!<>0123Pwdsé\x00", max_size=12), st.booleans(), st.booleans())
def test_check_pattern_never_raises(expr, literal, ucp):
    problems = check_pattern(S(0, expr, literal=literal, ucp=ucp))
    assert all(p.code in {"PL201", "PL202", "PL401", "PL402", "PL403"} for p in problems)


def test_pattern_set_error_names_every_bad_spec():
    specs = [S(0, "fine"), S(1, "(bad"), S(2, "ok", literal=True), S(3, "a*"), S(4, r"x\Ry")]
    with pytest.raises(PatternSetError) as info:
        compile_patterns(specs, cache_dir=False)
    got = {(i, p.code) for i, p in info.value.problems}
    assert got == {(1, "PL201"), (3, "PL202"), (4, "PL401")}
    assert "pattern 1: PL201" in str(info.value)
    assert pickle.loads(pickle.dumps(info.value)).problems == info.value.problems


def test_ids_must_be_dense():
    with pytest.raises(ValueError):
        compile_patterns([S(1, "a")], cache_dir=False)


# --------------------------------------------------------------------------- cache, shipping


def test_cache_round_trip(tmp_path):
    specs = [S(0, r"\d{3}-\d{2}-\d{4}"), S(1, r"\S+@\S+\.\w+", ucp=True), S(2, "w", literal=True)]
    first = compile_patterns(specs, cache_dir=tmp_path)
    assert not first.from_cache
    assert first.cache_path is not None and Path(first.cache_path).is_file()
    second = compile_patterns(specs, cache_dir=tmp_path)
    assert second.from_cache and second.cache_path == first.cache_path
    assert second.kinds == first.kinds and second.problems == first.problems
    text = "id 123-45-6789 mail é@x.io w"
    assert second.scan(text) == first.scan(text) != []
    # another spec set gets another file
    third = compile_patterns(specs[:2], cache_dir=tmp_path)
    assert not third.from_cache and third.cache_path != first.cache_path


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path / "env"))
    cp = compile_patterns([S(0, "envcache", literal=True)])
    assert cp.cache_path is not None and cp.cache_path.startswith(str(tmp_path / "env"))
    assert compile_patterns([S(0, "envcache", literal=True)]).from_cache


@pytest.mark.parametrize("damage", ["garbage", "truncate", "flip", "empty"])
def test_corrupt_cache_file_is_ignored(tmp_path, damage):
    specs = [S(0, r"\d+"), S(1, "abc", literal=True)]
    path = Path(compile_patterns(specs, cache_dir=tmp_path).cache_path)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a database at all")
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
    else:
        path.write_bytes(b"")
    cp = compile_patterns(specs, cache_dir=tmp_path)
    assert not cp.from_cache
    assert spans(cp, "x 12 abc") == [(2, 4), (5, 8)]
    assert compile_patterns(specs, cache_dir=tmp_path).from_cache  # rewritten


def test_unwritable_cache_dir_is_no_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cp = compile_patterns([S(0, "a", literal=True)], cache_dir=blocker / "sub")
    assert spans(cp, "a") == [(0, 1)]


def _som_in_main(cp: CompiledPatterns) -> CompiledPatterns:
    """The same specs with every LATE spec compiled with SOM in the main database (as before LATE)."""
    import hyperscan as hs

    from policylang.compile.patterns import build_database

    kinds = [SOM if k == LATE else k for k in cp.kinds]
    return CompiledPatterns._build(cp.specs, build_database(cp.specs, kinds, hs.HS_MODE_BLOCK), kinds, [])


LATE_SPECS = (
    S(0, r"[\w.+-]+@[\w-]+\.\w{2,}"),
    S(1, r"\b[a-z0-9_]*(?:password|token)\s*[:=]\s*\S+", caseless=True),
    S(2, r"\d{3}-\d{2}-\d{4}"),
    S(3, "secret", literal=True),  # a plain literal keeps SOM in the main database
    S(4, "passwrd", literal=True, fuzzy=1),
    S(5, r"é+ü?"),
    S(6, r"ab|abab"),
)


def test_spans_regexes_get_their_own_som_database():
    cp = build(*LATE_SPECS, S(0, r"ignore \w+", spans=False))
    assert cp.kinds == (LATE, LATE, LATE, SOM, LATE, LATE, LATE, SINGLE)
    text = "mail a.b@x.io PASSWORD = hunter2 123-45-6789 secret paswrd éé abab"
    got = texts(cp, text)
    assert got == texts(_som_in_main(cp), text)
    assert (0, "a.b@x.io") in got and (1, "PASSWORD = hunter2") in got and (5, "éé") in got
    assert (6, "abab") in got  # Hyperscan's longest match at the leftmost start, as with SOM
    with cp.open_stream() as stream:  # streams keep SOM in their one database
        stream.feed(text)
        stream.close()
    assert LATE not in cp._stream_state().kinds


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="a.b@x-io é ü123-45-6789\nPASSWORD=token:", max_size=60))
def test_late_som_equals_som_in_the_main_database(text):
    cp = _late_set()
    assert cp.scan(text) == _late_som_set().scan(text)


@functools.lru_cache(maxsize=None)
def _late_set() -> CompiledPatterns:
    return build(*LATE_SPECS)


@functools.lru_cache(maxsize=None)
def _late_som_set() -> CompiledPatterns:
    return _som_in_main(_late_set())


def test_late_databases_round_trip_through_cache_and_dumps(tmp_path):
    specs = [PatternSpec(i, *_fields(s)[1:]) for i, s in enumerate(LATE_SPECS)]
    first = compile_patterns(specs, cache_dir=tmp_path)
    second = compile_patterns(specs, cache_dir=tmp_path)
    assert second.from_cache and second.kinds == first.kinds and LATE in second.kinds
    text = "x a@b.io token: abc 111-22-3333 éü"
    assert second.scan(text) == first.scan(text) != []
    again = CompiledPatterns.loads(first.specs, first.dumps())
    assert again.scan(text) == first.scan(text)
    assert pickle.loads(pickle.dumps(second)).scan(text) == first.scan(text)
    # a header whose side databases do not add up is refused, not half-loaded
    data = first.dumps()
    with pytest.raises(ValueError):
        CompiledPatterns.loads(first.specs, data[:-1])
    with pytest.raises(ValueError):
        CompiledPatterns._build(first.specs, first._db, first.kinds, [], side={})


def test_dumps_loads_and_pickle():
    cp = build(S(0, r"\d+"), S(0, r"(\w+) \1"), S(0, "xy", literal=True, spans=False))
    text = "12 go go xy"
    again = CompiledPatterns.loads(cp.specs, cp.dumps())
    assert again.scan(text) == cp.scan(text) != []
    assert pickle.loads(pickle.dumps(cp)).scan(text) == cp.scan(text)
    with pytest.raises(ValueError):
        CompiledPatterns.loads(cp.specs[:2], cp.dumps())
    with pytest.raises(ValueError):
        CompiledPatterns.loads(cp.specs, b"junk")


def test_empty_spec_list():
    cp = compile_patterns([], cache_dir=False)
    assert cp.scan("anything") == [] and cp.scan_many(["a", ""]) == [[], []]
    assert cp.max_match_width == 0
    with cp.open_stream() as stream:
        assert stream.feed("abc") == []
        assert stream.close() == []
    assert CompiledPatterns.loads((), cp.dumps()).scan("x") == []


def test_scan_many_and_empty_text():
    cp = build(S(0, "a", literal=True))
    assert cp.scan("") == []
    assert cp.scan_many(["a", "", "ba"]) == [[Hit(0, 0, 1)], [], [Hit(0, 1, 2)]]


def test_max_match_width():
    assert build(S(0, "abc", literal=True), S(0, r"\d{2,5}")).max_match_width == 5
    cp = build(S(0, "abc", literal=True), S(0, r"\d+"))
    assert cp.max_match_width is None and cp.match_widths == (3, None)


# --------------------------------------------------------------------------- threads


def test_thread_safety():
    cp = build(S(0, r"\d{3}-\d{2}-\d{4}"), S(0, "secret", literal=True, caseless=True), S(0, r"(\w+) \1"))
    inputs = [f"{'é' * i} ssn 123-45-{1000 + i} SECRET go go {i}" for i in range(40)]
    expected = [cp.scan(t) for t in inputs]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for _ in range(30):
                for n in range(k, len(inputs), 2):
                    assert cp.scan(inputs[n]) == expected[n]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k % 2,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --------------------------------------------------------------------------- streams


def test_stream_match_split_across_three_chunks():
    cp = build(S(0, "ignore (all )?previous instructions", caseless=True), S(0, "fox", literal=True))
    stream = cp.open_stream()
    got = []
    got += stream.feed("é🙂 Please ign")
    got += stream.feed("ore all prev")
    assert got == []
    got += stream.feed("ious instructions now, fox")
    assert got == [Hit(0, 10, 42), Hit(1, 48, 51)]
    assert stream.close() == []


def test_stream_end_anchored_pattern_fires_at_close():
    cp = build(S(0, "bye$"), S(0, r"end\b"))
    stream = cp.open_stream()
    assert stream.feed("bye the end") == []  # `end` may still go on: \b is pending
    assert stream.feed(" and good") == [Hit(1, 8, 11)]
    assert stream.feed(" bye") == []
    assert stream.close() == [Hit(0, 21, 24)]
    assert stream.close() == []
    with pytest.raises(ValueError):
        stream.feed("more")


def test_stream_degraded_kinds():
    cp = build(
        S(0, r"\S+@\S+\.\w+", ucp=True),
        S(0, "foo(?=bar)"),
        S(0, r"(\w+) \1"),
        S(0, "token", literal=True, spans=False),
        S(0, r"\d+"),
    )
    chunks = ["mail jo", "hn@exa", "mple.com ok foo", "bar hello hel", "lo token token 12", "34 end"]
    text = "".join(chunks)
    with cp.open_stream() as stream:
        got = [h for c in chunks for h in stream.feed(c)]
        got += stream.close()
    assert {(h.id, text[h.start : h.end]) for h in got} >= {
        (0, "john@example.com"),
        (1, "foo"),
        (2, "hello hello"),
        (3, "token"),
        (4, "1234"),
    }
    # a growing match may be reported again, larger; never twice the same
    assert len(got) == len(set(got))
    assert [h for h in got if h.id == 3] == [Hit(3, text.index("token"), text.index("token") + 5)]


def test_stream_tail_fallback_for_specs_hyperscan_cannot_stream():
    # No pattern found so far is refused by every stream-mode variant (prefilter takes them
    # all), so plan one spec as TAIL by hand: it is then matched by regex over the tail.
    from policylang.compile.patterns import TAIL, build_database, stream_mode
    from policylang.runtime.scan import STREAM_CONFIRM_LAG, _StreamState

    cp = build(S(0, "needle", literal=True), S(0, r"(\w+) \1"))
    kinds = [SOM, TAIL]
    db = build_database(cp.specs, kinds, stream_mode(kinds))
    object.__setattr__(cp, "_stream", _StreamState(db, kinds, [], False, cp._windows))
    text = "go go needle " + "x y " * STREAM_CONFIRM_LAG + "ab ab"
    stream = cp.open_stream()
    got = stream.feed(text[:5])
    assert got == []  # within the lag: a longer match may still come
    got += stream.feed(text[5:])
    assert got == [Hit(1, 0, 5), Hit(0, 6, 12)]
    assert stream.close() == [Hit(1, len(text) - 5, len(text))]


def test_stream_handler_survives_dropped_references():
    code = textwrap.dedent(
        """
        import gc
        from policylang.compile.patterns import PatternSpec
        from policylang.runtime.scan import compile_patterns

        def make():
            cp = compile_patterns([PatternSpec(0, "needle", literal=True), PatternSpec(1, "bye$")], cache_dir=False)
            return cp.open_stream()   # the caller keeps only the stream

        stream = make()
        gc.collect()
        hits = []
        for i in range(20):
            hits += stream.feed("hay needle hay " * 3)
            gc.collect()
        hits += stream.feed("good bye")
        hits += stream.close()
        abandoned = make()            # never closed: __del__ must close it safely
        abandoned.feed("needle")
        del abandoned
        gc.collect()
        print(len(hits), hits[-1].id)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["61", "1"]


def test_streams_in_threads():
    cp = build(S(0, "needle", literal=True), S(0, r"\d{3}"))
    text = "a needle é 123 x " * 20
    expected = cp.scan(text)
    results: list[list[Hit]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        for _ in range(10):
            stream = cp.open_stream()
            got = []
            for i in range(0, len(text), 7):
                got += stream.feed(text[i : i + 7])
            got += stream.close()
            results[k] = sorted(got, key=lambda h: (h.start, h.end, h.id))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


# --------------------------------------------------------------------------- properties

ALPHABET = "ab c1 2-.é🙂ßx\x00\n"
PROPERTY_SPECS = (
    S(0, "ab", literal=True),
    S(1, "aa", literal=True),
    S(2, "é🙂", literal=True),
    S(3, "a.b", literal=True),
    S(4, "[0-9]+"),
    S(5, "[a-c]+x"),
    S(6, "é+"),
    S(7, r"\d{2,3}"),
    S(8, "b[^ ]*c"),
    S(9, "x", literal=True, caseless=True),
    S(10, r"\w+", ucp=True),
)


@functools.lru_cache(maxsize=None)
def _property_set() -> CompiledPatterns:
    return compile_patterns(PROPERTY_SPECS, cache_dir=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_scan_equals_regex_finditer(text):
    cp = _property_set()
    hits = cp.scan(text)
    assert hits == sorted(hits, key=lambda h: (h.start, h.end, h.id))
    for spec in PROPERTY_SPECS:
        rx = regex.compile(*regex_source(spec))
        want = [m.span() for m in rx.finditer(text)]
        got = [(h.start, h.end) for h in hits if h.id == spec.id]
        assert got == want, (spec, text)
        for s, e in got:
            assert rx.fullmatch(text[s:e]), (spec, text[s:e])


def _drop_nested(hits):
    keep = []
    for h in hits:
        if not any(o is not h and o.id == h.id and o.start <= h.start and h.end <= o.end and (o.start, o.end) != (h.start, h.end) for o in hits):
            keep.append(h)
    return sorted(set(keep), key=lambda h: (h.start, h.end, h.id))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=40), st.lists(st.integers(0, 40), max_size=5))
def test_stream_equals_block_scan(text, cuts):
    cp = _property_set()
    stable = {0, 1, 2, 3, 4, 6, 9}  # literals and simple runs: no partial overlaps
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    with cp.open_stream() as stream:
        got = []
        for a, b in zip(bounds, bounds[1:]):
            got += stream.feed(text[a:b])
        got += stream.close()
    got = _drop_nested([h for h in got if h.id in stable])
    assert got == [h for h in cp.scan(text) if h.id in stable]


# --------------------------------------------------------------------------- alternatives


def test_top_level_branches_split_only_at_depth_zero():
    assert top_level_branches(r"(?i)a|b(c|d)|[|)]e|\|f|(?<!x)g|\\|h") == [
        "(?i)a", "(?i)b(c|d)", "(?i)[|)]e", r"(?i)\|f", "(?i)(?<!x)g", r"(?i)\\", "(?i)h"]
    assert top_level_branches(r"[]|]x|y") == ["[]|]x", "y"]  # "]" first in a class is literal


@pytest.mark.parametrize("pattern", [
    "abc",                 # no alternation
    "(?:a|b)",             # only inside a group
    r"(a)\1|b",            # a back-reference ties the branches
    "(?P<n>a)|b",          # named group
    "(?x) a | b",          # verbose: whitespace and comments
    "[[:alpha:]]|b",       # POSIX class
    "a|",                  # an empty alternative
    "(a|b",                # unbalanced
    "a)|b",
    "[a|b",
])
def test_top_level_branches_refuses_what_it_cannot_split_safely(pattern):
    assert top_level_branches(pattern) is None


_ATOMS = st.sampled_from(["a", "b", "ab", "[ab]", "(?:a|bb)", "a?", "b+", "\\bab", "(?=a)a", "[|]", "x{1,2}", "\\|"])
_BRANCH = st.lists(_ATOMS, min_size=1, max_size=4).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(_BRANCH, min_size=2, max_size=5), st.text(alphabet="ab|x ", max_size=20))
def test_a_pattern_matches_where_one_of_its_alternatives_does(branches, text):
    pattern = "|".join(branches)
    parts = top_level_branches(pattern)
    assert parts == branches
    whole = regex.search(pattern, text)
    assert (whole is not None) == any(regex.search(b, text) for b in parts)
    # at a fixed start the whole pattern's match is the first alternative that matches there
    for start in range(len(text) + 1):
        m = regex.compile(pattern).match(text, start)
        first = next((r for r in (regex.compile(b).match(text, start) for b in parts) if r), None)
        assert (m and m.span()) == (first and first.span())
