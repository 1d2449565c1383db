"""The reference workload for policylang's matcher benchmarks.

Everything here is deterministic for a given seed (and a given Python stdlib and
``faker`` version, both recorded in the cache metadata), so speed figures taken
with it are comparable with the peer figures in ``bench/README.md``.

* ``load_rules()``: ``bench/rules.json`` (63 PII/secret regexes, 500 literal phrases).
* ``generate_corpus(n=20000, seed=1234)``: the reference corpus as ``list[str]``,
  cached as JSONL under ``bench/data/`` (git-ignored) and regenerated when missing.
* ``generate_records(...)``: the same corpus with what was planted in each message.
* ``sample(n)``: the first ``n`` messages of the reference corpus, for quick runs.
* ``policy_from_rules(rules)``: the same rules as policylang DSL source.

Corpus recipe (see /work/shared/bench/README.md): message lengths are log-normal
with a median of 600 bytes, clipped to 100 B .. 4 KB (about 15.5 MB for 20,000
messages); the prose is cut from docstrings of the Python standard library on disk
(parsed with ``ast``); about 5% of messages carry 1 to 3 PII values made with
``faker`` (email, phone, US SSN, Luhn-valid card, IBAN, IPv4), a fifth of those a
fake secret token too; about 3% carry one jailbreak phrase from ``rules.json``;
the rest is plain prose.

Run ``python bench/workload.py`` to (re)build the cache and print corpus statistics.
"""

from __future__ import annotations

import ast
import json
import math
import random
import string
import sys
import sysconfig
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RULES_PATH = BENCH_DIR / "rules.json"
DATA_DIR = BENCH_DIR / "data"

REFERENCE_N = 20_000
REFERENCE_SEED = 1234
# Bump when the recipe changes, so stale caches are not reused.
GENERATOR_VERSION = 1

MEDIAN_BYTES = 600
SIGMA = 0.72  # log-normal shape; with the clip below it gives ~775 B/message, ~15.5 MB / 20k
MIN_BYTES = 100
MAX_BYTES = 4096
PII_RATE = 0.05
SECRET_SHARE = 0.20  # of the PII messages
JAILBREAK_RATE = 0.03

__all__ = [
    "load_rules",
    "generate_corpus",
    "generate_records",
    "sample",
    "policy_from_rules",
    "corpus_stats",
    "REFERENCE_N",
    "REFERENCE_SEED",
]


# ----------------------------------------------------------------------------- rules

def load_rules(path: str | Path | None = None) -> dict:
    """The reference rules: ``{"regexes": [...], "literals": [...], "nonportable_examples": [...], ...}``."""
    with open(path or RULES_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def jailbreak_phrases(rules: dict | None = None) -> list[str]:
    rules = rules or load_rules()
    return [lit["text"] for lit in rules["literals"] if lit.get("category") == "jailbreak"]


# ----------------------------------------------------------------------------- prose

def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "__pycache__"}
    return sorted(
        (p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts)),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def _stdlib_docstrings() -> list[str]:
    """All module/class/function docstrings of the stdlib, in a deterministic order."""
    docs: list[str] = []
    for path in _stdlib_files():
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if not doc or len(doc) < 40:
                    continue
                try:
                    doc.encode("utf-8")
                except UnicodeEncodeError:  # lone surrogates in a few test modules
                    continue
                docs.append(doc)
    return docs


class _Prose:
    """A byte pool of docstrings; ``cut(rng, nbytes)`` returns a slice of about nbytes."""

    def __init__(self, docs: list[str]):
        self.pool = "\n\n".join(docs).encode("utf-8")

    def cut(self, rng: random.Random, nbytes: int) -> str:
        pool = self.pool
        start = rng.randrange(len(pool) - MAX_BYTES - 64)
        # start on a word: after the next whitespace, and never inside a UTF-8 sequence
        ws = start
        while ws < start + 32 and pool[ws : ws + 1] not in (b" ", b"\n"):
            ws += 1
        start = ws + 1
        while pool[start] & 0xC0 == 0x80:
            start += 1
        end = start + nbytes
        step = -1 if nbytes > MIN_BYTES + 4 else 1  # stay inside MIN_BYTES..MAX_BYTES
        while end < len(pool) and pool[end] & 0xC0 == 0x80:
            end += step
        text = pool[start:end].decode("utf-8")
        return text


