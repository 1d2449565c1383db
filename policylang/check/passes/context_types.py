"""PL307-PL309: typed request-context declarations (``context tier: string in [...]``).

A policy that declares any context attribute (in itself or in what it composes: ``include``
and ``use``, transitively) says which attributes the application passes. Then:

* PL309: a declaration names an unknown type, gives allowed values to a type that takes
  none, lists no values, or declares an attribute twice (in one file, or differently in two
  composed files; the same declaration in two files is fine: each says what it reads);
* PL307: a rule or a test reading (setting) an attribute that is not declared, with a
  did-you-mean among the declared ones;
* PL308: a declared attribute compared with a literal of another type, with a string
  that is not among its allowed values, ordered (``<``) when it is not a number, looked up
  with ``in`` when it is not a list, read below (``context.tier.x``), or a test that sets
  it to such a value.

A policy that declares nothing keeps free-form attributes (PL306 warns on likely typos).
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error
from policylang.check.passes.names import did_you_mean
from policylang.check.symbols import CONTEXT_TYPES, composition, context_value_problem, rule_id
from policylang.syntax import ast

ORDER_OPS = {"<", "<=", ">", ">="}
TAKES_VALUES = {"string", "list"}


def run(ctx: CheckContext):
    seen: set = set()  # (code, span): one report for a node shared by several compositions

    def report(d):
        key = (d.code, d.span)
        if key not in seen:
            seen.add(key)
            return d
        return None

    declared_modules: set[str] = set()
    ctx.facts["context_declared_modules"] = declared_modules
    for entry in ctx.infos:
        if not (entry.entry and entry.active):
            continue
        members = composition(entry, ctx.infos)
        decls = [(i, d) for i in members for d in i.module.of_type(ast.ContextDecl)]
        if not decls:
            continue
        declared_modules.update(i.module.source.name for i in members)
        table: dict[str, ast.ContextDecl] = {}
        for d in _declarations(decls, table):
            d = report(d)
            if d is not None:
                yield d
        for info in members:
            if not info.active:
                continue
            for rule in info.module.of_type(ast.Rule):
                rid = rule_id(info, rule)
                for root in (rule.when, rule.unless):
                    for d in _rule_diags(root, table, rid):
                        d = report(d)
                        if d is not None:
                            yield d
        for t in entry.module.of_type(ast.Test):
            for d in _test_diags(t, table):
                d = report(d)
                if d is not None:
                    yield d


def _where(decl: ast.ContextDecl) -> str:
    return f"{decl.span.file}:{decl.span.line}"


def _show(decl: ast.ContextDecl) -> str:
    text = f"context {decl.name.value}: {decl.type.value}"
    if decl.allowed is not None:
        text += " in [" + ", ".join(f'"{s.value}"' for s in decl.allowed) + "]"
    return text


def _same(a: ast.ContextDecl, b: ast.ContextDecl) -> bool:
    va = None if a.allowed is None else tuple(s.value for s in a.allowed)
    vb = None if b.allowed is None else tuple(s.value for s in b.allowed)
    return a.type.value == b.type.value and va == vb


# what other languages call the types
ALIASES = {"str": "string", "text": "string", "int": "number", "integer": "number", "float": "number",
           "boolean": "bool", "array": "list", "strings": "list"}


def _invalid(table: dict, d: ast.ContextDecl) -> None:
    """Keep the name of a broken declaration (no PL307 cascade) with no type (no PL308 either)."""
    table.setdefault(d.name.value, ast.ContextDecl(d.name, ast.Name("?", d.type.span), None, d.span))


def _declarations(decls, table: dict):
    for info, d in decls:
        t = d.type.value
        if t not in CONTEXT_TYPES:
            hint = f"did you mean `{ALIASES[t]}`?" if t in ALIASES else did_you_mean(t, CONTEXT_TYPES)
            yield error("PL309", f"unknown context type `{t}`", d.type.span,
                        help=hint or f"the types are {', '.join(CONTEXT_TYPES)}", label="not a type")
            _invalid(table, d)
            continue
        if d.allowed is not None and t not in TAKES_VALUES:
            yield error("PL309", f"a `{t}` attribute takes no list of allowed values", d.span,
                        help=f"allowed values are for `string` and `list` attributes; write `context {d.name.value}: {t}`",
                        label="values given here")
            _invalid(table, d)
            continue
        if d.allowed is not None and not d.allowed:
            yield error("PL309", f"context attribute `{d.name.value}` allows no value", d.span,
                        help="list the values it may take, or drop `in [...]` to allow any")
            _invalid(table, d)
            continue
        first = table.get(d.name.value)
        if first is None:
            table[d.name.value] = d
            continue
        if first.span.file == d.span.file:
            yield error("PL309", f"context attribute `{d.name.value}` is declared twice", d.name.span,
                        help=f"the first declaration is at {_where(first)}; keep one", label="declared again here")
        elif not _same(first, d):
            yield error("PL309", f"context attribute `{d.name.value}` is declared differently in two composed files",
                        d.name.span, help=f"`{_show(first)}` at {_where(first)}; the application passes one value, "
                                          "so the declarations must agree", label="conflicting declaration")


def _ctx_ref(node):
    """The attribute path of ``context.A...``, else None."""
    if isinstance(node, ast.Ref) and len(node.parts) > 1 and node.parts[0] == "context":
        return node.parts[1:]
    return None


def _rule_diags(root, table: dict, rid: str):
    if root is None:
        return
    for node in ast.walk(root):
        path = _ctx_ref(node)
        if path is not None:
            decl = table.get(path[0])
            if decl is None:
                names = sorted(table)
                yield error("PL307", f"context attribute `{path[0]}` is not declared", node.span,
                            help=did_you_mean(path[0], names) or (
                                f"the declared attributes are {', '.join(f'`{n}`' for n in names)}; "
                                f"add `context {path[0]}: TYPE` if the application passes it"),
                            label="not declared", rule_id=rid)
            elif len(path) > 1 and decl.type.value in CONTEXT_TYPES:
                yield error("PL308", f"context attribute `{path[0]}` is a {decl.type.value}: it has no "
                                     f"attribute `{path[1]}`", node.span,
                            help=f"declared `{_show(decl)}` at {_where(decl)}", rule_id=rid)
        elif isinstance(node, ast.Compare):
            yield from _compare(node, table, rid)


def _declared(node, table: dict):
    path = _ctx_ref(node)
    if path is None or len(path) != 1:
        return None
    decl = table.get(path[0])
    return decl if decl is not None and decl.type.value in CONTEXT_TYPES else None


def _literal_diag(decl: ast.ContextDecl, lit: ast.Literal, rid: str, element: bool = False):
    """A literal compared with (``element``: looked up in) a declared attribute."""
    t = decl.type.value
    probe = decl
    if t == "list" and element:  # "vip" in context.tags: the literal is one item
        probe = ast.ContextDecl(decl.name, ast.Name("string", decl.type.span), decl.allowed, decl.span)
    elif t == "list":
        return error("PL308", f"context attribute `{decl.name.value}` is a list, never equal to `{_lit(lit)}`",
                     lit.span, help=f'test membership instead: `{_lit(lit)} in context.{decl.name.value}`',
                     label="a single value", rule_id=rid)
    problem = context_value_problem(probe, lit.value)
    if problem is None:
        return None
    return error("PL308", f"`{_lit(lit)}` can never match context attribute `{decl.name.value}`", lit.span,
                 help=f"the value {problem}: `{_show(decl)}` at {_where(decl)}", label="ruled out by the declaration",
                 rule_id=rid)


def _lit(lit: ast.Literal) -> str:
    v = lit.value
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def _compare(node: ast.Compare, table: dict, rid: str):
    left, right, op = node.left, node.right, node.op
    ld, rd = _declared(left, table), _declared(right, table)
    if op in ("in", "not in"):
        if rd is not None:  # X in context.tags
            if rd.type.value != "list":
                yield error("PL308", f"`{op}` needs a list, and context attribute `{rd.name.value}` is a "
                                     f"{rd.type.value}", right.span,
                            help=f"declared `{_show(rd)}` at {_where(rd)}; compare with `==` instead", rule_id=rid)
            elif isinstance(left, ast.Literal):
                d = _literal_diag(rd, left, rid, element=True)
                if d is not None:
                    yield d
        if ld is not None:  # context.tier in [...]
            if ld.type.value == "list":
                yield error("PL308", f"context attribute `{ld.name.value}` is a list and cannot be looked up "
                                     f"with `{op}`", left.span,
                            help=f'test one value: `"x" in context.{ld.name.value}`', rule_id=rid)
            elif isinstance(right, ast.ListExpr):
                for item in right.items:
                    if isinstance(item, ast.Literal):
                        d = _literal_diag(ld, item, rid)
                        if d is not None:
                            yield d
        return
    if op in ORDER_OPS:
        for side, decl in ((left, ld), (right, rd)):
            if decl is not None and decl.type.value != "number":
                yield error("PL308", f"context attribute `{decl.name.value}` is a {decl.type.value} and cannot "
                                     f"be compared with `{op}`", side.span,
                            help=f"only `number` attributes are ordered; declared `{_show(decl)}` at {_where(decl)}",
                            rule_id=rid)
        return  # a literal of the wrong type beside `<` is PL204's
    for decl, other in ((ld, right), (rd, left)):
        if decl is None:
            continue
        if isinstance(other, ast.Literal):
            d = _literal_diag(decl, other, rid)
            if d is not None:
                yield d
    if ld is not None and rd is not None and ld.type.value != rd.type.value:
        yield error("PL308", f"context attributes `{ld.name.value}` ({ld.type.value}) and `{rd.name.value}` "
                             f"({rd.type.value}) are never equal", node.span,
                    help=f"declared at {_where(ld)} and {_where(rd)}", rule_id=rid)


def _test_diags(t: ast.Test, table: dict):
    for key, value in t.context:
        name = key.split(".")[0]
        decl = table.get(name)
        if decl is None:
            yield error("PL307", f"test `{t.name.value}` sets context attribute `{name}`, which is not declared",
                        t.name.span, help=did_you_mean(name, sorted(table)) or (
                            f"the declared attributes are {', '.join(f'`{n}`' for n in sorted(table))}"),
                        label="in this test")
            continue
        if decl.type.value not in CONTEXT_TYPES:
            continue
        problem = context_value_problem(decl, value)
        if problem is not None:
            yield error("PL308", f"test `{t.name.value}` sets context attribute `{name}` to a value its "
                                 "declaration rules out", t.name.span,
                        help=f"the value {problem}: `{_show(decl)}` at {_where(decl)}", label="in this test")
