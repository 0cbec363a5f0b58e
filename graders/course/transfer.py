"""Topic 6 (transfer learning): which parts of a pretrained model train, judged on parameters that crossed.

Issue #11: no requires_grad flag or summary computed in the worker decides a point. The head (`classifier.6`)
crosses in full and the frozen features as a sample at positions drawn from the grader's seed, before and after
training (or one optimisation step); the grading process compares them with each other and with the reference's,
whose features are the given weights.
"""

from __future__ import annotations

from typing import Any

import torch

from graders import checks
from graders.course import images

HEAD = "classifier.6"
HEAD_HINT = f"replace the last layer in place: model.{HEAD} = nn.Linear(4096, num_classes)"
FREEZE_HINT = ("set requires_grad = False on every parameter of model.features (the optimizer trains every "
               "parameter that requires grad)")


def solid_colours(colours: list[tuple[int, int, int]], size: int) -> torch.Tensor:
    """Single-colour RGB images, uint8 (N, size, size, 3): any crop, flip or resize of one is the same colour."""
    return torch.tensor(colours, dtype=torch.uint8)[:, None, None, :].expand(-1, size, size, -1).contiguous()


def linear_head(run: Any, *, shape: tuple[int, int], name: str) -> checks.Outcome:
    """The head's weight and bias, as they crossed, are those of Linear(in_features, out_features) = `shape`."""
    found = images.crossed(run, "after")
    if found is None:
        return checks.fail(f"{name}: the worker sent no parameters of the model")
    weight, bias = found["named"].get(f"{HEAD}.weight"), found["named"].get(f"{HEAD}.bias")
    want = f"Linear({shape[1]}, {shape[0]})"
    if weight is None or bias is None:
        return checks.fail(f"{name}: model.{HEAD} has no weight and bias, expected {want}", hint=HEAD_HINT)
    if tuple(weight.shape) != shape or tuple(bias.shape) != shape[:1]:
        got = f"Linear({weight.shape[-1]}, {weight.shape[0]})" if weight.dim() == 2 else f"weight {tuple(weight.shape)}"
        return checks.fail(f"{name}: model.{HEAD} is {got}, expected {want}", hint=HEAD_HINT)
    return checks.ok(f"{name}: model.{HEAD} is {want}")


def only_head_trains(run: Any, *, name: str, when: str = "training") -> checks.Outcome:
    """`when` (training, or one optimisation step) left model.features exactly as built and changed the head."""
    before, after = images.crossed(run, "before"), images.crossed(run, "after")
    if before is None or after is None:
        return checks.fail(f"{name}: the worker sent no parameters to compare before and after {when}")
    if before["sample"].numel() == 0:
        return checks.fail(f"{name}: the model has no model.features to keep as loaded",
                           hint="build the model with torchvision (its model.features, then model.classifier)")
    if not torch.equal(before["sample"], after["sample"]):
        return checks.fail(f"{name}: {when} changed model.features: the pretrained part was not frozen",
                           hint=FREEZE_HINT)
    head = [(before["named"].get(k), after["named"].get(k)) for k in (f"{HEAD}.weight", f"{HEAD}.bias")]
    if any(b is None or a is None or b.shape != a.shape for b, a in head) or all(torch.equal(b, a) for b, a in head):
        return checks.fail(f"{name}: {when} left model.{HEAD} unchanged",
                           hint="freeze model.features only: the new head must train (loss.backward(), "
                                "optimizer.step() for every batch)")
    return checks.ok(f"{name}: {when} changed model.{HEAD} and left model.features as built")


def weights_loaded(run: Any, ref: dict[str, Any], *, name: str) -> checks.Outcome:
    """Before training, model.features holds the given weights: the reference's features, sampled alike."""
    mine, theirs = images.crossed(run, "before"), images.crossed(ref, "before")
    same = mine is not None and theirs is not None and mine["sample"].shape == theirs["sample"].shape and \
        torch.equal(mine["sample"], theirs["sample"])
    return checks.flag(bool(same), expected=True, message_ok=f"{name}() loads the given weights into model.features",
                       message_fail=f"{name}()'s model.features differ from the weights it was given",
                       hint="call model.load_state_dict(weights) when weights is not None, before replacing the head")


def matches_reference(run: dict[str, Any], ref: dict[str, Any], topic: Any, *, rtol: float) -> checks.Outcome:
    """The same model, data, seed and optimizer: batch losses and the head's update match the reference's.

    The update (after minus before), not the weights after: one extra step moves the weights by a fraction of a
    percent, but changes the update itself by as much as the step.
    """
    mine, theirs = images.batches(run, topic, "alexnet"), images.batches(ref, topic, "alexnet")
    if isinstance(mine, checks.Outcome):
        return mine
    if isinstance(theirs, checks.Outcome):
        return checks.fail(f"the reference's run is unusable: {theirs.message}")
    gaps = [checks.relative_gap(a, b) for a, b in zip(mine.losses, theirs.losses, strict=True)]
    gaps.append(images.update_gap(run, ref, f"{HEAD}.weight"))
    worst = max(gaps)
    if worst <= rtol:
        return checks.ok(f"batch losses and the update to model.{HEAD} within {worst:.2g} of the reference's "
                         f"(at most {rtol:g})", measured=worst, threshold=rtol)
    first = next(i for i, gap in enumerate(gaps) if gap > rtol)
    where = f"batch {first + 1}: loss {mine.losses[first]:.6g}, reference {theirs.losses[first]:.6g}" \
        if first < len(mine.losses) else f"the losses agree but training changed model.{HEAD} differently"
    return checks.fail(f"differs from the reference on the same seed and inputs ({where})", measured=worst,
                       threshold=rtol, hint="follow the docstrings step by step: the model, the transforms, "
                                            "model.train(), zero_grad, backward, step")
