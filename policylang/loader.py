"""File I/O for policies: reading sources, finding files in folders, packs and word lists.

The pipeline stages (parse, check, compile) never touch the file system; this module
and the CLI do.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from policylang._source import SourceFile
from policylang._resources import (  # noqa: F401 - re-exported: loader.pack_names() etc. are API
    POLICY_SUFFIX,
    base_dir,
    is_pack_file,
    pack_dir,
    pack_file_name,
    pack_names,
    pack_source,
)
from policylang.check.checker import CheckResult, check
from policylang.diagnostics import Diagnostic, Severity
from policylang.errors import PolicyError

MAX_FILE_BYTES = 2 * 1024 * 1024


def decode_source(name: str, data: bytes) -> SourceFile | Diagnostic:
    """Decode policy bytes; binary or non-UTF-8 input becomes a PL003/PL006 diagnostic."""
    probe = SourceFile(name, "")
    if len(data) > MAX_FILE_BYTES:
        return Diagnostic(
            "PL006", Severity.ERROR,
            f"policy file is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,}",
            probe.span_at(0), help="split the policy, or move long word lists into `words NAME = file \"...\"`",
        )
    if b"\x00" in data:
        return Diagnostic(
            "PL003", Severity.ERROR, "file is binary, not policy text", probe.span_at(0),
            help="policy files are UTF-8 text",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        good = data[: err.start].decode("utf-8", errors="replace")
        span = SourceFile(name, good).span_at(len(good), len(good))
        return Diagnostic(
            "PL003", Severity.ERROR, f"file is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})",
            span, help="save the file as UTF-8",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(name, text)


def read_source(path: str | os.PathLike) -> SourceFile | Diagnostic:
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        return Diagnostic(
            "PL003", Severity.ERROR, f"cannot read file: {err.strerror or err}", SourceFile(name, "").span_at(0),
        )
    return decode_source(name, data)


class UsageError(PolicyError):
    """A path or argument mistake that is not about policy text: a missing file, a folder
    without policies (exit code 2 on the command line; a :class:`PolicyError` in Python)."""

    def __init__(self, message: str, diagnostics=()):
        super().__init__(message, diagnostics)


def discover(paths) -> list[Path]:
    """Expand files and folders into ``.policy`` files (folders recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(x for x in p.rglob("*" + POLICY_SUFFIX) if x.is_file())
            if not files:
                raise UsageError(f"no {POLICY_SUFFIX} files in folder `{p}`")
            found.extend(files)
        elif p.is_file():
            found.append(p)
        else:
            raise UsageError(f"no such file or folder: `{p}`")
    return found


def expand_targets(paths) -> list[str]:
    """Files (folders expanded) and pack names, each once, in the order given.

    Raises ``UsageError`` for a path that does not exist or a folder without policies.
    """
    out: list[str] = []
    seen: set[str] = set()
    for raw in paths:
        text = str(raw)
        if text.isidentifier() and not Path(text).exists():
            items = [(text, "pack:" + text)]  # a built-in pack (load_modules reports an unknown one)
        else:
            items = [(str(f), str(f.resolve())) for f in discover([raw])]
        for target, key in items:
            if key not in seen:
                seen.add(key)
                out.append(target)
    return out


# ---------------------------------------------------------------------------- word files
#: Limits on ``words NAME = file "..."`` (PL217 past them). A file is read with a bounded
#: read: never more than ``max_bytes + 1`` bytes, whatever the file claims to be.
MAX_WORD_FILE_BYTES = 8 * 1024 * 1024
MAX_WORDS_PER_FILE = 250_000
MAX_PHRASE_CHARS = 1_000
MAX_WORD_BYTES_TOTAL = 64 * 1024 * 1024  # all word files of one load together


@dataclass(frozen=True, slots=True)
class WordFile:
    """A loaded word list, or why it could not be loaded (``code`` is the diagnostic code)."""

    words: tuple[str, ...]
    error: str | None = None
    code: str = "PL205"
    help: str | None = None


@dataclass(frozen=True, slots=True)
class WordLimits:
    max_bytes: int = MAX_WORD_FILE_BYTES
    max_words: int = MAX_WORDS_PER_FILE
    max_phrase_chars: int = MAX_PHRASE_CHARS
    max_total_bytes: int = MAX_WORD_BYTES_TOTAL


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def word_file_roots(policy_file: str, extra_roots=()) -> list[Path]:
    """Folders a policy's word files may live in: its own folder, plus the caller's roots."""
    roots = [base_dir(policy_file).resolve()]
    for r in extra_roots or ():
        roots.append(Path(r).resolve())
    return roots


def read_word_file(policy_file: str, rel: str, roots=(), limits: WordLimits = WordLimits(),
                   budget: list[int] | None = None) -> WordFile:
    """One phrase per line; blank lines and lines starting with ``#`` are skipped.

    The file must be a regular file whose real path (symlinks resolved) lies inside the
    policy's folder or one of ``roots`` (PL216), no larger than ``limits`` (PL217). ``budget``
    is a one-item list holding the bytes all word files of this load may still use.
    """
    allowed = word_file_roots(policy_file, roots)
    where = " or ".join(f"`{r}`" for r in allowed)
    path = base_dir(policy_file) / rel
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError) as err:  # a symlink loop
        return WordFile((), f"cannot resolve word file `{rel}`: {err}")
    if not any(_inside(real, r) for r in allowed):
        return WordFile((), f"word file `{rel}` is outside the allowed folder {where}", "PL216",
                        "word files must sit in the policy's folder (symlinks resolved); "
                        "allow another folder with `--word-root DIR` or `load(..., word_roots=[DIR])`")
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return WordFile((), f"word file `{rel}` not found (looked in `{path.parent}`)")
    except OSError as err:
        return WordFile((), f"cannot read word file `{rel}`: {err.strerror or err}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return WordFile((), f"word file `{rel}` is not a regular file", "PL216",
                            "a word list is a plain UTF-8 text file, not a device, pipe or folder")
        limit = limits.max_bytes
        if budget is not None:
            limit = min(limit, budget[0])
        if st.st_size > limit:
            return _too_large(rel, st.st_size, limits, budget)
        chunks = []
        got = 0
        while got <= limit:  # bounded: at most limit + 1 bytes, even if the file grows
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            return _too_large(rel, got, limits, budget, at_least=True)
    except OSError as err:
        return WordFile((), f"cannot read word file `{rel}`: {err.strerror or err}")
    finally:
        os.close(fd)
    if budget is not None:
        budget[0] -= got
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as err:
        return WordFile((), f"cannot read word file `{rel}`: not UTF-8 (byte offset {err.start})")
    if text.startswith("\ufeff"):
        text = text[1:]
    words = []
    for n, line in enumerate(text.splitlines(), start=1):
        phrase = line.strip()
        if not phrase or phrase.startswith("#"):
            continue
        if len(phrase) > limits.max_phrase_chars:
            return WordFile((), f"word file `{rel}` line {n} is a phrase of {len(phrase):,} characters; "
                                f"the limit is {limits.max_phrase_chars:,}", "PL217",
                            "a word list holds short phrases, one per line")
        words.append(phrase)
        if len(words) > limits.max_words:
            return WordFile((), f"word file `{rel}` holds more than {limits.max_words:,} phrases", "PL217",
                            "split the list, or raise `WordLimits.max_words` (`load(..., word_limits=...)`)")
    return WordFile(tuple(words))


