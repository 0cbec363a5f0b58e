"""Gradescope's autograder package (build it, run it in the container) and the score summary for CI."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import traceback
import zipfile
from pathlib import Path

import yaml

from graders.config import Config, load_config
from graders.delivery.harness import harness_files, pyproject_text, render_template
from graders.delivery.pack import walk
from graders.errors import DeliveryError, GradingError
from graders.reports import disclosure as dc
from graders.results import SubmissionResult

DEFAULT_ROOT = "/autograder"
SETTINGS = "autograder.json"  # the package's own settings: which topics this Gradescope assignment grades
_EXECUTABLE = 0o755 << 16
_FILE = 0o644 << 16


def build_autograder(*, out: str | Path = "autograder.zip", config: Config,
                     topics: list[str] | None = None, include_cache: bool = True,
                     include_data: bool = False) -> Path:
    """Write Gradescope's autograder zip: setup.sh and run_autograder at the root, beside the course
    (harness, grading.yaml, public and hidden tests, solutions, and the warm reference cache)."""
    selected = _with_solutions(config, topics)
    files: dict[str, tuple[bytes, int]] = {
        "setup.sh": (render_template("gradescope/setup.sh").encode(), _EXECUTABLE),
        "run_autograder": (render_template("gradescope/run_autograder").encode(), _EXECUTABLE),
        "grading.yaml": (_packaged_config(config, selected), _FILE),
        "pyproject.toml": (pyproject_text().encode(), _FILE),
        SETTINGS: (json.dumps({"topics": selected}, indent=2).encode() + b"\n", _FILE),
    }
    files.update({f"graders/{rel}": (path.read_bytes(), _FILE) for rel, path in harness_files().items()})
    for kind in ("assignments", "hidden_tests", "solutions"):
        for topic in selected:
            files.update(_folder(config.root / kind / config.topics[topic].folder, config.root))
    # Modules the hidden tests of several topics share (hidden_tests/*.py).
    files.update({f"hidden_tests/{p.name}": (p.read_bytes(), _FILE)
                  for p in sorted((config.root / "hidden_tests").glob("*.py"))})
    # Only folders inside the course travel: grading.yaml names them relative to itself.
    extras = [config.resolve(config.cache_dir) / "reference"] if include_cache else []
    extras += [config.resolve(config.data_dir)] if include_data else []
    for folder in extras:
        if config.root in folder.parents:
            files.update(_folder(folder, config.root, keep_data=True))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_zip(files))
    return out


def _with_solutions(config: Config, topics: list[str] | None) -> list[str]:
    """The chosen topics (default: all), each with the reference solution its hidden tests need."""
    selected = config.select(topics)
    for name in selected:
        spec = config.topics[name]
        if not (config.root / "solutions" / spec.folder / spec.module).is_file():
            raise DeliveryError(f"solutions/{spec.folder}/{spec.module}: missing; the hidden tests of {name} "
                                "need the reference solution")
    return selected


def _packaged_config(config: Config, selected: list[str]) -> bytes:
    """grading.yaml as it is, or with only the packaged topics: the package holds no folder for the others,
    and a topic whose folder is missing is a configuration error (issue #13)."""
    if selected == list(config.topics):
        return config.path.read_bytes()
    raw = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    raw["topics"] = {name: raw["topics"][name] for name in selected}
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=120).encode("utf-8")


def _folder(folder: Path, root: Path, *, keep_data: bool = False) -> dict[str, tuple[bytes, int]]:
    if not folder.is_dir():
        return {}
    prefix = folder.relative_to(root).as_posix()
    if keep_data:  # the cache and data folders are what walk() leaves out by design
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
        return {f"{prefix}/{p.relative_to(folder).as_posix()}": (p.read_bytes(), _FILE) for p in paths}
    return {f"{prefix}/{rel}": (path.read_bytes(), _FILE) for rel, path in walk(folder)}


