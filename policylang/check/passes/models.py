"""Model folders of classifiers and topics: PL212 (cannot be used) and PL213 (does not fit
the policy).

Paths are resolved with ``policylang.loader.resolve_model_path`` (relative to the policy
file, or ``builtin:NAME``) and inspected through ``ctx.env.inspect_model``. Without an
environment (``check(infos, env=None)``) the pass does nothing. Every exception becomes
a diagnostic. Models are checked when they are declared in a module being checked, or
used by one of its rules.
"""

from __future__ import annotations

import os

from policylang.check.checker import CheckContext, error
from policylang.check.symbols import refs_in
from policylang.syntax import ast

# Problems that mean "the folder cannot be used at all" rather than "it does not fit".
_UNUSABLE = ("not found", "no such file", "does not exist", "cannot read", "cannot load", "cannot open",
             "permission", "not a directory", "missing", "sha256", "invalid protobuf", "failed to load",
             "cannot be loaded", "onnxruntime")


def _wanted(ctx: CheckContext):
    wanted: dict[str, object] = {}
    for sym in ctx.symbols.table.values():
        if isinstance(sym.node, (ast.Classifier, ast.Topic)) and sym.info.active:
            wanted[sym.qname] = sym
    for r in ctx.active_rules:
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            res = ctx.symbols.resolve(r.info, ref.parts)
            if res is not None and res.kind in ("classifier", "topic"):
                wanted.setdefault(res.symbol.qname, res.symbol)
    return list(wanted.values())


def run(ctx: CheckContext):
    if ctx.env is None:
        return
    from policylang.loader import resolve_model_path

    for sym in _wanted(ctx):
        node = sym.node
        raw = node.path.value
        what = "classifier" if isinstance(node, ast.Classifier) else "topic"
        try:
            path = resolve_model_path(sym.info.module.source.name, raw)
        except Exception as err:  # noqa: BLE001 - every failure is a diagnostic
            yield error("PL212", f"cannot resolve model `{raw}` of {what} `{node.name.value}`: {_text(err)}",
                        node.path.span, help="give a folder relative to the policy file, or `builtin:NAME`")
            continue
        if not raw.startswith("builtin:") and not os.path.exists(path):
            yield error("PL212", f"model folder `{raw}` of {what} `{node.name.value}` not found", node.path.span,
                        help="paths are relative to the policy file; the folder holds `model.onnx` "
                             "and usually `tokenizer.json`", label="no such folder")
            continue
        try:
            problems = list(ctx.env.inspect_model(node, path))
        except Exception as err:  # noqa: BLE001
            yield error("PL212", f"cannot inspect the model of {what} `{node.name.value}`: "
                                 f"{type(err).__name__}: {_text(err)}", node.path.span,
                        help="see docs/classifiers.md for what a model folder must hold")
            continue
        for p in problems:
            text = _text(p)
            code = "PL212" if any(k in text.lower() for k in _UNUSABLE) else "PL213"
            yield error(code, f"{what} `{node.name.value}`: {text}", node.path.span,
                        help="see docs/classifiers.md for what a model folder must hold" if code == "PL212"
                        else "make the policy's `labels`, `label` and options agree with the model")


def _text(x) -> str:
    s = str(x).replace("\n", " ").strip().rstrip(".")
    return s[:1].lower() + s[1:] if s else "unknown problem"
