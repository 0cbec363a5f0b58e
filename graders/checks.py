"""Check functions: each validates worker data and returns an Outcome with the measured figure and bound."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from graders.results import Cause


@dataclass(frozen=True)
class Outcome:
    """A check's verdict; points come from grading.yaml when a test reports it."""

    passed: bool
    message: str
    measured: float | None = None
    threshold: float | None = None
    hint: str = ""
    cause: Cause = ""  # "" for a verdict on the check's subject; "invalid" for output of the wrong kind


def diagnosed(outcome: Outcome, diagnosis: str) -> Outcome:
    """A failed outcome whose message starts with the bug a diagnosis names ("cause: advice"), the advice its hint.

    The verdict stays the check's own; the diagnosis only words it (issue #12: the first words of a failure name its
    actual cause). A passed outcome, or an empty diagnosis, leaves the outcome as it is.
    """
    if outcome.passed or not diagnosis:
        return outcome
    cause, _, advice = diagnosis.partition(": ")
    return dataclasses.replace(outcome, message=f"{cause}: {outcome.message}", hint=advice or diagnosis)


def ok(message: str, **figures: Any) -> Outcome:
    return Outcome(True, message, **figures)


def fail(message: str, *, hint: str = "", cause: Cause = "", **figures: Any) -> Outcome:
    return Outcome(False, message, hint=hint, cause=cause, **figures)


def invalid(message: str, **figures: Any) -> Outcome:
    """Output of the wrong kind or shape: its hint (the plugin's for "invalid") is about the return value, never
    the check's usual advice."""
    return fail(message, cause="invalid", **figures)


