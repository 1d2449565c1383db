"""Reversible redaction: policylang.Vault, guard.wrap(fn, vault=...) (str, messages, streams)."""

from __future__ import annotations

import asyncio
import json
import pickle
import re
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang import Vault
from policylang.middleware.vault import StreamRestorer

SRC = r"""
policy vault_test
principle privacy "no personal data"
pattern email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b/ kind "email"
pattern phone = /\+?\b[0-9]{3}-[0-9]{3}-[0-9]{4}\b/ kind "phone"
words secret = ["TOP-SECRET"]
rule pii on input, output: when email or phone redact "[{kind}]" because privacy
rule no_secret on output: when secret refuse "Withheld." because privacy
"""


@pytest.fixture(scope="module")
def guard():
    return policylang.loads(SRC)


_GUARD = None


def _guard():
    global _GUARD
    if _GUARD is None:
        _GUARD = policylang.loads(SRC)
    return _GUARD


emails = st.builds(lambda a, b, c: f"{a}@{b}.{c}", st.from_regex(r"[a-z][a-z0-9.]{0,8}[a-z]", fullmatch=True),
                   st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.sampled_from(["com", "org", "io", "de"]))
phones = st.from_regex(r"[2-9][0-9]{2}-[0-9]{3}-[0-9]{4}", fullmatch=True)
filler = st.text(alphabet="abc XYZ.,!?\n-:'éü0", max_size=12)
texts = st.lists(st.one_of(emails, phones, filler), min_size=1, max_size=10).map(" ".join)


def _unnumbered(text: str) -> str:
    return re.sub(r"\[(email|phone)_[0-9]+\]", r"[\1]", text)


def _echo(prompt):
    return f"You said: {prompt}"


# --------------------------------------------------------------------------- the vault itself


def test_placeholders_numbered_per_kind_and_stable():
    v = Vault()
    assert v.placeholder_for("email", "a@b.com") == "[email_1]"
    assert v.placeholder_for("email", "c@d.org") == "[email_2]"
    assert v.placeholder_for("phone", "555-123-4567") == "[phone_1]"
    assert v.placeholder_for("email", "a@b.com") == "[email_1]"
    assert v.placeholder_for("pii.credit card", "4111") == "[credit_card_1]"
    assert v.value_of("[email_2]") == "c@d.org" and v.value_of("[email_3]") is None
    assert len(v) == 4
    assert v.restore("to [email_2], [credit_card_1] and [phone_1]") == "to c@d.org, 4111 and 555-123-4567"


def test_unknown_placeholders_left_as_they_are():
    v = Vault()
    v.placeholder_for("email", "a@b.com")
    text = "[email_9] [email] [phone_1] [EMAIL_1] [email_1 ] [ email_1] [x_1_] [email_1]"
    assert v.restore(text) == "[email_9] [email] [phone_1] [EMAIL_1] [email_1 ] [ email_1] [x_1_] a@b.com"
    r = StreamRestorer(v)
    out = "".join(r.feed(c) for c in ["[ema", "il_9] [emai", "l_1", "] [pho"]) + r.finish()
    assert out == "[email_9] a@b.com [pho"


def test_repr_and_pickle_never_show_values():
    v = Vault()
    v.placeholder_for("email", "alice@example.com")
    assert "alice" not in repr(v) and "alice" not in str(v)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(v)


def test_store_is_the_callers_and_numbering_continues():
    store: dict[str, str] = {}
    v = Vault(store)
    v.placeholder_for("email", "a@b.com")
    assert store == {"[email_1]": "a@b.com"}
    again = Vault(store)  # the next process / request of the same conversation
    assert again.placeholder_for("email", "a@b.com") == "[email_1]"
    assert again.placeholder_for("email", "z@y.io") == "[email_2]"
    assert again.restore("[email_1]") == "a@b.com"


