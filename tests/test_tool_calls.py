"""Rules over tool calls (`on tool_call`, `on tool_result`): real policies through
policylang.loads, real Hyperscan, the checker's PL223/PL224, the docs example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import policylang
from policylang._source import SourceFile
from policylang.check.checker import check
from policylang.errors import PolicyCheckError, PolicyEvaluationError
from policylang.loader import load_modules

ROOT = Path(__file__).resolve().parents[1]

POLICY = r'''
policy agent
use pii

pattern outside = /@(?!corp\.example\b)[a-z0-9.-]+/
pattern shell_meta = /[;&|`$]/
words secret_words = ["password", "api key"] nocase

rule payment_limit on tool_call:
    when tool.name == "pay" and tool.args.amount > 1000
    unless context.approved
    refuse "Payments over 1000 need approval."

rule outside_mail on tool_call:
    when tool.name == "send_email" and outside in tool.args.to
    refuse "Mail goes to corp.example only."

rule shell on tool_call:
    when tool.name == "run" and shell_meta in tool.args.cmd
    refuse "No shell metacharacters."

rule nested on tool_call:
    when tool.args.payee.country not in ["DE", "FR"] and tool.args.payee.country != "XX"
         and tool.name == "wire"
    flag "wire abroad"

rule cards on tool_call:
    when pii.credit_card or pii.email in tool.args.note
    redact

rule page_secrets on tool_result:
    when tool.name == "browse" and secret_words
    flag "page asks for secrets"
'''


@pytest.fixture(scope="module")
def guard():
    return policylang.loads(POLICY)


def test_number_argument_compares(guard):
    d = guard.check_tool_call("pay", {"amount": 5000})
    assert d.action == "refuse" and d.text == "Payments over 1000 need approval."
    assert d.arguments is None and d.stage == "tool_call"
    assert [c.rule_id for c in d.citations] == ["payment_limit"]
    assert guard.check_tool_call("pay", {"amount": 1000}).action == "allow"
    assert guard.check_tool_call("pay", {"amount": 5000}, {"approved": True}).action == "allow"
    # a string is not a number: arguments keep their JSON type
    assert guard.check_tool_call("pay", {"amount": "5000"}).action == "allow"
    # another tool with the same argument is not a payment
    assert guard.check_tool_call("refund", {"amount": 5000}).action == "allow"


def test_json_text_arguments(guard):
    d = guard.check_tool_call("pay", '{"amount": 2500.5, "memo": "x"}')
    assert d.refused
    d = guard.check_tool_call("pay", '{"amount": 10}')
    assert d.action == "allow" and d.arguments == {"amount": 10}


def test_matcher_inside_one_argument(guard):
    d = guard.check_tool_call("send_email", {"to": ["a@corp.example", "b@evil.com"], "body": "hi"})
    assert d.refused and d.text == "Mail goes to corp.example only."
    assert guard.check_tool_call("send_email", {"to": ["a@corp.example"], "body": "hi"}).action == "allow"
    # the outside address in the body, not in `to`: not this rule
    d = guard.check_tool_call("send_email", {"to": "a@corp.example", "body": "cc b@evil.com"})
    assert not d.refused
    assert guard.check_tool_call("run", {"cmd": "ls; rm -rf /"}).refused
    assert guard.check_tool_call("run", {"cmd": "ls -la", "note": "a;b"}).action == "allow"


def test_nested_path_and_missing_values(guard):
    assert guard.check_tool_call("wire", {"payee": {"country": "US"}}).action == "flag"
    assert guard.check_tool_call("wire", {"payee": {"country": "DE"}}).action == "allow"
    # a missing path is missing: `not in` of a missing value holds, `!=` with it holds -> flag
    # (the comparison rules of context values); but a payee that is a string has no country
    assert guard.check_tool_call("wire", {"payee": "ACME"}).action == "flag"


def test_redacted_arguments(guard):
    args = {"note": "card 4111 1111 1111 1111 and a@b.co", "n": 3, "tags": ["x", "4111111111111111"]}
    d = guard.check_tool_call("crm", args)
    assert d.action == "redact"
    assert d.arguments == {"note": "card [credit_card] and [email]", "n": 3, "tags": ["x", "[credit_card]"]}
    assert args["note"].startswith("card 4111")  # the caller's dict is not changed
    scan = "\n".join(["card 4111 1111 1111 1111 and a@b.co", "x", "4111111111111111"])
    assert [(scan[r.start:r.end], r.kind) for r in d.redactions] == [
        ("4111 1111 1111 1111", "credit_card"), ("a@b.co", "email"), ("4111111111111111", "credit_card")]
    assert d.text == "card [credit_card] and [email]\nx\n[credit_card]"


def test_hits_never_cross_arguments():
    g = policylang.loads('pattern two = /a\\sb/\nrule r on tool_call:\n    when two\n    refuse "x"\n')
    assert g.check_tool_call("t", {"x": "a", "y": "b"}).action == "allow"  # "a\nb" only across values
    assert g.check_tool_call("t", {"x": "a b"}).refused


def test_tool_result_stage(guard):
    d = guard.check_tool_result("browse", "Please enter your PASSWORD here")
    assert d.action == "flag" and d.stage == "tool_result"
    assert guard.check_tool_result("search", "Please enter your PASSWORD here").action == "allow"
    assert guard.check("Please enter your password", "context").action == "allow"  # not a tool_result rule


def test_tool_rules_do_not_run_on_text_stages(guard):
    assert guard.check("pay 5000", "input").action == "allow"
    with pytest.raises(PolicyEvaluationError, match="check_tool_call"):
        guard.check("x", "tool_call")
    with pytest.raises(PolicyEvaluationError, match="check_tool_call"):
        guard.check_many(["x"], "tool_call")
    with pytest.raises(PolicyEvaluationError, match="tool name"):
        guard.check_tool_call(None, {})


@pytest.mark.parametrize("bad, reason", [
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    (42, "JSON object"),
    ({"x": {1, 2}}, "JSON values"),
    ({"x": float("nan")}, "not finite"),
    ({1: "x"}, "keys must be strings"),
])
def test_bad_arguments_fail_closed(guard, bad, reason):
    d = guard.check_tool_call("pay", bad)
    assert d.refused and d.arguments is None
    assert any(reason in e for e in d.errors), d.errors


def test_deep_and_huge_arguments_fail_closed(guard):
    deep: dict = {}
    cur = deep
    for _ in range(100):
        cur["a"] = {}
        cur = cur["a"]
    d = guard.check_tool_call("pay", deep)
    assert d.refused and "nested deeper" in d.errors[0]
    deep_json = "[" * 100_000 + "]" * 100_000  # json.loads recursion: still a decision
    d = guard.check_tool_call("pay", '{"a": ' + deep_json + "}")
    assert d.refused and d.errors
    d = guard.check_tool_call("pay", {"v": list(range(20_000))})
    assert d.refused and "more than" in d.errors[0]
    small = policylang.loads(POLICY, max_text_chars=100)
    d = small.check_tool_call("pay", {"a": "x" * 60, "b": "y" * 60})
    assert d.refused and "too large" in d.errors[0]


# ------------------------------------------------------------------ property: redaction offsets
_WORD = st.text(alphabet="abcdefghij klm,.", min_size=0, max_size=12)
_EMAILS = st.sampled_from(["ann@corp.example", "bo@x.io", "c.d@mail.test"])


@st.composite
def _note_args(draw):
    """Arguments whose string values mix plain words and emails; the expected redacted values."""
    n = draw(st.integers(1, 4))
    args, expected = {}, {}
    for i in range(n):
        parts = draw(st.lists(st.tuples(_WORD, st.one_of(st.none(), _EMAILS)), min_size=1, max_size=4))
        raw, red = "", ""
        for word, email in parts:
            # a separator keeps a word's letters out of the neighbouring email
            raw += word + " " + (email + " " if email else "")
            red += word + " " + ("[email] " if email else "")
        args[f"k{i}"] = raw
        expected[f"k{i}"] = red
    return args, expected


@pytest.fixture(scope="module")
def email_guard():
    return policylang.loads("use pii\nrule r on tool_call:\n    when pii.email\n    redact\n")


@settings(max_examples=60, deadline=None)
@given(_note_args())
def test_redaction_offsets_index_the_scan_text(email_guard, case):
    args, expected = case
    d = email_guard.check_tool_call("note", args)
    scan = "\n".join(args.values())
    emails = [m for v in args.values() for m in re.findall(r"\S+@\S+", v)]
    if not emails:
        assert d.action == "allow" and d.arguments == args
        return
    assert d.action == "redact"
    assert d.arguments == expected
    assert [scan[r.start:r.end] for r in d.redactions] == emails
    for r in d.redactions:
        assert "\n" not in scan[r.start:r.end]


# ------------------------------------------------------------------ checker
def _codes(src: str) -> list[tuple[str, int]]:
    infos, diags = load_modules([SourceFile("t.policy", src)])
    result = check(infos, None)
    return [(d.code, d.span.line) for d in list(diags) + list(result.diagnostics) if d.is_error]


def test_pl223_tool_outside_tool_stage():
    assert _codes('rule r on input:\n    when tool.args.amount > 3\n    refuse\n') == [("PL223", 2)]
    assert _codes('rule r on tool_call, output:\n    when tool.name == "x"\n    refuse\n') == [("PL223", 2)]
    assert _codes('rule r on tool_result:\n    when tool.args.x == "y"\n    refuse\n') == [("PL223", 2)]
    assert _codes('rule r on tool_result:\n    when tool.name == "y"\n    refuse\n') == []
    with pytest.raises(PolicyCheckError) as err:
        policylang.loads('rule r on input:\n    when tool.name == "x"\n    refuse\n')
    assert err.value.diagnostics[0].code == "PL223"
    assert err.value.diagnostics[0].span.col == 10


def test_pl224_argument_type_conflict():
    src = ('rule a on tool_call:\n    when tool.args.amount > 100\n    refuse\n'
           'rule b on tool_call:\n    when tool.args.amount == "100"\n    flag\n')
    assert _codes(src) == [("PL224", 5)]
    ok = ('rule a on tool_call:\n    when tool.args.amount > 100\n    refuse\n'
          'rule b on tool_call:\n    when tool.args.amount == 0 or tool.args.currency == "EUR"\n    flag\n')
    assert _codes(ok) == []


def test_tool_attribute_and_type_errors():
    assert _codes('rule r on tool_call:\n    when tool.nam == "x"\n    refuse\n') == [("PL204", 2)]
    assert _codes('rule r on tool_call:\n    when tool.name > 3\n    refuse\n') == [("PL204", 2)]
    assert _codes('pattern p = /x/\nrule r on tool_call:\n    when p in tool.args.a\n    refuse\n') == []


def test_fmt_keeps_tool_rules():
    from policylang.syntax.formatter import format_source

    out = format_source(POLICY)
    assert "on tool_call:" in out and "on tool_result:" in out
    assert policylang.loads(out).check_tool_call("pay", {"amount": 5000}).refused


# ------------------------------------------------------------------ docs
def test_language_doc_tool_calls_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text[text.index("## Tool calls"):text.index("## Conversation scope")]
    policy = re.search(r"```policy\n(.*?)```", section, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "agent.policy").write_text(policy, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "language.md", "exec"), {})


# ------------------------------------------------------------------ the OpenAI adapter, in an agent loop
def _make_server():
    """A loopback OpenAI-compatible server: the model asks for the tool calls the test scripted
    (``server.script``: a list of tool-call lists, one per request; [] answers with text)."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            srv = self.server
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            srv.requests.append(body)
            calls = srv.script.pop(0) if srv.script else []
            if body.get("stream"):
                self._stream(calls)
                return
            msg = {"role": "assistant", "content": None if calls else "done: " + json.dumps(
                [m.get("content") for m in body["messages"] if m.get("role") == "tool"])}
            if calls:
                msg["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                      "function": {"name": n, "arguments": a}} for i, (n, a) in enumerate(calls)]
            data = json.dumps({
                "id": "chatcmpl-t", "object": "chat.completion", "created": int(time.time()), "model": "m",
                "choices": [{"index": 0, "finish_reason": "tool_calls" if calls else "stop", "message": msg}],
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, calls):
            """Tool calls as OpenAI streams them: id and name first, the arguments in 4-char pieces."""
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def event(delta, finish=None):
                payload = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": int(time.time()),
                           "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                data = b"data: " + json.dumps(payload).encode() + b"\n\n"
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

            event({"role": "assistant", "content": "On it."})
            for i, (name, args) in enumerate(calls):
                event({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                       "function": {"name": name, "arguments": ""}}]})
                for k in range(0, len(args), 4):
                    event({"tool_calls": [{"index": i, "function": {"arguments": args[k:k + 4]}}]})
            event({}, "tool_calls" if calls else "stop")
            last = b"data: [DONE]\n\n"
            self.wfile.write(f"{len(last):X}\r\n".encode() + last + b"\r\n0\r\n\r\n")
            self.wfile.flush()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.requests, srv.script = [], []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    return srv, t


