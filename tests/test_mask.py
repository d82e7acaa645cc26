"""Error mask of mask-aided adversarial training (docs/methods.md §7, 7.1 'tests that pin it')."""

import pytest
import torch

from gansr.training.mask import ErrorMask


def images(b=2, h=16, w=16):
    torch.manual_seed(0)
    return torch.rand(b, 3, h, w), torch.rand(b, 3, h, w)


def test_shape_and_value_per_pixel():
    sr, hr = images()
    mask = ErrorMask()(sr, hr)
    assert mask.shape == (2, 1, 16, 16)
    expected = (0.2 * (sr - hr).square().mean(1, keepdim=True) + 0.5).clamp(0, 1)
    assert torch.allclose(mask, expected)


def test_mask_equals_b_where_sr_equals_hr():
    sr, hr = images()
    sr[:, :, :8] = hr[:, :, :8]
    mask = ErrorMask(k=0.2, b=0.5, error_scale=255.0)(sr, hr)
    assert torch.all(mask[:, :, :8] == 0.5)
    assert torch.all(mask[:, :, 8:] > 0.5)


def test_mask_saturates_at_one_for_large_errors():
    hr = torch.zeros(1, 3, 4, 4)
    sr = torch.full_like(hr, 10 / 255)  # 10 grey levels: 0.2·100 + 0.5 > 1
    assert torch.all(ErrorMask(error_scale=255.0)(sr, hr) == 1.0)
    # in [0,1] units the same error leaves the mask near b
    assert torch.all(ErrorMask(error_scale=1.0)(sr, hr) < 0.51)
    assert torch.all(ErrorMask(k=-10.0, b=0.5, error_scale=255.0)(sr, hr) == 0.0)  # clipped below too


def test_no_gradient_through_mask_and_sr_grad_scaled_by_mask():
    sr, hr = images()
    sr.requires_grad_(True)
    masker = ErrorMask(error_scale=255.0)
    fake, _, mask = masker.apply(sr, hr)
    assert not mask.requires_grad and mask.grad_fn is None
    fake.sum().backward()
    assert torch.allclose(sr.grad, mask.expand_as(sr))  # d(sr·mask)/dsr = mask: nothing flows through the mask


def test_real_input_masked_by_default_and_untouched_without_apply_to_real():
    sr, hr = images()
    hr_before = hr.clone()
    _, real_default, mask0 = ErrorMask().apply(sr, hr)  # the default: no brightness cue (docs/methods.md)
    assert torch.allclose(real_default, hr * mask0)
    fake, real, mask = ErrorMask(apply_to_real=False).apply(sr, hr)
    assert real is hr and torch.equal(hr, hr_before)
    assert torch.allclose(fake, sr * mask)
    _, real_masked, mask2 = ErrorMask(apply_to_real=True).apply(sr, hr)
    assert torch.allclose(real_masked, hr * mask2) and torch.equal(hr, hr_before)


def test_channel_and_window_options():
    sr, hr = images(h=12, w=10)
    assert ErrorMask(reduction="channel")(sr, hr).shape == (2, 3, 12, 10)
    windowed = ErrorMask(window=3, error_scale=255.0)(sr, hr)
    assert windowed.shape == (2, 1, 12, 10)
    assert ErrorMask(reduction="channel", window=5)(sr, hr).shape == (2, 3, 12, 10)
    # a 3x3 box average of the interior equals the hand average
    err = (255 * (sr - hr)).square().mean(1, keepdim=True)
    hand = (0.2 * err[:, :, 4:7, 4:7].mean(dim=(2, 3)) + 0.5).clamp(0, 1)
    assert torch.allclose(windowed[:, :, 5, 5], hand)
    # a single large error spreads to its neighbours only with a window
    hr0 = torch.zeros(1, 3, 9, 9)
    sr0 = hr0.clone()
    sr0[..., 4, 4] = 1.0
    plain, boxed = ErrorMask(error_scale=255.0)(sr0, hr0), ErrorMask(error_scale=255.0, window=3)(sr0, hr0)
    assert plain[0, 0, 4, 5] == 0.5 and boxed[0, 0, 4, 5] == 1.0 and boxed[0, 0, 4, 6] == 0.5


def test_argument_errors():
    with pytest.raises(ValueError, match="odd"):
        ErrorMask(window=4)
    with pytest.raises(ValueError, match="reduction"):
        ErrorMask(reduction="image")
    with pytest.raises(ValueError, match="same"):
        ErrorMask()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError, match="window"):
        ErrorMask(window=9)(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