def _too_large(rel: str, size: int, limits: WordLimits, budget, at_least: bool = False) -> WordFile:
    more = "more than " if at_least else ""
    if budget is not None and budget[0] < limits.max_bytes:
        return WordFile((), f"word file `{rel}` ({more}{size:,} bytes) is over what is left of the "
                            f"{limits.max_total_bytes:,}-byte limit for all word files", "PL217",
                        "load fewer or smaller word lists")
    return WordFile((), f"word file `{rel}` is {more}{size:,} bytes; the limit is {limits.max_bytes:,}", "PL217",
                    "split the list, or raise `WordLimits.max_bytes` (`load(..., word_limits=...)`)")


# ---------------------------------------------------------------------------- modules
def _parse(source: SourceFile, namespace: str, active: bool, diags: list):
    from policylang.check.symbols import ModuleInfo
    from policylang.syntax import parse

    result = parse(source)
    diags.extend(result.diagnostics)
    if result.module is None:
        return None
    return ModuleInfo(result.module, namespace, active)


def _namespace_of(info) -> str:
    """The namespace a composed file lives in: its ``policy NAME``, else its file stem."""
    decl = info.module.policy
    if decl is not None:
        return decl.name.value
    stem = Path(info.module.source.name).stem
    return stem if stem.isidentifier() else "_" + "".join(c if c.isalnum() else "_" for c in stem)