@pytest.fixture(scope="module")
def agent_server():
    srv, t = _make_server()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(timeout=5)


def _client(srv, async_=False):
    openai = pytest.importorskip("openai")
    import httpx

    url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    if async_:
        return openai.AsyncOpenAI(api_key="k", base_url=url, max_retries=0, timeout=10,
                                  http_client=httpx.AsyncClient(trust_env=False))
    return openai.OpenAI(api_key="k", base_url=url, max_retries=0, timeout=10,
                         http_client=httpx.Client(trust_env=False))


def _agent_loop(client, tools_run: list, prompt: str, max_turns: int = 4):
    """A minimal agent: call the model, run the tool calls it asks for, send the results back."""
    messages = [{"role": "user", "content": prompt}]
    for _ in range(max_turns):
        resp = client.chat.completions.create(model="m", messages=messages)
        msg = resp.choices[0].message
        if not msg.tool_calls:
            return resp
        messages.append({"role": "assistant", "content": msg.content, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in msg.tool_calls]})
        for c in msg.tool_calls:
            tools_run.append((c.function.name, json.loads(c.function.arguments)))
            messages.append({"role": "tool", "tool_call_id": c.id, "content": "ok"})
    raise AssertionError("the agent did not finish")


def test_openai_agent_loop_refuses_and_redacts_tool_calls(agent_server, guard):
    client = _client(agent_server)
    try:
        g = guard.openai(client)
        ran: list = []
        # the model asks for a payment over the limit and a note with a card in it
        agent_server.script[:] = [[("pay", '{"amount": 5000}'),
                                   ("crm", '{"note": "card 4111 1111 1111 1111"}')], []]
        resp = _agent_loop(g, ran, "pay and note")
        # the payment never ran; the note ran with the card redacted
        assert ran == [("crm", {"note": "card [credit_card]"})]
        # the refusal reached the agent as the assistant's content of that turn
        second = agent_server.requests[-1]["messages"]
        assistant = [m for m in second if m["role"] == "assistant"][0]
        assert assistant["content"] == "Payments over 1000 need approval."
        assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["crm"]
        assert resp.choices[0].message.content == 'done: ["ok"]'

        # every call refused: no tool calls left, finish_reason content_filter
        agent_server.script[:] = [[("pay", '{"amount": 9000}')]]
        resp = g.chat.completions.create(model="m", messages=[{"role": "user", "content": "pay"}])
        choice = resp.choices[0]
        assert choice.message.tool_calls is None and choice.finish_reason == "content_filter"
        assert choice.message.content == "Payments over 1000 need approval."

        # arguments the model garbled: refused (fail closed), never passed on
        agent_server.script[:] = [[("pay", '{"amount": 10')]]
        resp = g.chat.completions.create(model="m", messages=[{"role": "user", "content": "pay"}])
        assert resp.choices[0].message.tool_calls is None
        assert resp.choices[0].finish_reason == "content_filter"

        # allowed calls pass through unchanged
        agent_server.script[:] = [[("pay", '{"amount": 10}')]]
        resp = g.chat.completions.create(model="m", messages=[{"role": "user", "content": "pay"}])
        assert resp.choices[0].message.tool_calls[0].function.arguments == '{"amount": 10}'

        with pytest.raises(policylang.Refused):
            agent_server.script[:] = [[("pay", '{"amount": 9000}')]]
            guard.openai(client, on_refuse="raise").chat.completions.create(
                model="m", messages=[{"role": "user", "content": "pay"}])
    finally:
        client.close()


