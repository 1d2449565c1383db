"""The stages import one way: syntax (1) < check (2) < compile (3) < runtime (4) < middleware (5).

Base modules (level 0: diagnostics, errors, _source, decision) import nothing of ours above
them; edge modules (loader, guard, commands, cli, config, ...) may import anything, and
nothing inside a stage imports them. A function-level import of one of our own modules
inside a stage is allowed only to keep a heavy optional dependency out of ``import`` time,
and says so on its line: ``# lazy: <heavy dep>``. See docs/api.md "Architecture".
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "policylang"

STAGES = {"syntax": 1, "check": 2, "compile": 3, "runtime": 4, "middleware": 5}
BASE = {"diagnostics", "errors", "_source", "_resources", "_labels", "decision"}  # level 0
EDGE = {"__init__", "__main__", "loader", "guard", "commands", "cli", "config", "testing", "evaluation",
        "observability", "distributed", "pygments_lexer", "schemas"}
EDGE_LEVEL = 99

# Remaining violations, (importer, imported module). Each one is a known, listed debt: the
# lead shrinks this list; a NEW violation fails the test. Lines are not listed (they move).
ALLOWED = {
    # --- in files other helpers own now (check/checker.py, compile/conditions.py,
    #     runtime/evaluate.py, runtime/views.py, syntax/*)
    ("policylang.check.checker", "policylang.check.passes"),  # FUNC: the passes import CheckContext/error from checker
    # --- in this change's files, not yet moved down (item 2 of issue 10)
    ("policylang.middleware", "policylang.middleware.log"),  # FUNC
    ("policylang.middleware", "policylang.middleware.openai"),  # FUNC
    ("policylang.middleware.litellm", "policylang"),  # UP to the edge: policy= paths -> policylang.load
    ("policylang.runtime.model_runner", "policylang.runtime"),  # FUNC
    ("policylang.runtime.model_runner", "policylang.runtime.ner"),  # FUNC
    ("policylang.runtime.models", "policylang.runtime.ner"),  # FUNC
    ("policylang.runtime.ner", "policylang.runtime"),  # FUNC
    ("policylang.runtime.ner", "policylang.runtime.onnx_session"),  # FUNC
}


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def level(mod: str) -> int | None:
    parts = mod.split(".")
    if parts[0] != "policylang":
        return None
    if len(parts) == 1:
        return EDGE_LEVEL  # the package itself: lazy re-exports of everything
    top = parts[1]
    if top in STAGES:
        return STAGES[top]
    if top in BASE:
        return 0
    if top in EDGE:
        return EDGE_LEVEL
    raise AssertionError(f"{mod}: not placed in a layer (add it to STAGES, BASE or EDGE in tests/test_layers.py)")


def imports(mod: str, is_pkg: bool, source: str):
    """``(target, lineno, at function level, has '# lazy:' comment)`` for our own imports.

    Imports under ``if TYPE_CHECKING:`` are type-only and not counted."""
    tree = ast.parse(source)
    lines = source.splitlines()
    in_func: set[int] = set()
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_func.update(id(sub) for sub in ast.walk(node))
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                type_only.update(id(sub) for sub in ast.walk(stmt))
    pkg = mod if is_pkg else mod.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                targets = [".".join(base + ([node.module] if node.module else []))]
            else:
                targets = [node.module or ""]
        else:
            continue
        text = "\n".join(lines[node.lineno - 1: (node.end_lineno or node.lineno)])
        lazy = "# lazy:" in text
        for target in targets:
            if target == "policylang" or target.startswith("policylang."):
                yield target, node.lineno, id(node) in in_func, lazy


def violations(mod: str, is_pkg: bool, source: str) -> list[tuple[str, str, int, str]]:
    """``(importer, target, lineno, why)`` for every import against the layering."""
    out = []
    own = level(mod)
    for target, lineno, func, lazy in imports(mod, is_pkg, source):
        theirs = level(target)
        if own == EDGE_LEVEL:
            continue  # edge modules may import anything, lazily or not
        if theirs > own:
            out.append((mod, target, lineno, f"imports a higher layer ({theirs} > {own})"))
        elif func and not lazy:
            out.append((mod, target, lineno, "function-level import without '# lazy: <heavy dep>'"))
    return out


def all_violations():
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        mod, is_pkg = module_name(path)
        out.extend(violations(mod, is_pkg, path.read_text(encoding="utf-8")))
    return out


def test_no_import_goes_against_the_stage_order():
    found = [v for v in all_violations() if (v[0], v[1]) not in ALLOWED]
    assert not found, "\n".join(f"{m}:{n} -> {t}: {why}" for m, t, n, why in found)


def test_allow_list_has_no_stale_entries():
    # an entry fixed in the code must leave the list, so the list only ever shrinks
    live = {(v[0], v[1]) for v in all_violations()}
    assert ALLOWED <= live, sorted(ALLOWED - live)


def test_self_test_finds_violations_in_a_synthetic_module():
    src = textwrap.dedent(
        """
        from typing import TYPE_CHECKING
        from policylang.runtime.scan import CompiledPatterns   # up: compile -> runtime
        from . import patterns                                 # same stage, fine
        from ..diagnostics import Diagnostic                   # base, fine
        if TYPE_CHECKING:
            from policylang.middleware import wrap             # type-only, fine

        def f():
            from policylang.check.symbols import SymbolTable   # function level, no comment
            from policylang.compile.conditions import x  # lazy: numpy
            from ..loader import resolve_model_path  # lazy: onnxruntime (still an edge import)
        """
    )
    found = {(t, why.split(" ")[0]) for _, t, _, why in violations("policylang.compile.fake", False, src)}
    assert found == {
        ("policylang.runtime.scan", "imports"),
        ("policylang.check.symbols", "function-level"),
        ("policylang.loader", "imports"),
    }
    # a base module may import nothing above level 0
    assert violations("policylang.errors", False, "from policylang.syntax import ast\n")
    assert not violations("policylang.errors", False, "from policylang.decision import Decision\n")
    # edge modules may import anything
    assert not violations("policylang.guard", False, "def f():\n    from policylang.middleware import wrap\n")
    with pytest.raises(AssertionError, match="not placed in a layer"):
        level("policylang.newthing")


# each stage module imports on its own, in a fresh interpreter, without any higher stage
FRESH = [
    ("policylang.syntax.ast", ("policylang.check", "policylang.compile", "policylang.runtime", "policylang.middleware")),
    ("policylang.check", ("policylang.compile", "policylang.runtime", "policylang.middleware", "policylang.loader")),
    ("policylang.compile.patterns", ("policylang.runtime", "policylang.middleware", "policylang.loader")),
    ("policylang.compile.plan", ("policylang.runtime", "policylang.middleware", "policylang.loader")),
    ("policylang.runtime.scan", ("policylang.middleware", "policylang.loader")),
    ("policylang.runtime", ("policylang.middleware", "policylang.loader")),
    ("policylang.middleware", ()),
]


@pytest.mark.parametrize("mod,absent", FRESH, ids=[m for m, _ in FRESH])
def test_stage_imports_alone_without_higher_stages(mod, absent):
    code = (
        f"import sys, importlib; importlib.import_module({mod!r}); "
        f"bad = sorted(m for m in sys.modules if m.split('.')[:2] in [a.split('.')[:2] for a in {list(absent)!r}]); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
