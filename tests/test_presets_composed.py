"""Every table preset as composed: its own learning rates, betas, milestones, gamma, VGG layer, loss weights, EMA
and ``fp32_sr`` against the paper values written below (issue 20 item 7).

``tests/test_reference_steps.py`` pins each method's step with an explicit argument list (conv1_2, its own lr and
schedule), so a preset's own values are not under test there. Here each preset is composed with Hydra exactly as
``gansr-train`` composes it and built by the same ``instantiate(cfg.module)``; only the networks are replaced by
tiny ones (``instantiate``'s keyword arguments: G, D, E, the data) and the VGG19 gets seeded random weights (no
weights file). Then:

* two float64 iterations through Lightning, with the schedulers started one iteration before the paper's first
  milestone, must equal the independent reference of ``test_reference_steps`` run with the PAPER values below
  (lr, lr x gamma after the milestone, betas, VGG layer, loss weights, mask, step order, BN in G and E);
* the values read back from the built module (and the composed data/trainer) must equal the paper values;
* the G-only EMA must equal an average computed by hand from the generator's weights after each iteration.

A wrong VGG layer (conv5_4 -> conv4_4), a milestone, a learning rate, a loss weight or the EMA's decay swapped for
1 - decay in any preset fails here.
"""
from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml
from hydra.utils import instantiate
from test_reference_steps import (
    DTYPE,
    FEAT,
    METHODS,
    TinyD,
    TinyE,
    TinyG,
    data,
    fit,
    max_difference,
    ref_adam_step,
    ref_e,
    ref_g,
    reference,
    vgg19_convs,
)
from torch import nn

from gansr.cli import CONF_DIR, compose_config

EXPERIMENTS_DIR = CONF_DIR.parent / "experiments"
LR_SIZE = 8  # HR 16: VGG19's four max-pools before conv5_x leave 1x1
ADAM_EPS = 1e-8  # torch.optim.Adam's default, which every official code uses (no paper states eps)
TOL = 1e-10

# ------------------------------------------------------------------------------------------ the paper values
# One entry per preset a table row names (and the official-json and ablation presets). Sources, by preset:
#   esrgan: ESRGAN Sec. 4.1 ("learning rate 1e-4, halved at [50k, 100k, 200k, 300k]", lambda 5e-3, eta 1e-2,
#           batch 16, HR 128) and BasicSR-2019 train_ESRGAN.json (5e5 iterations); VGG19 conv5_4 before ReLU, L1.
#   esrgan_mask: mask paper Sec. 3.1 (lr 2e-4 for 50 GAN epochs, halved every 10 epochs over 80 more; LR 64x64;
#           1 VGG54 + 5e-3 GAN + 1e-2 L1); k 0.2, b 0.5 (Table 1).
#   fasrgan: FASRGAN paper, training details (lr 1e-4 halved every 2e5 iterations, batch 16, LR 48x48, lambda1 5e-3,
#           lambda2 1e-2, lambda3 1e-2); map term 5e-3 = train_FASRGAN.json gan_mask_weight.
#   fasrgan_official / fs_srgan_official / fa_fs_srgan_official: the official jsons (train_FASRGAN.json atten_weight
#           5e-2, HR 128, milestones 50k/100k/200k/300k; train_FsSRGAN.json batch 32; train_FAFs_SRGAN.json batch 12,
#           HR 128, lr 2.5e-5).
#   fs_srgan / fa_fs_srgan: FASRGAN paper, training details (E = 1 / 2 RRDBs, same schedule and weights as FASRGAN).
#   srgan: SRGAN Sec. 3.2 (Adam beta1 0.9, 1e5 iterations at 1e-4 then 1e5 at 1e-5, batch 16 of 96x96, l_VGG/5.4 on
#           conv5_4 after ReLU, 1e-3 l_Gen); D loss a sum of the real and fake BCE (SRGAN-TF, BasicSR).
#   srgan_basicsr: the FASRGAN repository's train_SRGAN.json + SRGAN_model.py (the FASRGAN tables' SRGAN rows): lr 1e-4
#           halved at 50k/100k/200k/300k, 5e5 iterations, batch 16, HR 128, 1e-2 L1 + 1 VGG54 (before ReLU, L1) + 5e-3
#           vanilla GAN with the D loss real + fake.
#   srgan_fa / srgan_fs: FASRGAN paper, SRGAN section (that SRGAN with the UNet D and FASRGAN's attention weight, or
#           with the shared conv + RB).
#   pesr: mask paper Sec. 3.1 (lr 5e-5 for 20 epochs then 2.5e-5, 40 epochs; 50 VGG54 + 1 GAN + 1 L1 + 1e-6 TV in
#           [0,255] units = L1 255, TV 2.55e-4 on [0,1] data); official PESR train.py (RSGAN + focal, D first).
#   edsr_gan: mask paper Sec. 3.1 (200 epochs at 1e-4, LR 48x48, 5 VGG54 + 0.15 GAN + 0.1 L1 = 25.5 on [0,1]);
#           EDSR-PyTorch (D first, D loss a sum, no lr decay).
#   *_mask (PESR, EDSR-GAN): the [0,255] mask and module.fp32_sr (docs/methods.md, "Precision").
#   every mask: D's real input masked too (apply_to_real, measured: docs/methods.md, "the mask's real input").
ESRGAN_W = METHODS["esrgan"]["weights"]
FASRGAN_W = METHODS["fasrgan"]["weights"]
SRGAN_W = METHODS["srgan"]["weights"]
HALVINGS_50K = [50000, 100000, 200000, 300000]
BASICSR_SRGAN = {"lr": 1e-4, "milestones": HALVINGS_50K, "batch": 16, "patch": 128, "iterations": 500000}


