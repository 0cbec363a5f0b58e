"""The canonical result.json: `SubmissionResult.to_dict` as text, described by result.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graders.results import SubmissionResult

SCHEMA_PATH = Path(__file__).with_name("result.schema.json")


def result_json(result: SubmissionResult) -> str:
    """Everything, for instructors and for `grade report`: never hand it to students when hidden checks ran."""
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