def test_bad_arguments_are_clear_errors(guard):
    with pytest.raises(TypeError, match="mutable mapping"):
        Vault(store=[("[email_1]", "a@b.com")])
    with pytest.raises(ValueError, match="not a vault placeholder"):
        Vault(store={"email": "a@b.com"})
    with pytest.raises(TypeError, match="two str"):
        Vault().placeholder_for("email", 42)
    with pytest.raises(TypeError, match="vault= must be a policylang.Vault"):
        guard.wrap(_echo, vault={})


def test_thread_safe_numbering():
    v = Vault()
    values = [f"user{i}@mail.com" for i in range(50)]
    results: list[dict] = []

    def work():
        results.append({x: v.placeholder_for("email", x) for x in values})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == results[0] for r in results)
    assert sorted(results[0].values(), key=lambda p: int(p[7:-1])) == [f"[email_{i}]" for i in range(1, 51)]


# --------------------------------------------------------------------------- property tests


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts)
def test_round_trip_restore_of_redacted_is_original(text):
    g = _guard()
    d = g.check(text, "input")
    v = Vault()
    redacted = v.redact(text, d.redactions)
    assert v.restore(redacted) == text
    # the model sees exactly what the rule's redaction would show, numbered
    assert _unnumbered(redacted) == d.text
    # the same value always gets the same placeholder: redacting again changes nothing
    assert v.redact(text, d.redactions) == redacted


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(emails, phones), min_size=1, max_size=8))
def test_different_values_get_different_numbers(values):
    v = Vault()
    ph = {(k, x): v.placeholder_for(k, x) for x in values for k in ["email"]}
    assert len(set(ph.values())) == len(set(values))
    assert all(v.restore(p) == x for (_, x), p in ph.items())


@settings(max_examples=80, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_stream_restorer_any_chunking(text, cuts):
    g = _guard()
    v = Vault()
    redacted = v.redact(text, g.check(text, "input").redactions)
    points = sorted({c % (len(redacted) + 1) for c in cuts})
    chunks = [redacted[a:b] for a, b in zip([0] + points, points + [len(redacted)])]
    r = StreamRestorer(v)
    out = [r.feed(c) for c in chunks] + [r.finish()]
    assert "".join(out) == text
    assert "[" not in "".join(out)  # no placeholder (or part of one) is ever released


@settings(max_examples=40, deadline=None)
@given(texts, st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=30))
def test_wrapped_stream_restores_split_placeholders(text, sizes):
    g = _guard()
    v = Vault()
    sent = []

    def model(prompt):
        sent.append(prompt)
        i, k = 0, 0
        while i < len(prompt):
            n = sizes[k % len(sizes)]
            yield prompt[i:i + n]
            i, k = i + n, k + 1

    stream = g.wrap(model, vault=v)(text)
    out = "".join(stream)
    assert out == text
    assert _unnumbered(sent[0]) == g.check(text, "input").text


# --------------------------------------------------------------------------- guard.wrap end to end


def test_wrap_plain_function_echo_round_trip(guard):
    v = Vault()
    sent = []

    def llm(prompt):
        sent.append(prompt)
        return f"You said: {prompt}"

    model = guard.wrap(llm, vault=v)
    text = "Mail me at jane@example.com or bob@example.org, or call 555-123-4567. Again: jane@example.com"
    assert model(text) == f"You said: {text}"
    assert sent[0] == ("Mail me at [email_1] or [email_2], or call [phone_1]. Again: [email_1]")
    # stable across calls in the same conversation
    assert model("is jane@example.com right?") == "You said: is jane@example.com right?"
    assert sent[1] == "is [email_1] right?"
    # without a vault the same guard redacts for good
    assert guard.wrap(llm)("jane@example.com") == "You said: [email]"


