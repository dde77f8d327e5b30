"""Multi-label losses on logits: plain BCE (paper 000) and the class-weighted losses of paper 002.

Every loss sums over labels and averages over the batch, so their scales match at one lr.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _neg_logs(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # -ln σ(z) and -ln(1-σ(z)) from logits, stable where σ saturates.
    return -F.logsigmoid(logits), -F.logsigmoid(-logits)


def bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Unweighted binary cross-entropy summed over labels (paper 000)."""
    pos, neg = _neg_logs(logits)
    return (targets * pos + (1 - targets) * neg).sum() / logits.shape[0]


def w_cel(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Wang et al.'s weighted CE: β_P=(|P|+|N|)/|P|, β_N=(|P|+|N|)/|N|, counted per batch.

    Kept as published: a batch without positives divides by zero and gives a non-finite loss,
    which the training loop reports instead of stepping on it.
    """
    pos, neg = _neg_logs(logits)
    n_pos = targets.sum()
    n_neg = targets.numel() - n_pos
    beta_p = targets.numel() / n_pos
    beta_n = targets.numel() / n_neg
    return (beta_p * (targets * pos).sum() + beta_n * ((1 - targets) * neg).sum()) / logits.shape[0]


def _cw(logits: torch.Tensor, targets: torch.Tensor, dim: int | None) -> torch.Tensor:
    pos, neg = _neg_logs(logits)
    if dim is None:
        n_pos = targets.sum()
        total = targets.numel()
    else:
        n_pos = targets.sum(dim=dim, keepdim=True)
        total = targets.shape[dim]
    # Positives weighted by the negative share α_N, negatives by the positive share α_P: both lie
    # in [0, 1], so a batch (or label) with no positives simply contributes nothing on that side.
    alpha_n = (total - n_pos) / total
    alpha_p = n_pos / total
    return (alpha_n * targets * pos + alpha_p * (1 - targets) * neg).sum() / logits.shape[0]


def cw_cel(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Paper 002's CW-CEL: bounded weights counted over the whole batch."""
    return _cw(logits, targets, dim=None)


def cw_cel_fine(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fine-grained CW-CEL: the weights counted per label column."""
    return _cw(logits, targets, dim=0)


LOSSES: dict[str, Loss] = {
    "bce": bce,
    "w-cel": w_cel,
    "cw-cel": cw_cel,
    "cw-cel-fine": cw_cel_fine,
}


def get_loss(name: str) -> Loss:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}") from None