def gan(method: str, **values) -> dict:
    """A GAN preset's expected values: the method's step (test_reference_steps.METHODS) plus its own values."""
    base = {k: v for k, v in METHODS[method].items() if k != "preset"}
    return {"module": "gan", "betas": (0.9, 0.999), "gamma": 0.5, "ema": None, "fp32_sr": False, "mask": None,
            "mask_real": False, "g_bn": False, "e_bn": False, "vgg": "conv5_4", **base, **values}


PAPER = {
    "esrgan": gan("esrgan", cls="ESRGAN", lr=1e-4, milestones=HALVINGS_50K, batch=16, patch=128, iterations=500000),
    "esrgan_mask": gan("esrgan", cls="ESRGAN", lr=2e-4, milestones=[50000 + 10000 * i for i in range(8)], batch=16,
                       patch=256, iterations=130000, mask="mse", mask_real=True),
    "fasrgan": gan("fasrgan", cls="FASRGAN", lr=1e-4, milestones=[200000, 400000], batch=16, patch=192,
                   iterations=500000),
    "fasrgan_official": gan("fasrgan", cls="FASRGAN", lr=1e-4, milestones=HALVINGS_50K, batch=16, patch=128,
                            iterations=500000, weights={**FASRGAN_W, "attention": 5e-2}),
    "fs_srgan": gan("fs_srgan", cls="FsSRGAN", lr=1e-4, milestones=[200000, 400000], batch=16, patch=192,
                    iterations=500000),
    "fs_srgan_official": gan("fs_srgan", cls="FsSRGAN", lr=1e-4, milestones=HALVINGS_50K, batch=32, patch=192,
                             iterations=500000),
    "fa_fs_srgan": gan("fa_fs_srgan", cls="FAFsSRGAN", lr=1e-4, milestones=[200000, 400000], batch=16, patch=192,
                       iterations=500000),
    "fa_fs_srgan_official": gan("fa_fs_srgan", cls="FAFsSRGAN", lr=2.5e-5, milestones=HALVINGS_50K, batch=12,
                                patch=128, iterations=500000),
    "srgan": gan("srgan", cls="SRGAN", lr=1e-4, milestones=[100000], gamma=0.1, batch=16, patch=96,
                 iterations=200000, g_bn=True, gan="vanilla_sum"),
    "srgan_basicsr": gan("esrgan", cls="SRGAN", gan="vanilla_sum", **BASICSR_SRGAN),
    "srgan_fa": gan("esrgan", cls="SRGAN", gan="vanilla_sum", map=True, **BASICSR_SRGAN,
                    weights={**ESRGAN_W, "map": 5e-3, "attention": 1e-2, "d_map": 1.0}),
    "srgan_fs": gan("esrgan", cls="SRGAN", gan="vanilla_sum", fs=True, **BASICSR_SRGAN),
    "pesr": gan("pesr", cls="PESR", lr=5e-5, milestones=[20000], batch=16, patch=256, iterations=40000),
    "pesr_mask": gan("pesr", cls="PESR", lr=5e-5, milestones=[20000], batch=16, patch=256, iterations=40000,
                     mask="mse_255", mask_real=True, fp32_sr=True),
    "edsr_gan": gan("edsr_gan", cls="EDSRGAN", lr=1e-4, milestones=None, batch=16, patch=192, iterations=200000),
    "edsr_gan_mask": gan("edsr_gan", cls="EDSRGAN", lr=1e-4, milestones=None, batch=16, patch=192,
                         iterations=200000, mask="mse_255", mask_real=True, fp32_sr=True),
}


