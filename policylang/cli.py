"""The ``policylang`` command line.

Subcommands are registered in ``SUBCOMMANDS`` (see ``register``): each has a name, a
one-line help, a function that adds its arguments to an ``argparse`` subparser, and a
function ``cmd_NAME(args) -> int`` that runs it and returns the exit code.

Exit codes (every subcommand, docs/cli.md): 0 success; 1 the policies have problems
(``check``), tests failed (``test``), some input lines were bad (``scan``, ``eval``) or
``explain --fail`` refused the text;
2 usage error, a policy that does not load (``scan``, ``eval``, ``explain``, ``test``) or
internal error. ``main`` never lets a traceback out unless ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from policylang.config import Config, load_config
from policylang.loader import UsageError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]  # adds the subcommand's arguments
    run: Callable[[argparse.Namespace], int]  # cmd_NAME(args) -> exit code


SUBCOMMANDS: dict[str, Subcommand] = {}


def register(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None],
             run: Callable[[argparse.Namespace], int]) -> None:
    """Add a subcommand; ``policylang NAME ...`` then calls ``run(args)``."""
    SUBCOMMANDS[name] = Subcommand(name, help, configure, run)


# ============================================================================ check
def _configure_check(p: argparse.ArgumentParser) -> None:
    from policylang.diagnostics.render import FORMATS

    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="policy files, folders (searched for *.policy) or built-in pack names "
                        "(default: `paths` of [tool.policylang] in pyproject.toml)")
    p.add_argument("--format", choices=FORMATS, default="full",
                   help="how to print diagnostics: full, concise, json, github (workflow annotations), "
                        "sarif (SARIF 2.1.0) (default: full)")
    p.add_argument("--warnings-as-errors", action="store_true", default=None,
                   help="exit with 1 when there are warnings, too")
    p.add_argument("--select", action="append", default=[], metavar="CODE",
                   help="report only codes with this prefix (repeatable; errors are always reported)")
    p.add_argument("--ignore", action="append", default=[], metavar="CODE",
                   help="never report warnings with this code or prefix (repeatable)")
    p.add_argument("--word-root", action="append", default=[], metavar="DIR",
                   help="a folder word files may come from besides each policy's own (repeatable)")


def _sources(infos, diagnostics) -> dict:
    """File name -> SourceFile for every file a diagnostic points into."""
    from policylang.loader import is_pack_file, pack_source, read_source
    from policylang._source import SourceFile

    sources = {i.module.source.name: i.module.source for i in infos}
    for d in diagnostics:
        name = d.span.file
        if name in sources or name.startswith("<") and is_pack_file(name) is None:
            continue
        pack = is_pack_file(name)
        src = pack_source(pack) if pack else read_source(name)
        if isinstance(src, SourceFile):
            sources[name] = src
    return sources


# Diagnostics about names that may be defined in a file that did not parse.
_NAME_CODES = {"PL101", "PL105", "PL106", "PL301"}


def cmd_check(args: argparse.Namespace) -> int:
    """``policylang check PATH...``: parse and check policies, print diagnostics like a compiler."""
    from policylang.check.checker import check
    from policylang.diagnostics.render import render, summary
    from policylang.loader import FileEnvironment, expand_targets, load_modules

    cfg = project_config(args)
    targets = expand_targets(args.paths)
    n_files = len(targets)
    env = FileEnvironment(tuple(args.word_root) + cfg.word_roots)
    infos: list = []
    diagnostics: list = []
    seen: set = set()
    for target in targets:  # each file is an entry policy, checked with what it composes
        entry_infos, load_diags = load_modules([target])
        result = check(entry_infos, env)
        check_diags = list(result.diagnostics)
        if any(d.is_error for d in load_diags):
            check_diags = [d for d in check_diags if d.code not in _NAME_CODES]
        infos.extend(entry_infos)
        for d in list(load_diags) + check_diags:  # a file two entries include is reported once
            file = d.span.file if d.span.file.startswith("<") else str(Path(d.span.file).resolve())
            key = (file, d.span.start, d.code, d.message)
            if key not in seen:
                seen.add(key)
                diagnostics.append(d)
    diagnostics.sort(key=lambda d: (d.span.file, d.span.start, d.code))
    flags = Config(select=tuple(args.select), ignore=tuple(args.ignore))
    diagnostics = [d for d in diagnostics if cfg.reports(d) and flags.reports(d)]
    if diagnostics or args.format in ("json", "sarif"):
        out = render(diagnostics, _sources(infos, diagnostics), args.format)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    line = summary(n_files, diagnostics)
    print(line, file=sys.stderr if args.format in ("json", "sarif") else sys.stdout)
    if any(d.is_error for d in diagnostics):
        return EXIT_PROBLEMS
    wae = args.warnings_as_errors if args.warnings_as_errors is not None else cfg.warnings_as_errors
    if wae and diagnostics:
        return EXIT_PROBLEMS
    return EXIT_OK


def project_config(args):
    """``[tool.policylang]`` (policylang.config) applied to a command's arguments: default
    paths when none are given, the cache folder. Returns the Config."""
    cfg = load_config()
    if hasattr(args, "paths") and not args.paths:
        if not cfg.paths:
            raise UsageError("no PATH given and no `paths` in [tool.policylang] of pyproject.toml")
        args.paths = list(cfg.paths)
    if cfg.cache_dir and not os.environ.get("POLICYLANG_CACHE_DIR"):
        os.environ["POLICYLANG_CACHE_DIR"] = cfg.cache_dir
    return cfg


register("check", "check policies for mistakes and print diagnostics", _configure_check, cmd_check)

# ============================================================================ scan, explain, test
from policylang import commands as _commands  # noqa: E402

register("scan", "check every line of a JSONL file and write one decision per line",
         _commands.configure_scan, _commands.cmd_scan)
register("explain", "check one text and show the cited rules and matched spans",
         _commands.configure_explain, _commands.cmd_explain)
register("test", "run the `test` blocks written in policies", _commands.configure_test, _commands.cmd_test)
register("eval", "score a policy on labelled JSONL: recall, FPR, span F1, latency",
         _commands.configure_eval, _commands.cmd_eval)
register("fmt", "rewrite policy files in one canonical layout (comments kept)",
         _commands.configure_fmt, _commands.cmd_fmt)
register("rule", "explain a diagnostic code (what, why, an example, the fix)",
         _commands.configure_rule, _commands.cmd_rule)
register("schema", "print the JSON Schema of decisions and decision-log records",
         _commands.configure_schema, _commands.cmd_schema)
register("cache", "show where the on-disk caches are and their size, or clear them",
         _commands.configure_cache, _commands.cmd_cache)


# ============================================================================ main
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback on internal errors")
    parser = argparse.ArgumentParser(
        prog="policylang", parents=[common],
        description="Declarative guardrails for LLM applications.",
    )
    try:
        from policylang import __version__ as version
    except ImportError:
        version = None
    if version:
        parser.add_argument("--version", action="version", version=f"policylang {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, parents=[common])
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 problems, 2 usage or internal error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    debug = getattr(args, "debug", False)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return run(args)
    except UsageError as err:
        print(f"policylang: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("policylang: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 - an internal error is reported, not raised
        if debug:
            traceback.print_exc()
        msg = str(err).replace("\n", " ")
        print(f"error[PL901]: internal error: {type(err).__name__}" + (f": {msg}" if msg else ""), file=sys.stderr)
        print("help: this is a bug in policylang; please report it"
              + ("" if debug else " with the output of `--debug`"), file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
