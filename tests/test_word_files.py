"""Word files (`words NAME = file "..."`): confined to the policy's folder (PL216), bounded (PL217)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import policylang
from policylang.cli import main
from policylang.errors import PolicyCheckError
from policylang.loader import MAX_WORD_FILE_BYTES, FileEnvironment, WordLimits, read_word_file

ROOT = Path(__file__).resolve().parents[1]


def policy(path: Path, ref: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'policy t\nprinciple p "P."\nwords w = file "{ref}" nocase\n'
                    'rule r on input:\n    when w\n    refuse "no"\n    because p\n')
    return path


def codes_of(target, **options) -> list[str]:
    with pytest.raises(PolicyCheckError) as info:
        policylang.load(str(target), **options)
    return [d.code for d in info.value.diagnostics]


def test_a_list_in_the_policy_folder_loads(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "w.txt").write_text("# comment\nsecret project\n\nzebra\n")
    g = policylang.load(str(policy(tmp_path / "t.policy", "lists/w.txt")))
    assert g.check("about the SECRET project").action == "refuse"
    assert g.check("about a horse").action == "allow"


def test_parent_traversal_is_outside(tmp_path):
    (tmp_path / "outside.txt").write_text("secret\n")
    pol = policy(tmp_path / "sub" / "t.policy", "../outside.txt")
    assert codes_of(pol) == ["PL216"]
    # also when the file does not exist: the path alone is refused
    assert codes_of(policy(tmp_path / "sub" / "t.policy", "../../../../etc/passwd")) == ["PL216"]
    assert codes_of(policy(tmp_path / "sub" / "t.policy", "/etc/passwd")) == ["PL216"]


def test_a_symlink_that_escapes_is_outside_one_that_stays_inside_works(tmp_path):
    (tmp_path / "outside.txt").write_text("secret\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "esc.txt").symlink_to(tmp_path / "outside.txt")
    assert codes_of(policy(sub / "t.policy", "esc.txt")) == ["PL216"]
    (sub / "real.txt").write_text("secret\n")
    (sub / "alias.txt").symlink_to(sub / "real.txt")
    assert policylang.load(str(policy(sub / "t.policy", "alias.txt"))).check("a secret").refused


def test_devices_and_pipes_are_refused_fast(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(sub / "fifo.txt")  # nobody writes it: a plain open would block forever
    (sub / "dir.txt").mkdir()
    t0 = time.monotonic()
    assert codes_of(policy(sub / "t.policy", "/dev/zero")) == ["PL216"]
    assert codes_of(policy(sub / "t.policy", "zero.txt")) == ["PL216"]
    for name in ("fifo.txt", "dir.txt"):
        with pytest.raises(PolicyCheckError) as info:
            policylang.load(str(policy(sub / "t.policy", name)))
        (d,) = info.value.diagnostics
        assert d.code == "PL216" and d.message == f"word file `{name}` is not a regular file"
    assert time.monotonic() - t0 < 10


def test_size_limit_default_and_custom(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as f:  # sparse: MAX_WORD_FILE_BYTES + 1 bytes without writing them
        f.truncate(MAX_WORD_FILE_BYTES + 1)
    wf = read_word_file(str(tmp_path / "t.policy"), "big.txt")
    assert wf.code == "PL217" and wf.words == ()
    assert wf.error == f"word file `big.txt` is {MAX_WORD_FILE_BYTES + 1:,} bytes; the limit is {MAX_WORD_FILE_BYTES:,}"
    (tmp_path / "w.txt").write_text("a" * 99 + "\n")  # 100 bytes
    assert read_word_file(str(tmp_path / "t.policy"), "w.txt", limits=WordLimits(max_bytes=100)).error is None
    wf = read_word_file(str(tmp_path / "t.policy"), "w.txt", limits=WordLimits(max_bytes=99))
    assert wf.code == "PL217"
    assert codes_of(policy(tmp_path / "t.policy", "w.txt"), word_limits=WordLimits(max_bytes=99)) == ["PL217"]


def test_phrase_count_and_length_limits(tmp_path):
    (tmp_path / "w.txt").write_text("one\ntwo\n# not a phrase\nthree\n")
    pol = str(tmp_path / "t.policy")
    assert read_word_file(pol, "w.txt", limits=WordLimits(max_words=3)).words == ("one", "two", "three")
    wf = read_word_file(pol, "w.txt", limits=WordLimits(max_words=2))
    assert (wf.code, wf.error) == ("PL217", "word file `w.txt` holds more than 2 phrases")
    wf = read_word_file(pol, "w.txt", limits=WordLimits(max_phrase_chars=4))
    assert (wf.code, wf.error) == ("PL217", "word file `w.txt` line 4 is a phrase of 5 characters; the limit is 4")


def test_all_word_files_of_one_load_share_a_budget(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("x" * 59 + "\n")  # 60 bytes each
    env = FileEnvironment(word_limits=WordLimits(max_total_bytes=100))
    pol = str(tmp_path / "t.policy")
    assert env.read_words(pol, "a.txt").words == ("x" * 59,)
    second = env.read_words(pol, "b.txt")
    assert second.code == "PL217" and "all word files" in second.error
    assert FileEnvironment().read_words(pol, "b.txt").error is None  # a fresh load has a fresh budget


def test_word_roots_allow_a_shared_folder(tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "w.txt").write_text("secret\n")
    pol = policy(tmp_path / "app" / "t.policy", "../shared/w.txt")
    assert codes_of(pol) == ["PL216"]
    assert policylang.load(str(pol), word_roots=[str(shared)]).check("a secret").refused
    assert main(["check", str(pol)]) == 1
    assert "PL216" in capsys.readouterr().out
    assert main(["check", "--word-root", str(shared), str(pol)]) == 0
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "a secret"}\n')
    assert main(["scan", "-p", str(pol), str(inp)]) == 2
    assert main(["scan", "--word-root", str(shared), "-p", str(pol), str(inp)]) == 0
    assert '"action": "refuse"' in capsys.readouterr().out


def test_loads_resolves_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.txt").write_text("secret\n")
    src = 'policy t\nprinciple p "P."\nwords w = file "{}"\nrule r on input:\n  when w\n  refuse\n  because p\n'
    assert policylang.loads(src.format("w.txt")).check("secret").refused
    with pytest.raises(PolicyCheckError) as info:
        policylang.loads(src.format("../w.txt"))
    assert [d.code for d in info.value.diagnostics] == ["PL216"]


def test_shipped_examples_and_packs_keep_working(capsys):
    assert main(["check", str(ROOT / "examples")]) == 0
    assert main(["check", "pii", "secrets", "jailbreak"]) == 0