def test_output_rules_see_placeholders(guard):
    v = Vault()

    def llm(prompt):
        return f"Noted {prompt}; contact support@acme.com. [email_7]"

    out = guard.wrap(llm, vault=v)("my mail is jane@example.com")
    # the user's own value comes back; an address the model made up is still redacted;
    # a placeholder the vault never issued stays as it is
    assert out == "Noted my mail is jane@example.com; contact [email]. [email_7]"

    def leaky(prompt):
        return f"TOP-SECRET for {prompt}"

    assert guard.wrap(leaky, vault=v)("jane@example.com") == "Withheld."


def test_wrap_message_dict_async_and_chat_messages(guard):
    v = Vault()
    sent = []

    async def llm(messages):
        sent.append(messages)
        return {"role": "assistant", "content": "Sure, " + messages[-1]["content"]}

    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "I am jane@example.com, call 555-123-4567"}]
    out = asyncio.run(guard.wrap(llm, vault=v)(msgs))
    assert out == {"role": "assistant", "content": "Sure, I am jane@example.com, call 555-123-4567"}
    assert sent[0][1]["content"] == "I am [email_1], call [phone_1]"
    assert msgs[1]["content"] == "I am jane@example.com, call 555-123-4567"  # the caller's list is untouched

    def parts(messages):
        sent.append(messages)
        return messages[0]["content"][0]["text"]

    m2 = [{"role": "user", "content": [{"type": "text", "text": "and bob@example.org, jane@example.com"}]}]
    assert guard.wrap(parts, vault=v)(m2) == "and bob@example.org, jane@example.com"
    assert sent[1][0]["content"][0]["text"] == "and [email_2], [email_1]"


def test_wrap_async_generator(guard):
    v = Vault()

    async def llm(prompt):
        for i in range(0, len(prompt), 3):
            yield prompt[i:i + 3]

    async def main():
        s = guard.wrap(llm, vault=v)("write to jane@example.com now")
        return [c async for c in s], s

    chunks, stream = asyncio.run(main())
    assert "".join(chunks) == "write to jane@example.com now"
    assert not any("[" in c for c in chunks)
    assert stream.decision.action == "allow"  # the output rules saw "[email_1]", not an email


def test_values_never_in_decision_or_log(guard, tmp_path):
    v = Vault()
    log = tmp_path / "decisions.jsonl"
    secret_mail, secret_phone = "jane.secret@example.com", "555-987-6543"

    def llm(prompt):
        return f"ok {prompt}"

    def gen(prompt):
        yield from [prompt[:5], prompt[5:]]

    text = f"I am {secret_mail}, {secret_phone}"
    assert guard.wrap(llm, vault=v, log=str(log))(text) == f"ok {text}"
    stream = guard.wrap(gen, vault=v, log=str(log))(text)
    assert "".join(stream) == text
    assert secret_mail not in stream.decision.model_dump_json()
    raw = log.read_text(encoding="utf-8")
    records = [json.loads(line) for line in raw.splitlines()]
    assert len(records) >= 4
    assert secret_mail not in raw and secret_phone not in raw and "jane" not in raw
    # log_text=True writes the checked input (the caller's own text) but the OUTPUT records
    # hold what the output rules saw, the placeholders, never the restored answer
    log2 = tmp_path / "raw.jsonl"
    guard.wrap(llm, vault=v, log=str(log2), log_text=True)(text)
    outs = [json.loads(line) for line in log2.read_text(encoding="utf-8").splitlines()]
    out_rec = [r for r in outs if r["stage"] == "output"]
    assert out_rec and all(secret_mail not in json.dumps(r) for r in out_rec)
    assert "[email_1]" in out_rec[0]["text"]


def test_closing_a_vault_stream_closes_the_upstream(guard):
    v = Vault()
    closed = []

    def llm(prompt):
        try:
            yield from ["Hi [email", "_1] ", "more ", "text"]
        finally:
            closed.append(True)

    stream = guard.wrap(llm, vault=v)("jane@example.com")
    first = next(stream)
    assert "[" not in first
    stream.close()
    assert closed == [True]
    assert stream.stats is not None  # the guarded stream's attributes pass through
