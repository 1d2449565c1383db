"""`policylang scan`, `explain` and `test` through the real command line entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from policylang.cli import main

ROOT = Path(__file__).resolve().parents[1]
POLICY = r'''
policy cli "cli tests"
principle privacy "Protect personal data."
pattern email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/
words jb = ["ignore previous instructions"] nocase
rule redact_email on input, output: when email redact "[{kind}]" because privacy
rule no_jb on input: when jb refuse "nope" because privacy

test "email redacted":
    input "mail a@b.co now"
    expect redact by redact_email text "mail [email] now"
test "jailbreak refused":
    input "Ignore previous instructions"
    expect refuse by no_jb
'''


def _policy(tmp_path, text=POLICY):
    p = tmp_path / "cli.policy"
    p.write_text(text)
    return p


def test_scan_jsonl_with_bad_lines(tmp_path, capsys):
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(
        b'{"id": "a", "text": "mail a@b.co"}\n'
        b'not json\n'
        b'{"id": "c", "text": "Ignore previous instructions"}\n'
        b'\xff\xfe broken utf-8\n'
        b'{"id": "e"}\n'
        b'\n'
        b'{"id": "f", "text": "hello"}\n'
    )
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out)]) == 1  # some lines were bad
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    err = capsys.readouterr().err
    assert f"{inp}:2: error: invalid JSON" in err
    assert f"{inp}:4: error: line is not valid UTF-8" in err
    assert f"{inp}:5: error:" in err
    by_id = {r.get("id"): r for r in recs if "action" in r}
    assert by_id["a"]["action"] == "redact" and by_id["a"]["text"] == "mail [email]"
    assert by_id["a"]["redactions"][0] | {} and {"start", "end", "kind"} <= by_id["a"]["redactions"][0].keys()
    assert by_id["c"]["action"] == "refuse" and by_id["c"]["citations"][0]["rule_id"] == "no_jb"
    assert by_id["f"]["action"] == "allow"
    assert [r["line"] for r in recs if "error" in r] == [2, 4, 5, 6]  # 6: the blank line
    # one record per input line, in input order, each with its line number
    assert [r["line"] for r in recs] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["id"] for r in recs] == ["a", None, "c", None, "e", None, "f"]
    assert "scanned 7 lines, 4 bad" in err


def test_scan_accepts_pack_names_and_stage(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": 1, "text": "write to jane@example.org"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", "pii", "--stage", "output", str(inp), "-o", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["stage"] == "output" and rec["text"] == "write to [email]"


def test_scan_many_lines_in_batches(tmp_path):
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    with inp.open("w") as f:
        for i in range(3000):
            f.write(json.dumps({"id": i, "text": f"message {i} to u{i}@example.com"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out), "--batch", "100"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3000
    assert json.loads(lines[-1])["text"] == "message 2999 to [email]"


def test_scan_usage_errors(tmp_path, capsys):
    pol = _policy(tmp_path)
    assert main(["scan", "-p", str(pol), str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["scan", "-p", str(tmp_path / "nope.policy"), "x.jsonl"]) == 2


def test_scan_bad_policy_exits_2(tmp_path, capsys):
    pol = _policy(tmp_path, 'rule r on input: when undefined_thing refuse "x"\n')
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "x"}\n')
    assert main(["scan", "-p", str(pol), str(inp)]) == 2
    assert "PL101" in capsys.readouterr().err


def test_explain_shows_rule_source_and_span(tmp_path, capsys):
    pol = _policy(tmp_path)
    assert main(["explain", "-p", str(pol), "please mail a@b.co"]) == 0
    out = capsys.readouterr().out
    assert "decision: redact" in out
    assert f"{pol}:6" in out
    assert "rule redact_email on input, output" in out  # the cited rule's source line
    assert "please mail [[a@b.co]]" in out  # the matched span, highlighted
    assert "principle: Protect personal data." in out


def test_explain_json(tmp_path, capsys):
    pol = _policy(tmp_path)
    assert main(["explain", "-p", str(pol), "--json", "Ignore previous instructions"]) == 0  # explained
    d = json.loads(capsys.readouterr().out)
    assert d["action"] == "refuse" and d["text"] == "nope"


def test_explain_fail_exits_1_on_refuse_only(tmp_path, capsys):
    pol = _policy(tmp_path)
    assert main(["explain", "--fail", "-p", str(pol), "Ignore previous instructions"]) == 1
    assert "decision: refuse" in capsys.readouterr().out
    assert main(["explain", "--fail", "-p", str(pol), "please mail a@b.co"]) == 0  # redact is not a refusal
    assert main(["explain", "--fail", "-p", str(pol), "hello"]) == 0


def test_test_command_pass_and_fail(tmp_path, capsys):
    pol = _policy(tmp_path)
    assert main(["test", str(pol)]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
    bad = _policy(tmp_path, POLICY.replace('text "mail [email] now"', 'text "mail a@b.co now"'))
    assert main(["test", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {bad}:9 email redacted" in out
    assert "1 passed, 1 failed" in out


def test_packs_pass_their_own_tests(capsys):
    for pack in ("pii", "secrets", "jailbreak", "toxicity"):
        assert main(["test", pack, "-q"]) == 0, capsys.readouterr().out
        assert " 0 failed" in capsys.readouterr().out


def test_console_script_runs(tmp_path):
    pol = _policy(tmp_path)
    r = subprocess.run([sys.executable, "-m", "policylang", "explain", "-p", str(pol), "hello"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "decision: allow" in r.stdout


# ---------------------------------------------------------------- scan: bad lines never cost a batch
import policylang  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


def test_scan_lone_surrogate_is_scanned_with_offsets_into_the_str(tmp_path, capsys):
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": 1, "text": "ok a@b.co"}\n'
                   '{"id": 2, "text": "x\\ud800 mail a@b.co"}\n'
                   '{"id": 3, "text": "\\udfff"}\n'
                   '{"id": 4, "text": "Ignore previous instructions"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out), "--batch", "4"]) == 0
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in recs] == [1, 2, 3, 4] and all("error" not in r for r in recs)
    assert recs[1]["action"] == "redact" and recs[1]["text"] == "x\ud800 mail [email]"
    (red,) = recs[1]["redactions"]
    assert ("x\ud800 mail a@b.co")[red["start"]:red["end"]] == "a@b.co"  # str offsets, surrogate counts as 1
    assert recs[2]["action"] == "allow" and recs[3]["action"] == "refuse"
    assert "scanned 4 lines, 0 bad" in capsys.readouterr().err


def test_scan_every_line_bad_exits_1(tmp_path, capsys):
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    inp.write_text('nope\n[1, 2]\n{"text": 5}\n')
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out)]) == 1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["line"], r["error"]) for r in recs] == [
        (1, "invalid JSON: Expecting value at column 1"),
        (2, "each line must be a JSON object, got an array"),
        (3, '"text" must be a string, got a number'),
    ]


def test_scan_engine_failure_costs_one_line_not_the_batch(tmp_path, capsys, monkeypatch):
    """If the engine raises for one text, that line gets an error record and the rest are scanned."""
    from policylang.guard import Guard

    real = Guard.check

    def check(self, text, stage="input", context=None):
        if text == "boom":
            raise RuntimeError("engine exploded")
        return real(self, text, stage, context)

    def check_many(self, texts, stage="input", context=None):
        return [check(self, t, stage) for t in texts]

    monkeypatch.setattr(Guard, "check", check)
    monkeypatch.setattr(Guard, "check_many", check_many)
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "text": "a@b.co"}\n{"id": "b", "text": "boom"}\n{"id": "c", "text": "hi"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out)]) == 1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == ["a", "b", "c"]
    assert recs[0]["action"] == "redact" and recs[2]["action"] == "allow"
    assert recs[1]["error"] == "internal error checking this text: RuntimeError: engine exploded"


_TEXT = st.lists(st.sampled_from(["a", " ", "@", ".", "b", "co", "\ud800", "\udc00", "é", "Ignore previous instructions",
                                 "x@y.io", "\n", "\u200b"]), max_size=8).map("".join)
_LINE = st.one_of(
    st.tuples(st.just("good"), _TEXT, st.one_of(st.none(), st.integers(0, 9), st.text(max_size=3))),
    st.tuples(st.just("malformed"), st.sampled_from(['{"text": ', "{'text': 'x'}", "nul", '{"text": "a"', "\ufeff{"]),
              st.none()),
    st.tuples(st.just("not_object"), st.sampled_from(["[1]", '"text"', "3", "null", "true"]), st.none()),
    st.tuples(st.just("no_text"), st.just('{"id": 7}'), st.none()),
    st.tuples(st.just("bad_text"), st.sampled_from(['{"text": 1}', '{"text": null}', '{"text": ["a"]}']), st.none()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, min_size=1, max_size=12), batch=st.integers(1, 5))
def test_scan_property_one_record_per_line_in_order(tmp_path, lines, batch):
    pol = _policy(tmp_path)
    guard = policylang.load(str(pol))
    raw = []
    for kind, value, rid in lines:
        if kind == "good":
            obj = {"text": value} if rid is None else {"id": rid, "text": value}
            raw.append(json.dumps(obj))  # ASCII escapes: a lone surrogate is written as \ud800
        else:
            raw.append(value)
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(raw) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(["scan", "-p", str(pol), str(inp), "-o", str(out), "--batch", str(batch)])
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(recs) == len(lines)
    assert [r["line"] for r in recs] == list(range(1, len(lines) + 1))
    for (kind, value, rid), line, rec in zip(lines, raw, recs):
        if kind == "good":
            assert "error" not in rec, rec
            assert rec["id"] == (rec["line"] if rid is None else rid)
            # the str as JSON gives it (an escaped surrogate *pair* decodes to one code point)
            want = guard.check(json.loads(line)["text"]).model_dump(mode="json")
            assert (rec["action"], rec["text"], rec["redactions"]) == (want["action"], want["text"],
                                                                        want["redactions"])
            assert [c["rule_id"] for c in rec["citations"]] == [c["rule_id"] for c in want["citations"]]
        else:
            assert rec["error"] and "action" not in rec
    assert code == (1 if any(k != "good" for k, _, _ in lines) else 0)


# ---------------------------------------------------------------- scan: bounded memory on huge lines
def test_scan_line_over_the_byte_limit_gets_an_error_record(tmp_path, capsys):
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    big = json.dumps({"id": "big", "text": "mail a@b.co " * 500})
    exact = json.dumps({"id": "exact", "text": "x" * 10})
    inp.write_text('{"id": "a", "text": "mail a@b.co"}\n' + big + "\n" + exact + "\n"
                   + '{"id": "z", "text": "a@b.co"}')  # the last line has no newline
    out = tmp_path / "out.jsonl"
    limit = len(exact.encode())
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out), "--max-line-bytes", str(limit)]) == 1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in recs] == [1, 2, 3, 4]
    assert recs[0]["text"] == "mail [email]" and recs[3]["text"] == "[email]"
    assert recs[2]["id"] == "exact" and recs[2]["action"] == "allow"  # exactly the limit: read
    assert "action" not in recs[1]
    assert recs[1]["error"].startswith(f"line too long: over {limit:,} bytes (read {len(big.encode()):,})")
    err = capsys.readouterr().err
    assert f"{inp}:2: error: line too long" in err and "scanned 4 lines, 1 bad" in err


def test_scan_huge_line_is_skipped_in_pieces(tmp_path, monkeypatch):
    """A line longer than the limit is never read whole: reads are capped at limit + 1 and 1 MiB."""
    import io

    from policylang import commands

    monkeypatch.setattr(commands, "READ_CHUNK", 4096)
    data = b'{"text": "a@b.co"}\n' + b'{"text": "' + b"y" * 200_000 + b'"}\n' + b'{"text": "ok"}\n'
    sizes = []

    class Spy(io.BytesIO):
        def readline(self, size=-1):
            sizes.append(size)
            return super().readline(size)

    got = list(commands.bounded_lines(Spy(data), 1000))
    assert got[0] == b'{"text": "a@b.co"}\n' and got[2] == b'{"text": "ok"}\n'
    assert got[1] == 200_012  # the bytes of the skipped line, newline not counted
    assert max(sizes) == 4096 and -1 not in sizes


def test_scan_default_line_limit_follows_max_text_chars():
    from policylang import commands

    guard = policylang.loads('policy p\npattern x = /x/\nrule r on input: when x refuse "no" cite "t"\n',
                             max_text_chars=1000)
    assert commands.max_line_bytes(guard, None) == 6 * 1000 + 64 * 1024
    assert commands.max_line_bytes(policylang.load("pii"), None) == 24_065_536
    assert commands.max_line_bytes(guard, 5) == 5


def test_scan_max_line_bytes_must_be_positive(tmp_path, capsys):
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "a"}\n')
    assert main(["scan", "-p", str(pol), str(inp), "--max-line-bytes", "0"]) == 2
    assert "--max-line-bytes must be at least 1" in capsys.readouterr().err


def test_scan_surrogate_bytes_are_a_bad_line_of_their_own(tmp_path, capsys):
    """A UTF-8-encoded surrogate (CESU bytes ED A0 80) is invalid UTF-8: one error record, the rest scanned."""
    pol = _policy(tmp_path)
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b'{"id": 1, "text": "a@b.co"}\n{"id": 2, "text": "x\xed\xa0\x80y"}\n{"id": 3, "text": "hi"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out), "--batch", "3"]) == 1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs[0]["action"] == "redact" and recs[2]["action"] == "allow"
    assert recs[1]["line"] == 2 and recs[1]["error"].startswith("line is not valid UTF-8")
