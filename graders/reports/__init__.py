"""Every report format as a pure function of the result dataclasses, and the writers that save them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.errors import ReportError
from graders.files import write_atomic
from graders.reports.disclosure import AUDIENCES, check_audience
from graders.reports.feedback_html import feedback_html
from graders.reports.feedback_md import feedback_md
from graders.reports.gradebook import gradebook_csv
from graders.reports.gradescope import gradescope
from graders.reports.junit import junit
from graders.reports.result_json import SCHEMA_PATH, result_json
from graders.reports.summary import summary_html
from graders.reports.terminal import print_summary, render
from graders.results import SCHEMA_VERSION, SubmissionResult

if TYPE_CHECKING:
    from graders.config import Config

__all__ = [
    "ALL_FORMATS",
    "AUDIENCES",
    "BATCH_FORMATS",
    "FORMATS",
    "export_nbgrader",
    "feedback_html",
    "feedback_md",
    "gradebook_csv",
    "gradescope",
    "junit",
    "print_summary",
    "read_result",
    "regenerate",
    "render",
    "result_json",
    "summary_html",
    "write_batch_reports",
    "write_reports",
]


@dataclass(frozen=True)
class Format:
    """A per-submission format: the file it goes to and how to render it for an audience."""

    filename: str
    render: Callable[[SubmissionResult, str], str]
    description: str


FORMATS: dict[str, Format] = {
    "json": Format("result.json", lambda r, _: result_json(r), "canonical record, everything (not for students)"),
    "gradescope": Format("results.json", lambda r, a: gradescope(r, audience=a), "Gradescope autograder results"),
    "junit": Format("junit.xml", lambda r, a: junit(r, audience=a), "JUnit XML for CI"),
    "md": Format("feedback.md", lambda r, a: feedback_md(r, audience=a), "feedback in Markdown"),
    "html": Format("feedback.html", lambda r, a: feedback_html(r, audience=a), "feedback page with plots"),
}
ALL_FORMATS: tuple[str, ...] = tuple(FORMATS)
BATCH_FORMATS: dict[str, tuple[str, Callable[[list[SubmissionResult]], str]]] = {
    "csv": ("gradebook.csv", gradebook_csv),
    "summary": ("summary.html", summary_html),
}


def write_reports(
    result: SubmissionResult, out_dir: Path, *, formats: Sequence[str] = ALL_FORMATS, audience: str = "student"
) -> list[Path]:
    """Write each format under `out_dir`; one that fails does not stop the others, and a single
    ReportError at the end names every format that failed (its `written` lists what was kept)."""
    check_audience(audience)
    chosen = [FORMATS[name] for name in _known(formats, FORMATS)]
    return _write_all(((f.filename, lambda f=f: f.render(result, audience)) for f in chosen), Path(out_dir))


def write_batch_reports(
    results: list[SubmissionResult], out_dir: Path, *, formats: Sequence[str] = tuple(BATCH_FORMATS)
) -> list[Path]:
    """gradebook.csv and summary.html for a batch, with write_reports' error handling."""
    chosen = [BATCH_FORMATS[name] for name in _known(formats, BATCH_FORMATS)]
    return _write_all(((name, lambda fn=fn: fn(results)) for name, fn in chosen), Path(out_dir))


def regenerate(
    result_path: Path, *, formats: Sequence[str] = ALL_FORMATS, out: Path | None = None, audience: str = "student"
) -> list[Path]:
    """Rebuild report files from a saved result.json without grading again; `out` defaults to
    the folder holding the result."""
    result_path = Path(result_path)
    result = read_result(result_path)
    return write_reports(
        result, Path(out) if out is not None else result_path.parent, formats=formats, audience=audience
    )


def read_result(path: Path) -> SubmissionResult:
    """Load and validate a result.json; every problem is a one-line ReportError naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file; pass the result.json that `grade submission` wrote") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read ({exc}); check the path and its permissions") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc}); restore the file or grade the submission again") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{path}: result schema version {version!r}, this harness reads {SCHEMA_VERSION}; "
            "grade the submission again with this harness"
        )
    _validate(path, data)
    try:
        return SubmissionResult.from_dict(data)
    except (TypeError, KeyError, ValueError) as exc:
        raise ReportError(f"{path}: not a valid result ({exc}); grade the submission again") from None


def export_nbgrader(results: list[SubmissionResult], db_url: str, *, config: Config, assignment: str,
                    topics: Sequence[str] = (), course_id: str = "default_course") -> list[str]:
    """See graders.delivery.nbgrader_export; imported on call because nbgrader loads slowly."""
    from graders.delivery.nbgrader_export import export_nbgrader as export

    return export(results, db_url, config=config, assignment=assignment, topics=topics, course_id=course_id)


def _validate(path: Path, data: dict[str, Any]) -> None:
    try:
        import jsonschema
    except ImportError:  # optional: from_dict still rejects what it cannot build
        return
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "top level"
        raise ReportError(
            f"{path}: does not match the result schema at {where}: {error.message}; grade the submission again"
        )


def _known(formats: Sequence[str], table: dict[str, Any]) -> list[str]:
    if isinstance(formats, str):  # a lone "html" would otherwise iterate as h, t, m, l
        formats = [formats]
    unknown = [name for name in formats if name not in table]
    if unknown:
        raise ReportError(f"unknown report format(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    return list(dict.fromkeys(formats))


def _write_all(jobs: Any, out_dir: Path) -> list[Path]:
    written, failures = [], []
    for filename, build in jobs:
        try:
            written.append(write_atomic(out_dir / filename, build()))
        # Deliberately broad: a bug in one renderer must not cost the student the other files.
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{filename} ({type(exc).__name__}: {exc})")
    if failures:
        raise ReportError(
            f"could not write {'; '.join(failures)} in {out_dir}; the other reports were written", written=written
        )
    return written


def export_folder(reports: str | Path, *, db_url: str, assignment: str, config: Config, topics: Sequence[str] = (),
                  course_id: str = "default_course") -> list[str]:
    """Export every `<reports>/<student>/result.json` into an nbgrader gradebook, each topic of `topics`
    (default: all the results hold) into its notebook's check cell; returns the students."""
    paths = sorted(Path(reports).glob("*/result.json"))
    if not paths:
        raise ReportError(f"{reports}: no */result.json to export; run `grade batch` first")
    return export_nbgrader([read_result(p) for p in paths], db_url, config=config, assignment=assignment,
                           topics=topics, course_id=course_id)