def _zip(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, mode
            zf.writestr(info, data)
    return buffer.getvalue()


# -- inside Gradescope's container -----------------------------------------------------------------

def run_gradescope(*, root: str | Path = DEFAULT_ROOT) -> Path:
    """Grade `root`/submission with the hidden tests and write `root`/results/results.json; whatever
    goes wrong, a results.json is written (students see a neutral message, staff the log)."""
    from graders.reports import write_reports

    root = Path(root)
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    # Written last, over anything the submission's code may have put there while it ran.
    (results / "results.json").unlink(missing_ok=True)
    try:
        config, topics = _package(root)
        result = _grade(config, _locate(root / "submission"), topics, name=_name(root))
        write_reports(result, results, formats=["gradescope"], audience="instructor")
        _log(result)
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json whatever failed
        traceback.print_exc()
        _write_failure(results / "results.json", exc)
    return results / "results.json"


def warm_reference(*, root: str | Path = DEFAULT_ROOT) -> SubmissionResult:
    """Grade the reference solution with the hidden tests, so that the reference cache is filled
    in the image submissions are graded in (setup.sh runs this)."""
    config, topics = _package(Path(root))
    result = _grade(config, config.root / "solutions", topics, name="reference")
    _log(result)
    failed = [f"{c.topic}.{c.name}" for c in result.checks() if not c.passed]
    if failed:
        print(f"warning: the reference solution fails {', '.join(failed)}: check the package", file=sys.stderr)
    return result


def _package(root: Path) -> tuple[Config, list[str] | None]:
    source = root / "source"
    settings = json.loads((source / SETTINGS).read_text("utf-8")) if (source / SETTINGS).is_file() else {}
    return load_config(source / "grading.yaml"), settings.get("topics")


def _grade(config: Config, path: Path, topics: list[str] | None, *, name: str) -> SubmissionResult:
    from graders.grading.session import grade_submission

    return grade_submission(path, config=config, hidden=True, topics=topics, name=name)


def _locate(submission: Path) -> Path:
    """What to grade in Gradescope's submission folder: the assignments/ of an uploaded working copy
    (or GitHub repository), a lone zip (a zipped zip stays zipped), or the folder itself."""
    if (submission / "assignments").is_dir():
        return submission / "assignments"
    entries = [p for p in submission.iterdir() if not p.name.startswith(".")] if submission.is_dir() else []
    if len(entries) == 1 and entries[0].suffix == ".zip":
        return entries[0]
    return submission


def _name(root: Path) -> str:
    try:
        meta = json.loads((root / "submission_metadata.json").read_text("utf-8"))
        return f"submission {meta['id']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "submission"


def _log(result: SubmissionResult) -> None:
    """The instructor's summary on stdout (Gradescope shows it to staff only: stdout_visibility hidden)."""
    from graders.reports import render

    print(render(result, audience="instructor"), end="")


def _write_failure(path: Path, exc: BaseException) -> None:
    from graders.files import write_atomic

    # The message may name hidden checks or paths: it goes to the log (staff), never into `output`.
    print(f"autograder error: {type(exc).__name__}: {exc}", file=sys.stderr)
    data = {
        "score": 0,
        "output": "The autograder could not grade this submission because of a problem on the course's side, "
                  "not in your code. The course staff can see the details; please let them know.",
        "stdout_visibility": "hidden",
        "extra_data": {"status": "error", "error": type(exc).__name__},
        "tests": [],
    }
    write_atomic(path, json.dumps(data, indent=2) + "\n")


# -- continuous integration ------------------------------------------------------------------------

def score_table(result: SubmissionResult, *, audience: str = "student") -> str:
    """A Markdown table of points per topic over the checks `audience` may see, and the total."""
    lines = ["| Topic | Passed | Points |", "|---|---|---|"]
    for index, topic in enumerate(result.topics, start=1):
        rows = dc.listed_checks(index, topic, audience)
        earned, possible = dc.shown_points(topic, audience)
        status = "" if topic.status == "graded" else f" ({topic.status})"
        title = topic.title.replace("|", "\\|")
        lines.append(f"| {title}{status} | {sum(c.passed for _, c, _ in rows)}/{len(rows)} "
                     f"| {dc.points(earned)} / {dc.points(possible)} |")
    earned, possible, hidden, worth = dc.totals(result.topics, audience)
    lines.append(f"| **Total** | | **{dc.points(earned)} / {dc.points(possible)}** |")
    if hidden:
        lines += ["", f"Also {dc.count(hidden, 'hidden check')} worth {dc.points_label(worth)}, not shown."]
    if result.status != "graded":
        lines += ["", f"{dc.status_heading(result.status)}: {result.reason}"]
    return "\n".join(lines) + "\n"


def meets(result: SubmissionResult, min_score: str) -> bool:
    """Whether the total (hidden checks included) reaches `min_score`: points ("6") or a percentage ("60%")."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", min_score or "0")
    if match is None:
        raise DeliveryError(f"MIN_SCORE {min_score!r}: give points (6) or a percentage (60%)")
    bound = float(match[1])
    if match[2]:
        bound = bound / 100 * result.max_points
    return result.status == "graded" and result.points + 1e-9 >= bound


def ci_summary(result_json: str | Path, *, min_score: str = "0", summary: str | Path | None = None) -> bool:
    """Print the student's score table (and append it to `summary`, GitHub's job summary); True when
    the score reaches `min_score`."""
    from graders.reports import read_result

    result = read_result(Path(result_json))
    ok = meets(result, min_score)
    verdict = "reaches" if ok else "is below"
    text = f"## Autograding: {result.submission}\n\n{score_table(result)}\nThe score {verdict} MIN_SCORE {min_score}.\n"
    print(text, end="")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    return ok


def main(argv: list[str] | None = None) -> int:
    """`python -m graders.delivery.autograder gradescope|warm|ci-summary ...`: the entry points of the scripts
    in graders/delivery/templates (they run where only the package is installed, before any PATH is set up)."""
    parser = argparse.ArgumentParser(prog="python -m graders.delivery.autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("gradescope", "warm"):
        commands.add_parser(name).add_argument("--root", default=DEFAULT_ROOT)
    ci = commands.add_parser("ci-summary")
    ci.add_argument("result_json")
    ci.add_argument("--min-score", default="0")
    ci.add_argument("--summary", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "gradescope":
            run_gradescope(root=args.root)
            return 0
        if args.command == "warm":
            warm_reference(root=args.root)
            return 0
        return 0 if ci_summary(args.result_json, min_score=args.min_score, summary=args.summary or None) else 1
    except GradingError as exc:
        print(f"grade: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
