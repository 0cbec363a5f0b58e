"""result.json: the canonical record, its JSON Schema, and reading it back."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest
from report_samples import assert_golden, sample_batch, sample_result

from graders.errors import ReportError
from graders.reports import read_result, result_json
from graders.reports.result_json import schema
from graders.results import CAUSES, STATUSES, VISIBILITIES, CheckResult, Environment, SubmissionResult, TopicResult


@pytest.mark.parametrize("result", sample_batch(), ids=lambda r: r.submission)
def test_every_sample_validates_against_the_schema(result):
    jsonschema.Draft202012Validator(schema()).validate(json.loads(result_json(result)))


def test_schema_is_itself_valid():
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize(
    ("cls", "where"),
    [
        (SubmissionResult, ()),
        (TopicResult, ("$defs", "topic")),
        (CheckResult, ("$defs", "check")),
        (Environment, ("$defs", "environment")),
    ],
)
def test_schema_lists_exactly_the_dataclass_fields(cls, where):
    node = schema()
    for key in where:
        node = node[key]
    fields = {f.name for f in dataclasses.fields(cls)}
    derived = {"points", "max_points"} if cls in (SubmissionResult, TopicResult) else set()
    assert set(node["properties"]) == fields | derived
    no_default = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert set(node["required"]) - {"schema_version"} == no_default


def test_schema_enums_match_the_code():
    defs = schema()["$defs"]
    assert tuple(defs["status"]["enum"]) == STATUSES
    assert tuple(defs["check"]["properties"]["visibility"]["enum"]) == VISIBILITIES
    assert tuple(defs["check"]["properties"]["cause"]["enum"]) == CAUSES
    assert schema()["properties"]["schema_version"]["const"] == sample_result().schema_version


def test_result_json_round_trips(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(result_json(sample_result()), encoding="utf-8")
    assert result_json(read_result(path)) == result_json(sample_result())


def test_result_json_matches_golden(update_goldens):
    assert_golden("result.json", result_json(sample_result()), update_goldens)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"schema_version": 99}', "schema version 99"),
        ("[1, 2]", "schema version None"),
        ('{"schema_version": 1, "submission": "x"}', "does not match the result schema"),
    ],
)
def test_read_result_rejects_bad_files_in_one_line(tmp_path, content, expected):
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError) as info:
        read_result(path)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message