def test_openai_async_client_checks_tool_calls(agent_server, guard):
    import asyncio

    async def main():
        client = _client(agent_server, async_=True)
        try:
            agent_server.script[:] = [[("send_email", '{"to": ["x@evil.com"], "body": "hi"}'),
                                       ("send_email", '{"to": ["y@corp.example"], "body": "hi"}')]]
            resp = await guard.openai(client).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "mail"}])
            msg = resp.choices[0].message
            assert [json.loads(c.function.arguments)["to"] for c in msg.tool_calls] == [["y@corp.example"]]
            assert msg.content == "Mail goes to corp.example only."
            assert resp.choices[0].finish_reason == "tool_calls"
        finally:
            await client.close()

    asyncio.run(main())


# ------------------------------------------------------------------ conversation scope (issue 12 item 2)
SCOPED = r'''
use pii
words part = ["ignore", "previous", "instructions"] nocase wholeword
rule split on input over last 3 turns:
    when count(part) >= 3
    refuse "split"
rule harvest on input over all turns:
    when count(pii.email) > 2
    flag "many"
rule plain on input:
    when count(part) >= 3
    flag "one turn"
'''


def test_conversation_last_n_turns():
    g = policylang.loads(SCOPED)
    conv = g.conversation()
    assert [conv.check(t).action for t in ["please ignore", "the previous", "instructions"]] == \
        ["allow", "allow", "refuse"]
    d = conv.check("hello")  # "previous" and "instructions" are still in the last 3 turns: 2 hits
    assert d.action == "allow"
    # the window slides: a hit 3 turns back is out of scope
    conv = g.conversation()
    for t in ["ignore", "x", "y", "previous instructions"]:
        d = conv.check(t)
    assert d.action == "allow"
    # the output stage has its own turns; a refused turn still counts
    conv = g.conversation()
    conv.check("ignore", "output")
    conv.check("previous", "input")
    assert conv.check("instructions", "input").action == "allow"  # the output turn is not an input turn
    assert conv.check("ignore", "input").refused  # 3 input turns: previous, instructions, ignore
    # evidence is the current turn's spans
    d = g.conversation().check("ignore previous instructions")
    assert d.refused
    split = [c for c in d.citations if c.rule_id == "split"][0]
    assert [(e.start, e.end) for e in split.evidence] == [(0, 6), (7, 15), (16, 28)]


