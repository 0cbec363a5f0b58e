"""The canonical record of a grading run: dataclasses that every report is a pure function of."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# Bump when a field changes meaning or disappears; adding optional fields keeps the version.
SCHEMA_VERSION = 1

# The vocabulary of a result, each written once: Literal types so that result.json holds the plain strings
# (result.schema.json lists the same values, a test keeps them equal) and mypy checks every comparison with them
# (strict_equality), where a misspelt status would otherwise just never match (issue #15).

# Of a submission or a topic. "failed to load": the submission (or the topic's module) could not be opened or
# imported; "timed out": the submission's time limit stopped its worker, the checks left failed with that reason;
# "not submitted": no file for it; "error": the batch could not grade it (its grading process failed, or two
# entries name one student).
Status = Literal["graded", "failed to load", "timed out", "not submitted", "error"]
STATUSES: tuple[Status, ...] = get_args(Status)
# Statuses whose points stand: every check ran, or ran until the time limit stopped the worker. The others have no
# scored checks to speak of.
SCORED: tuple[Status, ...] = ("graded", "timed out")

# Who sees a check and when: Gradescope's values (grading.yaml's `visibility`).
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]
VISIBILITIES: tuple[Visibility, ...] = get_args(Visibility)

# Why a check failed, set where the failure is detected (issue #12; never parsed back out of the message): "" for
# the check's own verdict on its subject, or what kept it from judging that subject. From the student's code in the
# worker: "not_implemented", "missing" (a name or file), "invalid" (output of the wrong kind), "error" (it raised),
# "not_loaded" (the topic's module does not import, so the check did not run); "worker": the worker crashed, timed
# out or broke the protocol; "grader": the harness itself failed.
Cause = Literal["", "not_implemented", "missing", "invalid", "error", "not_loaded", "worker", "grader"]
CAUSES: tuple[Cause, ...] = get_args(Cause)


@dataclass
class CheckResult:
    """One check of one topic: points earned, the verdict and what was measured."""

    topic: str
    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    visibility: Visibility = "visible"
    public: bool = True
    description: str = ""
    hint: str = ""
    measured: float | None = None
    threshold: float | None = None
    show_threshold: bool = True
    duration_s: float = 0.0
    cause: Cause = ""

    @property
    def verdict(self) -> str:
        """"passed", "failed" or "not run", as every report shows it."""
        return "passed" if self.passed else "not run" if self.cause == "not_loaded" else "failed"


@dataclass
class DataUse:
    """One dataset or set of pretrained weights a topic is graded on, and whether the real one was on disk (#13)."""

    item: str  # "mnist", "cifar10", "hymenoptera", "alexnet" or "vgg16" (graders.data.presence.LABELS)
    label: str  # how reports name it, e.g. "CIFAR-10": never a path, so students may see it
    real: bool  # False: the built-in stand-in (synthetic images, seeded weights) was used instead


@dataclass
class TopicResult:
    """All checks of one topic, the data it was graded on and notes about the submission."""

    name: str
    title: str
    checks: list[CheckResult] = field(default_factory=list)
    status: Status = "graded"
    reason: str = ""
    data_sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # JSON-able material for plots: "loss_curve" {"student": [...], "reference": [...]},
    # "confusion_matrix" {"labels": [...], "matrix": [[...]]},
    # "misclassified" [{"image": nested uint8 lists (H, W) or (H, W, 3), "predicted": int, "label": int}]
    artifacts: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    # Typed beside data_sources (whose text carries the instructor's paths): reports say which stand-ins were used
    # without reading them out of that text, and students are told so without paths (issue #13).
    data_used: list[DataUse] = field(default_factory=list)

    @property
    def standins(self) -> list[DataUse]:
        """The items this topic was graded on whose built-in stand-ins replaced the real ones."""
        return [use for use in self.data_used if not use.real]

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.checks)


@dataclass
class Environment:
    """Where and how the grading ran, so a result can be reproduced or explained."""

    torch_version: str
    device: str
    threads: int
    seed: int
    python: str
    platform: str
    harness_version: str
    # One entry per worker protection: {"name", "active", "detail"}.
    protections: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SubmissionResult:
    """The whole grading of one submission."""

    submission: str
    source: str
    environment: Environment
    topics: list[TopicResult] = field(default_factory=list)
    status: Status = "graded"
    reason: str = ""
    hidden: bool = False
    started_at: str = ""
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def points(self) -> float:
        return sum(t.points for t in self.topics)

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.topics)

    def checks(self) -> list[CheckResult]:
        return [c for t in self.topics for c in t.checks]

    @property
    def standin_topics(self) -> list[TopicResult]:
        """The topics graded on a built-in stand-in of some dataset or weights."""
        return [t for t in self.topics if t.standins]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["points"] = self.points
        data["max_points"] = self.max_points
        for topic, raw in zip(self.topics, data["topics"], strict=True):
            raw["points"] = topic.points
            raw["max_points"] = topic.max_points
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"result schema version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        topics = [
            TopicResult(
                **{k: v for k, v in t.items() if k not in ("checks", "points", "max_points", "data_used")},
                checks=[CheckResult(**c) for c in t["checks"]],
                data_used=[DataUse(**u) for u in t.get("data_used", [])],
            )
            for t in data["topics"]
        ]
        fields = {k: v for k, v in data.items() if k not in ("topics", "environment", "points", "max_points")}
        return cls(**fields, topics=topics, environment=Environment(**data["environment"]))

