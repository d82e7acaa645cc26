"""Pixel, TV and FASRGAN attention losses on hand tensors (docs/methods.md §1.4, 3, 8.1)."""

import pytest
import torch

from gansr.losses import FineGrainedAttentionLoss, PixelLoss, TVLoss
from gansr.losses.attention import attention_weights


def test_pixel_loss_l1_and_mse():
    sr = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    hr = torch.zeros_like(sr)
    assert PixelLoss(weight=2.0, criterion="l1")(sr, hr).item() == pytest.approx(2.0 * 6 / 4)
    assert PixelLoss(weight=0.5, criterion="mse")(sr, hr).item() == pytest.approx(0.5 * 14 / 4)
    with pytest.raises(ValueError, match="criterion"):
        PixelLoss(criterion="huber")
    with pytest.raises(ValueError, match="same shape"):
        PixelLoss()(sr, hr[..., :1])


def test_tv_sum_and_mean_hand_values():
    x = torch.tensor([[[[1.0, 2.0], [4.0, 8.0]]]])
    # dy: |4-1| + |8-2| = 9 ; dx: |2-1| + |8-4| = 5
    assert TVLoss(weight=2.0)(x).item() == pytest.approx(2.0 * 14)
    assert TVLoss(weight=1.0, reduction="mean")(x).item() == pytest.approx(9 / 2 + 5 / 2)
    # the sum grows with batch size (PESR sums over the batch too)
    assert TVLoss(weight=1.0)(x.repeat(3, 2, 1, 1)).item() == pytest.approx(6 * 14)
    with pytest.raises(ValueError, match="reduction"):
        TVLoss(1.0, reduction="max")


def test_attention_weights_in_unit_interval_and_detached():
    logits = torch.tensor([-100.0, -3.0, 0.0, 3.0, 100.0], requires_grad=True).view(1, 1, 1, 5)
    w = attention_weights(logits)
    assert not w.requires_grad
    assert (w >= 0).all() and (w <= 1).all()
    assert w[0, 0, 0, 2].item() == pytest.approx(0.5)


def test_attention_loss_value_and_gradients():
    torch.manual_seed(0)
    sr = torch.rand(2, 3, 8, 8, requires_grad=True)
    hr = torch.rand(2, 3, 8, 8)
    map_logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    loss_fn = FineGrainedAttentionLoss(weight=5e-2)
    loss = loss_fn(sr, hr, map_logits)
    w = 1 - torch.sigmoid(map_logits.detach())
    assert loss.item() == pytest.approx(5e-2 * (w * (sr.detach() - hr).abs()).mean().item(), rel=1e-6)
    loss.backward()
    assert map_logits.grad is None  # no gradient into D through the attention weights
    assert torch.allclose(sr.grad, 5e-2 * w * torch.sign(sr.detach() - hr) / sr.numel())


def test_attention_map_broadcast_and_errors():
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    one = FineGrainedAttentionLoss()(sr, hr, torch.zeros(2, 1, 8, 8))
    three = FineGrainedAttentionLoss()(sr, hr, torch.zeros(2, 3, 8, 8))
    assert torch.allclose(one, three)
    with pytest.raises(ValueError, match="do not broadcast"):
        FineGrainedAttentionLoss()(sr, hr, torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError, match="do not broadcast"):
        FineGrainedAttentionLoss()(sr, hr, torch.zeros(2, 3, 4, 4))