def psnr(**values) -> dict:
    return {"module": "psnr", "cls": "PSNRModule", "betas": (0.9, 0.999), "gamma": 0.5, "ema": None, "fs": False,
            "g_bn": False, "e_bn": False, "pixel": "l1", **values}


# PSNR stages the GAN rows start from (the presets' `pretrain`), and SRGAN Table 1's SRResNet-MSE row. Sources:
#   esrgan_psnr: ESRGAN Sec. 3.4/4.1 (lr 2e-4 halved every 2e5) and BasicSR-2019 train_sr.json (1e6 iterations).
#   esrgan_mask_psnr: mask paper Sec. 3.1 (10 epochs of MSE at 2e-4).
#   fs_srgan_psnr / fa_fs_srgan_psnr: official train_Fs_RRDBNet.json (lr 2e-4, 50k/100k/200k/600k/800k, 1e6).
#   srresnet_psnr: SRGAN Sec. 3.2 (SRResNet-MSE, 1e6 iterations at a constant 1e-4).
#   srgan_basicsr_psnr / srgan_fs_psnr: the FASRGAN repository's train_SRResNet.json schedule (L1, 2e-4, 1e6).
#   pesr_psnr: official PESR train.py, last version (2018-09-07, afa7060): --phase pretrain --learning_rate 1e-4,
#           StepLR lr_step 120 epochs (150 only in the earlier 2018-08-18 version), 200 epochs, LR patch 24.
#   edsr_psnr_x2 / edsr_psnr: EDSR-PyTorch option.py (lr 1e-4, halved every 200 epochs, 300 epochs, batch 16).
PAPER_PSNR = {
    "esrgan_psnr": psnr(lr=2e-4, milestones=[200000, 400000, 600000, 800000], batch=16, patch=128,
                        iterations=1000000),
    "esrgan_mask_psnr": psnr(lr=2e-4, milestones=[], batch=16, patch=256, iterations=10000, pixel="mse"),
    "fs_srgan_psnr": psnr(lr=2e-4, milestones=[50000, 100000, 200000, 600000, 800000], batch=16, patch=192,
                          iterations=1000000, fs=True),
    "fa_fs_srgan_psnr": psnr(lr=2e-4, milestones=[50000, 100000, 200000, 600000, 800000], batch=16, patch=192,
                             iterations=1000000, fs=True),
    "srgan_basicsr_psnr": psnr(lr=2e-4, milestones=[200000, 400000, 600000, 800000], batch=16, patch=128,
                               iterations=1000000),
    "srresnet_psnr": psnr(lr=1e-4, milestones=[], batch=16, patch=96, iterations=1000000, pixel="mse", g_bn=True),
    "srgan_fs_psnr": psnr(lr=2e-4, milestones=[200000, 400000, 600000, 800000], batch=16, patch=128,
                          iterations=1000000, fs=True),
    "pesr_psnr": psnr(lr=1e-4, milestones=[120000], batch=16, patch=96, iterations=200000),
    "edsr_psnr_x2": psnr(lr=1e-4, milestones=[200000], batch=16, patch=96, iterations=300000),
    "edsr_psnr": psnr(lr=1e-4, milestones=[200000], batch=16, patch=192, iterations=300000),
}


