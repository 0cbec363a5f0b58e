"""Side by side with nbgrader: one solved topic-5 notebook, autograded by nbgrader and graded by `grade submission`.

Run: python bench/vs_nbgrader.py [--rounds 3]

The notebook is an nbgrader-native assignment, as a course without this harness would write it: the
solution's cells, then autograded test cells written as plain asserts that train LeNet and CifarNet
briefly on the same data and budget as grading.yaml's topic 5 (shapes, parameter counts, transforms,
loss decrease, accuracy) and call nothing of ours. `nbgrader generate_assignment` makes the student
version once; the student's copy is that release with the solution filled in. Each round times, one
after the other, `nbgrader autograde` (which re-executes the notebook) and `grade submission` of the
very same file, public checks only and with the hidden ones. Peak memory is the largest sum of PSS over
the process tree (shared torch pages counted once). The reference is trained once before timing.
`grade check` (the public checks, as a student runs them) is timed with its grading server already started, as
from a student's second check on; the server is no descendant, so its memory is left out (as nbgrader's
Jupyter server would be).
Target (issue #14): ours at least 3x faster, public and hidden.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _proc import descendants, pss_mib  # bench/, this script's folder

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET = 3.0
SETUP = '''import torch
from torch.utils.data import DataLoader, Dataset
from PIL import Image
from torchvision import transforms as T

torch.manual_seed(0)
data = torch.load({data!r})


class Images(Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i].numpy())), int(self.labels[i])


def fit(model, train, test, epochs, batch_size, lr):
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=g)
    criterion, optimizer = torch.nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=lr)
    losses = [train_one_epoch(model, loader, criterion, optimizer, "cpu") for _ in range(epochs)]
    return losses, evaluate(model, DataLoader(test, batch_size=batch_size), criterion, "cpu")[1]
'''
TESTS = {
    "test-lenet-shape": '''net = LeNet()
assert net(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
assert sum(p.numel() for p in net.parameters()) == 431_080''',
    "test-cifarnet-shape": '''net = CifarNet()
assert net(torch.zeros(4, 3, 32, 32)).shape == (4, 10)
assert sum(p.numel() for p in net.parameters()) == 541_094''',
    "test-transforms": '''image = Image.fromarray(data["cifar_test"][0].numpy())
x = test_transforms()(image)
assert x.shape == (3, 32, 32) and x.min() >= -1 and x.max() <= 1
assert torch.equal(x, test_transforms()(image))
assert train_transforms()(image).shape == (3, 32, 32)''',
    "test-lenet-trains": '''mnist = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
losses, accuracy = fit(LeNet(), Images(data["mnist_train"], data["mnist_train_labels"], mnist),
                       Images(data["mnist_test"], data["mnist_test_labels"], mnist), {lenet})
assert losses[-1] < losses[0], losses
assert accuracy > 0.5, accuracy''',
    "test-cifarnet-trains": '''train = Images(data["cifar_train"], data["cifar_train_labels"], train_transforms())
test = Images(data["cifar_test"], data["cifar_test_labels"], test_transforms())
losses, accuracy = fit(CifarNet(), train, test, {cifarnet})
assert losses[-1] < losses[0], losses
assert accuracy > 0.15, accuracy''',
}


def budgets() -> dict[str, dict[str, float]]:
    """grading.yaml's topic-5 budget per model (lenet, cifarnet): the topic's, with the model's overrides."""
    from graders.config import load_config

    topic = load_config(ROOT / "grading.yaml").topic("cnn")
    return {model: {**topic.budget, **override} for model, override in topic.variants.items()}


def fit_arguments() -> dict[str, str]:
    """Each model's budget as keyword arguments of the notebook's fit()."""
    return {model: f"epochs={b['epochs']:g}, batch_size={b['batch_size']:g}, lr={b['lr']:g}"
            for model, b in budgets().items()}


def write_data(path: Path) -> None:
    """The grading data at the budget's sizes (real files when present, else the built-in stand-ins), as tensors."""
    import torch

    from graders.config import load_config
    from graders.data.vision import load_cifar10, load_mnist

    config, sizes = load_config(ROOT / "grading.yaml"), budgets()
    data = {}
    for name, load, model in (("mnist", load_mnist, "lenet"), ("cifar", load_cifar10, "cifarnet")):
        for split, train, n in (("train", True, sizes[model]["n_train"]), ("test", False, sizes[model]["n_eval"])):
            images = load(config.resolve(config.data_dir), train=train, limit=int(n))
            data[f"{name}_{split}"], data[f"{name}_{split}_labels"] = images.images, images.labels
    torch.save(data, path)


def solution_cells() -> list[tuple[str, str]]:
    """The solution module as (grade id, source) cells: the imports, then one cell per definition."""
    source = (ROOT / "solutions" / "05_cnn" / "cnn.py").read_text()
    tree, lines = ast.parse(source), source.splitlines()
    cells, imports = [], []
    ends = [node.lineno - 1 for node in tree.body[1:]] + [len(lines)]
    for node, end in zip(tree.body, ends, strict=True):
        # up to the next statement: a definition's trailing "### END SOLUTION" comment is not in the AST
        text = "\n".join(lines[node.lineno - 1 : end]).rstrip()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(text)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            cells.append((f"answer-{node.name}", text))
    return [("imports", "\n".join(imports)), *cells]