# ----------------------------------------------------------------------------- PII and secrets

_PII_TEMPLATES = {
    "email": ["my email is {}", "contact {} for access", "send it to {}", "Email: {}", "reply to <{}>"],
    "phone": ["call me at {}", "phone: {}", "my number is {}", "reach me on {} after 5pm", "Tel. {}"],
    "ssn": ["my SSN is {}", "SSN: {}", "social security number {}", "ssn {} on file"],
    "card": ["card number {}", "charge it to {}", "my card is {} exp 04/27", "CC: {}"],
    "iban": ["IBAN {}", "wire it to {}", "account IBAN: {}", "pay into {} please"],
    "ipv4": ["the server is at {}", "ssh to {}", "from IP {}", "host {} is down"],
}
PII_KINDS = tuple(_PII_TEMPLATES)

_ALNUM = string.ascii_letters + string.digits
_UPPER_NUM = string.ascii_uppercase + string.digits


def _rand(rng: random.Random, alphabet: str, k: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(k))


def _secret(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["aws", "github", "slack", "stripe", "google", "gitlab", "hf"])
    if kind == "aws":
        tok = "AKIA" + _rand(rng, _UPPER_NUM, 16)
        ctx = rng.choice(["export AWS_ACCESS_KEY_ID={}", "aws key {}", "use access key {} for the bucket"])
    elif kind == "github":
        tok = "ghp_" + _rand(rng, _ALNUM, 36)
        ctx = rng.choice(["GITHUB_TOKEN={}", "my github token is {}", "git clone https://{}@github.com/acme/app"])
    elif kind == "slack":
        tok = "xoxb-" + _rand(rng, string.digits, 12) + "-" + _rand(rng, _ALNUM, 24)
        ctx = rng.choice(["slack bot token {}", "SLACK_TOKEN={}"])
    elif kind == "stripe":
        tok = "sk_live_" + _rand(rng, _ALNUM, 24)
        ctx = rng.choice(["stripe key {}", "STRIPE_SECRET={}"])
    elif kind == "google":
        tok = "AIza" + _rand(rng, _ALNUM + "_-", 35)
        ctx = rng.choice(["maps key {}", "GOOGLE_API_KEY={}"])
    elif kind == "gitlab":
        tok = "glpat-" + _rand(rng, _ALNUM, 20)
        ctx = rng.choice(["gitlab token {}", "CI_TOKEN={}"])
    else:
        tok = "hf_" + _rand(rng, _ALNUM, 34)
        ctx = rng.choice(["HF_TOKEN={}", "huggingface token {}"])
    return kind, ctx.format(tok)


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _pii_value(fake, kind: str) -> str:
    if kind == "email":
        return fake.email()
    if kind == "phone":
        return fake.phone_number()
    if kind == "ssn":
        return fake.ssn()
    if kind == "card":
        number = fake.credit_card_number()
        assert _luhn_ok(number), number  # faker computes the Luhn check digit
        return number
    if kind == "iban":
        return fake.iban()
    if kind == "ipv4":
        return fake.ipv4()
    raise ValueError(kind)


def _insert(rng: random.Random, text: str, snippets: list[str]) -> str:
    """Insert each snippet at its own random word boundary of the prose, as a clause.

    Each insertion adds exactly len(snippet) + 2 characters (a space and a punctuation mark)."""
    cuts = [i for i, ch in enumerate(text) if ch == " "]
    if len(cuts) < len(snippets):
        return text + "".join(f" {s}." for s in snippets)
    places = sorted(zip(rng.sample(cuts, len(snippets)), snippets), reverse=True)
    for i, snip in places:  # from the end, so earlier offsets stay valid
        text = f"{text[:i]} {snip}{rng.choice('.,;:')}{text[i:]}"
    return text


# ----------------------------------------------------------------------------- corpus

def _cache_path(n: int, seed: int) -> Path:
    return DATA_DIR / f"corpus-v{GENERATOR_VERSION}-n{n}-seed{seed}.jsonl"


def _faker_version() -> str:
    try:
        import faker

        return getattr(faker, "VERSION", "?")
    except ImportError:  # pragma: no cover
        return "missing"


