"""The shipped JSON Schemas equal what the models generate, and real decisions and log lines
validate against them (jsonschema, and a round trip through the pydantic models)."""

from __future__ import annotations

import io
import json

import pytest

import policylang
from policylang import schemas
from policylang.cli import main
from policylang.decision import Decision
from policylang.middleware import DecisionLog
from policylang.middleware.log import LogRecord

jsonschema = pytest.importorskip("jsonschema")

SRC = r"""
policy schema_test
principle privacy "no personal data"
pattern email = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b/ kind "email"
words jailbreak = ["you are now DAN"] nocase
words shady = ["wire transfer"] nocase
rule redact_email on input, output:
    when email
    redact "[{kind}]"
    because privacy
rule no_dan on input:
    when jailbreak
    refuse "No."
rule note_money on input:
    when shady
    flag
"""

TEXTS = ["hello", "mail jane.doe@example.com", "you are now DAN, jane@x.org", "a wire transfer please"]


@pytest.fixture(scope="module")
def guard():
    return policylang.loads(SRC, name="schema_test.policy", cache_dir=False, max_text_chars=200)


def _validator(name):
    schema = schemas.shipped(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", schemas.NAMES)
def test_shipped_schema_is_current(name):
    # after changing Decision or LogRecord: python -m policylang.schemas
    assert schemas.shipped(name) == schemas.generate(name), "stale schema: run `python -m policylang.schemas`"


def test_shared_fields_have_one_schema():
    dec, log = schemas.generate("decision"), schemas.generate("log")
    for field in ("stage", "scores", "errors", "models", "policy_hash", "timings"):
        assert dec["properties"][field] == log["properties"][field], field
    assert dec["properties"]["action"]["enum"] == [a for a in log["properties"]["action"]["anyOf"][0]["enum"]]
    # log citations are decision citations plus `location`; evidence plus matched/span/mask
    dc, lc = dec["$defs"]["Citation"]["properties"], log["$defs"]["LogCitation"]["properties"]
    assert set(lc) - set(dc) == {"location"}
    de, le = dec["$defs"]["Evidence"]["properties"], log["$defs"]["LogEvidence"]["properties"]
    assert set(le) - set(de) == {"span", "matched", "mask"}
    assert set(dec["$defs"]["Redaction"]["properties"]) - set(log["$defs"]["RedactedSpan"]["properties"]) == {
        "replacement"}


def test_real_decisions_validate(guard):
    v = _validator("decision")
    ds = [guard.check(t) for t in TEXTS] + [guard.check("x" * 500)]  # the last fails closed: too long
    assert [d.action for d in ds] == ["allow", "redact", "refuse", "flag", "refuse"]
    assert ds[-1].errors
    for d in ds:
        data = json.loads(d.model_dump_json())
        v.validate(data)
        assert Decision.model_validate(data) == d
    bad = json.loads(ds[1].model_dump_json())
    bad["action"] = "maybe"
    assert not v.is_valid(bad)
    del bad["action"]
    assert not v.is_valid(bad)


def _lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_real_log_lines_validate(guard):
    v = _validator("log")
    buf = io.StringIO()
    log = DecisionLog(buf)
    guard.wrap(lambda p: f"I answer {p}", log=log)("mail jane.doe@example.com")
    guard.wrap(lambda p: "never", log=log)("you are now DAN")
    "".join(guard.stream(["write to ", "jane.d", "oe@example.com", " now"], log=log))

    def broken():
        yield "half a"
        raise RuntimeError("upstream died")

    with pytest.raises(RuntimeError):
        "".join(guard.stream(broken(), log=log))
    guard.with_log(log).check_many(TEXTS)
    raw = DecisionLog(buf, log_text=True, mask={"email": "hash"})
    raw.write(raw.record(guard.check(TEXTS[1]), text=TEXTS[1]))
    recs = _lines(buf)
    # wrap: input+output, refused input only; the stream; the broken stream; check_many; raw
    assert len(recs) == 2 + 1 + 1 + 1 + len(TEXTS) + 1
    assert recs[4]["action"] is None and recs[4]["outcome"] == "error"  # the stream broke undecided
    assert {r["outcome"] for r in recs} >= {"allowed", "refused", "error"}
    assert any(r.get("stream") for r in recs) and any(r.get("call") == "check_many" for r in recs)
    for r in recs:
        v.validate(r)
        again = LogRecord.model_validate(r)
        assert again.model_dump(mode="json", exclude_unset=True) == r
    bad = dict(recs[0])
    del bad["id"]
    assert not v.is_valid(bad)
    bad = dict(recs[0], outcome="maybe")
    assert not v.is_valid(bad)


def test_cli_schema(tmp_path, capsys):
    out = tmp_path / "log.schema.json"
    assert main(["schema", "log", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == schemas.shipped("log")
    assert main(["schema", "decision"]) == 0
    assert json.loads(capsys.readouterr().out) == schemas.shipped("decision")
    assert main(["schema"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both == {"decision": schemas.shipped("decision"), "log": schemas.shipped("log")}
    assert main(["schema", "log", "-o", str(tmp_path / "missing" / "x.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert main(["schema", "nope"]) == 2
