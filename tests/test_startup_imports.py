"""Start-up of a scan (issue 11): what a ``policylang scan`` process does not import, and the
parse cache's fast read-back format."""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path

from policylang._source import SourceFile
from policylang import syntax
from policylang.syntax import parse_cache

ROOT = Path(__file__).resolve().parent.parent

SCAN = """
import json, sys
from policylang.cli import main
code = main(["scan", "-p", sys.argv[1], sys.argv[2]])
print(json.dumps({"code": code, "asyncio": "asyncio" in sys.modules,
                  "opentelemetry": any(m.startswith("opentelemetry") for m in sys.modules)}))
"""


def test_scan_imports_neither_asyncio_nor_opentelemetry(tmp_path):
    env = dict(os.environ, POLICYLANG_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("OTEL_PYTHON_TRACER_PROVIDER", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    out = subprocess.run([sys.executable, "-c", SCAN, str(ROOT / "examples" / "support_bot.policy"),
                          str(ROOT / "examples" / "messages.jsonl")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    got = json.loads(lines[-1])
    assert got == {"code": 0, "asyncio": False, "opentelemetry": False}
    decisions = [json.loads(line) for line in lines[:-1]]
    assert len(decisions) == 8 and "refuse" in {d["action"] for d in decisions}


def test_parse_cache_reads_back_nodes_by_their_init(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("POLICYLANG_NO_PARSER_CACHE", raising=False)
    path = ROOT / "policylang" / "packs" / "jailbreak.policy"
    src = SourceFile(str(path), path.read_text(encoding="utf-8"))
    monkeypatch.setenv("POLICYLANG_NO_PARSER_CACHE", "1")
    fresh = syntax.parse(src)
    monkeypatch.delenv("POLICYLANG_NO_PARSER_CACHE")
    assert fresh.module is not None and parse_cache.read(src) is None
    parse_cache.write(src, fresh)
    files = list((tmp_path / "ast").glob("*.ast"))
    assert len(files) == 1
    data = files[0].read_bytes()[len(parse_cache._FORMAT) + 1:]
    # no BUILD opcode: no node goes through the dataclass's generic __setstate__
    ops = {op.name for op, _arg, _pos in pickletools.genops(data)}
    assert "BUILD" not in ops and "REDUCE" in ops
    back = parse_cache.read(src)
    assert back == fresh
    assert back.module.source is src  # the caller's own SourceFile
    name, text, result = pickle.loads(data)
    assert (name, text) == (src.name, src.text) and result == fresh
