"""JSON Schemas of the decision and the decision-log record, generated from their pydantic models.

``decision.schema.json`` is :class:`policylang.decision.Decision` (what ``guard.check()``
returns, ``decision.model_dump(mode="json")``); ``log.schema.json`` is
:class:`policylang.middleware.log.LogRecord` (one line of a decision log). Both ship in the
package; ``policylang schema`` prints them and ``tests/test_schema.py`` checks that the shipped
files equal what the models generate, so they never go stale.
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = ["NAMES", "generate", "shipped", "dumps", "file_name", "write_shipped"]

NAMES = ("decision", "log")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _model(name: str):
    if name == "decision":
        from policylang.decision import Decision

        return Decision
    if name == "log":
        from policylang.middleware.log import LogRecord

        return LogRecord
    raise ValueError(f"unknown schema {name!r}: one of {', '.join(NAMES)}")


def file_name(name: str) -> str:
    _model(name)
    return f"{name}.schema.json"


def generate(name: str) -> dict:
    """The JSON Schema the model ``name`` (decision, log) generates now."""
    model = _model(name)
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": DIALECT, "$id": f"policylang:{file_name(name)}", **schema}


def shipped(name: str) -> dict:
    """The JSON Schema shipped in the package as ``policylang/schemas/NAME.schema.json``."""
    return json.loads(resources.files(__package__).joinpath(file_name(name)).read_text(encoding="utf-8"))


def dumps(schema: dict) -> str:
    """The schema as the shipped files write it (2-space indent, a final newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_shipped() -> list:
    """Regenerate the shipped files (``python -m policylang.schemas``) after a model changes."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    paths = []
    for n in NAMES:
        path = here / file_name(n)
        path.write_text(dumps(generate(n)), encoding="utf-8")
        paths.append(path)
    return paths
