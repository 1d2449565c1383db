"""Model folders of embedders, classifiers, heads and topics: PL212 (cannot be used), PL213
(does not fit the policy), PL221 (a head's graph takes no embedding), PL222 (the probe
output is NaN, infinite or out of range), and for a head on an embedder PL218 (widths
differ) and PL219 (trained on another token window, a warning).

Paths are resolved by the environment's ``resolve_model_path`` (the loader's: ``builtin:NAME`` sha256-checked) (relative to the policy
file, or ``builtin:NAME``) and inspected through ``ctx.env.inspect_model``. Without an
environment (``check(infos, env=None)``) the pass does nothing. Every exception becomes
a diagnostic. Models are checked when they are declared in a module being checked, or
used by one of its rules.
"""

from __future__ import annotations

import os

from policylang._resources import model_location
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
        if isinstance(sym.node, (ast.Embedder, ast.Classifier, ast.Topic)) and sym.info.active:
            wanted[sym.qname] = sym
    for r in ctx.active_rules:
        for ref in refs_in(r.node.when) + refs_in(r.node.unless):
            res = ctx.symbols.resolve(r.info, ref.parts)
            if res is not None and res.kind in ("classifier", "topic"):
                wanted.setdefault(res.symbol.qname, res.symbol)
    for sym in list(wanted.values()):  # the embedders of wanted heads and topics
        emb = ctx.symbols.embedder_of(sym.info, _shared(sym.node))
        if emb is not None:
            wanted.setdefault(emb.qname, emb)
    # embedders first: a head's width check needs its embedder to be usable
    return sorted(wanted.values(), key=lambda s: not isinstance(s.node, ast.Embedder))


def _shared(node):
    if isinstance(node, ast.Classifier):
        return node.on
    if isinstance(node, ast.Topic):
        return node.embedder
    return None


def _what(node) -> str:
    if isinstance(node, ast.Embedder):
        return "embedder"
    if isinstance(node, ast.Classifier):
        return "head" if node.is_head else "classifier"
    return "topic"


def run(ctx: CheckContext):
    if ctx.env is None:
        return
    resolve_model_path = getattr(ctx.env, "resolve_model_path", model_location)
    usable: dict[str, str] = {}  # embedder qname -> resolved path, for the heads on it
    for sym in _wanted(ctx):
        node = sym.node
        if node.path is None:  # a topic on a declared embedder: the embedder is inspected
            continue
        raw = node.path.value
        what = _what(node)
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
            code = _code(text)
            yield error(code, f"{what} `{node.name.value}`: {text}", node.path.span, help=_HELP[code])
        if problems:
            continue
        if isinstance(node, ast.Embedder):
            usable[sym.qname] = path
        elif isinstance(node, ast.Classifier) and node.is_head:
            emb = ctx.symbols.embedder_of(sym.info, node.on)
            if emb is not None and emb.qname in usable:
                yield from _head_fit(ctx, node, path, emb, usable[emb.qname])


_HELP = {
    "PL212": "see docs/classifiers.md for what a model folder must hold",
    "PL213": "make the policy's `labels`, `label` and options agree with the model",
    "PL221": "a head's model.onnx takes one float32 input [batch, dim]: the embedder's sentence embedding",
    "PL222": "the model computes NaN, infinity or out-of-range scores: re-export it; at run time "
             "such output is a model error handled by `on_error`",
}


def _code(text: str) -> str:
    low = text.lower()
    if "embedding input" in low:
        return "PL221"
    if "not finite" in low or "outside [0, 1]" in low:
        return "PL222"
    return "PL212" if any(k in low for k in _UNUSABLE) else "PL213"


def _fit(ctx: CheckContext, node, path: str, emb_node, emb_path: str):
    """The environment's ``head_fit`` when it has one, else the model runtime's."""
    env_fit = getattr(ctx.env, "head_fit", None)
    if env_fit is None:  # an environment that cannot open models: nothing to compare
        return None, None, None, None
    return env_fit(node, path, emb_node, emb_path)


def _head_fit(ctx: CheckContext, node: ast.Classifier, path: str, emb, emb_path: str):
    """PL218/PL219: the head's input width and trained window against its embedder's."""
    try:
        head_dim, emb_dim, head_window, emb_window = _fit(ctx, node, path, emb.node, emb_path)
    except Exception as err:  # noqa: BLE001 - every failure is a diagnostic
        text = _text(err)
        code = "PL221" if "embedding input" in text.lower() else "PL212"
        yield error(code, f"head `{node.name.value}` on embedder `{emb.local}`: {text}", node.path.span,
                    help=_HELP[code])
        return
    if head_dim is not None and emb_dim is not None and head_dim != emb_dim:
        yield error("PL218", f"head `{node.name.value}` takes {head_dim}-wide embeddings but embedder "
                             f"`{emb.local}` produces {emb_dim}-wide ones", node.on.span,
                    help="declare the head on the embedder it was trained on", label=f"{emb_dim} wide")
    if head_window is not None and emb_window is not None and head_window != emb_window:
        yield error("PL219", f"head `{node.name.value}` was trained on {head_window}-token windows but embedder "
                             f"`{emb.local}` embeds {emb_window}-token windows", node.on.span,
                    help=f"declare the embedder with `max_length {head_window}` (config.json `max_length` of "
                         "the head), or give this head an embedder of its own")


def _text(x) -> str:
    s = str(x).replace("\n", " ").strip().rstrip(".")
    return s[:1].lower() + s[1:] if s else "unknown problem"