def tensor(value: Any, *, name: str, shape: Sequence[int | None] | None = None,
           dtype: torch.dtype | None = None, finite: bool = True) -> Outcome:
    """An exact torch.Tensor of the expected shape (None: any size) and dtype, with finite values."""
    if type(value) is not torch.Tensor:
        return invalid(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if shape is not None and (value.dim() != len(shape) or
                              any(e is not None and s != e for s, e in zip(value.shape, shape, strict=True))):
        want = "(" + ", ".join("N" if e is None else str(e) for e in shape) + ")"
        return invalid(f"{name}: shape {tuple(value.shape)}, expected {want}")
    if dtype is not None and value.dtype != dtype:
        return invalid(f"{name}: dtype {value.dtype}, expected {dtype}")
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return fail(f"{name}: contains NaN or infinite values", hint="check the learning rate and the loss")
    return ok(f"{name}: shape {tuple(value.shape)}, dtype {value.dtype}")


def param_count(params: Any, expected: int, *, name: str = "model") -> Outcome:
    """The parameters that crossed as tensors, counted here (a count the worker reports could be patched)."""
    if not isinstance(params, dict) or not all(isinstance(k, str) and type(v) is torch.Tensor
                                               for k, v in params.items()):
        return fail(f"{name}: the worker sent no parameter tensors")
    count = sum(v.numel() for v in params.values())
    if count != expected:
        return fail(f"{name}: {count} parameters, expected {expected}", measured=count, threshold=expected)
    return ok(f"{name}: {count} parameters", measured=count, threshold=expected)


def losses(values: Any, *, epochs: int, name: str = "train()") -> Outcome:
    """One finite float per epoch."""
    if not isinstance(values, list) or not all(isinstance(v, float) for v in values):
        return invalid(f"{name}: must return a list of floats")
    if len(values) != epochs:
        return invalid(f"{name}: returned {len(values)} losses for {epochs} epochs, expected one per epoch",
                       measured=len(values), threshold=epochs)
    if not all(math.isfinite(v) for v in values):
        return fail(f"{name} returned NaN or infinite losses", hint="the learning rate may be too high")
    return ok(f"{name} returned {epochs} finite losses")


def loss_decreases(values: Sequence[float], *, window: int, ratio: float) -> Outcome:
    """Mean of the last `window` losses at most `ratio` times the mean of the first `window`.

    Windows, not steps: a correct run may go up now and then (SGD noise, dropout).
    """
    if len(values) < 2 * window:
        return fail(f"need at least {2 * window} losses to compare windows, got {len(values)}")
    first, last = sum(values[:window]) / window, sum(values[-window:]) / window
    if not (math.isfinite(first) and math.isfinite(last)):
        return fail("losses are not finite", hint="the learning rate may be too high")
    measured = last / first if first > 0 else math.inf
    message = f"loss went from {first:.4g} to {last:.4g} (ratio {measured:.3g}, at most {ratio:g})"
    if measured <= ratio:
        return ok(message, measured=measured, threshold=ratio)
    return fail(message, measured=measured, threshold=ratio)


def beats_baseline(value: float, baseline: float, *, higher_is_better: bool, baseline_name: str) -> Outcome:
    """The trained model's held-out metric against a trivial predictor's, both computed by the grader.

    Falling losses are what train() reports; this is what the grader sees: a train() that invents its losses
    cannot pass it without learning. No figures in the message: public checks must not reveal held-out scores.
    """
    if not math.isfinite(value):
        return fail("the trained model's held-out predictions give no finite score")
    if value > baseline if higher_is_better else value < baseline:
        return ok(f"the trained model does better on held-out data than {baseline_name}")
    return fail(f"the trained model does no better on held-out data than {baseline_name}, whatever the losses say",
                hint="return the losses of the training you run: loss.item() of each step, after training for real")


def versus_reference(student: float, reference: float, *, metric: str, higher_is_better: bool,
                     ratio: float | None = None, margin: float | None = None) -> Outcome:
    """A metric within a ratio of, or a margin from, the reference's under the same seed and budget."""
    if not math.isfinite(student):
        return fail(f"{metric}: not a finite number", measured=None)
    if ratio is not None:
        bound = reference * ratio
    elif margin is not None:
        bound = reference - margin if higher_is_better else reference + margin
    else:
        raise ValueError("versus_reference needs a ratio or a margin")
    passed = student >= bound if higher_is_better else student <= bound
    sign = ">=" if higher_is_better else "<="
    message = f"{metric} {student:.4g} (reference {reference:.4g}; needed {sign} {bound:.4g})"
    return Outcome(passed, message, measured=student, threshold=bound)


def relative_gap(mine: float | None, theirs: float | None) -> float:
    """|mine - theirs| relative to the reference's figure; inf where either is missing or not finite."""
    if mine is None or theirs is None or not (math.isfinite(mine) and math.isfinite(theirs)):
        return math.inf
    return abs(mine - theirs) / max(abs(theirs), 1e-12)


def same_losses(student: Sequence[float], reference: Sequence[float], *, rtol: float, what: str) -> Outcome:
    """Loss by loss within `rtol` (relative) of the reference's, as the same computation under the same seed is.

    The figure is the worst relative gap; a failure names the first epoch past `rtol`, where the two runs parted.
    """
    if len(student) != len(reference):
        return fail(f"{what}: {len(student)} losses, the reference has {len(reference)}")
    if not all(math.isfinite(v) for v in [*student, *reference]):
        return fail(f"{what}: the losses are not all finite numbers")
    gaps = [relative_gap(s, r) for s, r in zip(student, reference, strict=True)]
    worst = max(gaps, default=0.0)
    first = next((i for i, gap in enumerate(gaps) if gap > rtol), None)
    if first is None:
        return ok(f"{what}: all {len(gaps)} losses within {rtol:g} of the reference's", measured=worst, threshold=rtol)
    return fail(f"{what}: the loss of epoch {first + 1} is {student[first]:.6g}, the reference's "
                f"{reference[first]:.6g} (relative gap {gaps[first]:.2g}, at most {rtol:g})",
                measured=worst, threshold=rtol)


# The import of a module counts as training time (issue #11, finding 8: work moved into the import), but for this
# much of it: matplotlib.pyplot, scikit-learn and scipy.stats, which course notebooks import, took 1.6 s together
# in a fresh worker here when idle, about twice that with both cores busy. Up to 3.5 s of work at import therefore
# goes uncounted (docs/threat-model.md).
IMPORT_ALLOWANCE_S = 3.5


def counted_import(seconds: float) -> float:
    """The part of a module's import time that counts as the student's training time."""
    return max(0.0, seconds - IMPORT_ALLOWANCE_S)


def time_ratio(student_s: float, reference_s: float, *, max_ratio: float, floor_s: float = 0.05) -> Outcome:
    """Training time as a multiple of the reference's, both measured on this machine.

    The reference time is floored at `floor_s`: below it, timer noise would dominate the ratio.
    """
    if not (math.isfinite(student_s) and student_s >= 0):
        return fail("training time is not a valid number")
    measured = student_s / max(reference_s, floor_s)
    message = f"training took {student_s:.3g} s, {measured:.2g}x the reference's {reference_s:.3g} s " \
              f"(at most {max_ratio:g}x)"
    return Outcome(measured <= max_ratio, message, measured=measured, threshold=max_ratio)


def flag(value: Any, *, expected: bool, message_ok: str, message_fail: str, hint: str = "") -> Outcome:
    """A yes/no fact reported by the worker (e.g. "predictions require grad")."""
    if not isinstance(value, bool):
        return fail("the worker reported an invalid value")
    return ok(message_ok) if value == expected else fail(message_fail, hint=hint)


def identical(first: Any, second: Any, *, what: str) -> Outcome:
    """Two runs under the same seed produced exactly the same values."""
    if _same(first, second):
        return ok(f"{what}: identical under the same seed")
    return fail(f"{what}: differ between two runs with the same seed",
                hint="use the generator/seed you are given; do not reseed from the clock or use global state")


def _same(a: Any, b: Any) -> bool:
    if type(a) is torch.Tensor and type(b) is torch.Tensor:
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and type(a) in (int, float, str, bool, type(None)) and a == b


def mse(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean squared error computed by the grader (targets never leave the grading process)."""
    return float(((predictions.double() - targets.double()) ** 2).mean())


def accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> float:
    return float((predicted.reshape(-1).long() == targets.reshape(-1).long()).double().mean())


def probabilities(value: torch.Tensor, *, name: str) -> Outcome:
    """Every value in [0, 1], as a sigmoid's output is."""
    low, high = float(value.min()), float(value.max())
    if low < 0 or high > 1:
        return fail(f"{name}: values from {low:.3g} to {high:.3g}, expected probabilities in [0, 1]",
                    hint="end forward() with torch.sigmoid (BCELoss expects probabilities)")
    return ok(f"{name}: probabilities in [0, 1]")