def build_course(folder: Path) -> Path:
    """An nbgrader course with the assignment `cnn`; returns the student's solved submission."""
    import nbformat

    def cell(grade_id: str, text: str, **meta: object) -> nbformat.NotebookNode:
        nb_meta = {"grade_id": grade_id, "grade": False, "solution": False, "locked": False,
                   "schema_version": 3, **meta}
        return nbformat.v4.new_code_cell(text, metadata={"nbgrader": nb_meta})

    write_data(folder / "data.pt")
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell(g, t, solution=g != "imports") for g, t in solution_cells()]
    nb.cells.append(cell("setup", SETUP.format(data=str(folder / "data.pt")), locked=True))
    values = fit_arguments()
    for grade_id, text in TESTS.items():
        nb.cells.append(cell(grade_id, text.format(**values), grade=True, locked=True, points=1))
    (folder / "source" / "cnn").mkdir(parents=True)
    nbformat.write(nb, folder / "source" / "cnn" / "cnn.ipynb")
    (folder / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(folder)!r}\n")
    run([BIN / "nbgrader", "generate_assignment", "cnn", "--force"], folder)
    released = nbformat.read(folder / "release" / "cnn" / "cnn.ipynb", as_version=4)
    solved = dict(solution_cells())
    for c in released.cells:  # the student fills in every answer cell
        grade_id = c.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in solved:
            c.source = "\n".join(line for line in solved[grade_id].splitlines()
                                 if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    submission = folder / "submitted" / "alice" / "cnn" / "cnn.ipynb"
    submission.parent.mkdir(parents=True)
    nbformat.write(released, submission)
    return submission


def run(command: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # `grade submission` exits 1 when a check fails: reported, not fatal
        sys.exit(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def timed(command: list, cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak PSS (MiB, summed over the process tree) of one command."""
    peak = PssPeak()
    with peak:
        start = time.perf_counter()
        done = run(command, cwd)
        wall = time.perf_counter() - start
    return wall, peak.mib, done


class PssPeak:
    """Largest sum of PSS over this process's descendants, sampled every 0.2 s."""

    def __init__(self) -> None:
        self.mib, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            self.mib = max(self.mib, sum(pss_mib(pid) for pid, *_ in descendants(os.getpid())))


def nbgrader_score(folder: Path) -> str:
    """alice's total in the gradebook nbgrader's autograde just wrote, and the test cells that failed."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook("cnn", "cnn", "alice")
        failed = [g.name for g in notebook.grades if g.score < g.max_score]
        return f"{notebook.score:g}/{notebook.max_score:g}" + (f" (failed: {', '.join(failed)})" if failed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="vs-nbgrader-") as tmp:
        folder = Path(tmp)
        submission = build_course(folder)
        ours = [BIN / "grade", "submission", submission, "--topic", "cnn", "--config", ROOT / "grading.yaml",
                "--out", folder / "reports"]
        served = [BIN / "grade", "check", "cnn", "--submission", submission, "--config", ROOT / "grading.yaml"]
        tools = {"nbgrader autograde": [BIN / "nbgrader", "autograde", "cnn", "--force"],
                 "grade submission": ours, "grade submission --hidden": [*ours, "--hidden"],
                 "grade check (server warm)": served}
        run(tools["grade submission --hidden"], ROOT)  # trains and caches the reference: not timed
        run(served, ROOT)  # starts the student's grading server: not timed
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
        for round_ in range(args.rounds):
            for name, command in tools.items():
                wall, mib, done = timed(command, folder)
                figures[name].append((wall, mib))
                print(f"round {round_ + 1} {name}: {wall:.1f} s, {mib:.0f} MiB PSS", flush=True)
        scores = {"nbgrader autograde": nbgrader_score(folder),
                  "grade submission": _our_score(folder / "reports")}
        report(figures, scores)
        run([BIN / "grade", "server", "stop"], ROOT)


def _our_score(reports: Path) -> str:
    data = json.loads(next(reports.rglob("result.json")).read_text())
    return f"{data['points']:g}/{data['max_points']:g}"


def report(figures: dict[str, list[tuple[float, float]]], scores: dict[str, str]) -> None:
    base = statistics.median(w for w, _ in figures["nbgrader autograde"])
    print(f"\n{'tool':28} {'median wall s':>14} {'peak PSS MiB':>13} {'nbgrader / ours':>16}")
    for name, runs in figures.items():
        wall = statistics.median(w for w, _ in runs)
        ratio = base / wall
        met = "met" if ratio >= TARGET else "NOT met"
        verdict = "" if name.startswith("nbgrader") else f"  (target >= {TARGET:g}x: {met})"
        print(f"{name:28} {wall:14.1f} {max(m for _, m in runs):13.0f} {ratio:15.1f}x{verdict}")
    print("scores: " + ", ".join(f"{k} {v}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
