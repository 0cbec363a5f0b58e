"""Topic 6's eval transform check (issue #12) without a worker: the docstring's pipeline, the mistakes it names."""

from __future__ import annotations

import pytest
import torch
from torchvision import transforms as T
from torchvision.transforms import v2

from graders.families import transfer

SIZE = 64  # grading.yaml's image_size for topic 6: Resize(73) -> CenterCrop(64)
EXPECTED, MISTAKES = transfer.eval_pipelines(SIZE)
PROBES = transfer.eval_probes(SIZE)


def _outputs(pipeline: transfer.Pipeline) -> list[list[torch.Tensor]]:
    return [transfer.apply(pipeline, probe) for probe in PROBES]


def test_probes_are_deterministic_and_not_square():
    assert [tuple(p.shape) for p in PROBES] == [(1, 128, 192, 3), (1, 192, 96, 3)]
    assert all(p.dtype == torch.uint8 for p in PROBES)
    assert all(torch.equal(a, b) for a, b in zip(PROBES, transfer.eval_probes(SIZE), strict=True))


def test_the_docstrings_pipeline_passes_with_a_gap_of_zero():
    for probe, got in zip(PROBES, _outputs(EXPECTED), strict=True):
        outcome = transfer.eval_transform_matches(got, probe, SIZE)
        assert outcome.passed, outcome
        assert outcome.measured == 0.0


def test_the_same_pipeline_in_transforms_v2_passes():
    same = transfer.Pipeline("v2", lambda: v2.Compose([
        v2.Resize(SIZE * 256 // 224), v2.CenterCrop(SIZE), v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(transfer.IMAGENET_MEAN, transfer.IMAGENET_STD)]))
    for probe, got in zip(PROBES, _outputs(same), strict=True):
        # tv_tensors.Image: plain tensors once they cross from the worker
        outcome = transfer.eval_transform_matches([t.as_subclass(torch.Tensor) for t in got], probe, SIZE)
        assert outcome.passed, outcome
        assert outcome.measured < transfer.EVAL_ATOL / 10


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.steps)
def test_each_mistake_fails_on_every_probe_and_is_named(mistake):
    for probe, got in zip(PROBES, _outputs(mistake), strict=True):
        outcome = transfer.eval_transform_matches(got, probe, SIZE)
        assert not outcome.passed
        assert f"it matches {mistake.steps}: {mistake.flaw}" in outcome.message
        assert outcome.hint == mistake.hint
        assert outcome.measured is None or outcome.measured > 1000 * transfer.EVAL_ATOL


def test_the_mistakes_are_told_apart_on_the_probes():
    """No two candidates give the same tensors on both probes, so the hint names one mistake."""
    outputs = [_outputs(p) for p in [EXPECTED, *MISTAKES]]
    for i, a in enumerate(outputs):
        for b in outputs[i + 1:]:
            assert any(transfer.largest_gap(x, y) > 1000 * transfer.EVAL_ATOL for x, y in zip(a, b, strict=True))


def test_an_unknown_difference_gets_the_general_hint():
    random_crop = transfer.Pipeline("random", lambda: T.Compose([
        T.RandomResizedCrop(SIZE), T.ToTensor(), T.Normalize(transfer.IMAGENET_MEAN, transfer.IMAGENET_STD)]))
    torch.manual_seed(0)
    outcome = transfer.eval_transform_matches(transfer.apply(random_crop, PROBES[0]), PROBES[0], SIZE)
    assert not outcome.passed
    assert "on a 128x192 (height x width) image differs from Resize(73) -> CenterCrop(64)" in outcome.message
    assert "nothing random" in outcome.hint


@pytest.mark.parametrize("got", [[], [None], [torch.zeros(3, SIZE, SIZE, dtype=torch.float64)],
                                 [torch.full((3, SIZE, SIZE), float("nan"))]])
def test_what_is_not_a_finite_float32_tensor_fails(got):
    assert not transfer.eval_transform_matches(got, PROBES[0], SIZE).passed


def test_a_wrong_count_of_tensors_fails():
    got = transfer.apply(EXPECTED, PROBES[0]) * 2
    assert not transfer.eval_transform_matches(got, PROBES[0], SIZE).passed
