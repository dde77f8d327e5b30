from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from classifier.training.losses import LOSSES, bce, cw_cel, cw_cel_fine, get_loss, w_cel

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [-0.5, 1.5, -2.0]])
TARGETS = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])


def test_bce_is_torch_bce_summed_over_labels() -> None:
    expected = F.binary_cross_entropy_with_logits(LOGITS, TARGETS, reduction="sum") / 2
    assert torch.allclose(bce(LOGITS, TARGETS), expected)


def test_w_cel_weights_by_batch_counts() -> None:
    # |P| = 2, |N| = 4: positives ×6/2, negatives ×6/4.
    p = torch.sigmoid(LOGITS)
    pos = -(TARGETS * p.log()).sum()
    neg = -((1 - TARGETS) * (1 - p).log()).sum()
    assert torch.allclose(w_cel(LOGITS, TARGETS), (3 * pos + 1.5 * neg) / 2)


def test_cw_cel_swaps_in_bounded_weights() -> None:
    p = torch.sigmoid(LOGITS)
    pos = -(TARGETS * p.log()).sum()
    neg = -((1 - TARGETS) * (1 - p).log()).sum()
    assert torch.allclose(cw_cel(LOGITS, TARGETS), (4 / 6 * pos + 2 / 6 * neg) / 2)


def test_fine_grained_counts_per_label() -> None:
    # Column 0: one positive of two; column 1: none; column 2: one of two.
    p = torch.sigmoid(LOGITS)
    per = -(0.5 * TARGETS * p.log() + torch.tensor([0.5, 0.0, 0.5]) * (1 - TARGETS) * (1 - p).log())
    assert torch.allclose(cw_cel_fine(LOGITS, TARGETS), per.sum() / 2)


def test_all_negative_batch_breaks_w_cel_not_cw_cel() -> None:
    logits = torch.randn(4, 5, requires_grad=True)
    zeros = torch.zeros(4, 5)
    assert not math.isfinite(w_cel(logits, zeros).item())
    for loss in (cw_cel, cw_cel_fine, bce):
        value = loss(logits, zeros)
        value.backward()
        assert math.isfinite(value.item())
        assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_are_stable_on_saturated_logits(name: str) -> None:
    logits = torch.tensor([[80.0, -80.0], [-80.0, 80.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert math.isfinite(get_loss(name)(logits, targets).item())


def test_unknown_loss() -> None:
    with pytest.raises(ValueError, match="known: bce"):
        get_loss("focal")
