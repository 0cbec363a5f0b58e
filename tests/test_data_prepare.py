"""`grade data prepare` leaves present files alone and reports each download that fails in one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from graders.config import load_config
from graders.data import formats
from graders.data.prepare import prepare
from graders.doctor import doctor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(tmp_path):
    data, weights = tmp_path / "data", tmp_path / "torch"
    text = (ROOT / "grading.yaml").read_text()
    text = text.replace("data_dir: data ", f"data_dir: {data} ").replace("weights_dir: ~/.cache/torch",
                                                                        f"weights_dir: {weights}")
    (tmp_path / "grading.yaml").write_text(text)
    return tmp_path


def test_present_files_are_not_downloaded(course):
    images = torch.zeros(4, 28, 28, dtype=torch.uint8)
    labels = torch.arange(4)
    formats.write_mnist(course / "data", images, labels, train=True)
    formats.write_mnist(course / "data", images, labels, train=False)
    [mnist] = prepare(config=load_config(course / "grading.yaml"), items=("mnist",))
    assert mnist.status == "present" and mnist.detail.endswith("MNIST/raw")


def test_a_failed_download_is_one_line_naming_where_to_put_the_files(course, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)  # the network itself, not our code
    [weights] = prepare(config=load_config(course / "grading.yaml"), items=("alexnet",))
    assert weights.status == "failed"
    assert "\n" not in weights.detail and "alexnet-owt-7be5be79.pth" in weights.detail


def test_half_a_dataset_is_not_present_where_grading_would_use_the_stand_in(course, monkeypatch):
    # Only the training split: grading reads the stand-in, so `prepare` must fetch and `doctor` must not say "ok".
    formats.write_mnist(course / "data", torch.zeros(4, 28, 28, dtype=torch.uint8), torch.arange(4), train=True)
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    [mnist] = prepare(config=load_config(course / "grading.yaml"), items=("mnist",))
    assert mnist.status == "failed"
    finding = next(f for f in doctor(config=load_config(course / "grading.yaml")) if f.name == "mnist")
    assert not finding.ok and "stand-ins are used" in finding.detail
