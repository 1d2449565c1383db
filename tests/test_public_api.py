"""The public API is small and stable: pin it."""

import pytest

import policylang


def test_all_is_pinned():
    assert sorted(policylang.__all__) == [
        "Citation", "Decision", "Evidence", "Guard", "PolicyCheckError", "PolicyCompileError", "PolicyError",
        "PolicyEvaluationError", "PolicySyntaxError", "Redaction", "Refused", "Vault", "check_source", "load",
        "loads",
    ]
    for name in policylang.__all__:
        assert getattr(policylang, name).__doc__, f"{name} has no docstring"


def test_error_hierarchy_and_pickling():
    import pickle

    for cls in (policylang.PolicySyntaxError, policylang.PolicyCheckError, policylang.PolicyCompileError,
                policylang.PolicyEvaluationError):
        assert issubclass(cls, policylang.PolicyError)
    try:
        policylang.loads('rule r on input: when nothing refuse "x"')
    except policylang.PolicyCheckError as err:
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is policylang.PolicyCheckError
        assert [d.code for d in again.diagnostics] == [d.code for d in err.diagnostics]
        assert "PL101" in str(again)
    else:  # pragma: no cover
        raise AssertionError("expected PolicyCheckError")


def test_guard_surface():
    g = policylang.loads('words w = ["x"]\nrule r on input: when w flag "f"', cache_dir=False)
    for name in ("check", "check_many", "acheck", "acheck_many", "wrap", "stream", "openai", "close"):
        assert callable(getattr(g, name)), name
    assert g.policy_hash.startswith("sha256:") and g.rule_ids == ("r",)


def test_missing_policy_file_is_a_policy_error(tmp_path):
    with pytest.raises(policylang.PolicyError, match="no such file"):
        policylang.load(tmp_path / "missing.policy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(policylang.PolicyError):
        policylang.load(tmp_path / "empty")
