"""Topics 4-6 (image classifiers): data from disk or stand-ins, the fit call, its validation and diagnosis."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from graders import checks
from graders.plugin import TopicContext, TopicProxy


@dataclass(frozen=True)
class Variant:
    """One model of an image topic: its data, how to build it, which transforms feed it."""

    dataset: str  # "mnist", "cifar10" or "two_class"
    build: dict[str, Any]  # {"class": name, "init": {...}} or {"function": name, "init": {...}}
    train_transform: dict[str, Any]
    eval_transform: dict[str, Any]
    probe_shape: tuple[int, ...]  # one transformed input, for structure checks
    optimizer: str = "adam"  # the course's choice; "sgd" takes the budget's momentum
    weights: str = ""  # an architecture whose pretrained weights the builder receives
    sized: bool = False  # transforms take the budget's image size


VARIANTS = {
    "classifier": Variant("mnist", {"class": "Classifier"}, {"function": "transforms"}, {"function": "transforms"},
                          (1, 28, 28)),
    "lenet": Variant("mnist", {"class": "LeNet"}, {"standard": "mnist"}, {"standard": "mnist"}, (1, 28, 28)),
    "cifarnet": Variant("cifar10", {"class": "CifarNet"}, {"function": "train_transforms"},
                        {"function": "test_transforms"}, (3, 32, 32)),
    "alexnet": Variant("two_class", {"function": "build_alexnet", "init": {"num_classes": 2}},
                       {"function": "transforms", "kwargs": {"train": True}},
                       {"function": "transforms", "kwargs": {"train": False}}, (3, 64, 64), "sgd", "alexnet", True),
    "vgg16": Variant("two_class", {"function": "build_vgg16", "init": {"num_classes": 2}},
                     {"function": "transforms", "kwargs": {"train": True}},
                     {"function": "transforms", "kwargs": {"train": False}}, (3, 32, 32), "sgd", "vgg16", True),
}

# The models each topic trains in full (timed, mean loss checked); the first is also repeated for determinism.
TRAINED = {"deep_neural_network": ("classifier",), "cnn": ("lenet", "cifarnet"), "transfer_learning": ("alexnet",)}


@dataclass(frozen=True)
class Data:
    train_images: torch.Tensor  # uint8 (N, H, W) or (N, H, W, 3)
    train_labels: torch.Tensor  # int64 (N,)
    eval_images: torch.Tensor  # uint8 (M, ...)
    eval_labels: torch.Tensor  # int64 (M,): stays in the grading process
    sources: tuple[str, ...] = field(default=())


def budget(topic: TopicContext, variant: str) -> dict[str, float]:
    """The topic's budget with the variant's own settings on top."""
    return {**topic.budget, **topic.spec.variants.get(variant, {})}


def data(topic: TopicContext, variant: str, *, data_dir: str) -> Data:
    b = budget(topic, variant)
    size = int(b.get("image_size", 0))
    train = _load(VARIANTS[variant].dataset, data_dir, True, int(b["n_train"]), size, None)
    # Stand-in held-out images from a secret seed: the worker knows the generator, not the seed.
    held_out = _load(VARIANTS[variant].dataset, data_dir, False, int(b["n_eval"]), size, topic.eval_seed)
    return Data(train.images, train.labels, held_out.images, held_out.labels, (train.source, held_out.source))


@functools.lru_cache(maxsize=16)
def _load(dataset: str, root: str, train: bool, limit: int, size: int, seed: int | None) -> Any:
    from graders.data import vision

    if dataset == "mnist":
        return vision.load_mnist(root, train=train, limit=limit, standin_seed=seed)
    if dataset == "cifar10":
        return vision.load_cifar10(root, train=train, limit=limit, standin_seed=seed)
    return vision.load_two_class(root, train=train, limit=limit, size=size, standin_seed=seed)


def build_spec(topic: TopicContext, variant: str, *, weights_dir: str) -> dict[str, Any]:
    """The build request for the worker; pretrained weights from the hub cache, else seeded stand-ins."""
    spec = dict(VARIANTS[variant].build)
    arch = VARIANTS[variant].weights
    if arch:
        from graders.data.weights import CHECKPOINTS

        path = _checkpoint(weights_dir, CHECKPOINTS[arch])
        spec["weights"] = {"file": path} if path else {"arch": arch, "seed": topic.seed}
    return spec


def _checkpoint(weights_dir: str, name: str) -> str:
    from pathlib import Path

    for folder in (Path(weights_dir).expanduser() / "hub" / "checkpoints", Path(weights_dir).expanduser()):
        if (folder / name).is_file():
            return str(folder / name)
    return ""


def weights_source(spec: dict[str, Any]) -> str:
    weights = spec.get("weights")
    if not weights:
        return ""
    return f"ImageNet weights: {weights['file']}" if "file" in weights else "seeded stand-in weights (no checkpoint)"


def _transform(variant: str, which: str, size: int) -> dict[str, Any]:
    spec = getattr(VARIANTS[variant], f"{which}_transform")
    if VARIANTS[variant].sized:
        spec = {**spec, "kwargs": {**spec.get("kwargs", {}), "size": size}}
    return spec


def fit(side: TopicProxy, topic: TopicContext, variant: str, *, config: Any, **extra: Any) -> dict[str, Any]:
    """Train under the topic's budget and predict the held-out images (never their labels)."""
    b = budget(topic, variant)
    d = data(topic, variant, data_dir=str(config.resolve(config.data_dir)))
    size = int(b.get("image_size", 0))
    optimizer = {"name": VARIANTS[variant].optimizer, "lr": float(b["lr"])}
    if "momentum" in b:
        optimizer["momentum"] = float(b["momentum"])
    return side.run("images.fit", build=build_spec(topic, variant, weights_dir=config.weights_dir),
                    train_images=d.train_images, train_labels=d.train_labels, eval_images=d.eval_images,
                    probe=int(b["probe"]), epochs=int(b["epochs"]), batch_size=int(b["batch_size"]),
                    optimizer=optimizer, train_transform=_transform(variant, "train", size),
                    eval_transform=_transform(variant, "eval", size), seed=topic.seed, **extra)