# ------------------------------------------------------------------------------------------ composing, building
@functools.cache
def composed(preset: str, tmp: str):
    """The preset as gansr-train composes it; the VGG19 without a weights file (random, re-seeded below)."""
    cfg = compose_config([f"experiment={preset}"], Path(tmp))
    extra = ["loss.perceptual.pretrained=false", "loss.perceptual.weights_path=null"] if cfg.get("loss", {}).get(
        "perceptual") else []
    return compose_config([f"experiment={preset}", *extra], Path(tmp))


def tiny_networks(spec: dict) -> dict:
    """Tiny G (and D, E) of the preset's kind: BN where the preset's networks have it (SRResNet G, SRGAN_Fs E)."""
    torch.manual_seed(0)
    nets = {"extractor": TinyE(bn=spec["e_bn"]) if spec["fs"] else None,
            "generator": TinyG(FEAT if spec["fs"] else 3, bn=spec["g_bn"])}
    if spec["module"] == "gan":
        nets["discriminator"] = TinyD(FEAT if spec["fs"] else 3, with_map=spec["map"], size=2 * LR_SIZE)
    return nets


def vgg_weights(layer: str) -> list[torch.Tensor]:
    """Seeded He-initialised weights and small biases of VGG19's convolutions up to ``layer`` (float64)."""
    g = torch.Generator().manual_seed(2)
    channels, out = [3], []
    for width in (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512)[:vgg19_convs(layer)]:
        fan_in = channels[-1] * 9
        out += [torch.randn(width, channels[-1], 3, 3, generator=g, dtype=DTYPE) * (2 / fan_in) ** 0.5,
                0.01 * torch.randn(width, generator=g, dtype=DTYPE)]
        channels.append(width)
    return out


def build(preset: str, tmp: str, spec: dict, **module_overrides):
    """``instantiate(cfg.module)`` of the composed preset with tiny networks; VGG convs get ``vgg_weights``."""
    cfg = composed(preset, tmp)
    module = instantiate(cfg.module, **tiny_networks(spec), **module_overrides).to(DTYPE)
    perceptual = getattr(module, "perceptual_loss", None)
    if perceptual is not None:
        convs = [m for m in perceptual.vgg.features if isinstance(m, nn.Conv2d)]
        weights = vgg_weights("conv5_4")
        with torch.no_grad():
            for i, conv in enumerate(convs):
                conv.weight.copy_(weights[2 * i])
                conv.bias.copy_(weights[2 * i + 1])
    return module


def start_before_first_milestone(module, spec: dict) -> None:
    """Each scheduler starts at iteration ``paper milestone - 1``: the first iteration runs at the paper's lr, the
    scheduler step after it crosses the milestone, the second iteration runs at lr x gamma."""
    if not spec["milestones"]:
        return
    at = spec["milestones"][0] - 1

    def starting(factory):
        def make(optimizer):
            scheduler = factory(optimizer)
            scheduler.last_epoch = at
            return scheduler
        return make

    if spec["module"] == "gan":
        module.scheduler_factories = tuple(f if f is None else starting(f) for f in module.scheduler_factories)
    elif module.scheduler_factory is not None:
        module.scheduler_factory = starting(module.scheduler_factory)


def paper_lrs(spec: dict) -> list[float]:
    return [spec["lr"], spec["lr"] * (spec["gamma"] if spec["milestones"] else 1.0)]


def state_of(module, spec: dict) -> dict:
    named = lambda m: {k: v.detach().clone() for k, v in m.named_parameters()} if m is not None else {}
    buffers = lambda m: {k: v.clone() for k, v in m.named_buffers()} if m is not None else {}
    parts = {"g": module.generator, "e": module.extractor, "d": getattr(module, "discriminator", None)}
    state = {**{k: named(m) for k, m in parts.items()}, **{f"{k}_buffers": buffers(m) for k, m in parts.items()}}
    state["vgg"] = vgg_weights(spec["vgg"]) if spec["module"] == "gan" else []
    return state


def trained(module) -> dict:
    parts = {"generator": module.generator, "discriminator": getattr(module, "discriminator", None),
             "extractor": module.extractor}
    return {f"{name}.{k}": v.detach() for name, part in parts.items() if part is not None
            for k, v in part.state_dict().items()}


