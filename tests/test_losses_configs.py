"""The gan/, mask/ and attention/ config groups instantiate the classes they name."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gansr.losses import FineGrainedAttentionLoss, RelativisticAverageGAN, RelativisticStandardGAN, VanillaGAN
from gansr.training.mask import ErrorMask

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize(
    "name, cls, attrs",
    [
        ("gan/vanilla", VanillaGAN, {"d_reduction": "sum"}),
        ("gan/relativistic_average", RelativisticAverageGAN, {"detach_mean_in_d": False}),
        ("gan/relativistic_standard_focal", RelativisticStandardGAN, {"focal_gamma": 1.0}),
        ("mask/mse", ErrorMask, {"k": 0.2, "b": 0.5, "error_scale": 1.0, "apply_to_real": True}),
        ("mask/mse_255", ErrorMask, {"k": 0.2, "b": 0.5, "error_scale": 255.0, "reduction": "pixel"}),
        ("attention/fine_grained", FineGrainedAttentionLoss, {"weight": 1e-2}),  # FASRGAN paper lambda2
    ],
)
def test_config_instantiates(name, cls, attrs):
    obj = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    assert type(obj) is cls
    for key, value in attrs.items():
        assert getattr(obj, key) == value


def test_gan_configs_run_on_logits():
    real, fake = torch.randn(4, 1), torch.randn(4, 1)
    for path in sorted((CONF / "gan").glob("*.yaml")):
        gan = instantiate(OmegaConf.load(path))
        assert torch.isfinite(gan.generator_loss(real, fake)) and torch.isfinite(gan.discriminator_loss(real, fake))
