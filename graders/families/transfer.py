"""Topic 6 (transfer learning): which parts of a pretrained model train, judged on parameters that crossed.

Issue #11: no requires_grad flag or summary computed in the worker decides a point. The head (`classifier.6`)
crosses in full and the frozen features as a sample at positions drawn from the grader's seed, before and after
training (or one optimisation step); the grading process compares them with each other and with the reference's,
whose features are the given weights.

The eval transform (issue #12) is compared with the docstring's pipeline, built here from torchvision and run on
images the grading process made itself (patterned, not square), turned into PIL images exactly as the worker does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from graders import checks
from graders.data.arrays import ArrayImageDataset
from graders.families import images

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HEAD = "classifier.6"
HEAD_HINT = f"replace the last layer in place: model.{HEAD} = nn.Linear(4096, num_classes)"
FREEZE_HINT = ("set requires_grad = False on every parameter of model.features (the optimizer trains every "
               "parameter that requires grad)")


def solid_colours(colours: list[tuple[int, int, int]], size: int) -> torch.Tensor:
    """Single-colour RGB images, uint8 (N, size, size, 3): any crop, flip or resize of one is the same colour."""
    return torch.tensor(colours, dtype=torch.uint8)[:, None, None, :].expand(-1, size, size, -1).contiguous()


def normalised_colour(t: torch.Tensor, colour: tuple[int, int, int], *, name: str) -> checks.Outcome:
    """A one-colour image's transformed mean per channel is (colour / 255 - mean) / std: the ImageNet normalisation.

    For the train transform, whose crops are random, this is what can be known of its output (with its shape).
    """
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    got, want = t.mean(dim=(1, 2)), (torch.tensor(colour) / 255 - mean) / std  # (3,), (3,)
    return checks.flag(bool(torch.allclose(got, want, atol=1e-3)), expected=True,
                       message_ok=f"{name} normalises with the ImageNet mean and std",
                       message_fail=f"{name} maps the colour {colour} to {_rounded(got)}, expected {_rounded(want)}: "
                                    "not the ImageNet normalisation",
                       hint="end with T.ToTensor() then T.Normalize(IMAGENET_MEAN, IMAGENET_STD)")


def _rounded(values: torch.Tensor) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in values) + ")"


def patterned(height: int, width: int) -> torch.Tensor:
    """One RGB image, uint8 (1, height, width, 3), whose every row and column differs from its neighbours.

    Red rises from left to right, green from top to bottom, blue is a checkerboard of 8-pixel squares. On such an
    image (unlike a one-colour one) squeezing to a square, a missing or shifted crop, or another resize size all
    change pixels, by far more than EVAL_ATOL.
    """
    y = torch.arange(height).view(-1, 1).expand(height, width)
    x = torch.arange(width).view(1, -1).expand(height, width)
    red, green = x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1)
    blue = (x // 8 + y // 8) % 2 * 200 + 30
    return torch.stack([red, green, blue], dim=-1).to(torch.uint8)[None]


def eval_probes(size: int) -> list[torch.Tensor]:
    """Non-square images for the eval transform, one per call (a call's images share a shape): wide and tall.

    Neither side is `size` (nor size * 256 // 224): a resize to it would change nothing and hide a missing one.
    """
    return [patterned(size * 2, size * 3), patterned(size * 3, size * 3 // 2)]


# The largest difference allowed, in normalised units. The same torchvision and PIL run on both sides of the worker
# boundary: the reference's transform differs by 0.0 on every probe, one written with transforms.v2 (ToImage,
# ToDtype(float32, scale=True)) by at most 7.2e-7. The closest mistake, resizing the tensor instead of the PIL
# image, differs by 0.013 or more; the others by 0.38 or more (tests/test_families_transfer_eval.py).
EVAL_ATOL = 1e-5


@dataclass(frozen=True)
class Pipeline:
    """A chain of torchvision transforms in words; for a mistake, what is wrong with it and the hint that fixes it."""

    steps: str
    build: Callable[[], Any]
    flaw: str = ""
    hint: str = ""


_TAIL = " -> ToTensor -> Normalize"  # the usual end of a pipeline in words


def eval_pipelines(size: int) -> tuple[Pipeline, list[Pipeline]]:
    """The docstring's eval pipeline for `size`, and the common mistakes, each with the hint that fixes it.

    The check names the first mistake, in this order, that the output matches.
    """
    from torchvision import transforms as T

    r = size * 256 // 224
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    expected = Pipeline(f"Resize({r}) -> CenterCrop({size}){_TAIL}(IMAGENET_MEAN, IMAGENET_STD)",
                        lambda: T.Compose([T.Resize(r), T.CenterCrop(size), *norm]))
    return expected, [*_resize_mistakes(size, r, norm), *_step_mistakes(size, r, norm)]


def _resize_mistakes(size: int, r: int, norm: list[Any]) -> list[Pipeline]:
    """Resizes of the wrong shape or size, the crop that goes with them, a missing crop or resize."""
    from torchvision import transforms as T

    keep = f"T.Resize(size * 256 // 224) with one number keeps the aspect ratio (Resize({r}) here)"
    return [
        Pipeline(f"Resize(({size}, {size})){_TAIL}", lambda: T.Compose([T.Resize((size, size)), *norm]),
                 "a resize to a square distorts the image, and nothing is cropped",
                 f"{keep}, then T.CenterCrop(size) cuts the square out of the middle"),
        Pipeline(f"Resize(({r}, {r})) -> CenterCrop({size}){_TAIL}",
                 lambda: T.Compose([T.Resize((r, r)), T.CenterCrop(size), *norm]),
                 "a resize to a square distorts the image", keep),
        Pipeline(f"Resize({size}) -> CenterCrop({size}){_TAIL}",
                 lambda: T.Compose([T.Resize(size), T.CenterCrop(size), *norm]),
                 "the resize size is size, not size * 256 // 224",
                 f"resize to size * 256 // 224 ({r} here), then T.CenterCrop(size) keeps the middle 224/256 of "
                 "the image, as ImageNet models are evaluated"),
        Pipeline(f"Resize({r}){_TAIL}", lambda: T.Compose([T.Resize(r), *norm]), "CenterCrop is missing",
                 "add T.CenterCrop(size) after T.Resize(size * 256 // 224)"),
        Pipeline(f"CenterCrop({size}){_TAIL}", lambda: T.Compose([T.CenterCrop(size), *norm]), "Resize is missing",
                 "T.Resize(size * 256 // 224) before T.CenterCrop(size)"),
    ]


def _step_mistakes(size: int, r: int, norm: list[Any]) -> list[Pipeline]:
    """Right steps done wrong: fixed sizes, another interpolation, the tensor resized, no normalisation."""
    from torchvision import transforms as T

    return [
        Pipeline(f"Resize(256) -> CenterCrop(224){_TAIL}",
                 lambda: T.Compose([T.Resize(256), T.CenterCrop(224), *norm]),
                 "the sizes are fixed, whatever size is", "use the size argument: T.Resize(size * 256 // 224), "
                                                          "T.CenterCrop(size)"),
        Pipeline(f"Resize({r}, interpolation=BICUBIC) -> CenterCrop({size}){_TAIL}",
                 lambda: T.Compose([T.Resize(r, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size), *norm]),
                 "the resize interpolates bicubically", "T.Resize(size * 256 // 224) with its default (bilinear) "
                                                          "interpolation"),
        Pipeline(f"ToTensor -> Resize({r}) -> CenterCrop({size}) -> Normalize",
                 lambda: T.Compose([T.ToTensor(), T.Resize(r), T.CenterCrop(size), norm[1]]),
                 "it resizes the tensor, not the PIL image, which resamples slightly differently",
                 "the docstring's order: T.Resize and T.CenterCrop on the PIL image, then T.ToTensor(), "
                 "then T.Normalize(...)"),
        Pipeline(f"Resize({r}) -> CenterCrop({size}) -> ToTensor",
                 lambda: T.Compose([T.Resize(r), T.CenterCrop(size), T.ToTensor()]), "Normalize is missing",
                 "end with T.ToTensor() then T.Normalize(IMAGENET_MEAN, IMAGENET_STD)"),
    ]


def apply(pipeline: Pipeline, probe: torch.Tensor) -> list[torch.Tensor]:
    """`pipeline` on each image of uint8 `probe` (N, H, W, 3), made a PIL image by the class the worker uses."""
    dataset = ArrayImageDataset(probe, None, pipeline.build())
    return [dataset[i][0] for i in range(len(dataset))]


def largest_gap(got: list[Any], want: list[torch.Tensor]) -> float:
    """The largest absolute difference between two lists of tensors; inf where a count, type or shape differs."""
    if len(got) != len(want):
        return float("inf")
    pairs = list(zip(got, want, strict=True))
    if any(type(g) is not torch.Tensor or g.shape != w.shape for g, w in pairs):
        return float("inf")
    return max((float((g.double() - w.double()).abs().max()) for g, w in pairs), default=0.0)


def eval_transform_matches(got: list[Any], probe: torch.Tensor, size: int, *,
                           name: str = "transforms(train=False)") -> checks.Outcome:
    """The student's eval transform on `probe` (crossed as tensors) against the docstring's pipeline run here.

    On a mismatch the common mistakes are run here too, and the one the output matches is named as the hint.
    """
    expected, mistakes = eval_pipelines(size)
    height, width = probe.shape[1:3]
    where = f"{name} on a {height}x{width} (height x width) image"
    for t in got or [None]:
        shaped = checks.tensor(t, name=where, dtype=torch.float32)
        if not shaped.passed:
            return shaped
    gap = largest_gap(got, apply(expected, probe))
    if gap <= EVAL_ATOL:
        return checks.ok(f"{where} equals {expected.steps} (largest difference {gap:.2g})", measured=gap,
                         threshold=EVAL_ATOL)
    if gap == float("inf"):
        shapes = ", ".join(dict.fromkeys(str(tuple(t.shape)) for t in got))
        message, measured = f"{where} gives shape {shapes}; {expected.steps} gives (3, {size}, {size})", None
    else:
        message = f"{where} differs from {expected.steps} by up to {gap:.3g} in a value (at most {EVAL_ATOL:g})"
        measured = gap
    threshold = None if measured is None else EVAL_ATOL
    for mistake in mistakes:
        if largest_gap(got, apply(mistake, probe)) <= EVAL_ATOL:
            return checks.fail(f"{message}; it matches {mistake.steps}: {mistake.flaw}", hint=mistake.hint,
                               measured=measured, threshold=threshold)
    return checks.fail(message, measured=measured, threshold=threshold,
                       hint="train=False: exactly T.Resize(size * 256 // 224), T.CenterCrop(size), T.ToTensor(), "
                            "T.Normalize(IMAGENET_MEAN, IMAGENET_STD), in that order, nothing random")


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
    outcome = checks.fail(f"differs from the reference on the same seed and inputs ({where})", measured=worst,
                          threshold=rtol, hint="follow the docstrings step by step: the model, the transforms, "
                                               "model.train(), zero_grad, backward, step")
    return checks.diagnosed(outcome, mismatch_cause(run, ref, first_differs=first == 0))


def mismatch_cause(run: dict[str, Any], ref: dict[str, Any], *, first_differs: bool) -> str:
    """The first difference from the reference's run that explains a mismatch ("cause: advice"), or "".

    From the parameters that crossed (compared here) before the worker's observations (hints only): the head, the
    weights as built, what trained; then gradients, mode; then, with the same weights, the inputs themselves.
    """
    mine, theirs = images.crossed(run, "before"), images.crossed(ref, "before")
    if mine is None or theirs is None:
        return ""
    head, expected = mine["named"].get(f"{HEAD}.weight"), theirs["named"].get(f"{HEAD}.weight")
    if head is None or expected is None or head.shape != expected.shape:
        return f"model.{HEAD} is not the reference's Linear(4096, num_classes): {HEAD_HINT}"
    if mine["sample"].shape != theirs["sample"].shape or not torch.equal(mine["sample"], theirs["sample"]):
        return "model.features do not hold the given weights: call model.load_state_dict(weights) before replacing " \
               "the head"
    after = images.crossed(run, "after")
    if after is not None and not torch.equal(mine["sample"], after["sample"]):
        return f"model.features trained (not frozen): {FREEZE_HINT}"
    found = images.diagnose(run)
    if found or not first_differs:
        return found
    return ("the first batch already differs, with the same weights: check transforms(train=True) against its "
            "docstring (the ImageNet normalisation), then model.train()")