def reference_psnr(spec: dict, state: dict, batches: list) -> dict:
    """Two iterations of the PSNR stage: ``pixel(G(E(LR)), HR)`` (mean L1 or MSE, weight 1), one Adam on E + G."""
    g = {k: v.clone().requires_grad_(True) for k, v in state["g"].items()}
    e = {k: v.clone().requires_grad_(True) for k, v in state["e"].items()}
    buffers = {part: {k: v.clone() for k, v in state[f"{part}_buffers"].items()} for part in ("g", "e")}
    adam = {}
    for (lr_img, hr), lr in zip(batches, paper_lrs(spec)):
        sr = ref_g(ref_e(lr_img, e, buffers["e"]) if e else lr_img, g, buffers["g"])
        diff = sr - hr
        loss = diff.abs().mean() if spec["pixel"] == "l1" else diff.square().mean()
        owned = {**{f"e.{k}": v for k, v in e.items()}, **{f"g.{k}": v for k, v in g.items()}}
        grads = dict(zip(owned, torch.autograd.grad(loss, list(owned.values()))))
        ref_adam_step(owned, grads, adam, lr, spec["betas"], ADAM_EPS)
    out = {**{f"generator.{k}": v for k, v in {**g, **buffers["g"]}.items()},
           **{f"extractor.{k}": v for k, v in {**e, **buffers["e"]}.items()}}
    return {k: v.detach() for k, v in out.items()}


@pytest.fixture(scope="module")
def compose_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("compose"))


ALL = {**PAPER, **PAPER_PSNR}


# ------------------------------------------------------------------------------------------ the tests
def test_every_table_row_preset_is_pinned_here():
    """A preset a table row trains (experiments/*/runs.yaml), or the stage it starts from, has paper values here."""
    named = set()
    for runs in EXPERIMENTS_DIR.glob("*/runs.yaml"):
        for row in yaml.safe_load(runs.read_text())["rows"]:
            if row.get("preset"):
                named.add(row["preset"])
    stages = set()
    for preset in named:
        chain = preset
        while chain:
            stages.add(chain)
            pretrain = yaml.safe_load((CONF_DIR / "experiment" / f"{chain}.yaml").read_text()).get("pretrain")
            chain = pretrain["preset"] if pretrain else None
    assert stages <= set(ALL), f"presets without paper values in this test: {sorted(stages - set(ALL))}"


@pytest.mark.parametrize("preset", sorted(PAPER))
def test_gan_preset_steps_match_the_reference_with_the_paper_values(preset, compose_dir):
    """Two iterations across the paper's first milestone with the preset's own lr, betas, schedule, VGG layer and
    loss weights equal the reference run with the paper's values."""
    spec = PAPER[preset]
    module = build(preset, compose_dir, spec)
    start_before_first_milestone(module, spec)
    state = state_of(module, spec)
    batches = data(state if spec["mask"] == "mse_255" else None, lr_size=LR_SIZE)
    fit(module, batches)
    lrs = paper_lrs(spec)
    expected = reference(spec, state, batches, optim={"lr_g": lrs, "lr_d": lrs, "betas": spec["betas"],
                                                       "eps": ADAM_EPS})
    assert max_difference(trained(module), expected) < TOL


@pytest.mark.parametrize("preset", sorted(PAPER_PSNR))
def test_psnr_preset_steps_match_the_reference_with_the_paper_values(preset, compose_dir):
    spec = PAPER_PSNR[preset]
    module = build(preset, compose_dir, spec)
    start_before_first_milestone(module, spec)
    state = state_of(module, spec)
    batches = data(lr_size=LR_SIZE)
    fit(module, batches)
    assert max_difference(trained(module), reference_psnr(spec, state, batches)) < TOL


