"""What each call of an image topic's criterion saw, judged here: its mean cross-entropy and its rows (issue #11).

The worker hands over the logits and targets of every criterion call; the losses are computed in the grading
process, so a train_one_epoch() that reports invented losses earns nothing from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from graders import checks

CRITERION_HINT = "call the criterion you are given once per batch, on model(inputs) and labels"


@dataclass(frozen=True)
class Batches:
    """What each call of the criterion saw, measured here: its mean cross-entropy and its number of rows."""

    losses: list[float]
    sizes: list[int]


def criterion_batches(seen: Any, *, calls: int, rows: int, what: str) -> Batches | checks.Outcome:
    """Each criterion call's mean cross-entropy, from its logits and targets; a failed Outcome if they are unfit."""
    if not (isinstance(seen, dict) and isinstance(seen.get("logits"), list) and isinstance(seen.get("targets"), list)
            and type(seen.get("calls")) is int):
        return checks.fail(f"{what}: the worker reported no criterion calls", hint=CRITERION_HINT)
    if seen["calls"] != calls:
        return checks.fail(f"{what} called the criterion {seen['calls']} times for {calls} batches",
                           measured=seen["calls"], threshold=calls, hint=CRITERION_HINT)
    pairs = list(zip(seen["logits"], seen["targets"], strict=False))
    if len(pairs) != calls or not all(_batch_shaped(logits, targets, rows) for logits, targets in pairs):
        return checks.fail(f"{what} called the criterion with something else than (B, classes) logits and (B,) class "
                           f"indices of at most {rows} rows", hint=CRITERION_HINT)
    return Batches(_batch_losses(pairs), [len(targets) for _, targets in pairs])


def _batch_losses(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> list[float]:
    """Each batch's mean cross-entropy, in double: F.cross_entropy, i.e. nll_loss of log_softmax, per batch.

    log_softmax is taken once over all rows, row by row the same figures bit for bit (issue #14): called per
    batch, waking its thread pool cost 1-8 ms a call on a busy machine, and topic 5 alone made 882 such calls.
    """
    if len({logits.shape[1] for logits, _ in pairs}) != 1:
        return [float(F.cross_entropy(logits.double(), targets)) for logits, targets in pairs]
    rows = F.log_softmax(torch.cat([logits for logits, _ in pairs]).double(), dim=1)  # (sum of B, classes)
    ends = torch.tensor([len(targets) for _, targets in pairs]).cumsum(0).tolist()
    return [float(F.nll_loss(rows[end - len(targets):end], targets)) for (_, targets), end in zip(pairs, ends,
                                                                                                strict=True)]


def _batch_shaped(logits: Any, targets: Any, rows: int) -> bool:
    if not (type(logits) is torch.Tensor and type(targets) is torch.Tensor and logits.dim() == 2):
        return False
    if logits.dtype != torch.float32 or targets.dtype != torch.int64 or targets.shape != (logits.shape[0],):
        return False
    return 0 < len(targets) <= rows and bool(((targets >= 0) & (targets < logits.shape[1])).all())