def _display_path(path: Path) -> str:
    """A path as diagnostics show it: relative to the working folder when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _include_error(code: str, message: str, span, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, help=help)


def load_modules(targets) -> tuple[list, list[Diagnostic]]:
    """Parse policy targets, the files they ``include`` and the packs they ``use``.

    A target is a path (file or folder), the name of a built-in pack, or a
    ``SourceFile``. Every user file given is an *entry* policy. One entry lives in the
    global namespace (its rule ids are bare); when several are loaded together each lives
    in the namespace of its ``policy NAME`` (rule ids ``NAME.rule``), so two unrelated
    policies may use the same names. A file brought in by ``include`` lives in the
    namespace of its policy name too: its definitions are ``NAME.x`` to the includer, its
    rules run, its tests run only when it is itself an entry.

    Returns ``(module_infos, diagnostics)``; raises ``UsageError`` for a path that does
    not exist or a folder with no policies.
    """
    from dataclasses import replace

    from policylang.syntax import ast

    diags: list[Diagnostic] = []
    entries: list = []  # (info, resolved path or None)
    packs: list = []
    active_packs: set[str] = set()
    for target in targets:
        if isinstance(target, SourceFile):
            info = _parse(target, "", True, diags)
            if info is not None:
                entries.append((info, None))
            continue
        text = str(target)
        if text.isidentifier() and not Path(text).exists():
            src = pack_source(text)
            if src is None:
                raise UsageError(f"`{text}` is neither a file nor a built-in pack ({', '.join(pack_names())})")
            if text not in active_packs:
                active_packs.add(text)
                info = _parse(src, text, True, diags)
                if info is not None:
                    packs.append(info)
            continue
        for path in discover([target]):
            src = read_source(path)
            if isinstance(src, Diagnostic):
                diags.append(src)
                continue
            info = _parse(src, "", True, diags)
            if info is not None:
                entries.append((info, path.resolve()))

    # namespaces of the entries: global for one, the policy name for several
    taken: dict[str, object] = {}  # namespace -> the declaration (or file) that holds it
    infos: list = []
    by_path: dict[Path, str] = {}
    for info, path in entries:
        if len(entries) > 1:
            ns = _namespace_of(info)
            if ns in taken or pack_source(ns) is not None:
                decl = info.module.policy
                span = decl.name.span if decl is not None else info.module.source.span_at(0)
                what = "a built-in pack" if ns not in taken else f"the policy in `{taken[ns]}`"
                diags.append(_include_error(
                    "PL115", f"policy name `{ns}` is already taken by {what}", span,
                    help="policies loaded together each need their own `policy NAME`"))
                continue
            taken[ns] = info.module.source.name
            info = replace(info, namespace=ns)
        if path is not None:
            by_path[path] = info.namespace
        infos.append(info)
    for info in packs:
        taken[info.namespace] = info.module.source.name
    infos.extend(packs)

    # files brought in by `include`, transitively; each module's includes become names it uses
    extra_uses: dict[int, list[str]] = {}
    queue = list(range(len(infos)))
    while queue:
        k = queue.pop(0)
        info = infos[k]
        for inc in info.module.of_type(ast.Include):
            for raw in inc.paths:
                if is_pack_file(info.module.source.name) is not None or info.module.source.name.startswith("<"):
                    here = base_dir(info.module.source.name)
                else:
                    here = Path(info.module.source.name).resolve().parent
                path = (here / raw.value).resolve()
                if path in by_path:
                    ns = by_path[path]
                    if ns == info.namespace:
                        diags.append(_include_error("PL114", f"`{raw.value}` includes this file itself", raw.span))
                        continue
                    extra_uses.setdefault(k, []).append(ns)
                    continue
                if not path.is_file() or path.suffix != POLICY_SUFFIX:
                    diags.append(_include_error(
                        "PL114", f"cannot include `{raw.value}`: " + (
                            "not a .policy file" if path.exists() else "no such file"), raw.span,
                        help=f"include paths are relative to the including file's folder (`{here}`)"))
                    continue
                src = read_source(_display_path(path))
                if isinstance(src, Diagnostic):
                    diags.append(src)
                    continue
                sub = _parse(src, "", True, diags)
                if sub is None:
                    continue
                ns = _namespace_of(sub)
                if ns in taken or pack_source(ns) is not None or ns == "":
                    what = "a built-in pack" if ns not in taken else f"`{taken[ns]}`"
                    diags.append(_include_error(
                        "PL115", f"`{raw.value}` is policy `{ns}`, a name already taken by {what}", raw.span,
                        help="give the included file its own `policy NAME`"))
                    continue
                taken[ns] = src.name
                by_path[path] = ns
                infos.append(replace(sub, namespace=ns, entry=False))
                extra_uses.setdefault(k, []).append(ns)
                queue.append(len(infos) - 1)
    for k, names in extra_uses.items():
        infos[k] = replace(infos[k], _uses=tuple(infos[k].uses) + tuple(n for n in names if n not in infos[k].uses))

    # packs brought in by `use`, transitively
    loaded = {i.namespace for i in infos if i.namespace}
    queue2 = [u for i in infos for u in i.uses]
    while queue2:
        name = queue2.pop(0)
        if name in loaded:
            continue
        loaded.add(name)
        src = pack_source(name)
        if src is None:
            continue  # reported by the names pass (PL104)
        info = _parse(src, name, False, diags)
        if info is not None:
            infos.append(info)
            queue2.extend(info.uses)
    return infos, diags


class PatternEnvironment:
    """The checker's window on the compiler: Hyperscan's verdict on one pattern (PL401-PL403).

    Reads no files; ``check_source`` uses it when no environment is given."""

    def pattern_problems(self, **spec):
        """``check_pattern(PatternSpec(**spec))``: what Hyperscan rejects or degrades (never raises)."""
        from policylang.compile.patterns import PatternSpec, check_pattern  # lazy: hyperscan

        return check_pattern(PatternSpec(**spec))


class FileEnvironment(PatternEnvironment):
    """The checker's window on the file system: word files and model folders.

    ``word_roots``: folders besides each policy's own where its word files may live;
    ``word_limits``: a :class:`WordLimits` (size, phrase and count limits).
    """

    def __init__(self, word_roots=(), word_limits: WordLimits | None = None):
        if isinstance(word_roots, (str, os.PathLike)):
            word_roots = (word_roots,)
        self.word_roots = tuple(word_roots or ())
        self.word_limits = word_limits or WordLimits()
        self._budget = [self.word_limits.max_total_bytes]

    def read_words(self, policy_file: str, rel: str) -> WordFile:
        return read_word_file(policy_file, rel, getattr(self, "word_roots", ()),
                              getattr(self, "word_limits", WordLimits()), getattr(self, "_budget", None))

    def inspect_model(self, node, path: str) -> list[str]:
        from policylang.syntax import ast

        try:
            from policylang.runtime import models
        except ImportError as err:  # onnxruntime missing
            return [f"cannot load the model runtime: {err}"]
        kind = "classifier" if isinstance(node, ast.Classifier) else "embedder"
        if isinstance(node, ast.Classifier) and node.is_ner:
            return models.inspect_model(model_spec(node, path), "ner", entities=_entities_of(node))
        return models.inspect_model(model_spec(node, path), kind)

    def resolve_model_path(self, policy_file: str, raw: str) -> str:
        return resolve_model_path(policy_file, raw)

    def head_fit(self, node, path: str, emb_node, emb_path: str):
        """``(head input width, embedder width, head's trained window, embedder window)``."""
        from policylang.runtime.models import head_fit  # lazy: numpy, onnxruntime

        return head_fit(path, model_spec(emb_node, emb_path))


def resolve_model_path(policy_file: str, raw: str) -> str:
    """Model paths are relative to the policy file; ``builtin:NAME`` names a shipped model."""
    if raw.startswith("builtin:"):
        from policylang.runtime.models import builtin_model_path

        return builtin_model_path(raw[len("builtin:"):])
    return str((base_dir(policy_file) / raw).resolve())


def _entities_of(node) -> dict[str, tuple[str, ...]]:
    """``{entity: (types...)}`` of a token classifier declaration."""
    return {name.value: tuple(t.value for t in types) for name, types in node.options.entities}


def model_spec(node, path: str):
    """ModelSpec for a classifier/topic node whose path is already resolved
    (:func:`policylang.runtime.models.model_spec`)."""
    from policylang.runtime.models import model_spec as _model_spec  # lazy: numpy, onnxruntime

    return _model_spec(node, path)


def check_source(source: "str | SourceFile | Iterable[str | SourceFile]", *, name: str = "<string>", env=None):
    """Parse and check policy text (and the packs it uses) in one call, without touching files.

    ``source`` is policy text, a ``SourceFile``, or several of them (one policy set).
    Returns a ``CheckResult`` whose ``diagnostics`` hold the syntax diagnostics too, and
    whose ``policy_set`` is None when there is any error. ``env`` defaults to a
    ``PatternEnvironment``: patterns get Hyperscan's verdict, word files and model folders
    are not read (pass ``loader.FileEnvironment()`` to read them).
    """
    if isinstance(source, (str, SourceFile)):
        source = [source]
    sources = [s if isinstance(s, SourceFile) else SourceFile(name if i == 0 else f"{name}#{i}", s)
               for i, s in enumerate(source)]
    infos, parse_diags = load_modules(sources)
    result = check(infos, env if env is not None else PatternEnvironment())
    diags = tuple(sorted(list(parse_diags) + list(result.diagnostics),
                         key=lambda d: (d.span.file, d.span.start, d.code)))
    policy_set = result.policy_set if not any(d.is_error for d in diags) else None
    return CheckResult(policy_set, diags)