def read_back(module, cfg) -> dict:
    """The built module's hyper-parameters, read from its parts (not from the config)."""
    if hasattr(module, "optimizer_factories"):
        optimizers = [f(module.generator_parameters()) for f in module.optimizer_factories]
        factories = module.scheduler_factories
    else:
        optimizers = [module.optimizer_factory(module.generator_parameters())]
        factories = (module.scheduler_factory,)
    schedulers = [f(o) if f is not None else None for f, o in zip(factories, optimizers)]
    values = {
        "cls": type(module).__name__,
        "lr": {o.defaults["lr"] for o in optimizers},
        "betas": {tuple(o.defaults["betas"]) for o in optimizers},
        "eps": {o.defaults["eps"] for o in optimizers},
        "milestones": {None if s is None else tuple(sorted(Counter(s.milestones).elements())) for s in schedulers},
        "gamma": {s.gamma for s in schedulers if s is not None},
        "ema": None if module.generator_ema is None else module.generator_ema.decay,
        "batch": cfg.data.batch_size,
        "patch": cfg.data.patch_size,
        "iterations": cfg.trainer.max_steps,
    }
    if values["cls"] == "PSNRModule":
        values["pixel"] = (module.pixel_loss.criterion, module.pixel_loss.weight)
        return values
    perceptual = module.perceptual_loss
    values.update({
        "fp32_sr": module.fp32_sr,
        "order": module.step_order,
        "vgg": (perceptual.vgg.layer, perceptual.vgg.before_activation, len(perceptual.vgg.features)),
        "perceptual": (perceptual.criterion, perceptual.weight, perceptual.feature_scale),
        "pixel": None if module.pixel_loss is None else (module.pixel_loss.criterion, module.pixel_loss.weight),
        "tv": None if module.tv_loss is None else module.tv_loss.weight,
        "adversarial": module.adversarial_weight,
        "map": module.adversarial_map_weight if module.map_objective is not None else 0.0,
        "attention": None if module.attention is None else module.attention.weight,
        "mask": None if module.mask is None else (module.mask.k, module.mask.b, module.mask.error_scale,
                                                  module.mask.apply_to_real),
        "objective": objective_of(module.objective),
    })
    return values


def objective_of(objective) -> str:
    """The reference's name for a GAN objective (test_reference_steps.ref_*_gan), read from its attributes."""
    name = type(objective).__name__
    if name == "RelativisticAverageGAN" and not objective.detach_mean_in_d:
        return "ragan"  # BSR-2019 / FASRGAN: one backward, means not detached
    if name == "VanillaGAN":
        return f"vanilla_{objective.d_reduction}"
    if name == "RelativisticStandardGAN" and objective.focal_gamma == 1.0:
        return "rsgan_focal"
    return repr(objective)


VGG_LAYERS = {("conv5_4", True): 35, ("conv5_4", False): 36}  # torchvision vgg19().features[:35] / [:36]


def expected_values(spec: dict) -> dict:
    values = {
        "cls": spec["cls"], "lr": {spec["lr"]}, "betas": {spec["betas"]}, "eps": {ADAM_EPS},
        "milestones": {None if spec["milestones"] is None else tuple(spec["milestones"])},
        "gamma": set() if spec["milestones"] is None else {spec["gamma"]},
        "ema": spec["ema"], "batch": spec["batch"], "patch": spec["patch"], "iterations": spec["iterations"],
    }
    if spec["module"] == "psnr":
        return {**values, "pixel": (spec["pixel"], 1.0)}
    w = spec["weights"]
    after_relu = spec["perceptual"] == "srgan"
    return {**values,
            "fp32_sr": spec["fp32_sr"], "order": spec["order"], "objective": spec["gan"],
            "vgg": (spec["vgg"], not after_relu, VGG_LAYERS[spec["vgg"], not after_relu]),
            "perceptual": (spec["perceptual"], w["perceptual"], 1.0),
            "pixel": (spec["pixel"], w["pixel"]) if w.get("pixel") else None,
            "tv": w.get("tv"), "adversarial": w["adversarial"], "map": w.get("map", 0.0),
            "attention": w.get("attention"),
            "mask": None if spec["mask"] is None else (0.2, 0.5, {"mse": 1.0, "mse_255": 255.0}[spec["mask"]],
                                                        spec["mask_real"])}


