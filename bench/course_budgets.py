"""Measure the training budgets of topics 2-6 on this machine: seconds and accuracy of the reference solutions.

Run: python bench/course_budgets.py [--threads 2] [--seed 0]. Data are the built-in stand-ins (or the real
sets when --data holds them); each row trains from a fixed seed, then evaluates on a held-out split.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders.data import toy, vision, weights  # noqa: E402
from graders.data.arrays import ArrayImageDataset  # noqa: E402

# topic -> budget; the figures the lead puts in grading.yaml
# topic -> budget; the figures the lead puts in grading.yaml. Topic 6 uses SGD: an Adam step over the
# 54M (AlexNet) or 120M (VGG16) trainable head parameters costs about twice as much.
BUDGETS = {
    "02 logistic": dict(n_train=100, n_eval=200, epochs=200, lr=0.05),
    "03 perceptron": dict(n_train=200, n_eval=200, epochs=300, lr=0.05),
    "04 dnn": dict(n_train=1000, n_eval=500, epochs=3, batch=50, opt="adam", lr=2e-3),
    "05 lenet": dict(n_train=1000, n_eval=500, epochs=2, batch=50, opt="adam", lr=1e-3),
    "05 cifarnet": dict(n_train=1000, n_eval=500, epochs=3, batch=50, opt="adam", lr=1e-3),
    "06 alexnet": dict(n_train=32, n_eval=32, epochs=1, batch=16, opt="sgd", lr=1e-3, size=64),
    "06 vgg16": dict(n_train=16, n_eval=16, epochs=1, batch=8, opt="sgd", lr=1e-3, size=32),
}


def solution(folder: str, module: str):
    """Import solutions/<folder>/<module>.py (folder names start with digits, so not as a package)."""
    path = ROOT / "solutions" / folder / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{module}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def toy_topic(mod, model_cls, make, b, seed):
    x, y = make(b["n_train"], seed=seed)
    ex, ey = make(b["n_eval"], seed=seed + 1000)
    torch.manual_seed(seed)
    model = model_cls()
    before = (mod.predict(model, ex) == ey).float().mean().item()
    losses = mod.train(model, x, y, b["epochs"], b["lr"])
    after = (mod.predict(model, ex) == ey).float().mean().item()
    return before, after, losses[-1]


def loaders(train_set, eval_set, b, seed, train_tf, eval_tf):
    g = torch.Generator().manual_seed(seed)
    train = DataLoader(ArrayImageDataset(train_set.images, train_set.labels, train_tf), batch_size=b["batch"],
                       shuffle=True, generator=g)
    evals = DataLoader(ArrayImageDataset(eval_set.images, eval_set.labels, eval_tf), batch_size=100)
    return train, evals


def image_topic(mod, build, data, b, seed, tfs, params=None):
    """Train `build()` for the budget with Adam; returns (untrained acc, trained acc, last train loss)."""
    train, evals = loaders(*data, b, seed, *tfs)
    torch.manual_seed(seed)
    model = build()
    criterion = nn.CrossEntropyLoss()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if b["opt"] == "adam":
        optimizer = torch.optim.Adam(trainable, lr=b["lr"])
    else:
        optimizer = torch.optim.SGD(trainable, lr=b["lr"], momentum=0.9)
    before = mod.evaluate(model, evals, criterion, "cpu")[1]
    for _ in range(b["epochs"]):
        loss = mod.train_one_epoch(model, train, criterion, optimizer, "cpu")
    after = mod.evaluate(model, evals, criterion, "cpu")[1]
    return before, after, loss


def run(name, data_root, seed):
    """Load the data and build the pieces of one topic, then train and evaluate; times start after loading."""
    b = BUDGETS[name]
    t0 = time.perf_counter()
    if name.startswith("02"):
        mod = solution("02_logistic_regression", "logistic_regression")
        return b, 0.0, toy_topic(mod, mod.LogisticRegression, toy.blobs, b, seed), t0
    if name.startswith("03"):
        mod = solution("03_perceptron", "perceptron")
        return b, 0.0, toy_topic(mod, mod.ShallowNetwork, toy.circles, b, seed), t0
    if name in ("04 dnn", "05 lenet"):
        mnist = solution("04_deep_neural_network", "deep_neural_network")
        data = (vision.load_mnist(data_root, train=True, limit=b["n_train"]),
                vision.load_mnist(data_root, train=False, limit=b["n_eval"]))
        mod, build = (mnist, mnist.Classifier) if name == "04 dnn" else (mnist, solution("05_cnn", "cnn").LeNet)
        tfs = (mnist.transforms(), mnist.transforms())
    elif name == "05 cifarnet":
        mod = solution("05_cnn", "cnn")
        data = (vision.load_cifar10(data_root, train=True, limit=b["n_train"]),
                vision.load_cifar10(data_root, train=False, limit=b["n_eval"]))
        build, tfs = mod.CifarNet, (mod.train_transforms(), mod.test_transforms())
    else:
        mod = solution("06_transfer_learning", "transfer_learning")
        arch = name.split()[1]
        state, _ = weights.load_pretrained(arch, data_root / "weights")
        state = state if state is not None else weights.standin_state_dict(arch, seed=seed)
        data = (vision.load_two_class(data_root, train=True, limit=b["n_train"], size=b["size"]),
                vision.load_two_class(data_root, train=False, limit=b["n_eval"], size=b["size"]))
        builder = getattr(mod, f"build_{arch}")
        build = lambda: builder(num_classes=2, weights=state)  # noqa: E731
        tfs = (mod.transforms(True, size=b["size"]), mod.transforms(False, size=b["size"]))
    t_data = time.perf_counter() - t0
    t1 = time.perf_counter()
    return b, t_data, image_topic(mod, build, data, b, seed, tfs), t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--only", nargs="*", default=list(BUDGETS))
    parser.add_argument("--repeat", type=int, default=3, help="report the fastest of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    toy.blobs(2, seed=0)  # imports scikit-learn now, so that its import time is not counted as topic 2's
    print(f"{'topic':<14} {'data s':>6} {'train+eval s':>12} {'cpu s':>6} {'untrained':>9} {'trained':>7} "
          f"{'last loss':>9}  budget")
    for name in args.only:
        walls, cpus = [], []
        for _ in range(args.repeat):  # the fastest run is the one least disturbed by other processes
            cpu = time.process_time()
            b, t_data, (before, after, loss), t1 = run(name, args.data, args.seed)
            walls.append((time.perf_counter() - t1, t_data))
            cpus.append(time.process_time() - cpu)
        seconds, t_data = min(walls)
        budget = ", ".join(f"{k}={v}" for k, v in b.items())
        figures = f"{t_data:6.2f} {seconds:12.2f} {min(cpus):6.2f} {before:9.3f} {after:7.3f} {loss:9.4f}"
        print(f"{name:<14} {figures}  {budget}", flush=True)


if __name__ == "__main__":
    main()
