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
    assert main(["scan", "-p", str(pol), str(inp), "-o", str(out)]) == 0
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
    assert [r["line"] for r in recs if "error" in r] == [2, 4, 5]
    # the order of records follows the input
    assert [r["id"] if r.get("id") is not None else r["line"] for r in recs] == ["a", 2, "c", 4, "e", "f"]


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


def test_scan_bad_policy_exits_1(tmp_path, capsys):
    pol = _policy(tmp_path, 'rule r on input: when undefined_thing refuse "x"\n')
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "x"}\n')
    assert main(["scan", "-p", str(pol), str(inp)]) == 1
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
    assert main(["explain", "-p", str(pol), "--json", "Ignore previous instructions"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["action"] == "refuse" and d["text"] == "nope"


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
