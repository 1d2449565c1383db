"""Middleware overhead: guarded vs unguarded streams, time to first token, wrap() per call.

    python bench/bench_middleware.py            # ~10 s
    python bench/bench_middleware.py --quick    # ~2 s

Everything is measured in the same run, guarded against unguarded, on a pattern-only
policy (email: unbounded; card: bounded, 37 characters; a jailbreak word list). Streams
are ~4-character chunks (token-sized) of English prose, clean or with a PII value every
~400 characters. Reported (best of N runs, medians alongside): per-chunk overhead (µs) and
ratio, added time to first token (compute, and in chunks/characters of hold-back, converted
at 50 tokens/s), and the added cost of one wrapped call.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import policylang  # noqa: E402
from policylang.middleware.streaming import StreamGuard  # noqa: E402

POLICY = r"""
policy bench_middleware
principle privacy "no personal data"
principle integrity "no jailbreaks"
pattern email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b/ kind "email"
pattern card = /\b(?:\d[ -]?){12,18}\d\b/ kind "card"
words jailbreak = ["ignore previous instructions", "ignore all previous instructions", "you are now DAN",
                   "disregard your rules", "developer mode enabled"] nocase wholeword
rule no_jailbreak on input, output:
    when jailbreak
    refuse "I can't help with that request."
    because integrity
rule redact_pii on input, output:
    when email or card
    redact "[{kind}]"
    because privacy
"""

WORDS = ("the order shipped today and should arrive within three business days; if it does not, "
         "our support team can open a ticket, track the parcel and arrange a replacement for you. ").split(" ")


def prose(n_chars: int, pii_every: int | None = None) -> str:
    out, size, k, next_pii = [], 0, 0, pii_every
    pii = ["jane.doe@example.com", "4111 1111 1111 1111", "bob.smith@mail.example.org"]
    while size < n_chars:
        w = WORDS[k % len(WORDS)] or "ok"
        if next_pii is not None and size >= next_pii:
            w = pii[(k // 7) % len(pii)]
            next_pii += pii_every
        out.append(w)
        size += len(w) + 1
        k += 1
    return " ".join(out)[:n_chars]


def chunks_of(text: str, size: int = 4) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def unguarded(chunks):
    def gen():
        yield from chunks

    out = []
    for c in gen():
        out.append(c)
    return "".join(out)


def guarded(guard, chunks):
    def gen():
        yield from chunks

    out = []
    for c in guard.stream(gen()):
        out.append(c)
    return "".join(out)


def timeit(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.disable()
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1000)
        gc.enable()
    return times


def bench_stream(guard, label: str, text: str, repeat: int) -> dict:
    chunks = chunks_of(text)
    n = len(chunks)
    assert guarded(guard, chunks) == guard.check(text, "output").text
    base = timeit(lambda: unguarded(chunks), repeat)
    g = timeit(lambda: guarded(guard, chunks), repeat)
    b_min, g_min = min(base), min(g)  # best of `repeat`: the least disturbed run (shared 2-vCPU box)
    over = (g_min - b_min) / n
    over_med = (statistics.median(g) - statistics.median(base)) / n
    print(f"  {label:<36} {n:5d} chunks  unguarded {b_min / n:5.2f}  guarded {g_min / n:6.2f} µs/chunk"
          f"  overhead {over:6.2f} µs/chunk (median {over_med:6.2f}; x{g_min / b_min:.0f};"
          f" whole stream +{(g_min - b_min) / 1000:.2f} ms incl. the final whole-text check)")
    return {"chunks": n, "overhead_us_per_chunk": over}


def bench_feed(guard, text: str, repeat: int) -> float:
    """The incremental part alone: StreamGuard.feed per chunk (no final check)."""
    chunks = chunks_of(text)

    def run():
        sg = StreamGuard(guard, "output")
        feed = sg.feed
        for c in chunks:
            feed(c)

    t = min(timeit(run, repeat))
    return t / len(chunks)


def bench_ttft(guard, text: str, repeat: int) -> None:
    chunks = chunks_of(text)
    # compute added before the first token: unguarded = first next(); guarded = set-up + feeds until a release
    t_base, t_guard, k_first = [], [], 0
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        it = iter(chunks)
        next(it)
        t_base.append((time.perf_counter_ns() - t0) / 1000)
        t0 = time.perf_counter_ns()
        sg = StreamGuard(guard, "output")
        k = 0
        for c in chunks:
            k += 1
            if sg.feed(c):
                break
        t_guard.append((time.perf_counter_ns() - t0) / 1000)
        k_first = k
    added = min(t_guard) - min(t_base)
    chars = sum(len(c) for c in chunks[:k_first])
    print(f"  first release after {k_first} chunks ({chars} chars; fixed hold-back {sg._fixed}, bound {sg.hold}):"
          f" +{added:.1f} µs of compute; at 50 tokens/s the hold-back adds ~{(k_first - 1) * 20} ms")


def bench_wrap(guard, repeat: int, calls: int) -> None:
    prompt = prose(200)
    pii_prompt = "my email is jane.doe@example.com and " + prose(160)

    def model(p):
        return "Thanks! Your order shipped today and should arrive within three business days."

    wrapped = guard.wrap(model)
    assert wrapped(prompt) == model(prompt)
    for label, p in (("clean 200-char prompt", prompt), ("prompt with an email", pii_prompt)):
        base = min(timeit(lambda: [model(p) for _ in range(calls)], repeat)) / calls
        g = min(timeit(lambda: [wrapped(p) for _ in range(calls)], repeat)) / calls
        print(f"  wrap(), {label:<26} unwrapped {base:6.2f} µs/call  wrapped {g:7.2f} µs/call"
              f"  overhead {g - base:6.2f} µs/call (input + output check)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    repeat = 5 if args.quick else 15
    guard = policylang.loads(POLICY, cache_dir=False)
    print(f"policylang middleware bench — python {sys.version.split()[0]}, policy {guard.policy_hash[:19]}")
    guard.check("warm up a@b.io", "output")
    list(guard.stream(["warm", " up"]))
    print("streams (4-char chunks):")
    res = bench_stream(guard, "4 KB clean prose", prose(4000), repeat)
    bench_stream(guard, "4 KB prose, PII every ~400 chars", prose(4000, 400), repeat)
    bench_stream(guard, "32 KB clean prose", prose(32000), max(3, repeat // 3))
    packs = policylang.load("pii", "secrets")
    bench_stream(packs, "4 KB clean prose, pii+secrets packs", prose(4000), repeat)
    bench_stream(packs, "4 KB PII prose, pii+secrets packs", prose(4000, 400), repeat)
    feed = bench_feed(guard, prose(4000), repeat)
    print(f"  StreamGuard.feed alone (clean prose): {feed:.2f} µs/chunk")
    print("time to first token:")
    bench_ttft(guard, prose(400), repeat * 10)
    bench_ttft(packs, prose(400), repeat * 10)
    print("wrap():")
    bench_wrap(guard, repeat, 200 if args.quick else 1000)
    target = 20.0
    verdict = "OK" if res["overhead_us_per_chunk"] < target else "OVER"
    over = res["overhead_us_per_chunk"]
    print(f"per-chunk overhead target < {target:.0f} µs (4 KB clean prose): {over:.2f} µs {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
