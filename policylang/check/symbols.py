"""Name resolution shared by the checker and the compiler.

Namespaces: a single entry policy lives in the global namespace ``""``; when several
entries are loaded together, and for every file brought in by ``include``, a file lives
in the namespace of its ``policy NAME``; a built-in pack lives in the namespace of its
name (``pii``). What a module ``include``s counts as a pack it uses. A reference ``a.b.c`` made inside a module
of namespace ``ns`` resolves, in order, as

1. ``context.ATTR...``: a request-context attribute;
2. ``text``: the text being checked (for ``len(text)``);
3. a definition ``a`` of the module's own namespace (then ``b`` is a classifier label);
4. a pack (or included policy) ``a`` the module uses: ``a`` alone is the pack's matcher group (any of its
   matchers), ``a.b`` a definition of the pack (then ``c`` a classifier label).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from policylang.syntax import ast

Definition = Union[ast.Pattern, ast.Words, ast.Embedder, ast.Classifier, ast.Topic, ast.Principle]


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """A parsed module and how it was loaded."""

    module: ast.Module
    namespace: str = ""  # "" for user files, the pack name for packs
    active: bool = True  # False for packs brought in by `use`: their rules and tests don't run
    entry: bool = True  # False for files brought in by `include`: their rules run, their tests don't
    _uses: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self._uses is None:
            uses = tuple(n.value for u in self.module.of_type(ast.Use) for n in u.packs)
            object.__setattr__(self, "_uses", uses)

    @property
    def uses(self) -> tuple[str, ...]:
        """Packs this module names in `use` declarations (computed once: resolution asks often)."""
        return self._uses


@dataclass(frozen=True, slots=True)
class Symbol:
    qname: str  # "order_id", "pii.email"
    namespace: str
    node: Definition
    info: ModuleInfo

    @property
    def local(self) -> str:
        return self.node.name.value


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a Ref means. ``kind``: matcher | group | classifier | topic | embedder | context | text | tool."""

    kind: str
    symbol: Symbol | None = None
    pack: str | None = None  # for group
    label: str | None = None  # classifier label, when given
    attr: tuple[str, ...] = ()  # context attribute path
    extra: tuple[str, ...] = ()  # parts left over that nothing consumes (an error for the checker)


MATCHER_NODES = (ast.Pattern, ast.Words)
MODEL_NODES = (ast.Classifier, ast.Topic)
EMBEDDER_NODES = (ast.Embedder,)


@dataclass
class Symbols:
    """All definitions of a policy set, keyed by (namespace, local name)."""

    infos: tuple[ModuleInfo, ...]
    table: dict[tuple[str, str], Symbol] = field(default_factory=dict)
    duplicates: list[tuple[Symbol, Symbol]] = field(default_factory=list)  # (first, second)

    @classmethod
    def build(cls, infos) -> "Symbols":
        self = cls(tuple(infos))
        for info in self.infos:
            for item in info.module.items:
                if isinstance(item, (*MATCHER_NODES, *MODEL_NODES, *EMBEDDER_NODES, ast.Principle)):
                    key = (info.namespace, item.name.value)
                    qname = f"{info.namespace}.{item.name.value}" if info.namespace else item.name.value
                    sym = Symbol(qname, info.namespace, item, info)
                    if key in self.table:
                        self.duplicates.append((self.table[key], sym))
                    else:
                        self.table[key] = sym
        return self

    @property
    def namespaces(self) -> set[str]:
        return {i.namespace for i in self.infos if i.namespace}

    def get(self, qname: str) -> Symbol | None:
        ns, _, local = qname.rpartition(".")
        return self.table.get((ns, local))

    def in_namespace(self, ns: str, types=None) -> list[Symbol]:
        return [s for (n, _), s in self.table.items() if n == ns and (types is None or isinstance(s.node, types))]

    def principle(self, info: ModuleInfo, name: str) -> Symbol | None:
        sym = self.table.get((info.namespace, name))
        if sym is None and info.namespace:
            sym = self.table.get(("", name))
        if sym is not None and isinstance(sym.node, ast.Principle):
            return sym
        return None

    def resolve(self, info: ModuleInfo, parts: tuple[str, ...]) -> Resolution | None:
        head, rest = parts[0], parts[1:]
        if head == "context":
            return Resolution("context", attr=rest)
        sym = self.table.get((info.namespace, head))
        if sym is not None and not isinstance(sym.node, ast.Principle):
            return self._definition(sym, rest)
        if head == "text":
            return Resolution("text", extra=rest)
        if head == "tool":
            return Resolution("tool", attr=rest)
        if head in info.uses or (info.namespace and head == info.namespace):
            if head not in self.namespaces:
                return None
            if not rest:
                return Resolution("group", pack=head)
            sym = self.table.get((head, rest[0]))
            if sym is None or isinstance(sym.node, ast.Principle):
                return None
            return self._definition(sym, rest[1:])
        return None

    @staticmethod
    def _definition(sym: Symbol, rest: tuple[str, ...]) -> Resolution:
        node = sym.node
        if isinstance(node, MATCHER_NODES):
            return Resolution("matcher", sym, extra=rest)
        if isinstance(node, ast.Classifier):
            return Resolution("classifier", sym, label=rest[0] if rest else None, extra=rest[1:])
        if isinstance(node, ast.Embedder):
            return Resolution("embedder", sym, extra=rest)
        return Resolution("topic", sym, extra=rest)

    def embedder_of(self, info: ModuleInfo, ref: ast.Ref | None) -> Symbol | None:
        """The declared embedder a head's ``on`` or a topic's ``embed NAME`` names, else None."""
        if ref is None:
            return None
        res = self.resolve(info, ref.parts)
        if res is None or res.kind != "embedder" or res.extra:
            return None
        return res.symbol

    def candidates(self, info: ModuleInfo) -> list[str]:
        """Names visible from ``info``, for did-you-mean suggestions."""
        names = [local for (ns, local), s in self.table.items()
                 if ns == info.namespace and not isinstance(s.node, ast.Principle)]
        for pack in info.uses:
            if pack not in self.namespaces:
                continue
            names.append(pack)
            names.extend(f"{pack}.{s.local}" for s in self.in_namespace(pack) if not isinstance(s.node, ast.Principle))
        return names + ["context", "text", "tool"]