@pytest.mark.parametrize("preset", sorted(ALL))
def test_built_module_carries_the_paper_values(preset, compose_dir):
    """lr, betas, eps, milestones, gamma, EMA, fp32_sr, VGG layer (and its depth), loss weights, mask, batch,
    patch, iterations: read back from the module ``instantiate(cfg.module)`` builds."""
    spec = ALL[preset]
    cfg = composed(preset, compose_dir)
    got, expected = read_back(build(preset, compose_dir, spec), cfg), expected_values(spec)
    assert {k: v for k, v in got.items() if got[k] != expected.get(k)} == {}, expected
    assert got.keys() == expected.keys()


@pytest.mark.parametrize("preset", ["srgan", "srresnet_psnr", "srgan_basicsr", "srgan_fs", "srgan_fs_psnr"])
def test_batchnorm_in_g_and_e_as_the_tiny_networks_have_it(preset, compose_dir):
    """SRResNet's BN (SRGAN Fig. 4) is in the SRGAN paper's G; the BasicSR-era SRGAN of the FASRGAN tables and its
    SRGAN_Fs E have none (norm_type null): the step tests above use tiny G/E with BN exactly where these have it."""
    spec, cfg = ALL[preset], composed(preset, compose_dir)
    has_bn = lambda node: any(isinstance(m, nn.BatchNorm2d) for m in instantiate(node).modules())
    assert has_bn(cfg.generator) == spec["g_bn"]
    assert (cfg.get("sharing") is not None and has_bn(cfg.sharing)) == spec["e_bn"]


def test_ema_is_the_hand_computed_average(compose_dir):
    """``module.ema_decay=d``: after each iteration EMA = d * EMA + (1 - d) * G (buffers copied), checked against
    the average computed here from G's weights after each iteration (srgan: BN buffers in G)."""
    spec, decay = PAPER["srgan"], 0.9
    module = build("srgan", compose_dir, spec, ema_decay=decay)
    snapshots = [{k: v.detach().clone() for k, v in module.generator.state_dict().items()}]

    class Snapshot(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            snapshots.append({k: v.detach().clone() for k, v in pl_module.generator.state_dict().items()})

    batches = data(lr_size=LR_SIZE)
    trainer = pl.Trainer(accelerator="cpu", precision="64-true", max_steps=4, logger=False, callbacks=[Snapshot()],
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    from test_reference_steps import BATCH, DataLoader, Pairs

    trainer.fit(module, DataLoader(Pairs(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])),
                                   batch_size=BATCH, shuffle=False))
    assert len(snapshots) == 3
    params = dict(module.generator.named_parameters())
    average = dict(snapshots[0])
    for snapshot in snapshots[1:]:
        average = {k: decay * average[k] + (1 - decay) * v if k in params else v for k, v in snapshot.items()}
    ema = module.generator_ema.generator.state_dict()
    assert max((ema[k] - average[k]).abs().max().item() for k in average) < 1e-12
    assert not torch.equal(ema["conv1.weight"], snapshots[-1]["conv1.weight"])  # an average, not a copy
    assert torch.equal(ema["bn.running_mean"], snapshots[-1]["bn.running_mean"])  # buffers copied


def test_srgan_mse_row_is_eq4_on_the_papers_range(compose_dir):
    """SRGAN Table 1's SRGAN-MSE row (experiments/srgan/runs.yaml) composes to l_MSE + 1e-3 l_Gen where l_MSE is
    Eq. (4) as SRGAN-TF codes it: per pixel the squared error summed over RGB, averaged over pixels, on [-1,1]."""
    rows = yaml.safe_load((EXPERIMENTS_DIR / "srgan" / "runs.yaml").read_text())["rows"]
    row = next(r for r in rows if r["label"] == "SRGAN-MSE")
    cfg = compose_config([f"experiment={row['preset']}", *row["overrides"]], Path(compose_dir))
    assert cfg.loss.perceptual is None and cfg.loss.adversarial_weight == 1e-3
    pixel = instantiate(cfg.loss.pixel)
    sr, hr = torch.rand(2, 3, 8, 8, dtype=DTYPE), torch.rand(2, 3, 8, 8, dtype=DTYPE)
    eq4 = ((2 * hr - 1) - (2 * sr - 1)).square().sum(dim=1).mean()  # reduce_mean(reduce_sum(diff^2, axis=3))
    assert torch.allclose(pixel(sr, hr), eq4, rtol=1e-12)
