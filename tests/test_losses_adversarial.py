"""Adversarial objectives against hand computations on fixed logits (docs/methods.md §1.4, 2.4, 3, 4, 5)."""

import math

import pytest
import torch

from gansr.losses.adversarial import PixelMapGAN, RelativisticAverageGAN, RelativisticStandardGAN, VanillaGAN


def hand_bce(x: torch.Tensor, t: float) -> torch.Tensor:
    """BCE with logits written out: -[t·log σ(x) + (1−t)·log(1−σ(x))], log σ(x) = −log(1+e^{−x})."""
    return (t * torch.log1p(torch.exp(-x)) + (1 - t) * torch.log1p(torch.exp(x))).mean()


REAL = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
FAKE = torch.tensor([[0.0], [-2.0]], dtype=torch.float64)


def test_hand_bce_matches_torch():
    x = torch.tensor([-3.0, 0.2, 4.0], dtype=torch.float64)
    for t in (0.0, 1.0):
        expected = torch.nn.functional.binary_cross_entropy_with_logits(x, torch.full_like(x, t))
        assert torch.allclose(hand_bce(x, t), expected)


def test_vanilla_generator_is_non_saturating_bce():
    gan = VanillaGAN()
    expected = (math.log1p(math.exp(-0.0)) + math.log1p(math.exp(2.0))) / 2
    assert gan.generator_loss(REAL, FAKE).item() == pytest.approx(expected)
    assert gan.generator_loss(None, FAKE).item() == pytest.approx(expected)  # real logits not needed
    assert gan.uses_real_in_generator_step is False


@pytest.mark.parametrize("reduction, factor", [("sum", 1.0), ("mean", 0.5)])
def test_vanilla_discriminator(reduction, factor):
    expected = factor * (hand_bce(REAL, 1.0) + hand_bce(FAKE, 0.0))
    assert torch.allclose(VanillaGAN(reduction).discriminator_loss(REAL, FAKE), expected)


def test_ragan_closed_form():
    # E_b[fake] = -1, E_b[real] = 2 -> real - E[fake] = [2, 4], fake - E[real] = [-2, -4]
    gan = RelativisticAverageGAN()
    g_expected = (math.log1p(math.exp(2)) + math.log1p(math.exp(4))) / 2
    d_expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-4))) / 2
    assert gan.generator_loss(REAL, FAKE).item() == pytest.approx(g_expected)
    assert gan.discriminator_loss(REAL, FAKE).item() == pytest.approx(d_expected)


def test_ragan_matches_hand_formula_with_gradients():
    real = torch.tensor([[0.3], [-1.2], [2.0]], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([[-0.5], [0.7], [1.1]], dtype=torch.float64, requires_grad=True)
    g = RelativisticAverageGAN().generator_loss(real.detach(), fake)
    g_hand = 0.5 * (hand_bce(real.detach() - fake.mean(), 0) + hand_bce(fake - real.detach().mean(), 1))
    assert torch.allclose(g, g_hand)
    (grad_g,) = torch.autograd.grad(g, fake)
    (grad_hand,) = torch.autograd.grad(g_hand, fake)
    assert torch.allclose(grad_g, grad_hand)

    for detach in (False, True):
        d = RelativisticAverageGAN(detach_mean_in_d=detach).discriminator_loss(real, fake)
        rm, fm = (real.mean().detach(), fake.mean().detach()) if detach else (real.mean(), fake.mean())
        d_hand = 0.5 * (hand_bce(real - fm, 1) + hand_bce(fake - rm, 0))
        assert torch.allclose(d, d_hand)
        grads = torch.autograd.grad(d, (real, fake))
        grads_hand = torch.autograd.grad(d_hand, (real, fake))
        assert all(torch.allclose(a, b) for a, b in zip(grads, grads_hand, strict=True))
    # the two D variants agree in value but not in gradient
    d0 = RelativisticAverageGAN(False).discriminator_loss(real, fake)
    d1 = RelativisticAverageGAN(True).discriminator_loss(real, fake)
    assert torch.allclose(d0, d1)
    assert not torch.allclose(torch.autograd.grad(d0, real)[0], torch.autograd.grad(d1, real)[0])


def test_rsgan_focal_gamma0_is_plain_bce_and_gamma1_hand_value():
    real = torch.tensor([[0.0]], dtype=torch.float64)
    fake = torch.tensor([[math.log(3.0)]], dtype=torch.float64)  # sigmoid(fake - real) = 3/4
    plain = RelativisticStandardGAN(focal_gamma=0.0).generator_loss(real, fake)
    assert plain.item() == pytest.approx(math.log(4 / 3))
    assert torch.allclose(RelativisticStandardGAN(0.0).generator_loss(REAL, FAKE), hand_bce(FAKE - REAL, 1.0))
    focal = RelativisticStandardGAN(focal_gamma=1.0).generator_loss(real, fake)
    assert focal.item() == pytest.approx(0.25 * math.log(4 / 3))  # (1 - 3/4)^1 · log(4/3)


def test_rsgan_focal_weight_carries_gradient():
    x = torch.tensor([[0.4]], dtype=torch.float64, requires_grad=True)
    zero = torch.zeros_like(x)
    loss = RelativisticStandardGAN(1.0).generator_loss(zero, x)
    (grad,) = torch.autograd.grad(loss, x)
    p = torch.sigmoid(x.detach())
    # d/dx[(1-p)·(-log p)] = -p(1-p)(-log p) + (1-p)(-(1-p)) ; a detached weight would give only the second term
    expected = -p * (1 - p) * (-torch.log(p)) - (1 - p) ** 2
    assert torch.allclose(grad, expected)


def test_rsgan_discriminator():
    assert torch.allclose(RelativisticStandardGAN(1.0).discriminator_loss(REAL, FAKE), hand_bce(REAL - FAKE, 1.0))


def test_pixel_map_gan():
    real = torch.full((2, 3, 4, 4), 1.5, dtype=torch.float64)
    fake = torch.linspace(-2, 2, 96, dtype=torch.float64).view(2, 3, 4, 4)
    gan = PixelMapGAN()
    g = gan.generator_loss(real, fake)
    assert g.item() == pytest.approx(0.5 * (math.log1p(math.exp(1.5)) + hand_bce(fake, 1.0).item()))
    d = gan.discriminator_loss(real, fake)
    assert d.item() == pytest.approx(0.5 * (math.log1p(math.exp(-1.5)) + hand_bce(fake, 0.0).item()))


def test_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        RelativisticAverageGAN().generator_loss(torch.zeros(4, 1), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"\(B,1\)"):
        VanillaGAN().discriminator_loss(torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="PixelMapGAN expects"):
        PixelMapGAN().generator_loss(torch.zeros(4, 1), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="d_reduction"):
        VanillaGAN("avg")
    # per-pixel maps are accepted by the global objectives too (relativistic means per position)
    maps = torch.randn(2, 3, 4, 4)
    assert RelativisticAverageGAN().generator_loss(maps, maps.flip(0)).ndim == 0
