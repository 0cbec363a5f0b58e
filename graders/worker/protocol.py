"""Messages between grader and worker: JSON plus tensors in one safetensors frame, never pickle."""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any, BinaryIO

import torch
from safetensors.torch import save as save_tensors

from graders.errors import ProtocolError, WorkerCrashed, WorkerTimeout

_LENGTH = struct.Struct(">Q")
_TENSOR_KEY = "$tensor"
# Only plain data crosses: the decoder rebuilds these types and nothing else.
_SCALARS = (str, int, float, bool, type(None))


def encode(value: Any) -> bytes:
    """One message: a safetensors file whose metadata holds the JSON skeleton of `value`."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _strip(value, tensors)
    text = json.dumps(skeleton, allow_nan=True)
    return save_tensors(tensors, metadata={"json": text})


def _strip(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        # clone: safetensors refuses views that share storage; detach/cpu: only the values cross.
        tensors[key] = value.detach().to("cpu").contiguous().clone()
        return {_TENSOR_KEY: key}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("message dict keys must be strings")
        return {k: _strip(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strip(v, tensors) for v in value]
    if isinstance(value, _SCALARS) and type(value) in _SCALARS:
        return value
    raise TypeError(f"cannot send a {type(value).__name__} across the worker boundary")


def decode(data: bytes, *, max_bytes: int) -> Any:
    """Rebuild plain data from a frame; anything malformed is a ProtocolError."""
    if len(data) > max_bytes or len(data) < 8:
        raise ProtocolError(f"worker message of {len(data)} bytes is outside the allowed size")
    try:
        from safetensors.torch import load as load_tensors

        (header_len,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + header_len])
        skeleton = json.loads(header["__metadata__"]["json"])
        tensors = load_tensors(data)
    except Exception as exc:  # malformed bytes can fail in many ways; all mean the same thing
        raise ProtocolError(f"worker sent a malformed message ({type(exc).__name__})") from None
    return _rebuild(skeleton, tensors)


def _rebuild(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_TENSOR_KEY}:
            key = value[_TENSOR_KEY]
            if key not in tensors:
                raise ProtocolError(f"worker message refers to a missing tensor {key!r}")
            return tensors[key]
        return {k: _rebuild(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, tensors) for v in value]
    return value


def write_message(stream: BinaryIO, value: Any) -> None:
    """The worker's side: a blocking write (the grader's read has the deadline)."""
    payload = encode(value)
    stream.write(_LENGTH.pack(len(payload)) + payload)
    stream.flush()


def send_message(fd: int, value: Any, *, deadline: float) -> None:
    """The grader's side: write one frame to a raw fd before `deadline` (time.monotonic), or raise a WorkerError.

    The fd is made non-blocking: a worker that stops reading (or swaps its request pipe for one nobody reads)
    fills the pipe's buffer, and a blocking write would then hold the grader for ever.
    """
    payload = encode(value)
    os.set_blocking(fd, False)
    data = memoryview(_LENGTH.pack(len(payload)) + payload)
    while data:
        _wait(fd, deadline, write=True)
        try:
            written = os.write(fd, data[: 1 << 20])
        except BlockingIOError:
            continue  # another writer filled the buffer between select and write: wait again
        except BrokenPipeError:
            raise WorkerCrashed("the worker process ended without reading its request") from None
        data = data[written:]


def read_message(fd: int, *, deadline: float, max_bytes: int) -> Any:
    """Read one frame from a raw fd before `deadline` (time.monotonic), or raise a WorkerError."""
    return decode(read_frame(fd, deadline=deadline, max_bytes=max_bytes), max_bytes=max_bytes)


def read_frame(fd: int, *, deadline: float, max_bytes: int) -> bytes:
    """The bytes of one frame, not decoded yet (the grader freezes the worker before it spends time decoding)."""
    (length,) = _LENGTH.unpack(_read_exact(fd, _LENGTH.size, deadline))
    if length > max_bytes:
        raise ProtocolError(f"worker announced a {length}-byte message; the limit is {max_bytes}")
    return _read_exact(fd, length, deadline)


def _read_exact(fd: int, size: int, deadline: float) -> bytes:
    chunks, remaining = [], size
    while remaining:
        _wait(fd, deadline, write=False)
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise WorkerCrashed("the worker process ended without answering")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _wait(fd: int, deadline: float, *, write: bool) -> None:
    """Until `fd` can be read (or written) without blocking; WorkerTimeout once `deadline` has passed."""
    left = deadline - time.monotonic()
    wait = None if math.isinf(left) else max(left, 0.0)  # select() cannot take an infinite timeout
    ready = select.select([], [fd], [], wait)[1] if write else select.select([fd], [], [], wait)[0]
    if left <= 0 or not ready:
        raise WorkerTimeout("ran past its time limit")
