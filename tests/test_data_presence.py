"""Which real datasets and weights are on disk, as grading and `grade batch --require-real-data` decide it (#13)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from graders.batch.run import require_real
from graders.cli import main
from graders.config import load_config
from graders.data import formats, presence, vision
from graders.data.checkpoints import CHECKPOINTS
from graders.errors import BatchError
from graders.reports.result_json import schema
from graders.results import DataUse

ROOT = Path(__file__).resolve().parents[1]


def config_at(tmp_path: Path, data: Path, weights: Path) -> Path:
    """The course's grading.yaml, its data and weights folders moved to `tmp_path` (no grading runs from it)."""
    raw = yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))
    raw.update(data_dir=str(data), weights_dir=str(weights))
    path = tmp_path / "grading.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
def empty(tmp_path):
    return config_at(tmp_path, tmp_path / "data", tmp_path / "weights")


def real_layout(data: Path, weights: Path) -> None:
    """Tiny files in the real formats: both splits of each dataset, and a file under each checkpoint's name."""
    grey, colour = torch.zeros(10, 28, 28, dtype=torch.uint8), torch.zeros(10, 32, 32, 3, dtype=torch.uint8)
    labels = torch.arange(10) % 10
    for train in (True, False):
        formats.write_mnist(data, grey, labels, train=train)
        formats.write_cifar10(data, colour, labels, train=train)
        formats.write_image_folder(data / "hymenoptera_data" / ("train" if train else "val"), colour[:4],
                                   torch.tensor([0, 1, 0, 1]), ["ants", "bees"])
    (weights / "hub" / "checkpoints").mkdir(parents=True)
    for name in CHECKPOINTS.values():
        (weights / "hub" / "checkpoints" / name).write_bytes(b"")


def test_nothing_on_disk_means_every_image_topic_uses_stand_ins(empty):
    missing = presence.missing(load_config(empty), ["linear_regression", "cnn", "transfer_learning"])
    assert {t: [u.item for u in uses] for t, uses in missing.items()} == {
        "cnn": ["mnist", "cifar10"], "transfer_learning": ["hymenoptera", "alexnet", "vgg16"]}


def test_a_real_layout_is_found_and_the_loaders_agree(tmp_path):
    data, weights = tmp_path / "data", tmp_path / "weights"
    real_layout(data, weights)
    cfg = load_config(config_at(tmp_path, data, weights))
    assert presence.missing(cfg, list(cfg.topics)) == {}
    require_real(cfg, list(cfg.topics))  # raises nothing
    assert presence.uses(cfg, "cnn") == [DataUse("mnist", "MNIST", True), DataUse("cifar10", "CIFAR-10", True)]
    assert vision.load_mnist(data, train=False).source.startswith("real")
    assert vision.load_cifar10(data, train=True).source.startswith("real")
    assert vision.load_two_class(data, train=False, size=8).source.startswith("real")


def test_one_split_missing_is_a_stand_in(tmp_path):
    formats.write_mnist(tmp_path, torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]), train=True)
    assert not presence.present("mnist", data_dir=tmp_path, weights_dir=tmp_path)
    assert vision.load_mnist(tmp_path, train=False, limit=2).source.startswith("built-in stand-in")


def test_needs_covers_what_the_image_topics_train():
    from graders.families import images

    files = {"two_class": "hymenoptera"}
    for topic, variants in images.TRAINED.items():
        used = {files.get(images.VARIANTS[v].dataset, images.VARIANTS[v].dataset) for v in variants}
        used |= {images.VARIANTS[v].weights for v in variants if images.VARIANTS[v].weights}
        assert used <= set(presence.NEEDS[topic]), topic


def test_schema_knows_every_item_and_field():
    node = schema()["$defs"]["data_use"]
    assert node["properties"]["item"]["enum"] == list(presence.LABELS)
    assert set(node["properties"]) == set(node["required"]) == {f.name for f in dataclasses.fields(DataUse)}


def test_batch_refuses_to_start_without_real_data(empty, tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    out = tmp_path / "out"
    run = CliRunner().invoke(main, ["batch", str(tmp_path / "subs"), "--out", str(out), "--require-real-data",
                                    "--config", str(empty)])
    assert run.exit_code == BatchError.exit_code, run.output
    message = run.output.strip()
    assert message.count("\n") == 0 and message.startswith("grade: error: --require-real-data")
    for named in ("deep_neural_network: MNIST", "cnn: MNIST, CIFAR-10", "AlexNet ImageNet weights",
                  "VGG16 ImageNet weights", "grade data prepare", str(tmp_path / "data")):
        assert named in message
    assert not out.exists()  # refused before anything was graded or written


COURSE = load_config(ROOT / "grading.yaml")


@pytest.mark.skipif(not presence.missing(COURSE, list(COURSE.topics)), reason="this machine has the real data")
def test_batch_refuses_on_this_machine(tmp_path):
    run = CliRunner().invoke(main, ["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--require-real-data",
                                    "--config", str(ROOT / "grading.yaml")])
    assert run.exit_code == BatchError.exit_code and "MNIST" in run.output