def refs_in(expr) -> list[ast.Ref]:
    """Every Ref in an expression, in source order."""
    return [n for n in ast.walk(expr) if isinstance(n, ast.Ref)]


def rule_id(info: ModuleInfo, rule: ast.Rule) -> str:
    return f"{info.namespace}.{rule.rule_id}" if info.namespace else rule.rule_id


# ------------------------------------------------------------------ request context declarations
CONTEXT_TYPES = ("string", "number", "bool", "list")  # `list`: a list of strings


def composition(info: ModuleInfo, infos) -> list[ModuleInfo]:
    """``info`` and every module it brings in (``include`` and ``use``, transitively)."""
    by_ns: dict[str, list[ModuleInfo]] = {}
    for i in infos:
        if i.namespace:
            by_ns.setdefault(i.namespace, []).append(i)
    out = [info]
    seen = {info.namespace} if info.namespace else set()
    queue = list(info.uses)
    while queue:
        ns = queue.pop(0)
        if ns in seen:
            continue
        seen.add(ns)
        for i in by_ns.get(ns, ()):
            if i is not info:
                out.append(i)
                queue.extend(i.uses)
    return out


def context_value_problem(decl: ast.ContextDecl, value) -> str | None:
    """Why ``value`` (a value the application passed, or a literal) does not fit ``decl``; None when it does.

    ``None`` fits: an absent attribute. Numbers must be finite (NaN compares false with
    everything, so a rule ``context.age < 18`` would silently never fire)."""
    if value is None:
        return None
    t = decl.type.value
    allowed = tuple(s.value for s in decl.allowed) if decl.allowed is not None else None
    if t == "string":
        if not isinstance(value, str):
            return f"is {_a(value)}, declared `string`"
        if allowed is not None and value not in allowed:
            return f"is {_short(value)}, not one of {_choices(allowed)}"
        return None
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"is {_a(value)}, declared `number`"
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return f"is {value!r}, declared `number` (a finite number)"
        return None
    if t == "bool":
        if not isinstance(value, bool):
            return f"is {_a(value)}, declared `bool`"
        return None
    if t == "list":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return f"is {_a(value)}, declared `list` (of strings)"
        for item in value:
            if not isinstance(item, str):
                return f"holds {_a(item)}, declared `list` (of strings)"
            if allowed is not None and item not in allowed:
                return f"holds {_short(item)}, not one of {_choices(allowed)}"
        return None
    return f"has a declaration of unknown type `{t}`"  # the checker rejects these first


def _a(value) -> str:
    names = {str: "a string", bool: "a bool", int: "a number", float: "a number", list: "a list", tuple: "a list",
             dict: "a mapping"}
    return names.get(type(value), f"a {type(value).__name__}")


def _short(value: str, limit: int = 40) -> str:
    text = value if len(value) <= limit else value[:limit] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _choices(allowed) -> str:
    shown = ", ".join(_short(a) for a in allowed[:8])
    return shown + (f" (and {len(allowed) - 8} more)" if len(allowed) > 8 else "")