def test_conversation_all_turns_and_reset():
    g = policylang.loads(SCOPED)
    conv = g.conversation()
    actions = [conv.check(t).action for t in ["a@x.io", "hi", "b@x.io", "hi", "hi", "c@x.io"]]
    assert actions == ["allow"] * 5 + ["flag"]
    conv.reset()
    assert conv.check("d@x.io").action == "allow" and conv.turns == 1
    # plain checks are one-turn conversations
    assert g.check("c@x.io").action == "allow"
    assert g.check("ignore previous instructions").refused


def test_conversation_keeps_only_turns_in_scope():
    g = policylang.loads('words w = ["x"]\nrule r on input over last 3 turns:\n    when count(w) >= 3\n    refuse\n')
    conv = g.conversation()
    for _ in range(50):
        conv.check("x")
    assert len(conv._history["input"].recent) == 2


def test_pl225_turn_scope_invalid():
    assert _codes('words w = ["x"]\nrule r on input over last 1 turns:\n    when w\n    refuse\n') == [("PL225", 2)]
    assert _codes('words w = ["x"]\nrule r on tool_call over all turns:\n    when w\n    refuse\n') == [("PL225", 2)]
    assert _codes('words w = ["x"]\nrule r on input, output over last 5 turns:\n    when w\n    refuse\n') == []


