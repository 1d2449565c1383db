"""PL215: nested or ambiguous quantifiers in patterns that run in the `regex` fallback.

Hyperscan runs in linear time; a pattern it cannot take (lookarounds, back-references:
PL402) is confirmed by the backtracking `regex` module, where a repeated group that can
match the same text in more than one way takes exponential time: ``(a+)+``, ``(\\w|\\w)+``,
``(a|a?)+`` need more than 20 s on 30 characters. At run time such work is cut off by
the guard's regex time budget (and the text refused); this pass rejects the pattern
before it gets there.

The test, for every repeat ``X{m,n}`` with ``n > 8`` (or unbounded) that is not
possessive and not inside an atomic group:

* an alternation inside ``X`` has two branches whose languages share a non-empty string
  (``(\\w|\\w)+``, ``(a|a?)+``), or
* one iteration can match what two iterations match: ``L(X) ∩ L(XX)`` holds a non-empty
  string (``(a+)+``, ``(\\w+\\s?)+``; not ``(ab+)+``, whose iterations each start with one
  ``a``).

Languages are built as Glushkov automata over character predicates; two predicates
overlap when a representative character (every literal of the pattern, range ends, and a
fixed sample of letters, digits, spaces, punctuation, non-ASCII) satisfies both; each
predicate is the `regex` module's own verdict on that one-character atom, with the
pattern's flags. Lookarounds and anchors count as empty, back-references as "anything":
both make languages larger, so the test errs on the side of reporting. Patterns the small
parser here cannot read are not reported (the runtime time budget still holds).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import regex

from policylang.check.checker import CheckContext, error

MAX_SAFE_REPEAT = 8  # a repeat bounded by this many iterations is at most 2^8 ways
_SAMPLE = "aAzZmM09_ \t\n-.,;:!?@#/\\'\"()[]{}<>+*=&%$\x00\u00e9\u00c9\u00df\u00a0\u65e5\u0410\u0430\U0001f642"
_MAX_NODES = 50_000
_MAX_BUILD = 3000  # positions built for one repeat's test
_MAX_STEPS = 200_000  # product states explored for one test


class _Unreadable(Exception):
    pass


# ----------------------------------------------------------------------------- parse tree
@dataclass
class Node:
    kind: str  # atom | seq | alt | rep | empty | any_star
    atom: str = ""  # the atom's source text (kind atom)
    items: list = field(default_factory=list)  # seq / alt children; rep: [child]
    lo: int = 0
    hi: int | None = None  # None: unbounded
    safe: bool = False  # possessive repeat, or inside an atomic group


class _Parser:
    """A reader for the common subset of `regex` syntax (enough for the ambiguity test)."""

    def __init__(self, pattern: str, verbose: bool):
        self.p = pattern
        self.i = 0
        self.verbose = verbose
        self.nodes = 0

    def parse(self) -> Node:
        node = self.alt(atomic=False)
        if self.i != len(self.p):
            raise _Unreadable("unbalanced")
        return node

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def alt(self, atomic: bool) -> Node:
        branches = [self.seq(atomic)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.seq(atomic))
        return branches[0] if len(branches) == 1 else Node("alt", items=branches)

    def seq(self, atomic: bool) -> Node:
        items = []
        while self.i < len(self.p) and self.peek() not in "|)":
            atom = self.atom(atomic)
            if atom is None:
                continue
            items.append(self.quantified(atom, atomic))
            self.nodes += 1
            if self.nodes > _MAX_NODES:
                raise _Unreadable("too large")
        return Node("seq", items=items)

    def quantified(self, atom: Node, atomic: bool) -> Node:
        while True:
            c = self.peek()
            if c in ("*", "+", "?"):
                self.i += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            elif c == "{":
                m = regex.match(r"\{(\d*)(,?)(\d*)\}", self.p[self.i:])
                if m is None or (not m.group(1) and not m.group(3)):
                    return atom  # a literal brace
                self.i += m.end()
                lo = int(m.group(1) or 0)
                hi = lo if not m.group(2) else (int(m.group(3)) if m.group(3) else None)
            else:
                return atom
            possessive = False
            if self.peek() == "?":
                self.i += 1
            elif self.peek() == "+":
                self.i += 1
                possessive = True
            atom = Node("rep", items=[atom], lo=lo, hi=hi, safe=possessive or atomic)

    def atom(self, atomic: bool) -> Node | None:
        p, i = self.p, self.i
        c = p[i]
        if self.verbose and c.isspace():
            self.i += 1
            return None
        if self.verbose and c == "#":
            end = p.find("\n", i)
            self.i = len(p) if end < 0 else end + 1
            return None
        if c == "(":
            return self.group()
        if c == "[":
            j = self._class_end(i)
            self.i = j
            return Node("atom", atom=p[i:j])
        if c == "\\":
            return self.escape()
        if c in "^$":
            self.i += 1
            return Node("empty")
        self.i += 1
        return Node("atom", atom=regex.escape(c) if c != "." else ".")

    def _class_end(self, i: int) -> int:
        p = self.p
        j = i + 1
        if j < len(p) and p[j] == "^":
            j += 1
        if j < len(p) and p[j] == "]":
            j += 1
        depth = 1
        while j < len(p):
            ch = p[j]
            if ch == "\\":
                j += 2
                continue
            if ch == "[":
                if p.startswith("[:", j):
                    end = p.find(":]", j + 2)
                    if end > 0:
                        j = end + 2
                        continue
                depth += 1  # a nested set (regex V1)
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise _Unreadable("unterminated class")

    def escape(self) -> Node:
        p, i = self.p, self.i
        if i + 1 >= len(p):
            raise _Unreadable("trailing backslash")
        c = p[i + 1]
        if c in "bBAZzG":
            self.i += 2
            return Node("empty")
        if c.isdigit() and c != "0":
            m = regex.match(r"\\(\d+)", p[i:])
            self.i += m.end()
            return Node("any_star")  # a back-reference: any text
        if c in "gk" and i + 2 < len(p) and p[i + 2] in "<{'":
            close = {"<": ">", "{": "}", "'": "'"}[p[i + 2]]
            end = p.find(close, i + 3)
            if end < 0:
                raise _Unreadable("reference")
            self.i = end + 1
            return Node("any_star")
        m = regex.match(r"\\(?:x\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|"
                        r"[pP]\{[^}]*\}|[pP][A-Za-z]|N\{[^}]*\}|0[0-7]{0,2}|.)", p[i:], regex.S)
        self.i += m.end()
        return Node("atom", atom=m.group(0))

    def group(self) -> Node:
        p = self.p
        self.i += 1
        kind = "group"
        if p.startswith("?", self.i):
            m = regex.match(r"\?(?:P?<[A-Za-z_]\w*>|'[A-Za-z_]\w*'|:|>|=|!|<=|<!|\||[aiLmsuxV01-]+[:)])",
                            p[self.i:])
            if m is None:
                raise _Unreadable("group syntax")
            tok = m.group(0)
            self.i += len(tok)
            if tok in ("?=", "?!", "?<=", "?<!"):
                kind = "look"
            elif tok == "?>":
                kind = "atomic"
            elif tok.endswith(")"):
                if "x" in tok.split("-")[0]:
                    self.verbose = True
                return None  # inline flags
            elif tok == "?|":
                kind = "group"
        inner = self.alt(atomic=(kind == "atomic"))
        if self.peek() != ")":
            raise _Unreadable("unclosed group")
        self.i += 1
        if kind == "look":
            # a lookaround matches no text: empty for the language, but its own repeats
            # are still checked
            return Node("rep", items=[inner], lo=0, hi=0)
        if kind == "atomic":
            return _mark_safe(inner)
        return inner


def _mark_safe(node: Node) -> Node:
    if node.kind == "rep":
        node.safe = True
    for child in node.items:
        _mark_safe(child)
    return node


# ----------------------------------------------------------------------------- languages
class _Lang:
    """A Glushkov automaton: positions (atom predicates), first/last sets, follow sets."""

    __slots__ = ("preds", "first", "last", "follow", "nullable")

    def __init__(self):
        self.preds: list = []
        self.first: set[int] = set()
        self.last: set[int] = set()
        self.follow: dict[int, set[int]] = {}
        self.nullable = False


@functools.lru_cache(maxsize=4096)
def _pred(atom: str, flags: int, reps: str) -> frozenset:
    """The set of representative characters the one-character atom accepts."""
    try:
        rx = regex.compile(atom, flags)
    except regex.error as exc:
        raise _Unreadable(str(exc)) from None
    return frozenset(c for c in reps if rx.fullmatch(c))


class _Builder:
    def __init__(self, flags: int, reps: str):
        self.flags = flags
        self.reps = reps
        self.lang = _Lang()

    def pred(self, atom: str) -> frozenset:
        return _pred(atom, self.flags, self.reps)

    def build(self, node: Node, budget: list) -> tuple[set[int], set[int], bool]:
        """(first, last, nullable) of a fresh copy of ``node``; positions go into self.lang."""
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unreadable("too large to expand")
        L = self.lang
        k = node.kind
        if k == "empty":
            return set(), set(), True
        if k == "atom" or k == "any_star":
            pos = len(L.preds)
            L.preds.append(self.pred(node.atom) if k == "atom" else frozenset(self.reps))
            L.follow[pos] = {pos} if k == "any_star" else set()
            return {pos}, {pos}, k == "any_star"
        if k == "alt":
            f, la, n = set(), set(), False
            for child in node.items:
                cf, cl, cn = self.build(child, budget)
                f |= cf
                la |= cl
                n = n or cn
            return f, la, n
        if k == "seq":
            return self._seq([lambda c=c: self.build(c, budget) for c in node.items])
        if k == "rep":
            child = node.items[0]
            if node.hi == 0:
                return set(), set(), True
            lo = min(node.lo, 2)
            hi = node.hi
            unbounded = hi is None or hi > 3
            parts = [lambda: self.build(child, budget) for _ in range(lo)]
            if unbounded:
                parts.append(lambda: self._star(self.build(child, budget)))
            else:
                parts.extend(lambda: self._opt(self.build(child, budget)) for _ in range(hi - lo))
            return self._seq(parts)
        raise _Unreadable(k)

    def _seq(self, parts) -> tuple[set[int], set[int], bool]:
        first: set[int] = set()
        last: set[int] = set()
        nullable = True
        for make in parts:
            f, la, n = make()
            for p in last:
                self.lang.follow[p] |= f
            if nullable:
                first |= f
            last = (last | la) if n else set(la)
            nullable = nullable and n
        return first, last, nullable

    def _star(self, fln):
        f, la, _ = fln
        for p in la:
            self.lang.follow[p] |= f
        return f, la, True

    @staticmethod
    def _opt(fln):
        f, la, _ = fln
        return f, la, True


def _intersects(b: _Builder, x: tuple, y: tuple) -> bool:
    """Whether two fragments built in ``b.lang`` share a non-empty string."""
    L = b.lang
    fx, lx, _ = x
    fy, ly, _ = y
    todo = [(p, q) for p in fx for q in fy if L.preds[p] & L.preds[q]]
    seen = set(todo)
    while todo:
        if len(seen) > _MAX_STEPS:
            raise _Unreadable("too many states")
        p, q = todo.pop()
        if p in lx and q in ly:
            return True
        for p2 in L.follow[p]:
            for q2 in L.follow[q]:
                if (p2, q2) not in seen and L.preds[p2] & L.preds[q2]:
                    seen.add((p2, q2))
                    todo.append((p2, q2))
    return False


def _reps(pattern: str) -> str:
    chars = set(_SAMPLE)
    for ch in pattern:
        chars.add(ch)
        chars.add(ch.swapcase()[:1] or ch)
    return "".join(sorted(chars))


def ambiguous_repeat(pattern: str, flags: int = 0) -> str | None:
    """A description of the first nested/ambiguous repeat in ``pattern``, or None."""
    try:
        tree = _Parser(pattern, bool(flags & regex.VERBOSE)).parse()
        reps = _reps(pattern)
        return _find(tree, flags & ~regex.VERBOSE, reps)
    except (_Unreadable, RecursionError, IndexError, AttributeError):
        return None


def _find(node: Node, flags: int, reps: str) -> str | None:
    if node.kind == "rep" and not node.safe and (node.hi is None or node.hi > MAX_SAFE_REPEAT):
        try:
            found = _repeat_problem(node, flags, reps)
        except _Unreadable:
            found = None  # too large to test: left to the runtime time budget
        if found:
            return found
    return _find_children(node, flags, reps)


def _repeat_problem(node: Node, flags: int, reps: str) -> str | None:
    body = node.items[0]
    for alt in _alternations(body):
        for a in range(len(alt.items)):
            for c in range(a + 1, len(alt.items)):
                b = _Builder(flags, reps)
                budget = [_MAX_BUILD]
                if _intersects(b, b.build(alt.items[a], budget), b.build(alt.items[c], budget)):
                    return "a repeated group holds an alternation whose branches can match the same text"
    if not _variable_repeat(body):
        return None  # fixed-width iterations split one way only
    b = _Builder(flags, reps)
    budget = [_MAX_BUILD]
    one = b.build(body, budget)
    two = b._seq([lambda: b.build(body, budget), lambda: b.build(body, budget)])
    if _intersects(b, one, two):
        return "a repeated group holds a quantifier, so one iteration can match what two iterations match"
    return None


def _find_children(node: Node, flags: int, reps: str) -> str | None:
    for child in node.items:
        found = _find(child, flags, reps)
        if found:
            return found
    return None


def _variable_repeat(node: Node) -> bool:
    """A repeat that can backtrack (not possessive or atomic) and matches a varying count."""
    if node.kind == "rep" and node.hi != 0 and not node.safe and (node.hi is None or node.hi > node.lo):
        return True
    if node.kind == "any_star":
        return True
    return any(_variable_repeat(c) for c in node.items)


def _alternations(node: Node):
    if node.kind == "alt":
        yield node
    if node.kind == "rep" and node.safe:
        return
    for child in node.items:
        yield from _alternations(child)


# ----------------------------------------------------------------------------- the pass
FLAGS = {"i": regex.IGNORECASE, "s": regex.DOTALL, "m": regex.MULTILINE, "u": regex.UNICODE, "x": regex.VERBOSE}


def run(ctx: CheckContext):
    """PL215 for each pattern the Hyperscan pass sent to the regex fallback (PL402)."""
    for qname, node in ctx.facts.get("fallback_patterns", {}).items():
        flags = 0
        for ch in node.flags:
            flags |= FLAGS.get(ch, 0)
        if node.options.nocase:
            flags |= regex.IGNORECASE
        if not flags & regex.UNICODE:
            flags |= regex.ASCII
        why = ambiguous_repeat(node.regex, flags)
        if why is None:
            continue
        yield error(
            "PL215", f"pattern `{node.name.value}` can take exponential time in the regex fallback: {why}",
            node.regex_span,
            help="Hyperscan cannot run this pattern, so `regex` backtracks through it; make each iteration "
                 "match in only one way (`(a+)+` -> `a+`, `(\\w|\\w)+` -> `\\w+`), or use a possessive "
                 "quantifier or atomic group (`(?>...)`)",
            label="nested or ambiguous quantifier",
        )