def inspect(side: TopicProxy, topic: TopicContext, variant: str, *, config: Any, init: dict | None = None,
            probe: torch.Tensor | None = None) -> dict[str, Any]:
    """Build the model (optionally with other sizes) and run it on a seeded probe batch."""
    spec = build_spec(topic, variant, weights_dir=config.weights_dir)
    if init is not None:
        spec["init"] = init
    if probe is None:
        probe = torch.randn(4, *VARIANTS[variant].probe_shape, generator=torch.Generator().manual_seed(topic.seed))
    return side.run("images.inspect", build=spec, probe=probe, seed=topic.seed)


def transformed(side: TopicProxy, topic: TopicContext, variant: str, which: str, *, config: Any,
                seed_shift: int = 0, n: int = 4) -> list[Any]:
    """The student's train or eval transform applied to the first training images."""
    size = int(budget(topic, variant).get("image_size", 0))
    images = data(topic, variant, data_dir=str(config.resolve(config.data_dir))).train_images[:n]
    out = side.run("images.transform", transform=_transform(variant, which, size), images=images,
                   seed=topic.seed + seed_shift)
    return out["tensors"] if isinstance(out, dict) and isinstance(out.get("tensors"), list) else []


def valid_run(run: Any, topic: TopicContext, variant: str) -> checks.Outcome:
    """The shape of a fit result, checked before any figure in it is trusted."""
    if not isinstance(run, dict):
        return checks.fail("the worker returned no training result")
    b = budget(topic, variant)
    outcome = checks.losses(run.get("losses"), epochs=int(b["epochs"]), name="train_one_epoch()")
    if not outcome.passed:
        return outcome
    return checks.tensor(run.get("predictions"), name="predictions", shape=(int(b["n_eval"]),), dtype=torch.int64)


def batch_losses(run: dict[str, Any]) -> list[float]:
    seen = run.get("batch_losses")
    if not isinstance(seen, list) or not all(isinstance(s, list) and len(s) == 2 for s in seen):
        return []
    return [float(loss) for loss, _ in seen]


def learned(run: dict[str, Any], topic: TopicContext, variant: str, *, config: Any) -> checks.Outcome:
    """The trained model beats always predicting the most common training class on held-out images."""
    d = data(topic, variant, data_dir=str(config.resolve(config.data_dir)))
    majority = torch.full_like(d.eval_labels, int(torch.bincount(d.train_labels).argmax()))
    return checks.beats_baseline(checks.accuracy(run["predictions"], d.eval_labels),
                                 checks.accuracy(majority, d.eval_labels), higher_is_better=True,
                                 baseline_name="always predicting the most common class")