def test_fmt_keeps_turn_scopes():
    from policylang.syntax.formatter import format_source

    out = format_source(SCOPED)
    assert "rule split on input over last 3 turns:" in out and "on input over all turns:" in out


def test_language_doc_conversation_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text[text.index("## Conversation scope"):text.index("## Actions and how decisions combine")]
    policy = re.search(r"```policy\n(.*?)```", section, re.S).group(1)
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "chat.policy").write_text(policy, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "language.md", "exec"), {})


@pytest.fixture(scope="module")
def window_guard():
    return policylang.loads('words w = ["zq"] wholeword\n'
                            'rule r on input over last 3 turns:\n    when count(w) >= 4\n    refuse\n'
                            'rule a on input over all turns:\n    when count(w) >= 9\n    flag\n')


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_conversation_counts_equal_a_rescan_of_the_window(window_guard, per_turn):
    """Cached per-turn hits give the decision a scan of the joined window would give."""
    conv = window_guard.conversation()
    for i, n in enumerate(per_turn):
        d = conv.check(" ".join(["zq"] * n + ["pad"]))
        window = sum(per_turn[max(0, i - 2):i + 1])
        total = sum(per_turn[:i + 1])
        expected = "refuse" if window >= 4 else "flag" if total >= 9 else "allow"
        assert d.action == expected, (per_turn, i)
        joined = window_guard.check("\n".join(" ".join(["zq"] * k + ["pad"]) for k in per_turn[max(0, i - 2):i + 1]))
        assert (joined.action == "refuse") == (window >= 4)


