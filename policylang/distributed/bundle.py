"""What a worker needs to rebuild the driver's guard: policy sources, word lists, the database.

A :class:`PolicyBundle` is plain data (picklable, no Ray import): built once on the driver
from a loaded guard, shipped to every worker, turned back into a guard there with
:meth:`PolicyBundle.build_guard`. It carries

* the text of every user policy file the driver loaded (entries and the files they
  ``include``) and of every ``words NAME = file "..."`` list, keyed by absolute path, so
  workers do not need the files;
* the block-mode Hyperscan database the driver compiled (``CompiledPatterns.dumps()``,
  the same bytes as the on-disk cache entry) and its cache file name: the worker writes it
  into its own cache folder before loading, so the load is a cache hit instead of a compile
  (a worker on another CPU or Hyperscan version computes another key, misses, and compiles:
  still correct, only slower);
* the guard options, including one ``hash_salt`` for every worker (``redact hash`` digests
  agree across workers), and the driver's ``policy_hash``.

On the worker the files are used in place when they exist there with the same bytes (one
machine, a shared file system); otherwise they are written into a private temporary folder
that mirrors their absolute paths, and the load runs from the mirror of the driver's working
folder. Either way the rebuilt guard's ``policy_hash`` (which covers every source's name and
text and every word list) must equal the driver's, or :class:`BundleError` says why: the
decisions are the driver's, or there are none.

Built-in packs come from the policylang installed on the worker; the hash check catches a
worker whose packs differ. Model files (``classifier``/``embedder`` paths) are not shipped:
built-in models ship inside the wheel; a model of your own must exist at the same path on
every worker.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from policylang.loader import UsageError

__all__ = ["PolicyBundle", "BundleError"]

_CWD_LOCK = threading.Lock()  # load() reads relative paths against the process's working folder


class BundleError(UsageError):
    """A worker could not rebuild the driver's guard exactly (different sources, packs or paths).

    A :class:`~policylang.errors.PolicyError` (a usage error: exit code 2 on the command line)."""


@dataclass(frozen=True)
class PolicyBundle:
    targets: tuple[str, ...]
    cwd: str
    files: dict[str, bytes]  # absolute path -> bytes, user policy files and word files
    policy_hash: str
    options: dict = field(default_factory=dict)  # policylang.load options (hash_salt always set)
    db_name: str | None = None  # cache file name of the block database on the driver
    db: bytes = b""

    # ------------------------------------------------------------------ driver
    @classmethod
    def load(cls, targets: Sequence[str | os.PathLike] | str, **options) -> tuple["PolicyBundle", object]:
        """Load ``targets`` here (like :func:`policylang.load`) and bundle them: ``(bundle, guard)``.

        ``hash_salt`` defaults to 32 random bytes chosen once here, so every worker keys
        ``redact hash`` the same way. Raises what ``policylang.load`` raises.
        """
        import policylang

        if isinstance(targets, (str, os.PathLike)):
            targets = [targets]
        targets = tuple(str(t) for t in targets)
        if not targets:
            raise TypeError("PolicyBundle.load() needs at least one policy path or pack name")
        options = dict(options)
        if options.get("hash_salt") is None:
            options["hash_salt"] = os.urandom(32)
        if "word_roots" in options:
            roots = options["word_roots"]
            if isinstance(roots, (str, os.PathLike)):
                roots = (roots,)
            options["word_roots"] = tuple(str(Path(r).resolve()) for r in roots or ())
        guard = policylang.load(list(targets), **options)
        return cls.from_guard(guard, targets, options), guard

    @classmethod
    def from_guard(cls, guard, targets: Sequence[str], options: dict) -> "PolicyBundle":
        """Bundle a guard loaded with ``policylang.load(targets, **options)`` in this process."""
        from policylang.loader import base_dir
        from policylang.syntax import ast

        cwd = os.getcwd()
        files: dict[str, bytes] = {}
        for info in guard.plan.policy_set.infos:
            name = info.module.source.name
            if name.startswith("<"):
                continue  # a built-in pack (installed on the worker) or policylang.loads() text
            files[os.path.abspath(name)] = _read(os.path.abspath(name))
            for words in info.module.of_type(ast.Words):
                if words.file is not None:
                    path = os.path.abspath(base_dir(name) / words.file.value)
                    files[path] = _read(path)
        db_name = db = None
        patterns = guard.plan.patterns
        if patterns.specs:
            from policylang.compile.patterns import cache_key
            import hyperscan as hs

            db = patterns.dumps()
            db_name = os.path.basename(patterns.cache_path) if patterns.cache_path else \
                cache_key(patterns.specs, hs.HS_MODE_BLOCK) + ".hsdb"
        return cls(tuple(targets), cwd, files, guard.policy_hash, dict(options), db_name, db or b"")

    # ------------------------------------------------------------------ worker
    def build_guard(self):
        """The driver's guard, rebuilt here from the bundle (BundleError if it cannot be exact)."""
        import policylang

        self._seed_cache()
        options = dict(self.options)
        if self._files_in_place():
            with _CWD_LOCK, _chdir(self.cwd):
                guard = policylang.load(list(self.targets), **options)
            where = "in place"
        else:
            root = tempfile.mkdtemp(prefix="policylang-bundle-")
            for path, data in self.files.items():
                dst = _mirror(root, path)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with open(dst, "wb") as fh:
                    fh.write(data)
            here = _mirror(root, self.cwd)
            os.makedirs(here, exist_ok=True)
            targets = [_mirror(root, t) if os.path.isabs(t) else t for t in self.targets]
            options["word_roots"] = tuple(_mirror(root, r) for r in options.get("word_roots", ()))
            with _CWD_LOCK, _chdir(here):
                guard = policylang.load(targets, **options)
            where = f"from copies in `{root}`"
        if guard.policy_hash != self.policy_hash:
            absolute = [t for t in self.targets if os.path.isabs(t)]
            hint = (" the policies were given by absolute path and are not on this machine: give them "
                    "relative to the working folder, or use a shared file system" if absolute and where != "in place"
                    else " the built-in packs or policylang version on this worker differ from the driver's")
            raise BundleError(f"the guard rebuilt on this worker ({where}) has policy_hash {guard.policy_hash}, "
                              f"the driver's is {self.policy_hash}:{hint}")
        return guard

    def _files_in_place(self) -> bool:
        if not os.path.isdir(self.cwd):
            return False
        for path, data in self.files.items():
            try:
                if Path(path).read_bytes() != data:
                    return False
            except OSError:
                return False
        return True

    def _seed_cache(self) -> None:
        """Put the driver's database into this worker's cache folder, so the load does not compile."""
        if not self.db or not self.db_name or self.options.get("cache_dir") is False:
            return
        from policylang.compile.patterns import resolve_cache_dir

        directory = resolve_cache_dir(self.options.get("cache_dir"))
        if directory is None:
            return
        path = os.path.join(directory, self.db_name)
        if os.path.exists(path):
            return
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.db)
            os.replace(tmp, path)  # the cache reader checks digest, mode and blob sha256
        except OSError:
            pass  # no cache: the load compiles


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise BundleError(f"cannot read `{path}` to ship it to the workers: {e.strerror or e}") from None


def _mirror(root: str, path: str) -> str:
    drive, rest = os.path.splitdrive(os.path.abspath(path))
    return os.path.join(root, drive.replace(":", ""), rest.lstrip("/\\"))


class _chdir:
    def __init__(self, path: str):
        self.path = path
        self.old: str | None = None

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)
