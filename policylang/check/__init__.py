"""Stage 2 of the pipeline: checking parsed policies (see ``checker.check``)."""

from __future__ import annotations

from typing import Iterable

from policylang._source import SourceFile


def check_source(source: "str | SourceFile | Iterable[str | SourceFile]", *, name: str = "<string>", env=None):
    """Parse and check policy text (and the packs it uses) in one call, without touching files.

    ``source`` is policy text, a ``SourceFile``, or several of them (one policy set).
    Returns a ``CheckResult`` whose ``diagnostics`` hold the syntax diagnostics too, and
    whose ``policy_set`` is None when there is any error. ``env`` defaults to None: word
    files and model folders are not read (pass ``loader.FileEnvironment()`` to read them).
    """
    from policylang.check.checker import CheckResult, check
    from policylang.loader import load_modules

    if isinstance(source, (str, SourceFile)):
        source = [source]
    sources = [s if isinstance(s, SourceFile) else SourceFile(name if i == 0 else f"{name}#{i}", s)
               for i, s in enumerate(source)]
    infos, parse_diags = load_modules(sources)
    result = check(infos, env)
    diags = tuple(sorted(list(parse_diags) + list(result.diagnostics),
                         key=lambda d: (d.span.file, d.span.start, d.code)))
    policy_set = result.policy_set if not any(d.is_error for d in diags) else None
    return CheckResult(policy_set, diags)


__all__ = ["check_source"]
