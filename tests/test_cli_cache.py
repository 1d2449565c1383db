"""``policylang cache [info|clear]``: real caches written by a real load, then removed."""

from __future__ import annotations

import policylang
from policylang import cli


def test_info_then_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("POLICYLANG_NO_CONFIG", "1")
    monkeypatch.delenv("POLICYLANG_NO_PARSER_CACHE", raising=False)
    policylang.load("secrets")  # a pattern database and the pack's syntax tree
    mine = tmp_path / "notes.txt"
    mine.write_text("not ours", encoding="utf-8")
    assert cli.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "total 0 files" not in out
    n = sum(1 for p in tmp_path.rglob("*") if p.is_file() and p != mine)
    assert n >= 2
    assert cli.main(["cache", "clear"]) == 0
    assert f"removed {n} files" in capsys.readouterr().out
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [mine]  # only policylang's own files go
    assert cli.main(["cache"]) == 0 and "total 0 files" in capsys.readouterr().out
    # the next load rebuilds what was cleared
    assert policylang.load("secrets").plan.patterns.from_cache is False
