"""Topic 6 (transfer learning) graded end to end: the reference, the stub, the buggy examples, the weights used."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from graders.config import load_config
from graders.course import images
from graders.grading import grade_submission
from graders.plugin import TopicContext
from graders.runner import Reference

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC = "transfer_learning"

# Each buggy example and exactly the checks it must fail (matches_reference: the oracle sees every one).
EXPECTED_FAILURES = {
    "transfer_not_frozen": {"alexnet_structure", "vgg16_structure", "alexnet_head_only_trains",
                            "vgg16_head_only_trains", "matches_reference"},
    "transfer_head_as_fc": {"alexnet_structure", "vgg16_structure", "matches_reference"},
    "transfer_weights_not_loaded": {"weights_loaded", "matches_reference"},
    "transfer_no_normalize": {"transforms", "matches_reference"},
    "transfer_no_zero_grad": {"zero_grad", "matches_reference"},
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """The course's configuration with an empty weights folder: stand-in weights on every machine."""
    return dataclasses.replace(CONFIG, weights_dir=str(tmp_path_factory.mktemp("no-weights")))


@pytest.fixture(scope="module")
def reference(config):
    ref = Reference(config)
    yield ref
    ref.close()


_GRADED: dict[str, object] = {}


def grade(path, config, reference):
    """Each example is graded once per module; several tests read the same result."""
    if str(path) not in _GRADED:
        _GRADED[str(path)] = grade_submission(path, config=config, hidden=True, topics=[TOPIC], reference=reference)
    return _GRADED[str(path)]


def failed(result) -> set[str]:
    return {c.name for c in result.checks() if not c.passed}


def test_reference_solution_gets_full_marks_on_stand_in_weights(config, reference):
    result = grade(ROOT / "solutions", config, reference)
    assert failed(result) == set()
    assert result.points == result.max_points == sum(c.points for c in CONFIG.topics[TOPIC].checks.values())
    sources = result.topics[0].data_sources
    assert "alexnet: seeded stand-in weights (no checkpoint)" in sources
    assert "vgg16: seeded stand-in weights (no checkpoint)" in sources


def test_untouched_stub_scores_zero_with_not_implemented(config, reference):
    result = grade(ROOT / "assignments", config, reference)
    assert result.points == 0
    assert all("not implemented" in c.message for c in result.checks())


@pytest.mark.parametrize("example", sorted(EXPECTED_FAILURES))
def test_each_buggy_example_fails_exactly_its_checks(config, reference, example):
    result = grade(ROOT / "examples" / example, config, reference)
    assert failed(result) == EXPECTED_FAILURES[example]
    for check in result.checks():
        if not check.passed:
            assert check.message and check.hint, check


def test_a_missing_zero_grad_is_named_in_the_hints(config, reference):
    result = grade(ROOT / "examples" / "transfer_no_zero_grad", config, reference)
    assert all("zero_grad" in c.hint for c in result.checks() if not c.passed)


@pytest.mark.parametrize("folder", ["hub/checkpoints", "."])
def test_build_spec_uses_a_cached_checkpoint_by_its_torchvision_name(tmp_path, folder):
    # An empty file with the right name: build_spec only locates it; the worker checks its sha256.
    checkpoint = tmp_path / folder / "alexnet-owt-7be5be79.pth"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.touch()
    topic = TopicContext(TOPIC, CONFIG.topics[TOPIC], seed=3, eval_seed=0)
    alexnet = images.build_spec(topic, "alexnet", weights_dir=str(tmp_path))
    vgg16 = images.build_spec(topic, "vgg16", weights_dir=str(tmp_path))
    assert alexnet["weights"] == {"file": str(checkpoint.resolve())}
    assert images.weights_source(alexnet) == f"ImageNet weights: {checkpoint.resolve()}"
    assert vgg16["weights"] == {"arch": "vgg16", "seed": 3}
