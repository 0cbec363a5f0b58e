"""Hooks a task puts on the student's model to see how their code drives it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

# Taken when the harness loads, before any student module: a student who patches torch.is_grad_enabled while
# predicting does not change what GradUse sees (tests/adversarial/test_forging.py).
_grad_enabled = torch._C.is_grad_enabled


class GradWatch:
    """Counts backward passes that added to a gradient left over from the previous step.

    A gradient hook sees each fresh gradient; the post-accumulate hook then sees .grad. If they differ,
    the old gradient was neither zeroed nor set to None: the classic missing `optimizer.zero_grad()`.
    Where there was no old gradient (zero_grad() sets it to None), .grad is the fresh gradient's values, so only
    a NaN can make them differ: no copy is kept. The first parameter that trains can be VGG16's 102M-value
    classifier.0.weight, whose copy cost 0.34 s a step (issue #14).
    """

    def __init__(self, net: nn.Module):
        self.steps = self.accumulated = 0
        params = [p for p in net.parameters() if p.requires_grad]
        self._fresh: torch.Tensor | None = None
        self._unset = False  # the step found no old gradient: .grad becomes the fresh one as it is
        self._handles = []
        if params:
            first = params[0]
            self._handles.append(first.register_hook(lambda grad: self._remember(first, grad)))
            self._handles.append(first.register_post_accumulate_grad_hook(self._compare))

    def _remember(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        self._unset = param.grad is None
        self._fresh = None if self._unset else grad.detach().clone()

    def _compare(self, param: torch.Tensor) -> None:
        self.steps += 1
        if param.grad is None:
            return
        if self._unset:  # .grad holds the fresh values (taken over or copied): unequal to them only where NaN
            self.accumulated += int(bool(param.grad.isnan().any()))
        elif self._fresh is not None and not torch.equal(param.grad, self._fresh):
            self.accumulated += 1

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


class GradUse(TorchFunctionMode):
    """Records whether any torch function used one of the model's parameters with gradient tracking on.

    Entered as a context around a predict() or evaluate(). A forward hook on the model misses `model.forward(x)`
    and weights used by hand (issue #12); every use of a parameter goes through a torch function, and this mode
    sees each one. Checking the output's requires_grad is not enough either: thresholded labels never require it.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self._params = {id(p) for p in net.parameters()}
        self.enabled = False

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if not self.enabled and _grad_enabled():
            self.enabled = any(id(a) in self._params for a in _flat([*args, *kwargs.values()]))
        return func(*args, **kwargs)


def _flat(values: list[Any]) -> list[Any]:
    """Arguments one level into lists and tuples (torch.cat([w, b]) passes its tensors in a list)."""
    return [v for value in values for v in (value if isinstance(value, (list, tuple)) else [value])]


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
