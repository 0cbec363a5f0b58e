"""Realistic SubmissionResults and golden-file helpers shared by the report tests."""

from __future__ import annotations

import re
from pathlib import Path

from graders.results import CheckResult, Environment, SubmissionResult, TopicResult

GOLDENS = Path(__file__).parent / "goldens" / "reports"

# Strings that exist only inside hidden checks: no student-facing output may contain them.
HIDDEN_SECRETS = (
    "SECRET-hidden-message",
    "SECRET-hidden-hint",
    "SECRET-hidden-description",
    "0.9731",
    "0.4217",  # measured and threshold of the failed hidden check
    "3e-09",
    "1e-06",  # measured and threshold of the passed hidden check
)
# The deferred check without show_threshold: its threshold and message stay out of student files.
DEFERRED_SECRETS = ("SECRET-deferred-message", "0.8642")


def environment() -> Environment:
    return Environment(
        torch_version="2.4.1+cpu",
        device="cpu",
        threads=2,
        seed=1234,
        python="3.11.9",
        platform="Linux-x86_64",
        harness_version="0.1.0",
        protections=[
            {"name": "memory limit", "active": True, "detail": "4 GiB"},
            {"name": "network", "active": False, "detail": "unshare not permitted"},
        ],
    )


def _check(topic: str, name: str, max_points: float, passed: bool, message: str, **extra) -> CheckResult:
    return CheckResult(
        topic=topic,
        name=name,
        points=max_points if passed else extra.pop("points", 0.0),
        max_points=max_points,
        passed=passed,
        message=message,
        **extra,
    )


def tensors_topic() -> TopicResult:
    t = "01_tensors"
    return TopicResult(
        name=t,
        title="Tensors and autograd",
        checks=[
            _check(
                t, "normalize shape", 1.0, True, "returns (B, 784) float32", description="normalize() keeps the batch"
            ),
            _check(
                t,
                "normalize values",
                2.0,
                False,
                "mean 0.13 should be near 0",
                hint="Subtract the mean before dividing by the std.",
                measured=0.1307,
                threshold=0.01,
                points=0.5,
            ),
            _check(
                t,
                "gradient matches reference",
                2.0,
                True,
                "max abs difference 3e-09",
                visibility="hidden",
                public=False,
                measured=3e-9,
                threshold=1e-6,
            ),
            _check(
                t,
                "dtype preserved",
                1.0,
                False,
                "SECRET-deferred-message: float64 in, float32 out",
                visibility="after_due_date",
                public=False,
                show_threshold=False,
                measured=0.5,
                threshold=0.8642,
            ),
        ],
        data_sources=["toy data (seeded)"],
        notes=["notebook cell 7 skipped: it calls plt.show()"],
        duration_s=1.25,
    )


def mlp_topic() -> TopicResult:
    t = "03_mlp"
    return TopicResult(
        name=t,
        title="A multilayer perceptron on MNIST",
        checks=[
            _check(t, "forward shape", 1.0, True, "(64, 10) as expected"),
            _check(
                t,
                "loss decreases",
                2.0,
                True,
                "final loss 0.31 vs reference 0.29",
                visibility="after_published",
                measured=0.31,
                threshold=0.35,
            ),
            _check(
                t,
                "accuracy",
                3.0,
                False,
                "SECRET-hidden-message: accuracy 0.4217 < 0.9731",
                visibility="hidden",
                public=False,
                hint="SECRET-hidden-hint",
                description="SECRET-hidden-description",
                measured=0.4217,
                threshold=0.9731,
                duration_s=4.5,
            ),
            _check(
                t,
                "training time",
                1.0,
                False,
                "3.2x the reference time",
                hint="Move .to(device) out of the training loop.",
                measured=3.2,
                threshold=2.0,
                duration_s=2.0,
            ),
            _check(
                t,
                "predict no grad",
                0.0,
                False,
                "predict() ran the model with gradient tracking on",
                description="advisory: observed inside the worker, feedback only",
                hint="wrap the forward pass in `with torch.no_grad():`",
            ),
        ],
        data_sources=["MNIST (built-in stand-in: 512 synthetic digits)"],
        artifacts={
            "loss_curve": {"student": [2.3, 1.1, 0.62, 0.41, 0.31], "reference": [2.3, 0.9, 0.5, 0.35, 0.29]},
            "confusion_matrix": {"labels": ["0", "1", "2"], "matrix": [[50, 2, 1], [3, 45, 4], [0, 6, 40]]},
            "misclassified": [
                {"image": [[0, 64, 0], [128, 255, 128], [0, 64, 0]], "predicted": 1, "label": 7},
                {"image": [[[255, 0, 0]] * 3, [[0, 255, 0]] * 3, [[0, 0, 255]] * 3], "predicted": 2, "label": 0},
            ],
        },
        duration_s=9.75,
    )


def sample_result(submission: str = "alice_hw1.zip") -> SubmissionResult:
    return SubmissionResult(
        submission=submission,
        source=f"submissions/{submission}",
        environment=environment(),
        topics=[tensors_topic(), mlp_topic()],
        hidden=True,
        started_at="2024-10-01T12:00:00+00:00",
        duration_s=12.5,
        notes=["imported from notebook hw1.ipynb"],
    )


def sample_batch() -> list[SubmissionResult]:
    """Four submissions: two graded with different scores, one that did not load, one with zero."""
    alice = sample_result("alice_hw1.zip")
    bob = sample_result("bob_hw1.zip")
    for check in bob.checks():
        check.passed, check.points = True, check.max_points
    bob.duration_s, bob.notes = 8.0, []
    carol = SubmissionResult(
        submission="carol_hw1.zip",
        source="submissions/carol_hw1.zip",
        environment=environment(),
        status="failed to load",
        reason="SyntaxError in hw1.py line 12",
        duration_s=0.5,
    )
    dave = sample_result("dave_hw1.zip")
    for check in dave.checks():
        check.passed, check.points = False, 0.0
    dave.duration_s, dave.notes = 30.25, []
    return [alice, bob, carol, dave]


def assert_golden(name: str, text: str, update: bool) -> None:
    """Compare with tests/goldens/reports/<name>; with --update-goldens, rewrite it instead."""
    path = GOLDENS / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden {path}; run pytest with --update-goldens and review it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden; see git diff after --update-goldens"
    )


def strip_images(html: str) -> str:
    """Replace base64 PNG payloads, which vary with the matplotlib, Pillow and zlib builds, by a placeholder."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,...", html)
