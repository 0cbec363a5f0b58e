"""The oracles of topics 4-6 (graders/families/images_oracle.py, issues #6 and #11): the student's train_one_epoch on
the harness's model (drawn from the secret seed) against the reference's, evaluate() against figures computed in the
grading process; the worker's hooks only name the bug."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest
import torch

from graders.config import load_config
from graders.families import images_oracle
from graders.grading.context import TopicContext
from graders.grading.reference import Reference
from graders.grading.session import GradingOptions, grade_submission
from graders.worker.tasks import images as tasks

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC = dataclasses.replace(TopicContext.of(CONFIG, "deep_neural_network"), seed=0)
FOLDER, MODULE = "04_deep_neural_network", "deep_neural_network.py"
SOLUTION = (ROOT / "solutions" / FOLDER / MODULE).read_text(encoding="utf-8")
ZERO_GRAD = "        optimizer.zero_grad()\n"
STEP = "        loss.backward()\n        optimizer.step()\n"

# What a student may write instead of the reference's lines, and still reset gradients and train in train mode.
HONEST = {
    "reference": ("", ""),
    "model_zero_grad": ("optimizer.zero_grad()", "model.zero_grad()"),
    "zero_grad_to_zeros": ("optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=False)"),
    "zero_grad_after_step": (ZERO_GRAD + "        loss = criterion(model(inputs), labels)\n" + STEP,
                             "        loss = criterion(model(inputs), labels)\n" + STEP + ZERO_GRAD),
    "enumerate_and_len": ("    for inputs, labels in loader:", "    for _, (inputs, labels) in enumerate(loader):"),
}
NO_ZERO_GRAD, NO_TRAIN = (ZERO_GRAD, ""), ("    model.train()\n", "")
SETUPS = [{"width": 24, "dropout": 0.3, "lr": 0.03}, {"width": 48, "dropout": 0.6, "lr": 0.08}]

# The causes the worker's observations name first in a message (the advice after ": " becomes the hint).
SEEN_ZERO_GRAD = images_oracle.ZERO_GRAD_SEEN.split(": ")[0]
SEEN_EVAL_MODE = images_oracle.EVAL_MODE_SEEN.split(": ")[0]


def edited(old: str, new: str, source: str = SOLUTION) -> str:
    assert old in source, old
    return source.replace(old, new) if old else source


def run(source: str, *, dropout: bool, setup: dict) -> dict:
    """The oracle task in this process on random images: the same code the worker runs."""
    module = types.ModuleType("student")
    exec(compile(source, "student.py", "exec"), module.__dict__)  # the course's own solution
    batches = 1 if dropout else images_oracle.ORACLE_BATCHES
    gen = torch.Generator().manual_seed(1)
    pictures = torch.randint(0, 256, (16 * batches, 28, 28), dtype=torch.uint8, generator=gen)  # (N, H, W)
    labels = torch.randint(0, 10, (16 * batches,), generator=gen)
    return tasks.oracle(module, device="cpu", images=pictures, labels=labels, classes=10, batches=batches,
                        width=setup["width"], dropout=setup["dropout"] if dropout else 0.0, lr=setup["lr"], seed=0)


@pytest.fixture(scope="module", params=range(len(SETUPS)))
def setup(request) -> dict:
    return SETUPS[request.param]


@pytest.fixture(scope="module")
def refs(setup) -> dict[bool, dict]:
    return {dropout: run(SOLUTION, dropout=dropout, setup=setup) for dropout in (False, True)}


@pytest.mark.parametrize("variant", sorted(HONEST))
def test_honest_variants_match_the_reference_exactly(refs, setup, variant):
    source = edited(*HONEST[variant])
    zero_grad = images_oracle.resets_gradients(run(source, dropout=False, setup=setup), refs[False])
    train_mode = images_oracle.trains_in_train_mode(run(source, dropout=True, setup=setup), refs[True])
    assert zero_grad.passed and zero_grad.measured == 0, zero_grad
    assert train_mode.passed and train_mode.measured == 0, train_mode


def test_a_missing_zero_grad_shows_from_batch_3_and_costs_zero_grad_only(refs, setup):
    source = edited(*NO_ZERO_GRAD)
    zero_grad = images_oracle.resets_gradients(run(source, dropout=False, setup=setup), refs[False])
    assert not zero_grad.passed and "batch 3's loss" in zero_grad.message, zero_grad
    assert zero_grad.measured > 1e4 * images_oracle.ORACLE_RTOL
    assert zero_grad.message.startswith(SEEN_ZERO_GRAD)
    assert images_oracle.trains_in_train_mode(run(source, dropout=True, setup=setup), refs[True]).passed


def test_a_missing_model_train_shows_at_batch_1_and_costs_train_mode_only(refs, setup):
    source = edited(*NO_TRAIN)
    train_mode = images_oracle.trains_in_train_mode(run(source, dropout=True, setup=setup), refs[True])
    assert not train_mode.passed and train_mode.measured > 1e4 * images_oracle.ORACLE_RTOL, train_mode
    assert train_mode.message.startswith(SEEN_EVAL_MODE)
    assert images_oracle.resets_gradients(run(source, dropout=False, setup=setup), refs[False]).passed


def test_an_update_that_differs_alone_is_named(refs):
    after = refs[False]["after"]
    moved = {**after["named"], "hidden.weight": after["named"]["hidden.weight"] + 1.0}
    outcome = images_oracle.resets_gradients({**refs[False], "after": {**after, "named": moved}}, refs[False])
    assert not outcome.passed and "update to the weights differs" in outcome.message


def test_the_setup_is_a_secret_draw():
    topics = [dataclasses.replace(TOPIC, eval_seed=s) for s in range(40)]
    drawn = {tuple(images_oracle.setup(t).values()) for t in topics}
    assert len(drawn) > 10  # widths, dropouts and learning rates vary with the secret seed
    assert images_oracle.setup(topics[3]) == images_oracle.setup(topics[3])


@pytest.mark.parametrize("honest", [True, False])
def test_evaluate_is_judged_on_figures_computed_in_the_grading_process(honest):
    module = types.ModuleType("student")
    source = SOLUTION if honest else SOLUTION.replace("    model.eval()\n    total_loss", "    total_loss")
    exec(compile(source, "student.py", "exec"), module.__dict__)
    topic = dataclasses.replace(TOPIC, eval_seed=7)
    images, labels, classes, size = images_oracle._evaluate_setup(topic)
    drawn = images_oracle.setup(topic)
    found = tasks.evaluate(module, device="cpu", images=images, labels=labels, classes=classes, width=drawn["width"],
                           dropout=drawn["dropout"], batch_size=size, seed=topic.seed)
    outcomes = images_oracle.evaluate_agrees(found, images_oracle.evaluate_expected(topic, config=CONFIG))
    assert len(images) % size  # the last batch is smaller: a mean of batch means would show
    assert all(o.passed for o in outcomes) is honest, outcomes


# -- forging the worker's hooks earns nothing: graded end to end, as a submission ---------------------------
# The student's module patches what the hooks rely on (torch.equal) and replaces the hooks themselves, in the
# module the task reads them from: the observations say all is well, the data do not.
BLIND_GRAD_WATCH = '''
import graders.worker.tasks.hooks
import graders.worker.tasks.images

torch.equal = lambda a, b: True  # GradWatch now sees a fresh gradient at every step


class _Blind(graders.worker.tasks.hooks.GradWatch):
    @property
    def accumulated(self):
        return 0

    @accumulated.setter
    def accumulated(self, value):
        pass


graders.worker.tasks.hooks.GradWatch = graders.worker.tasks.images.GradWatch = _Blind
'''
ALWAYS_TRAINING = '''
import graders.worker.tasks.hooks
import graders.worker.tasks.images


class _Always(graders.worker.tasks.hooks.ModeLog):
    def take(self):
        return [True for _ in super().take()]


graders.worker.tasks.hooks.ModeLog = graders.worker.tasks.images.ModeLog = _Always
'''


@pytest.fixture(scope="module")
def reference():
    ref = Reference(CONFIG)
    yield ref
    ref.close()


def grade(tmp_path: Path, source: str, reference: Reference) -> dict:
    (tmp_path / FOLDER).mkdir()
    (tmp_path / FOLDER / MODULE).write_text(source, encoding="utf-8")
    result = grade_submission(tmp_path, config=CONFIG, hidden=True, topics=["deep_neural_network"],
                              options=GradingOptions(reference=reference))
    return {c.name: c for c in result.checks()}


@pytest.mark.slow
def test_forged_gradient_observations_do_not_pass_zero_grad(tmp_path, reference):
    checks = grade(tmp_path, edited(*NO_ZERO_GRAD) + BLIND_GRAD_WATCH, reference)
    assert not checks["zero_grad"].passed and "batch 3's loss" in checks["zero_grad"].message
    # The forgery worked in the worker (the hint no longer names the bug), and earned nothing.
    assert not checks["zero_grad"].message.startswith(SEEN_ZERO_GRAD) and "zero_grad" in checks["zero_grad"].hint
    assert checks["train_mode"].passed


@pytest.mark.slow
def test_forged_mode_observations_do_not_pass_train_mode(tmp_path, reference):
    checks = grade(tmp_path, edited(*NO_TRAIN) + ALWAYS_TRAINING, reference)
    assert not checks["train_mode"].passed and "batch 1's loss" in checks["train_mode"].message
    assert not checks["train_mode"].message.startswith(SEEN_EVAL_MODE)
    assert "model.train()" in checks["train_mode"].hint
    assert checks["zero_grad"].passed
