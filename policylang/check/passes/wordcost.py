"""PL404 / PL405: word lists whose Hyperscan compile would take too long.

Loading a policy compiles every word into one Hyperscan database. Plain and ``wholeword``
words are cheap (literals: about 50 µs a word, 100,000 words in about 5 s); ``fuzzy``
words are not: Hyperscan builds an automaton for every string within the edit distance,
and the cost grows faster than the list. Measured on the reference machine (Hyperscan
0.9.1 binding, one core, words of 4-10 letters, ``bench/bench_wordlists.py``):

| words | fuzzy 1 | fuzzy 2 | fuzzy 3 |
| ---: | ---: | ---: | ---: |
| 50 | | | 2.9 s |
| 100 | 0.2 s | 0.9 s | 6.4 s |
| 200 | | | 24.7 s |
| 300 | | 6.4 s | |
| 1,000 | 1.7 s | | |

and ``fuzzy 4``: 40 words of 9-10 letters in 5.7 s. The model fitted to these:
``seconds = k[d] * n ** e[d] * (mean length / 7.5)`` with
``k, e = (5e-5, 1.0), (2e-3, 1.0), (3.7e-4, 1.7), (2.5e-3, 1.7)`` for ``d = 0..3`` and
``x3.5`` per step beyond (a rough upper estimate: few long phrases at a large distance
compile faster than it says). ``PL404`` (error) when the estimate is over
``ERROR_SECONDS``, ``PL405`` (warning) over ``WARN_SECONDS``; the message gives the
estimate. Words of packs brought in by ``use`` are not looked at (their own checks are).
"""

from __future__ import annotations

from policylang.check.checker import CheckContext, error
from policylang.check.util import qualified
from policylang.syntax import ast

ERROR_SECONDS = 60.0
WARN_SECONDS = 10.0
_MODEL = {0: (5e-5, 1.0), 1: (2e-3, 1.0), 2: (3.7e-4, 1.7), 3: (2.5e-3, 1.7)}


def estimate_seconds(words, fuzzy: int) -> float:
    """Estimated Hyperscan compile seconds for ``words`` at edit distance ``fuzzy``."""
    n = len(words)
    if n == 0:
        return 0.0
    mean = sum(len(w) for w in words) / n
    d = max(0, int(fuzzy))
    k, e = _MODEL[min(d, 3)]
    if d > 3:
        k *= 3.5 ** (d - 3)
    return k * n ** e * max(mean, 1.0) / 7.5


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"


def run(ctx: CheckContext):
    for info in ctx.infos:
        if not info.active:
            continue
        for node in info.module.items:
            if not isinstance(node, ast.Words):
                continue
            qname = qualified(info, node.name.value)
            words = ctx.word_lists.get(qname)
            if words is None:
                words = tuple(w.value for w in node.words)
            fuzzy = node.options.fuzzy or 0
            secs = estimate_seconds(words, fuzzy)
            if secs <= WARN_SECONDS:
                continue
            what = f"{len(words):,} phrases" + (f" with `fuzzy {fuzzy}`" if fuzzy else "")
            help = ("approximate matching makes Hyperscan build an automaton per phrase; lower `fuzzy`, "
                    "keep the fuzzy list short (tens of phrases) and put the rest in a list without "
                    "`fuzzy`" if fuzzy else "split the list, or keep only the phrases the rules need")
            if secs > ERROR_SECONDS:
                yield error(
                    "PL404", f"word list `{node.name.value}` is too expensive to compile: {what} need an "
                             f"estimated {_human(secs)} of Hyperscan compile time (the limit is "
                             f"{ERROR_SECONDS:.0f} s)", node.name.span, help=help,
                    label="too expensive to compile",
                )
            else:
                yield error(
                    "PL405", f"word list `{node.name.value}` is slow to compile: {what} need an estimated "
                             f"{_human(secs)} of Hyperscan compile time on first load (later loads use the "
                             "disk cache)", node.name.span, help=help,
                )
