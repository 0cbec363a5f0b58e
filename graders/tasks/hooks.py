"""Hooks a task puts on the student's model to see how their code drives it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class GradWatch:
    """Counts backward passes that added to a gradient left over from the previous step.

    A gradient hook sees each fresh gradient; the post-accumulate hook then sees .grad. If they differ,
    the old gradient was neither zeroed nor set to None: the classic missing `optimizer.zero_grad()`.
    """

    def __init__(self, net: nn.Module):
        self.steps = self.accumulated = 0
        params = [p for p in net.parameters() if p.requires_grad]
        self._fresh: torch.Tensor | None = None
        self._handles = []
        if params:
            first = params[0]
            self._handles.append(first.register_hook(self._remember))
            self._handles.append(first.register_post_accumulate_grad_hook(self._compare))

    def _remember(self, grad: torch.Tensor) -> None:
        self._fresh = grad.detach().clone()

    def _compare(self, param: torch.Tensor) -> None:
        self.steps += 1
        if self._fresh is not None and param.grad is not None and not torch.equal(param.grad, self._fresh):
            self.accumulated += 1

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


class GradMode:
    """Records whether any forward pass ran with gradient tracking on (a predict() without no_grad).

    Checking the output's requires_grad is not enough: thresholded labels never require grad.
    """

    def __init__(self, net: nn.Module):
        self.enabled = False
        self._handle = net.register_forward_hook(self._seen)

    def _seen(self, *_: Any) -> None:
        self.enabled = self.enabled or torch.is_grad_enabled()

    def remove(self) -> None:
        self._handle.remove()


class ModeLog:
    """The model's training flag at each forward pass (dropout on or off)."""

    def __init__(self, net: nn.Module):
        self._modes: list[bool] = []
        self._handle = net.register_forward_hook(lambda m, *_: self._modes.append(m.training))

    def take(self) -> list[bool]:
        modes, self._modes = self._modes, []
        return modes

    def remove(self) -> None:
        self._handle.remove()
