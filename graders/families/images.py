"""Topics 4-6 (image classifiers): data from disk or stand-ins, the fit call, its validation and diagnosis."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from graders import checks
from graders.config import Config
from graders.families.criterion import CRITERION_HINT, Batches, criterion_batches
from graders.grading.context import TopicContext, TopicProxy

# `config=`: these helpers once read the data and weights folders from it; the topic carries them now (issue #15).
# It stays accepted, and unused, so that course tests written against the earlier helpers keep working.


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
    # A standard evaluation transform whose accuracy counts too, where the course fixes the pipeline: a broken
    # eval transform then costs `transforms` alone (issue #12). None where it depends on the student's training
    # transform (topic 4's one transforms(); topic 6's sizes).
    harness_eval: dict[str, Any] | None = None


VARIANTS = {
    "classifier": Variant(dataset="mnist", build={"class": "Classifier"}, train_transform={"function": "transforms"},
                          eval_transform={"function": "transforms"}, probe_shape=(1, 28, 28)),
    "lenet": Variant(dataset="mnist", build={"class": "LeNet"}, train_transform={"standard": "mnist"},
                     eval_transform={"standard": "mnist"}, probe_shape=(1, 28, 28)),
    "cifarnet": Variant(dataset="cifar10", build={"class": "CifarNet"},
                        train_transform={"function": "train_transforms"},
                        eval_transform={"function": "test_transforms"}, probe_shape=(3, 32, 32),
                        harness_eval={"standard": "cifar10"}),
    "alexnet": Variant(dataset="two_class", build={"function": "build_alexnet", "init": {"num_classes": 2}},
                       train_transform={"function": "transforms", "kwargs": {"train": True}},
                       eval_transform={"function": "transforms", "kwargs": {"train": False}}, probe_shape=(3, 64, 64),
                       optimizer="sgd", weights="alexnet", sized=True),
    "vgg16": Variant(dataset="two_class", build={"function": "build_vgg16", "init": {"num_classes": 2}},
                     train_transform={"function": "transforms", "kwargs": {"train": True}},
                     eval_transform={"function": "transforms", "kwargs": {"train": False}}, probe_shape=(3, 32, 32),
                     optimizer="sgd", weights="vgg16", sized=True),
}

# The models each topic trains in full (timed, mean loss checked); the first is also repeated for determinism.
TRAINED = {"deep_neural_network": ("classifier",), "cnn": ("lenet", "cifarnet"), "transfer_learning": ("alexnet",)}


@dataclass(frozen=True)
class Data:
    train_images: torch.Tensor  # uint8 (N, H, W) or (N, H, W, 3)
    train_labels: torch.Tensor  # int64 (N,)
    eval_images: torch.Tensor  # uint8 (M, ...), in an order drawn from the secret seed
    eval_labels: torch.Tensor  # int64 (M,): stays in the grading process
    sources: tuple[str, ...] = field(default=())


def budget(topic: TopicContext, variant: str) -> dict[str, float]:
    """The topic's budget with the variant's own settings on top."""
    return {**topic.budget, **topic.spec.variants.get(variant, {})}


def memoised(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """`compute()`, once per process for each `key`: for pure functions of the configuration, which a grading asks
    for in many checks (issue #14). A handful of entries, one per topic and model; the store is emptied if it fills.
    """
    if key not in _MEMO:
        if len(_MEMO) >= 64:
            _MEMO.clear()
        _MEMO[key] = compute()
    return _MEMO[key]


_MEMO: dict[tuple[Any, ...], Any] = {}


def data(topic: TopicContext, variant: str, *, data_dir: str | Path | None = None) -> Data:
    """The variant's training and held-out data (the same objects for every check: none may change them), from
    `data_dir` (default: the topic's)."""
    root = str(topic.data_dir if data_dir is None else data_dir)
    key = ("data", variant, root, tuple(sorted(budget(topic, variant).items())), topic.eval_seed)
    return memoised(key, lambda: _data(topic, variant, data_dir=root))


def _data(topic: TopicContext, variant: str, *, data_dir: str) -> Data:
    b = budget(topic, variant)
    size = int(b.get("image_size", 0))
    train = _load(VARIANTS[variant].dataset, data_dir, True, int(b["n_train"]), size, None)
    # Stand-in held-out images from a secret seed: the worker knows the generator, not the seed. Stand-ins and
    # real subsets come class by class (0, 1, ..., 9, 0, ...): handed over in that order, "predict i % 10" would
    # score 1.0 untrained. The order the worker sees is a permutation from the secret seed (issue #11).
    held_out = _load(VARIANTS[variant].dataset, data_dir, False, int(b["n_eval"]), size, topic.eval_seed)
    order = topic.held_out_order(len(held_out.labels))
    return Data(train.images, train.labels, held_out.images[order], held_out.labels[order],
                (train.source, held_out.source))


@functools.lru_cache(maxsize=16)
def _load(dataset: str, root: str, train: bool, limit: int, size: int, seed: int | None) -> Any:
    from graders.data import vision

    if dataset == "mnist":
        return vision.load_mnist(root, train=train, limit=limit, standin_seed=seed)
    if dataset == "cifar10":
        return vision.load_cifar10(root, train=train, limit=limit, standin_seed=seed)
    return vision.load_two_class(root, train=train, limit=limit, size=size, standin_seed=seed)


def build_spec(topic: TopicContext, variant: str, *, weights_dir: str) -> dict[str, Any]:
    """The build request for the worker; pretrained weights from the hub cache, else seeded stand-ins (saved by the
    grader for its workers to map in, where it can: issue #14)."""
    spec = dict(VARIANTS[variant].build)
    arch = VARIANTS[variant].weights
    if arch:
        from graders.data import checkpoints, weights

        path = checkpoints.locate(Path(weights_dir), arch)
        spec["weights"] = {"file": str(path)} if path else weights.standin_request(arch, seed=topic.seed)
    return spec


def weights_source(spec: dict[str, Any]) -> str:
    weights = spec.get("weights")
    if not weights:
        return ""
    return f"ImageNet weights: {weights['file']}" if "file" in weights else "seeded stand-in weights (no checkpoint)"


def evidence_spec(topic: TopicContext, variant: str) -> dict[str, Any] | None:
    """What of a pretrained model crosses for the grader: its head in full, a sample of its frozen features.

    Other models cross whole (inspect) or not at all (fit): nothing checks their parameters after training.
    """
    if not VARIANTS[variant].weights:
        return None
    return {"named": ["classifier.6.weight", "classifier.6.bias"], "prefix": "features.", "per_tensor": 16,
            "seed": topic.seed}


def _transform(variant: str, which: str, size: int) -> dict[str, Any]:
    spec = getattr(VARIANTS[variant], f"{which}_transform")
    if VARIANTS[variant].sized:
        spec = {**spec, "kwargs": {**spec.get("kwargs", {}), "size": size}}
    return spec


def fit(side: TopicProxy, topic: TopicContext, variant: str, *, config: Config | None = None,
        **extra: Any) -> dict[str, Any]:
    """Train under the topic's budget and predict the held-out images (never their labels)."""
    return side.run("images.fit", **fit_args(topic, variant), **extra)


def fit_args(topic: TopicContext, variant: str) -> dict[str, Any]:
    """The images.fit call's arguments: the same for every check, so that one run answers them all."""
    b = budget(topic, variant)
    d = data(topic, variant)
    size = int(b.get("image_size", 0))
    optimizer = {"name": VARIANTS[variant].optimizer, "lr": float(b["lr"])}
    if "momentum" in b:
        optimizer["momentum"] = float(b["momentum"])
    return dict(build=build_spec(topic, variant, weights_dir=str(topic.weights_dir)),
                train_images=d.train_images, train_labels=d.train_labels, eval_images=d.eval_images,
                epochs=int(b["epochs"]), batch_size=int(b["batch_size"]), optimizer=optimizer,
                train_transform=_transform(variant, "train", size),
                eval_transform=_transform(variant, "eval", size), seed=topic.seed,
                evidence=evidence_spec(topic, variant),
                **({"harness_eval": VARIANTS[variant].harness_eval} if VARIANTS[variant].harness_eval else {}))


def inspect(side: TopicProxy, topic: TopicContext, variant: str, *, config: Config | None = None,
            init: dict | None = None, probe: torch.Tensor | None = None) -> dict[str, Any]:
    """Build the model (optionally with other sizes) and run it on a seeded probe batch."""
    spec = build_spec(topic, variant, weights_dir=str(topic.weights_dir))
    if init is not None:
        spec["init"] = init
    if probe is None:
        probe = torch.randn(4, *VARIANTS[variant].probe_shape, generator=torch.Generator().manual_seed(topic.seed))
    return side.run("images.inspect", build=spec, probe=probe, seed=topic.seed,
                    evidence=evidence_spec(topic, variant))


def transformed(side: TopicProxy, topic: TopicContext, variant: str, which: str, *, config: Config | None = None,
                seed_shift: int = 0, n: int = 4, images: torch.Tensor | None = None) -> list[Any]:
    """The student's train or eval transform applied to `images` (by default the first `n` training images)."""
    size = int(budget(topic, variant).get("image_size", 0))
    if images is None:
        images = data(topic, variant).train_images[:n]
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


def batches(run: Any, topic: TopicContext, variant: str) -> Batches | checks.Outcome:
    """The fit's batch losses, computed here from the logits and targets the criterion saw (issue #11).

    A correct train_one_epoch calls the criterion once per batch: any other count fails here, before a report
    could keep millions of records.
    """
    b = budget(topic, variant)
    calls = int(b["epochs"]) * math.ceil(int(b["n_train"]) / int(b["batch_size"]))
    seen = run.get("criterion") if isinstance(run, dict) else None
    return criterion_batches(seen, calls=calls, rows=int(b["batch_size"]), what="train_one_epoch()")


def crossed(run: Any, stage: str) -> dict[str, Any] | None:
    """The "before" or "after" parameters of a run ({"named": {name: tensor}, "sample": tensor}), if well formed."""
    found = run.get(stage) if isinstance(run, dict) else None
    if not (isinstance(found, dict) and isinstance(found.get("named"), dict)):
        return None
    if type(found.get("sample", torch.empty(0))) is not torch.Tensor:
        return None
    return found if all(type(t) is torch.Tensor for t in found["named"].values()) else None


def update_gap(run: Any, ref: Any, param: str) -> float:
    """How far a parameter's update in training (after minus before, crossed as tensors) is from the reference's:
    |update - reference's| / |reference's|; inf where either is missing or the shapes differ."""
    updates = []
    for side in (run, ref):
        before, after = crossed(side, "before"), crossed(side, "after")
        b = before["named"].get(param) if before else None
        a = after["named"].get(param) if after else None
        if b is None or a is None or a.shape != b.shape:
            return math.inf
        updates.append((a.double() - b.double()).reshape(-1))
    if updates[0].shape != updates[1].shape:
        return math.inf
    scale = float(torch.linalg.vector_norm(updates[1]))
    return float(torch.linalg.vector_norm(updates[0] - updates[1])) / max(scale, 1e-12)


def curve(run: Any, topic: TopicContext, variant: str) -> list[float]:
    """The batch losses for a plot; none when the criterion calls are unfit."""
    found = batches(run, topic, variant)
    return found.losses if isinstance(found, Batches) else []


def loss_decreases(run: Any, topic: TopicContext, variant: str, *, ratio: float,
                   config: Config | None = None) -> checks.Outcome:
    """The batch losses (computed here) fall, and the trained model beats a constant guess on held-out images."""
    found = batches(run, topic, variant)
    if isinstance(found, checks.Outcome):
        return found
    outcome = hinted(checks.loss_decreases(found.losses, window=10, ratio=ratio), run)
    if not outcome.passed:
        return outcome
    beaten = learned(run, topic, variant)  # losses from the worker's criterion, checked on hidden labels
    return outcome if beaten.passed else beaten


def learned(run: dict[str, Any], topic: TopicContext, variant: str, *,
            config: Config | None = None) -> checks.Outcome:
    """The trained model beats always predicting the most common training class on held-out images."""
    d = data(topic, variant)
    majority = torch.full_like(d.eval_labels, int(torch.bincount(d.train_labels).argmax()))
    return checks.beats_baseline(best_accuracy(run, d.eval_labels), checks.accuracy(majority, d.eval_labels),
                                 higher_is_better=True,
                                 baseline_name="always predicting the most common class")


def quality(run: dict[str, Any], ref: dict[str, Any], topic: TopicContext, variant: str, *, check: str,
            config: Config | None = None) -> checks.Outcome:
    """Held-out accuracy against the reference's, both computed here from labels the worker never saw."""
    labels = data(topic, variant).eval_labels
    mine, theirs = best_accuracy(run, labels), best_accuracy(ref, labels)
    return checks.versus_reference(mine, theirs, metric=f"{variant} held-out accuracy", higher_is_better=True,
                                   ratio=topic.threshold(check))


def best_accuracy(run: dict[str, Any], labels: torch.Tensor) -> float:
    """The accuracy of the student's pipeline, or of the harness's evaluation transform where that is better.

    Both are predictions on held-out images scored here; the better one judges the model and its training, while
    the evaluation transform has a check of its own.
    """
    found = [checks.accuracy(run["predictions"], labels)]
    other = run.get("harness_predictions")
    if type(other) is torch.Tensor and other.shape == run["predictions"].shape:
        found.append(checks.accuracy(other, labels))
    return max(found)


def mean_loss_agrees(run: dict[str, Any], topic: TopicContext, variant: str) -> checks.Outcome:
    """Each epoch's returned loss is the per-sample mean of that epoch's batch losses, both measured here."""
    found = batches(run, topic, variant)
    if isinstance(found, checks.Outcome):
        return found
    b = budget(topic, variant)
    epochs, samples = int(b["epochs"]), int(b["n_train"])
    per_epoch = len(found.losses) // epochs
    for epoch in range(epochs):
        part = slice(epoch * per_epoch, (epoch + 1) * per_epoch)
        if sum(found.sizes[part]) != samples:  # the sizes are the loader's, which the grader built
            return checks.fail(f"epoch {epoch + 1}: the criterion saw {sum(found.sizes[part])} samples, the loader "
                               f"holds {samples}", hint=CRITERION_HINT)
        expected = sum(loss * size for loss, size in zip(found.losses[part], found.sizes[part], strict=True))
        expected /= samples
        returned = run["losses"][epoch]
        if not abs(returned - expected) <= 1e-3 * max(1.0, abs(expected)):
            return checks.fail(f"{_averaging(returned, found, part)}epoch {epoch + 1}: train_one_epoch() returned "
                               f"{returned:.4g}, the mean loss per sample was {expected:.4g}", measured=returned,
                               threshold=expected,
                               hint="sum loss.item() * batch size over the epoch, divide by the samples seen")
    return checks.ok(f"train_one_epoch() returns the mean loss per sample for each of {epochs} epochs")


def _averaging(returned: float, found: Batches, part: slice) -> str:
    """The usual wrong average, named first in the message where it is what train_one_epoch() returned."""
    losses = found.losses[part]
    if losses and abs(returned - losses[-1]) <= 1e-6 * max(1.0, abs(losses[-1])):
        return "the last batch's loss: "
    if losses and abs(returned - sum(losses)) <= 1e-6 * max(1.0, abs(sum(losses))):
        return "a sum, not a mean: "
    return ""


def diagnose(run: Any) -> str:
    """Name the likely bug behind a bad fit from what the worker observed during training (hints, never verdicts)."""
    if not isinstance(run, dict):
        return ""
    if isinstance(run.get("accumulated_steps"), int) and run["accumulated_steps"] > 0:
        return "gradients accumulated from one batch to the next: call optimizer.zero_grad() for every batch"
    if run.get("outputs_are_probabilities") is True:
        return "forward() returns probabilities: remove the softmax, nn.CrossEntropyLoss applies log-softmax itself"
    modes = run.get("train_modes")
    if isinstance(modes, list) and modes and not any(modes):
        return "train_one_epoch() never switched to training mode: call model.train() first"
    seen = run.get("criterion")
    calls = seen.get("calls") if isinstance(seen, dict) else None
    found = criterion_batches(seen, calls=calls, rows=1 << 30, what="") if type(calls) is int else None
    if isinstance(found, Batches) and len(found.losses) > 1 and max(found.losses) - min(found.losses) < 1e-9:
        return "the loss never changed: call optimizer.step() after loss.backward()"
    return ""


def hinted(outcome: checks.Outcome, run: Any) -> checks.Outcome:
    """A failed outcome carries the diagnosis of the run as its hint."""
    return checks.diagnosed(outcome, diagnose(run))


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
