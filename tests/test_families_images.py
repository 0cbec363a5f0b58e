"""What the grading process measures itself for topics 4-6 (graders/families/images.py, issue #11): the held-out order,
batch losses from the criterion's logits and targets, the mean loss per sample, parameters compared as tensors."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from graders.config import load_config
from graders.families import criterion, images
from graders.grading.context import TopicContext
from graders.worker.tasks.hooks import GradWatch
from graders.worker.tasks.images import RecordingLoss

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC = dataclasses.replace(TopicContext.of(CONFIG, "deep_neural_network"), seed=0, eval_seed=12345)
EPOCHS, BATCHES, SIZE = 3, 20, 50  # topic 4's budget: 1000 images in batches of 50, 3 epochs


def recorded(calls: int = EPOCHS * BATCHES, rows: int = SIZE, limit: int | None = None) -> dict:
    """What the worker's criterion keeps of `calls` honest calls on random logits."""
    criterion = RecordingLoss(calls=limit or EPOCHS * BATCHES, rows=SIZE)
    gen = torch.Generator().manual_seed(0)
    for _ in range(calls):
        criterion(torch.randn(rows, 10, generator=gen), torch.randint(0, 10, (rows,), generator=gen))
    return criterion.take()


def test_held_out_items_come_in_an_order_drawn_from_the_secret_seed():
    d = images.data(TOPIC, "classifier")
    positions = torch.arange(len(d.eval_labels)) % 10
    assert float((positions == d.eval_labels).double().mean()) < 0.3  # "item i is digit i % 10" guesses no better
    other = dataclasses.replace(TOPIC, eval_seed=54321)
    assert not torch.equal(TOPIC.held_out_order(500), other.held_out_order(500))
    assert torch.equal(TOPIC.held_out_order(500), TOPIC.held_out_order(500))


def test_batch_losses_are_computed_here_from_what_the_criterion_saw():
    seen = recorded()
    found = images.batches({"criterion": seen}, TOPIC, "classifier")
    assert isinstance(found, criterion.Batches) and found.sizes == [SIZE] * EPOCHS * BATCHES
    first = F.cross_entropy(seen["logits"][0].double(), seen["targets"][0])
    assert found.losses[0] == pytest.approx(float(first), rel=1e-12)


def test_batch_losses_taken_at_once_equal_cross_entropy_per_batch_bit_for_bit():
    # Issue #14: one log_softmax over every row instead of one per batch; the figures must not move at all.
    gen = torch.Generator().manual_seed(1)
    sizes = [50] * 30 + [7]  # a smaller last batch
    seen = {"logits": [torch.randn(n, 10, generator=gen) * 4 for n in sizes],
            "targets": [torch.randint(0, 10, (n,), generator=gen) for n in sizes], "calls": len(sizes)}
    found = criterion.criterion_batches(seen, calls=len(sizes), rows=50, what="train_one_epoch()")
    assert isinstance(found, criterion.Batches)
    assert found.losses == [float(F.cross_entropy(logits.double(), targets))
                            for logits, targets in zip(seen["logits"], seen["targets"], strict=True)]


@pytest.mark.parametrize(("zeroing", "accumulated"), [("none", 0), ("zeros", 0), ("missing", 3), ("every other", 2)])
def test_the_gradient_watcher_counts_the_steps_that_added_to_an_old_gradient(zeroing, accumulated):
    # Without a copy of the fresh gradient where there was no old one (issue #14), the counts are as before.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt, watch = torch.optim.SGD(net.parameters(), lr=0.1), GradWatch(net)
    for step in range(4):
        if zeroing == "none" or (zeroing == "every other" and step % 2 == 0):
            opt.zero_grad()
        elif zeroing == "zeros":
            opt.zero_grad(set_to_none=False)
        net(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    assert (watch.steps, watch.accumulated) == (4, accumulated)


@pytest.mark.parametrize(("calls", "why"), [(59, "59 times for 60 batches"), (61, "61 times for 60 batches")])
def test_any_other_number_of_criterion_calls_fails_with_the_count(calls, why):
    found = images.batches({"criterion": recorded(calls)}, TOPIC, "classifier")
    assert not isinstance(found, criterion.Batches)
    assert not found.passed and why in found.message and "once per batch" in found.hint


def test_a_flood_of_calls_keeps_only_the_budget():
    seen = recorded(calls=5000, rows=1)
    assert seen["calls"] == 5000 and len(seen["logits"]) == EPOCHS * BATCHES  # the rest is counted, not kept


@pytest.mark.parametrize("forged", ["rows", "dtype", "labels", "type"])
def test_malformed_records_fail(forged):
    seen = recorded()
    if forged == "rows":
        seen["logits"][3] = torch.randn(SIZE + 1, 10)
        seen["targets"][3] = torch.zeros(SIZE + 1, dtype=torch.int64)
    elif forged == "dtype":
        seen["targets"][3] = seen["targets"][3].float()
    elif forged == "labels":
        seen["targets"][3][0] = 10  # no such class
    else:
        seen["logits"][3] = seen["logits"][3].tolist()
    found = images.batches({"criterion": seen}, TOPIC, "classifier")
    assert not isinstance(found, criterion.Batches) and not found.passed


def _run(seen: dict, returned: list[float]) -> dict:
    return {"criterion": seen, "losses": returned}


def test_mean_loss_is_the_per_sample_mean_measured_here():
    seen = recorded()
    found = images.batches({"criterion": seen}, TOPIC, "classifier")
    per_epoch = [sum(found.losses[e * BATCHES:(e + 1) * BATCHES]) / BATCHES for e in range(EPOCHS)]
    assert images.mean_loss_agrees(_run(seen, per_epoch), TOPIC, "classifier").passed
    last = [found.losses[(e + 1) * BATCHES - 1] for e in range(EPOCHS)]
    outcome = images.mean_loss_agrees(_run(seen, last), TOPIC, "classifier")
    assert not outcome.passed and "epoch 1" in outcome.message


def test_records_that_do_not_add_up_to_the_epoch_fail_mean_loss():
    seen = recorded()
    for i in range(BATCHES - 1):  # the first epoch's batches shrunk to one row: the last would weigh most
        seen["logits"][i], seen["targets"][i] = seen["logits"][i][:1], seen["targets"][i][:1]
    returned = [math.log(10)] * EPOCHS
    outcome = images.mean_loss_agrees(_run(seen, returned), TOPIC, "classifier")
    assert not outcome.passed and "samples" in outcome.message, outcome


def test_an_update_gap_compares_tensors_that_crossed():
    before = {"named": {"w": torch.zeros(3, 4)}, "sample": torch.empty(0)}
    ref = {"before": before, "after": {"named": {"w": torch.ones(3, 4)}, "sample": torch.empty(0)}}
    same = {"before": before, "after": {"named": {"w": torch.ones(3, 4)}, "sample": torch.empty(0)}}
    half = {"before": before, "after": {"named": {"w": torch.full((3, 4), 0.5)}, "sample": torch.empty(0)}}
    assert images.update_gap(same, ref, "w") == 0
    assert images.update_gap(half, ref, "w") == pytest.approx(0.5)
    assert images.update_gap({"before": before, "after": {"named": {}}}, ref, "w") == math.inf