def _build(n: int, seed: int) -> list[dict]:
    from faker import Faker

    rules = load_rules()
    phrases = jailbreak_phrases(rules)
    prose = _Prose(_stdlib_docstrings())
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    mu = math.log(MEDIAN_BYTES)
    out: list[dict] = []
    for i in range(n):
        target = int(min(MAX_BYTES, max(MIN_BYTES, rng.lognormvariate(mu, SIGMA))))
        draw = rng.random()
        snippets: list[str] = []
        rec: dict = {"i": i, "pii": [], "secret": None, "jailbreak": None}
        if draw < PII_RATE:
            for _ in range(rng.randint(1, 3)):
                kind = rng.choice(PII_KINDS)
                value = _pii_value(fake, kind)
                rec["pii"].append([kind, value])
                snippets.append(rng.choice(_PII_TEMPLATES[kind]).format(value))
            if rng.random() < SECRET_SHARE:
                kind, snip = _secret(rng)
                rec["secret"] = kind
                snippets.append(snip)
        elif draw < PII_RATE + JAILBREAK_RATE:
            phrase = rng.choice(phrases)
            style = rng.random()
            if style < 0.2:
                phrase = phrase.upper()
            elif style < 0.5:
                phrase = phrase[:1].upper() + phrase[1:]
            rec["jailbreak"] = phrase
            snippets.append(phrase)
        extra = sum(len(s.encode("utf-8")) + 2 for s in snippets)
        body = prose.cut(rng, max(40, target - extra))
        rec["text"] = _insert(rng, body, snippets) if snippets else body
        out.append(rec)
    return out


def generate_records(n: int = REFERENCE_N, seed: int = REFERENCE_SEED, *, refresh: bool = False) -> list[dict]:
    """The corpus with labels: dicts with ``text``, ``pii`` ([kind, value] pairs), ``secret``, ``jailbreak``.

    Cached under ``bench/data/``; the cache is rebuilt when it is missing, or when ``refresh``.
    A prefix of a corpus is the smaller corpus with the same seed (messages are drawn in order).
    """
    path = _cache_path(n, seed)
    if not refresh and path.exists():
        with open(path, encoding="utf-8") as fh:
            head = json.loads(fh.readline())
            if head.get("meta", {}).get("n") == n:
                return [json.loads(line) for line in fh]
    t0 = time.perf_counter()
    recs = _build(n, seed)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    meta = {
        "n": n,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "python": sys.version.split()[0],
        "stdlib": sysconfig.get_paths()["stdlib"],
        "faker": _faker_version(),
        "build_s": round(time.perf_counter() - t0, 2),
    }
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}) + "\n")
        for rec in recs:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return recs


def generate_corpus(n: int = REFERENCE_N, seed: int = REFERENCE_SEED) -> list[str]:
    """The reference corpus (``n`` messages, deterministic for ``seed``), cached as JSONL in bench/data/."""
    return [rec["text"] for rec in generate_records(n, seed)]


def sample(n: int, seed: int = REFERENCE_SEED) -> list[str]:
    """The first ``n`` messages of the reference corpus (a representative subset for quick runs)."""
    if n <= REFERENCE_N:
        return generate_corpus(REFERENCE_N, seed)[:n]
    return generate_corpus(n, seed)


