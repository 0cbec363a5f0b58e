"""Topic 6 (transfer learning) graded end to end: the reference, the stub, the buggy examples, the weights used."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from graders.config import load_config
from graders.families import images
from graders.grading.context import TopicContext
from graders.grading.reference import Reference
from graders.grading.session import GradingOptions, grade_submission

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC = "transfer_learning"

# Each buggy example and exactly the checks it must fail (matches_reference: the oracle sees every one).
# Each buggy example, exactly the checks it must fail, and the first words of each failure's message, which name
# its actual cause (issue #12). matches_reference compares the whole run with the reference's, so it fails for
# every bug that changes training, and names the first difference it finds.
NOT_FROZEN, EVAL = "model.features trained (not frozen)", "transforms(train=False) on a 128x192 (height x width) image"
EXPECTED_FAILURES = {
    "transfer_not_frozen": {"alexnet_head_only_trains": "build_alexnet(): training changed model.features",
                            "vgg16_head_only_trains": "build_vgg16(): training changed model.features",
                            "matches_reference": NOT_FROZEN},
    "transfer_head_as_fc": {"alexnet_structure": "build_alexnet(num_classes=3): model.classifier.6 is Linear(4096, "
                                                 "1000)",
                            "vgg16_structure": "build_vgg16(num_classes=2): model.classifier.6 is Linear(4096, 1000)",
                            "matches_reference": "model.classifier.6 is not the reference's Linear"},
    "transfer_weights_not_loaded": {"weights_loaded": "build_alexnet()'s model.features differ from the weights",
                                    "matches_reference": "model.features do not hold the given weights"},
    "transfer_no_normalize": {"transforms": "transforms(train=True) maps the colour (200, 30, 120)",
                              "matches_reference": "the first batch already differs, with the same weights"},
    # The eval transform only feeds the held-out predictions, which no check of topic 6 scores: transforms alone.
    "transfer_eval_resize_distorts": {"transforms": EVAL},
    "transfer_eval_resize_to_size": {"transforms": EVAL},
    "transfer_eval_no_center_crop": {"transforms": EVAL},
    "transfer_no_zero_grad": {"zero_grad": "gradients accumulated from one batch to the next",
                              "matches_reference": "gradients accumulated from one batch to the next"},
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
        _GRADED[str(path)] = grade_submission(path, config=config, hidden=True, topics=[TOPIC],
                                              options=GradingOptions(reference=reference))
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
    expected = EXPECTED_FAILURES[example]
    assert failed(result) == set(expected)
    for check in result.checks():
        if not check.passed:
            assert check.message.startswith(expected[check.name]), (check.name, check.message)
            assert check.hint, check


@pytest.mark.parametrize(("example", "named"), [
    ("transfer_eval_resize_distorts", "it matches Resize((64, 64)) -> ToTensor -> Normalize: a resize to a square"),
    ("transfer_eval_resize_to_size", "it matches Resize(64) -> CenterCrop(64) -> ToTensor -> Normalize: the resize "
                                     "size is size"),
    ("transfer_eval_no_center_crop", "gives shape (3, 73, 109)"),
])
def test_an_eval_transform_bug_is_named(config, reference, example, named):
    (check,) = [c for c in grade(ROOT / "examples" / example, config, reference).checks() if not c.passed]
    assert check.message.startswith("transforms(train=False) on a 128x192 (height x width) image")
    assert named in check.message


def test_a_missing_zero_grad_is_named_in_the_hints(config, reference):
    result = grade(ROOT / "examples" / "transfer_no_zero_grad", config, reference)
    assert all("zero_grad" in c.hint for c in result.checks() if not c.passed)


@pytest.mark.parametrize("folder", ["hub/checkpoints", "."])
def test_build_spec_uses_a_cached_checkpoint_by_its_torchvision_name(tmp_path, monkeypatch, folder):
    # An empty file with the right name: build_spec only locates it; the worker checks its sha256.
    checkpoint = tmp_path / folder / "alexnet-owt-7be5be79.pth"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.touch()
    topic = dataclasses.replace(TopicContext.of(CONFIG, TOPIC), seed=3, eval_seed=0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(checkpoint))  # no folder for saved stand-ins: the worker generates them
    alexnet = images.build_spec(topic, "alexnet", weights_dir=str(tmp_path))
    vgg16 = images.build_spec(topic, "vgg16", weights_dir=str(tmp_path))
    assert alexnet["weights"] == {"file": str(checkpoint.resolve())}
    assert images.weights_source(alexnet) == f"ImageNet weights: {checkpoint.resolve()}"
    assert vgg16["weights"] == {"arch": "vgg16", "seed": 3}