def quality(run: dict[str, Any], ref: dict[str, Any], topic: TopicContext, variant: str, *, check: str,
            config: Any) -> checks.Outcome:
    """Held-out accuracy against the reference's, both computed here from labels the worker never saw."""
    labels = data(topic, variant, data_dir=str(config.resolve(config.data_dir))).eval_labels
    mine, theirs = checks.accuracy(run["predictions"], labels), checks.accuracy(ref["predictions"], labels)
    return checks.versus_reference(mine, theirs, metric=f"{variant} held-out accuracy", higher_is_better=True,
                                   ratio=topic.threshold(check))


def diagnose(run: Any) -> str:
    """Name the likely bug behind a bad fit from what the worker observed during training."""
    if not isinstance(run, dict):
        return ""
    if isinstance(run.get("accumulated_steps"), int) and run["accumulated_steps"] > 0:
        return "gradients accumulated from one batch to the next: call optimizer.zero_grad() for every batch"
    if run.get("outputs_are_probabilities") is True:
        return "forward() returns probabilities: remove the softmax, nn.CrossEntropyLoss applies log-softmax itself"
    modes = run.get("train_modes")
    if isinstance(modes, list) and modes and not any(modes):
        return "train_one_epoch() never switched to training mode: call model.train() first"
    losses = batch_losses(run)
    if len(losses) > 1 and max(losses) - min(losses) < 1e-9:
        return "the loss never changed: call optimizer.step() after loss.backward()"
    return ""


def hinted(outcome: checks.Outcome, run: Any) -> checks.Outcome:
    """A failed outcome carries the diagnosis of the run as its hint."""
    return checks.with_hint(outcome, diagnose(run))


def logits(output: torch.Tensor, *, name: str) -> checks.Outcome:
    """Raw scores, not probabilities: CrossEntropyLoss applies log-softmax itself."""
    rows = output.double().sum(dim=1)
    if bool(((output >= 0) & (output <= 1)).all()) and bool(torch.allclose(rows, torch.ones_like(rows), atol=1e-4)):
        return checks.fail(f"{name} returns probabilities (each row sums to 1), expected logits",
                           hint="remove the softmax at the end of forward(): nn.CrossEntropyLoss applies it")
    return checks.ok(f"{name} returns logits")


def normalised(tensors: list[Any], *, name: str, shape: tuple[int, ...]) -> checks.Outcome:
    """Transformed images: float tensors of the model's input shape, normalised to [-1, 1]."""
    if not tensors:
        return checks.fail(f"{name} produced nothing")
    for t in tensors:
        outcome = checks.tensor(t, name=f"{name}(image)", shape=shape, dtype=torch.float32)
        if not outcome.passed:
            return outcome
    low, high = min(float(t.min()) for t in tensors), max(float(t.max()) for t in tensors)
    if low >= 0 or low < -1 - 1e-5 or high > 1 + 1e-5:
        return checks.fail(f"{name}: values from {low:.3g} to {high:.3g}, not normalised to [-1, 1]",
                           hint="end with T.ToTensor() then T.Normalize with mean 0.5 and std 0.5 per channel")
    return checks.ok(f"{name}: {tuple(shape)} float tensors normalised to [-1, 1]")


def augments(first: list[Any], second: list[Any], *, name: str) -> checks.Outcome:
    """A random transform: the same images under two seeds give different tensors."""
    same = len(first) == len(second) and all(type(a) is torch.Tensor and type(b) is torch.Tensor and torch.equal(a, b)
                                             for a, b in zip(first, second, strict=True))
    if same:
        return checks.fail(f"{name} gave the same tensors under two seeds: no random augmentation",
                           hint="add the random transforms (flips, rotations...) the docstring lists")
    return checks.ok(f"{name} augments: two seeds transform the same images differently")