def corpus_stats(texts: list[str]) -> dict:
    sizes = sorted(len(t.encode("utf-8")) for t in texts)
    total = sum(sizes)
    return {
        "messages": len(texts),
        "bytes": total,
        "mb": round(total / 1e6, 2),
        "median_bytes": sizes[len(sizes) // 2] if sizes else 0,
        "mean_bytes": round(total / len(sizes), 1) if sizes else 0,
        "min_bytes": sizes[0] if sizes else 0,
        "max_bytes": sizes[-1] if sizes else 0,
    }


# ----------------------------------------------------------------------------- DSL

def dsl_string(s: str) -> str:
    """A policylang double-quoted string literal for s."""
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dsl_regex(pattern: str, flags: str = "") -> str:
    """A policylang regex literal: /.../flags, with '/' written as '\\/'."""
    if "\n" in pattern:
        raise ValueError("a regex literal cannot span lines")
    body = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            body.append("\\/" if nxt == "/" else ch + nxt)
            i += 2
            continue
        body.append("\\/" if ch == "/" else ch)
        i += 1
    flags = "".join(sorted(set(flags)))
    return "/" + "".join(body) + "/" + flags


_PRINCIPLES = {
    "privacy": "keep personal data out",
    "secrets": "keep credentials and keys out",
    "integrity": "refuse jailbreaks and banned topics",
}
_CATEGORY_PRINCIPLE = {"pii": "privacy", "secret": "secrets", "jailbreak": "integrity", "topic": "integrity"}


def policy_from_rules(rules: dict, *, words_per_phrase: bool = False, name: str = "bench",
                      stage: str = "input") -> str:
    """The rules as policylang DSL source: one `pattern` + `rule` per regex, and one `words`
    list for all literal phrases (``nocase``, substring semantics) with one rule, or, with
    ``words_per_phrase=True``, one `words` + `rule` per phrase. Every rule only flags."""
    lines = [f"policy {name} {dsl_string('reference workload')}", ""]
    for pname, desc in _PRINCIPLES.items():
        lines.append(f"principle {pname} {dsl_string(desc)}")
    lines.append("")
    for rx in rules.get("regexes", []):
        pid = _ident(rx["id"])
        lines.append(f"pattern p_{pid} = {dsl_regex(rx['pattern'], rx.get('flags', ''))}")
        why = _CATEGORY_PRINCIPLE.get(rx.get("category", ""), "privacy")
        lines.append(f"rule r_{pid} on {stage}: when p_{pid} flag because {why}")
    lits = rules.get("literals", [])
    if lits:
        lines.append("")
        if words_per_phrase:
            for lit in lits:
                lid = _ident(lit["id"])
                why = _CATEGORY_PRINCIPLE.get(lit.get("category", ""), "integrity")
                lines.append(f"words w_{lid} = [{dsl_string(lit['text'])}] nocase")
                lines.append(f"rule r_{lid} on {stage}: when w_{lid} flag because {why}")
        else:
            items = ",\n    ".join(dsl_string(lit["text"]) for lit in lits)
            lines.append(f"words banned = [\n    {items},\n] nocase")
            lines.append(f"rule r_banned on {stage}: when banned flag because integrity")
    return "\n".join(lines) + "\n"


def _ident(s: str) -> str:
    out = "".join(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else "_" for ch in s)
    if not out or out[0].isdigit():
        out = "_" + out
    return out


def ensure_repo_on_path() -> None:
    """Put the repository root first on sys.path, so the working tree's policylang is measured."""
    root = str(BENCH_DIR.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def _check_dsl(src: str) -> str:
    """Parse src with policylang's parser when it is importable; returns a one-line verdict."""
    ensure_repo_on_path()
    try:
        from policylang._source import SourceFile
        from policylang.syntax import parse
    except Exception as exc:  # noqa: BLE001
        return f"parser not available ({type(exc).__name__})"
    res = parse(SourceFile("<bench>", src))
    if not res.ok:
        return "ERRORS: " + "; ".join(str(d) for d in res.diagnostics[:3])
    return f"parses OK ({len(res.module.items)} declarations)"


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=REFERENCE_N)
    ap.add_argument("--seed", type=int, default=REFERENCE_SEED)
    ap.add_argument("--refresh", action="store_true", help="rebuild the cache")
    ap.add_argument("--policy", action="store_true", help="print the DSL source of the reference rules")
    args = ap.parse_args()
    if args.policy:
        print(policy_from_rules(load_rules()), end="")
        raise SystemExit(0)
    t0 = time.perf_counter()
    recs = generate_records(args.n, args.seed, refresh=args.refresh)
    texts = [r["text"] for r in recs]
    print(f"corpus: {_cache_path(args.n, args.seed)} ({time.perf_counter() - t0:.1f} s)")
    print("stats:", json.dumps(corpus_stats(texts)))
    pii = sum(1 for r in recs if r["pii"])
    print(f"PII messages: {pii} ({100 * pii / len(recs):.2f}%), PII values: {sum(len(r['pii']) for r in recs)}, "
          f"with secret: {sum(1 for r in recs if r['secret'])}, "
          f"jailbreak messages: {sum(1 for r in recs if r['jailbreak'])} "
          f"({100 * sum(1 for r in recs if r['jailbreak']) / len(recs):.2f}%)")
    src = policy_from_rules(load_rules())
    print(f"policy_from_rules: {len(src.splitlines())} lines, {_check_dsl(src)}")
    src2 = policy_from_rules(load_rules(), words_per_phrase=True)
    print(f"policy_from_rules(words_per_phrase=True): {len(src2.splitlines())} lines, {_check_dsl(src2)}")
