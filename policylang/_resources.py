"""Built-in packs and the folders relative paths resolve against (level 0: no stage imports).

The checker needs pack names and the compiler needs a policy file's base folder; both live
here, below every stage, so that neither imports :mod:`policylang.loader` (the edge).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from policylang._source import SourceFile

POLICY_SUFFIX = ".policy"


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


def model_location(policy_file: str, raw: str) -> str:
    """Where a policy's model path points: relative to the policy file, or ``builtin:NAME``
    as written (the model runtime finds and sha256-checks shipped models when it loads them)."""
    if raw.startswith("builtin:"):
        return raw
    return str((base_dir(policy_file) / raw).resolve())
