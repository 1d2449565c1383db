"""File I/O for policies: reading sources, finding files in folders, packs and word lists.

The pipeline stages (parse, check, compile) never touch the file system; this module
and the CLI do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from policylang._source import SourceFile
from policylang.diagnostics import Diagnostic, Severity

POLICY_SUFFIX = ".policy"
MAX_FILE_BYTES = 2 * 1024 * 1024


def pack_names() -> tuple[str, ...]:
    """Names of the built-in packs shipped in ``policylang/packs/``."""
    root = resources.files("policylang").joinpath("packs")
    names = [p.name[: -len(POLICY_SUFFIX)] for p in root.iterdir() if p.name.endswith(POLICY_SUFFIX)]
    return tuple(sorted(names))


def pack_source(name: str) -> SourceFile | None:
    """The source of built-in pack ``name``, reported as ``<pack:NAME>/NAME.policy``."""
    if not name.isidentifier():
        return None
    res = resources.files("policylang").joinpath("packs").joinpath(name + POLICY_SUFFIX)
    if not res.is_file():
        return None
    return SourceFile(pack_file_name(name), res.read_text(encoding="utf-8"))


def pack_file_name(name: str) -> str:
    return f"<pack:{name}>/{name}{POLICY_SUFFIX}"


def pack_dir(name: str) -> Path:
    """Folder that a pack's relative paths (models, word files) resolve against."""
    return Path(str(resources.files("policylang").joinpath("packs")))


def is_pack_file(file_name: str) -> str | None:
    if file_name.startswith("<pack:"):
        return file_name[len("<pack:") : file_name.index(">")]
    return None


def base_dir(file_name: str) -> Path:
    """The folder relative paths in a policy file resolve against."""
    pack = is_pack_file(file_name)
    if pack is not None:
        return pack_dir(pack)
    if file_name.startswith("<"):
        return Path.cwd()
    return Path(file_name).resolve().parent


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


class UsageError(Exception):
    """A command-line mistake that is not about policy text (exit code 2)."""


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


@dataclass(frozen=True, slots=True)
class WordFile:
    words: tuple[str, ...]
    error: str | None = None


def read_word_file(policy_file: str, rel: str) -> WordFile:
    """One phrase per line; blank lines and lines starting with ``#`` are skipped."""
    path = base_dir(policy_file) / rel
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return WordFile((), f"word file `{rel}` not found (looked in `{path.parent}`)")
    except (OSError, UnicodeDecodeError) as err:
        return WordFile((), f"cannot read word file `{rel}`: {err}")
    words = tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    return WordFile(words)


# ---------------------------------------------------------------------------- modules
def _parse(source: SourceFile, namespace: str, active: bool, diags: list):
    from policylang.check.symbols import ModuleInfo
    from policylang.syntax import parse

    result = parse(source)
    diags.extend(result.diagnostics)
    if result.module is None:
        return None
    return ModuleInfo(result.module, namespace, active)


def load_modules(targets) -> tuple[list, list[Diagnostic]]:
    """Parse policy targets and the packs they ``use``.

    A target is a path (file or folder), the name of a built-in pack, or a
    ``SourceFile``. Returns ``(module_infos, diagnostics)``; raises ``UsageError`` for a
    path that does not exist or a folder with no policies.
    """
    diags: list[Diagnostic] = []
    infos: list = []
    active_packs: set[str] = set()
    for target in targets:
        if isinstance(target, SourceFile):
            info = _parse(target, "", True, diags)
            if info is not None:
                infos.append(info)
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
                    infos.append(info)
            continue
        for path in discover([target]):
            src = read_source(path)
            if isinstance(src, Diagnostic):
                diags.append(src)
                continue
            info = _parse(src, "", True, diags)
            if info is not None:
                infos.append(info)
    # packs brought in by `use`, transitively
    loaded = {i.namespace for i in infos if i.namespace}
    queue = [u for i in infos for u in i.uses]
    while queue:
        name = queue.pop(0)
        if name in loaded:
            continue
        loaded.add(name)
        src = pack_source(name)
        if src is None:
            continue  # reported by the names pass (PL104)
        info = _parse(src, name, False, diags)
        if info is not None:
            infos.append(info)
            queue.extend(info.uses)
    return infos, diags


class FileEnvironment:
    """The checker's window on the file system: word files and model folders."""

    def read_words(self, policy_file: str, rel: str) -> WordFile:
        return read_word_file(policy_file, rel)

    def inspect_model(self, node, path: str) -> list[str]:
        from policylang.syntax import ast

        try:
            from policylang.runtime import models
        except ImportError as err:  # onnxruntime missing
            return [f"cannot load the model runtime: {err}"]
        kind = "classifier" if isinstance(node, ast.Classifier) else "embedder"
        return models.inspect_model(model_spec(node, path), kind)


def resolve_model_path(policy_file: str, raw: str) -> str:
    """Model paths are relative to the policy file; ``builtin:NAME`` names a shipped model."""
    if raw.startswith("builtin:"):
        from policylang.runtime.models import builtin_model_path

        return builtin_model_path(raw[len("builtin:"):])
    return str((base_dir(policy_file) / raw).resolve())


def model_spec(node, path: str):
    """ModelSpec for a classifier/topic node whose path is already resolved."""
    from policylang.runtime.models import ModelSpec
    from policylang.syntax import ast

    o = node.options
    tokenizer = None
    if o.tokenizer is not None:
        tokenizer = str((Path(path) if Path(path).is_dir() else Path(path).parent) / o.tokenizer.value)
    kw = dict(
        path=path,
        tokenizer=tokenizer,
        max_length=o.max_length,
        threads=o.threads,
    )
    if isinstance(node, ast.Classifier):
        kw["labels"] = tuple(s.value for s in o.labels) if o.labels else None
        kw["activation"] = o.activation.value if o.activation else None
    return ModelSpec(**kw)