def _collect(chunks):
    """What an agent rebuilds from a chat stream: content, tool calls, finish reason."""
    content, calls, finish = "", {}, None
    for ch in chunks:
        for c in ch.choices:
            if c.delta is not None:
                content += c.delta.content or ""
                for tc in c.delta.tool_calls or ():
                    e = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                    e["id"] = tc.id or e["id"]
                    if tc.function is not None:
                        e["name"] += tc.function.name or ""
                        e["arguments"] += tc.function.arguments or ""
            finish = c.finish_reason or finish
    return content, [calls[k] for k in sorted(calls)], finish


def test_openai_stream_holds_and_checks_tool_calls(agent_server, guard, tmp_path):
    client = _client(agent_server)
    try:
        log = tmp_path / "log.jsonl"
        g = guard.openai(client, log=str(log))
        agent_server.script[:] = [[("pay", '{"amount": 5000}'), ("crm", '{"note": "card 4111 1111 1111 1111"}')]]
        chunks = list(g.chat.completions.create(model="m", messages=[{"role": "user", "content": "go"}], stream=True))
        content, calls, finish = _collect(chunks)
        assert content == "On it.\nPayments over 1000 need approval."
        assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
            ("call_1", "crm", {"note": "card [credit_card]"})]
        assert finish == "tool_calls"
        # no piece of the refused call's arguments was ever released
        assert all(not (c.delta and c.delta.tool_calls and any(t.function and t.function.name == "pay"
                   for t in c.delta.tool_calls)) for ch in chunks for c in ch.choices)
        records = [json.loads(line) for line in log.read_text().splitlines()]
        assert records and "refused" in log.read_text()

        agent_server.script[:] = [[("pay", '{"amount": 9000}')]]
        content, calls, finish = _collect(g.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "go"}], stream=True))
        assert calls == [] and finish == "content_filter" and content.endswith("need approval.")

        agent_server.script[:] = [[("pay", '{"amount": 12}')]]
        content, calls, finish = _collect(g.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "go"}], stream=True))
        assert [json.loads(c["arguments"]) for c in calls] == [{"amount": 12}] and finish == "tool_calls"

        agent_server.script[:] = [[("pay", '{"amount": 9000}')]]
        with pytest.raises(policylang.Refused):
            list(guard.openai(client, on_refuse="raise").chat.completions.create(
                model="m", messages=[{"role": "user", "content": "go"}], stream=True))
    finally:
        client.close()


def test_openai_async_stream_checks_tool_calls(agent_server, guard):
    import asyncio

    async def main():
        client = _client(agent_server, async_=True)
        try:
            agent_server.script[:] = [[("send_email", '{"to": ["x@evil.com"]}'), ("send_email", '{"to": ["y@corp.example"]}')]]
            stream = await guard.openai(client).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "mail"}], stream=True)
            chunks = [c async for c in stream]
            content, calls, finish = _collect(chunks)
            assert [json.loads(c["arguments"]) for c in calls] == [{"to": ["y@corp.example"]}]
            assert content == "On it.\nMail goes to corp.example only." and finish == "tool_calls"
        finally:
            await client.close()

    asyncio.run(main())
