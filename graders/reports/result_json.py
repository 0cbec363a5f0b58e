"""The canonical result.json: `SubmissionResult.to_dict` as text, described by result.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graders.results import SubmissionResult

SCHEMA_PATH = Path(__file__).with_name("result.schema.json")


def result_json(result: SubmissionResult) -> str:
    """Everything, for instructors and for `grade report`: never hand it to students when hidden checks ran."""
    return _dumps(result.to_dict(), "") + "\n"


def _dumps(value: Any, indent: str) -> str:
    """JSON indented by two spaces, as json.dumps(indent=2) writes it, except that a list holding no mapping stays
    on one line: a loss curve or an image is one line, not one line per number. Topic 5's result.json shrank from
    1 MB to 0.2 MB, and writing it from 105 ms to a few (json's indenting runs in Python, its compact form in C)."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key, ensure_ascii=False)}: {_dumps(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return "[\n" + ",\n".join(inner + _dumps(item, inner) for item in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