def evaluate_agrees(run: dict[str, Any]) -> list[checks.Outcome]:
    """evaluate() switches to eval mode, tracks no gradients, and returns the harness's own figures."""
    modes, grad_on = run.get("evaluate_modes"), run.get("evaluate_grad")
    got, want = run.get("evaluate"), run.get("evaluate_expected")
    if not (isinstance(modes, list) and isinstance(grad_on, bool) and isinstance(got, list) and isinstance(want, list)):
        return [checks.fail("the worker reported no evaluate() figures")]
    outcomes = [
        checks.flag(bool(modes) and not any(modes), expected=True, message_ok="evaluate() runs in eval mode",
                    message_fail="evaluate() ran the model in training mode (dropout would stay on)",
                    hint="call model.eval() at the start of evaluate()"),
        checks.flag(grad_on, expected=False, message_ok="evaluate() tracks no gradients",
                    message_fail="evaluate() ran the model with gradient tracking on",
                    hint="wrap the loop in `with torch.no_grad():`"),
    ]
    loss_ok = abs(got[0] - want[0]) <= 1e-3 * max(1.0, abs(want[0]))
    acc_ok = abs(got[1] - want[1]) <= 1e-6
    message = f"evaluate() returned loss {got[0]:.4g}, accuracy {got[1]:.4g}; expected {want[0]:.4g}, {want[1]:.4g}"
    hint = "return (mean loss per sample, accuracy in [0, 1]); weigh each batch's mean loss by its size"
    outcomes.append(checks.Outcome(loss_ok and acc_ok, message, hint="" if loss_ok and acc_ok else hint))
    return outcomes


def mean_loss_agrees(run: dict[str, Any], topic: TopicContext, variant: str) -> checks.Outcome:
    """Each epoch's returned loss is the per-sample mean of that epoch's batch losses."""
    seen, losses = run.get("batch_losses"), run.get("losses")
    epochs = int(budget(topic, variant)["epochs"])
    if not isinstance(seen, list) or not isinstance(losses, list) or len(seen) % epochs or len(losses) != epochs:
        return checks.fail("train_one_epoch() did not call the criterion once per batch",
                           hint="use the criterion you are given on every batch")
    per_epoch = len(seen) // epochs
    for epoch in range(epochs):
        chunk = seen[epoch * per_epoch:(epoch + 1) * per_epoch]
        expected = sum(loss * size for loss, size in chunk) / sum(size for _, size in chunk)
        if abs(losses[epoch] - expected) > 1e-3 * max(1.0, abs(expected)):
            return checks.fail(f"epoch {epoch + 1}: train_one_epoch() returned {losses[epoch]:.4g}, the mean loss "
                               f"per sample was {expected:.4g}", measured=losses[epoch], threshold=expected,
                               hint="sum loss.item() * batch size over the epoch, divide by the samples seen")
    return checks.ok(f"train_one_epoch() returns the mean loss per sample for each of {epochs} epochs")


# -- transfer learning (topic 6): which parts of a pretrained model train ---------------------------
def solid_colours(colours: list[tuple[int, int, int]], size: int) -> torch.Tensor:
    """Single-colour RGB images, uint8 (N, size, size, 3): any crop, flip or resize of one is the same colour."""
    return torch.tensor(colours, dtype=torch.uint8)[:, None, None, :].expand(-1, size, size, -1).contiguous()


def transformed_images(side: TopicProxy, topic: TopicContext, variant: str, which: str, images: torch.Tensor,
                       ) -> list[Any]:
    """The student's train or eval transform applied to the given uint8 images."""
    size = int(budget(topic, variant).get("image_size", 0))
    out = side.run("images.transform", transform=_transform(variant, which, size), images=images, seed=topic.seed)
    return out["tensors"] if isinstance(out, dict) and isinstance(out.get("tensors"), list) else []


def frozen(info: dict[str, Any], *, prefix: str = "features.", name: str = "model") -> checks.Outcome:
    """Every parameter under `prefix` is frozen and every other one trains."""
    flags = info.get("trainable")
    if not isinstance(flags, dict) or not flags:
        return checks.fail(f"{name}: the worker reported no parameters")
    part = prefix.rstrip(".")
    inside = [k for k in flags if k.startswith(prefix)]
    thawed = [k for k in inside if flags[k] is not False]
    stuck = [k for k in flags if not k.startswith(prefix) and flags[k] is not True]
    if not inside or thawed:
        return checks.fail(f"{name}: {len(thawed)} of {len(inside)} parameters of model.{part} still train "
                           f"({', '.join(thawed[:2]) or 'none found'})",
                           hint=f"set requires_grad = False on every parameter of model.{part}")
    if stuck:
        return checks.fail(f"{name}: {len(stuck)} parameters outside model.{part} are frozen ({stuck[0]})",
                           hint=f"freeze model.{part} only; the new head must train")
    return checks.ok(f"{name}: the {len(inside)} parameters of model.{part} are frozen, the other "
                     f"{len(flags) - len(inside)} train")


