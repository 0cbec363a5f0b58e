"""The worker message format: plain data and tensors round-trip; anything else is refused."""

import math
import os
import time

import pytest
import torch

from graders.errors import ProtocolError, WorkerCrashed, WorkerTimeout
from graders.worker.protocol import decode, encode, read_message, send_message

LIMIT = 1 << 20


def test_round_trip_of_plain_data_and_tensors():
    value = {"losses": [1.0, 0.5, math.inf], "n": 3, "flag": True, "none": None, "name": "ok",
             "t": torch.arange(6, dtype=torch.float32).reshape(2, 3), "nested": [{"b": torch.tensor([True])}]}
    back = decode(encode(value), max_bytes=LIMIT)
    assert back["losses"][:2] == [1.0, 0.5] and math.isinf(back["losses"][2])
    assert back["n"] == 3 and back["flag"] is True and back["none"] is None
    assert torch.equal(back["t"], value["t"]) and type(back["t"]) is torch.Tensor
    assert back["nested"][0]["b"].dtype == torch.bool


def test_views_and_grad_tensors_cross_as_plain_values():
    base = torch.randn(4, 4, requires_grad=True)
    back = decode(encode({"a": base[:, 1], "b": base}), max_bytes=LIMIT)
    assert not back["b"].requires_grad and back["a"].shape == (4,)


class Liar:
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [Liar(), {1: "int key"}, {"s": {1, 2}}, b"bytes", torch.nn.Linear(1, 1)])
def test_objects_that_are_not_plain_data_are_refused(value):
    with pytest.raises(TypeError):
        encode(value)


def test_tensor_subclasses_arrive_as_plain_tensors():
    class Sneaky(torch.Tensor):
        pass

    back = decode(encode({"x": torch.ones(2).as_subclass(Sneaky)}), max_bytes=LIMIT)
    assert type(back["x"]) is torch.Tensor


@pytest.mark.parametrize("data", [b"", b"\x00" * 8, b"garbage" * 10, encode({"a": 1})[:-3]])
def test_malformed_bytes_are_protocol_errors(data):
    with pytest.raises(ProtocolError):
        decode(data, max_bytes=LIMIT)


def test_size_limit():
    with pytest.raises(ProtocolError, match="size"):
        decode(encode({"t": torch.zeros(1000)}), max_bytes=100)


def test_read_message_times_out_and_reports_a_closed_pipe():
    read, write = os.pipe()
    try:
        with pytest.raises(WorkerTimeout):
            read_message(read, deadline=time.monotonic() + 0.05, max_bytes=LIMIT)
        os.write(write, b"\x00\x00")
        os.close(write)
        with pytest.raises(WorkerCrashed):
            read_message(read, deadline=time.monotonic() + 1, max_bytes=LIMIT)
    finally:
        os.close(read)


def test_read_message_refuses_an_announced_huge_frame():
    read, write = os.pipe()
    os.write(write, (1 << 40).to_bytes(8, "big"))
    try:
        with pytest.raises(ProtocolError, match="announced"):
            read_message(read, deadline=time.monotonic() + 1, max_bytes=LIMIT)
    finally:
        os.close(read)
        os.close(write)


def test_send_message_round_trips_through_a_pipe():
    read, write = os.pipe()
    try:
        send_message(write, {"task": "fit", "x": torch.ones(3)}, deadline=time.monotonic() + 1)
        back = read_message(read, deadline=time.monotonic() + 1, max_bytes=LIMIT)
        assert back["task"] == "fit" and torch.equal(back["x"], torch.ones(3))
    finally:
        os.close(read)
        os.close(write)


def test_send_message_gives_up_at_its_deadline_when_nobody_reads():
    # A frame bigger than the pipe's buffer, and a reader that never reads (finding 4): a blocking write
    # would hold the grader for ever.
    read, write = os.pipe()
    try:
        start = time.monotonic()
        with pytest.raises(WorkerTimeout):
            send_message(write, {"images": torch.zeros(1 << 18)}, deadline=start + 0.3)
        assert time.monotonic() - start < 2
    finally:
        os.close(read)
        os.close(write)


def test_send_message_to_a_pipe_nobody_holds_is_a_crash():
    read, write = os.pipe()
    os.close(read)
    try:
        with pytest.raises(WorkerCrashed):
            send_message(write, {"stop": True}, deadline=time.monotonic() + 1)
    finally:
        os.close(write)