def linear_head(info: dict[str, Any], *, layer: str, shape: tuple[int, int], name: str) -> checks.Outcome:
    """`layer` is an nn.Linear whose weight has `shape` (out_features, in_features)."""
    layers, shapes = info.get("layers"), info.get("shapes")
    if not isinstance(layers, dict) or not isinstance(shapes, dict):
        return checks.fail(f"{name}: the worker reported no layers")
    kind, weight = layers.get(layer), shapes.get(f"{layer}.weight")
    want = f"Linear({shape[1]}, {shape[0]})"
    if kind != "Linear" or weight != list(shape):
        got = f"Linear({weight[1]}, {weight[0]})" if kind == "Linear" and isinstance(weight, list) and \
            len(weight) == 2 else (kind or "missing")
        return checks.fail(f"{name}: {layer} is {got}, expected {want}",
                           hint=f"replace the last layer in place: model.classifier[6] = nn.Linear({shape[1]}, "
                                "num_classes)")
    return checks.ok(f"{name}: {layer} is {want}")


def only_head_trained(run: dict[str, Any], *, frozen_part: str = "features", head: str = "classifier",
                      ) -> checks.Outcome:
    """Training left the frozen part's parameters exactly as built and changed the head's."""
    before, after = run.get("before"), run.get("after")
    parts = {frozen_part, head}
    if not (isinstance(before, dict) and isinstance(after, dict) and parts <= before.keys() & after.keys()):
        return checks.fail(f"the model has no model.{frozen_part} and model.{head} to compare before and after "
                           "training", hint=f"keep torchvision's model.{frozen_part} and model.{head}")
    if before[frozen_part] != after[frozen_part]:
        return checks.fail(f"training changed model.{frozen_part}: the pretrained part was not frozen",
                           hint=f"set requires_grad = False on every parameter of model.{frozen_part} "
                                "(the optimizer trains every parameter that requires grad)")
    if before[head] == after[head]:
        return checks.fail(f"training left model.{head} unchanged",
                           hint="call loss.backward() and optimizer.step() for every batch")
    return checks.ok(f"training changed model.{head} and left model.{frozen_part} as loaded")


def matches_reference(run: dict[str, Any], ref: dict[str, Any], *, rtol: float, part: str = "classifier",
                      ) -> checks.Outcome:
    """The same model, data, seed and optimizer: batch losses and the update to `part` match the reference's.

    The update (fingerprint after minus before), not the weights after: one extra step moves the weights
    by a fraction of a percent, but changes the update itself by as much as the step.
    """
    mine, theirs = batch_losses(run), batch_losses(ref)
    if not mine or len(mine) != len(theirs):
        return checks.fail(f"train_one_epoch() computed {len(mine)} batch losses, the reference {len(theirs)}",
                           hint="call the criterion once per batch, on model(inputs) and labels")
    update, ref_update = weight_update(run, part), weight_update(ref, part)
    pairs = [] if update is None or ref_update is None else [*zip(mine, theirs, strict=True), (update, ref_update)]
    worst = max((checks.relative_gap(a, b) for a, b in pairs), default=math.inf)
    if worst <= rtol:
        return checks.ok(f"batch losses and the update to model.{part} within {worst:.2g} of the reference's "
                         f"(at most {rtol:g})", measured=worst, threshold=rtol)
    gap = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if checks.relative_gap(a, b) > rtol),
               None)
    where = f"batch {gap + 1}: loss {mine[gap]:.6g}, reference {theirs[gap]:.6g}" if gap is not None \
        else f"the losses agree but training changed model.{part} differently"
    return checks.fail(f"differs from the reference on the same seed and inputs ({where})", measured=worst,
                       threshold=rtol, hint="follow the docstrings step by step: the model, the transforms, "
                                            "model.train(), zero_grad, backward, step")


def weight_update(run: dict[str, Any], part: str) -> float | None:
    before, after = run.get("before"), run.get("after")
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return None
    b, a = before.get(part), after.get(part)
    return a - b if isinstance(a, float) and isinstance(b, float) else None
