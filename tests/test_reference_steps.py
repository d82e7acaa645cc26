"""Two training iterations of every GAN method against an independent reference (issue 14).

For ESRGAN, FASRGAN, Fs-SRGAN, FA+Fs-SRGAN, SRGAN, PESR and EDSR-GAN, each with and without the error mask:
the real ``GANModule`` (the method's preset losses, GAN objective, attention, mask and step order, composed with
Hydra; tiny G, D, E written here) trains two iterations through Lightning, and a reference written below with
plain tensor ops, ``torch.autograd.grad`` and a hand-written Adam trains the same two iterations from the same
weights and data. G, D, E weights and D's BatchNorm buffers must agree to 1e-10 (float64).

The reference pins, independently of gansr's loss classes: each loss weight (the paper values, docs/methods.md §1-5, 8.1),
each formula (RaGAN as coded, RSGAN with focal weight, vanilla with mean/sum D loss, FASRGAN's map and attention
terms, PESR's summed TV, SRGAN's /12.75 content loss), what is detached, which D forwards run in train mode (BN
running statistics), the step order, E's two optimizers (Fs) and the mask. It is sensitive: every loss weight
changed by 10 %, the step order swapped, or the gradient from D'(E(SR)) into E removed, breaks the comparison.

Adam runs with ``eps=1e-3`` here (the presets use 1e-8): with a tiny eps, Adam's first steps are nearly
invariant to the scale of a gradient, so a D loss scaled by 1.1 would go unnoticed; a large eps keeps the
update proportional to the gradient where it is small, so every weight is visible in the weights after 2 steps.
"""
from __future__ import annotations

import functools
import math

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gansr.cli import CONF_DIR, compose_config

DTYPE = torch.float64
BATCH, LR_SIZE, SCALE, FEAT = 3, 4, 2, 4  # HR 8x8
LR0, BETAS, EPS = 1e-2, (0.9, 0.999), 1e-3
MILESTONE = 1  # lr x 0.5 from the second iteration on: the scheduler is stepped once per iteration
TOL, SENSITIVE = 1e-10, 1e-8
IMAGENET_MEAN = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)  # float32 buffers in the VGG loss
IMAGENET_STD = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)


# ------------------------------------------------------------------------------------------------ tiny networks
class TinyG(nn.Module):
    """conv3x3 [-> BN] -> LeakyReLU(0.2) -> nearest x2 -> conv3x3 (in_channels -> 3). ``bn``: SRResNet's BN in G."""

    def __init__(self, in_channels: int = 3, bn: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, FEAT, 3, 1, 1, bias=not bn)  # a bias before BN gets no gradient
        self.bn = nn.BatchNorm2d(FEAT) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(FEAT, 3, 3, 1, 1)

    def forward(self, x):
        return self.conv2(F.interpolate(F.leaky_relu(self.bn(self.conv1(x)), 0.2), scale_factor=2, mode="nearest"))


class TinyE(nn.Module):
    """Shared extractor: conv3x3 3 -> FEAT [-> BN] + LeakyReLU(0.2). ``bn``: SRGAN_Fs's E (an SRResNet RB)."""

    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, FEAT, 3, 1, 1, bias=not bn)
        self.bn = nn.BatchNorm2d(FEAT) if bn else nn.Identity()

    def forward(self, x):
        return F.leaky_relu(self.bn(self.conv(x)), 0.2)


class TinyD(nn.Module):
    """conv3x3 stride 2 -> BN -> LeakyReLU -> linear: (B,C,size,size) -> (B,1); with ``with_map`` also a 3-channel
    per-pixel map (conv1x1 on a stride-1 branch) like FASRGAN's UNet: ``(logits, map)``."""

    def __init__(self, in_channels: int = 3, with_map: bool = False, size: int = 2 * LR_SIZE) -> None:
        super().__init__()
        self.with_map = with_map
        self.conv = nn.Conv2d(in_channels, FEAT, 3, 2, 1, bias=False)  # its gradient would be rounding noise only
        self.bn = nn.BatchNorm2d(FEAT)
        self.fc = nn.Linear(FEAT * (size // 2) ** 2, 1)
        if with_map:
            self.map_conv = nn.Conv2d(in_channels, 3, 1)

    def forward(self, x):
        logits = self.fc(F.leaky_relu(self.bn(self.conv(x)), 0.2).flatten(1))
        return (logits, self.map_conv(x)) if self.with_map else logits


# ----------------------------------------------------------------------------------------------- reference maths
def conv(x, p, name, stride=1):
    w = p[f"{name}.weight"]
    return F.conv2d(x, w, p.get(f"{name}.bias"), stride=stride, padding=w.shape[-1] // 2)


def lrelu(x):
    return torch.where(x >= 0, x, 0.2 * x)


def ref_batch_norm(x, p, buffers, name="bn"):
    """Train-mode BN: batch statistics; running stats updated in place (momentum 0.1, unbiased running var)."""
    mean = x.mean(dim=(0, 2, 3))
    var = x.var(dim=(0, 2, 3), unbiased=False)
    n = x.numel() / x.shape[1]
    with torch.no_grad():
        buffers[f"{name}.running_mean"].mul_(0.9).add_(0.1 * mean)
        buffers[f"{name}.running_var"].mul_(0.9).add_(0.1 * var * n / (n - 1))
        buffers[f"{name}.num_batches_tracked"].add_(1)
    shape = (1, -1, 1, 1)
    normalised = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + 1e-5)
    return normalised * p[f"{name}.weight"].view(shape) + p[f"{name}.bias"].view(shape)


def maybe_bn(x, p, buffers):
    """The tiny G's / E's optional train-mode BatchNorm (present when ``p`` holds ``bn.*``)."""
    return ref_batch_norm(x, p, buffers) if "bn.weight" in p else x


def ref_g(x, p, buffers=None):
    h = lrelu(maybe_bn(conv(x, p, "conv1"), p, buffers))
    h = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest x2
    return conv(h, p, "conv2")


def ref_e(x, p, buffers=None):
    return lrelu(maybe_bn(conv(x, p, "conv"), p, buffers))


def ref_d(x, p, buffers, with_map):
    h = lrelu(ref_batch_norm(conv(x, p, "conv", stride=2), p, buffers))
    logits = h.flatten(1) @ p["fc.weight"].T + p["fc.bias"]
    return (logits, conv(x, p, "map_conv")) if with_map else (logits, None)


VGG19_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)


def vgg19_convs(layer: str) -> int:
    """How many convolutions VGG19 runs up to ``layer`` ("conv{block}_{n}"): conv1_2 -> 2, conv5_4 -> 16."""
    block, n = (int(v) for v in layer[len("conv"):].split("_"))
    return {1: 0, 2: 2, 3: 4, 4: 8, 5: 12}[block] + n


def ref_vgg(x, vgg, after_relu):
    """VGG19 features on ImageNet-normalised [0,1] RGB up to the last of the ``len(vgg) // 2`` convolutions whose
    weights and biases ``vgg`` lists (conv, ReLU, ... 2x2 max-pool between blocks), before or after its ReLU."""
    h = (x - IMAGENET_MEAN.to(DTYPE).view(1, 3, 1, 1)) / IMAGENET_STD.to(DTYPE).view(1, 3, 1, 1)
    convs = iter(zip(vgg[0::2], vgg[1::2]))
    left = len(vgg) // 2
    for step in VGG19_PLAN:
        if step == "M":
            h = F.max_pool2d(h, 2)
            continue
        weight, bias = next(convs)
        h = F.conv2d(h, weight, bias, padding=1)
        left -= 1
        if left == 0:
            return torch.relu(h) if after_relu else h
        h = torch.relu(h)
    raise AssertionError("more VGG weights than VGG19 has convolutions")


def bce(z, target):
    """BCE with logits against a constant target, mean over elements (stable form)."""
    return (torch.clamp(z, min=0) - z * target + torch.log1p(torch.exp(-z.abs()))).mean()


def bce_elements(z, target):
    return torch.clamp(z, min=0) - z * target + torch.log1p(torch.exp(-z.abs()))


def ref_generator_gan(kind, real, fake):
    if kind == "ragan":
        return 0.5 * (bce(real - fake.mean(0, keepdim=True), 0.0) + bce(fake - real.mean(0, keepdim=True), 1.0))
    if kind in ("vanilla_mean", "vanilla_sum"):
        return bce(fake, 1.0)
    z = fake - real  # rsgan_focal, gamma 1: weight (1 - sigmoid(z)) carries gradient
    return ((1 - torch.sigmoid(z)) * bce_elements(z, 1.0)).mean()


def ref_discriminator_gan(kind, real, fake):
    if kind == "ragan":  # means NOT detached (BSR-2019 / FASRGAN, one backward)
        return 0.5 * (bce(real - fake.mean(0, keepdim=True), 1.0) + bce(fake - real.mean(0, keepdim=True), 0.0))
    if kind == "vanilla_mean":
        return 0.5 * (bce(real, 1.0) + bce(fake, 0.0))
    if kind == "vanilla_sum":
        return bce(real, 1.0) + bce(fake, 0.0)
    return bce(real - fake, 1.0)  # rsgan


def ref_adam_step(params, grads, state, lr, betas=BETAS, eps=EPS):
    """torch.optim.Adam (no weight decay, no amsgrad) written out; ``state`` per parameter name."""
    b1, b2 = betas
    with torch.no_grad():
        for name in params:
            m, v, t = state.get(name, (torch.zeros_like(params[name]), torch.zeros_like(params[name]), 0))
            g, t = grads[name], t + 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            state[name] = (m, v, t)
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            params[name] -= lr * m_hat / (v_hat.sqrt() + eps)


MASK_SCALE = {"mse": 1.0, "mse_255": 255.0}  # conf/mask/*.yaml: k 0.2, b 0.5 (mask paper Table 1)
MASK_REAL = True  # conf/mask/*.yaml apply_to_real: D's real input is HR * mask too (docs/methods.md, the mask's real input)


@torch.no_grad()
def ref_mask(sr, hr, error_scale):
    return (0.2 * (error_scale * (sr - hr)).square().mean(dim=1, keepdim=True) + 0.5).clamp(0, 1)


def reference(spec: dict, state: dict, batches: list, *, weights: dict | None = None, order: str | None = None,
              e_grad_from_d_branch: bool = True, optim: dict | None = None) -> dict:
    """Two iterations of the method in ``spec`` on copies of ``state``; returns the final G/D/E params + buffers.

    ``weights`` overrides loss weights (sensitivity checks); ``order`` overrides the step order;
    ``e_grad_from_d_branch=False`` cuts the gradient from D'(E(SR)) into E in the G step (Fs mutation).
    ``optim``: ``{"lr_g": [lr per iteration], "lr_d": [...], "betas": ..., "eps": ...}`` (default: LR0 halved from
    MILESTONE on, BETAS, EPS). ``spec["mask_real"]``: D's real input is ``HR * mask`` too.
    """
    w = {**spec["weights"], **(weights or {})}
    order = order or spec["order"]
    default_lrs = [LR0 * (0.5 if i >= MILESTONE else 1.0) for i in range(len(batches))]
    optim = {"lr_g": default_lrs, "lr_d": default_lrs, "betas": BETAS, "eps": EPS, **(optim or {})}
    g = {k: v.clone().requires_grad_(True) for k, v in state["g"].items()}
    d = {k: v.clone().requires_grad_(True) for k, v in state["d"].items()}
    e = {k: v.clone().requires_grad_(True) for k, v in state["e"].items()}
    buffers = {part: {k: v.clone() for k, v in state[f"{part}_buffers"].items()} for part in ("g", "d", "e")}
    vgg, with_map, kind = state["vgg"], spec["map"], spec["gan"]
    adam_g, adam_d = {}, {}

    def disc(x, e_params):
        return ref_d(ref_e(x, e_params, buffers["e"]) if e else x, d, buffers["d"], with_map)

    def masked(sr, hr, mask):
        if mask is None:
            return sr, hr
        return sr * mask, (hr * mask if spec.get("mask_real") else hr)

    def d_step(sr, hr, mask, lr):
        fake_in, real_in = masked(sr.detach(), hr, mask)
        real_logits, real_map = disc(real_in, e)  # real first, then fake (two train-mode BN forwards)
        fake_logits, fake_map = disc(fake_in, e)
        loss = w["d_gan"] * ref_discriminator_gan(kind, real_logits, fake_logits)
        if with_map:
            loss = loss + w["d_map"] * 0.5 * (bce(real_map, 1.0) + bce(fake_map, 0.0))
        owned = {**{f"e.{k}": v for k, v in e.items()}, **{f"d.{k}": v for k, v in d.items()}}
        grads = dict(zip(owned, torch.autograd.grad(loss, list(owned.values()))))
        ref_adam_step(owned, grads, adam_d, lr, optim["betas"], optim["eps"])

    def g_step(sr, hr, mask, lr):
        loss = 0.0
        if w.get("pixel"):
            diff = sr - hr
            loss = loss + w["pixel"] * (diff.abs().mean() if spec["pixel"] == "l1" else diff.square().mean())
        if w.get("perceptual"):
            f_sr = ref_vgg(sr, vgg, spec["perceptual"] == "srgan")
            with torch.no_grad():
                f_hr = ref_vgg(hr, vgg, spec["perceptual"] == "srgan")
            delta = f_sr - f_hr
            term = {"l1": delta.abs().mean(), "mse": delta.square().mean(),
                    "srgan": (delta / 12.75).square().sum(dim=1).mean()}[spec["perceptual"]]
            loss = loss + w["perceptual"] * term
        if w.get("tv"):
            tv = (sr[..., 1:, :] - sr[..., :-1, :]).abs().sum() + (sr[..., :, 1:] - sr[..., :, :-1]).abs().sum()
            loss = loss + w["tv"] * tv  # summed, not averaged (PESR)
        fake_in, real_in = masked(sr, hr, mask)
        e_d = e if e_grad_from_d_branch else {k: v.detach() for k, v in e.items()}
        fake_logits, fake_map = disc(fake_in, e_d)
        real_logits = real_map = None
        if kind not in ("vanilla_mean", "vanilla_sum") or with_map:  # vanilla G loss does not read D(HR)
            with torch.no_grad():  # train-mode forward: BN running stats move, no gradient
                real_logits, real_map = disc(real_in, e)
        loss = loss + w["adversarial"] * ref_generator_gan(kind, real_logits, fake_logits)
        if with_map:
            loss = loss + w["map"] * 0.5 * (bce(real_map, 0.0) + bce(fake_map, 1.0))
            loss = loss + w["attention"] * ((1 - torch.sigmoid(fake_map)).detach() * (sr - hr).abs()).mean()
        owned = {**{f"e.{k}": v for k, v in e.items()}, **{f"g.{k}": v for k, v in g.items()}}
        grads = dict(zip(owned, torch.autograd.grad(loss, list(owned.values()))))
        ref_adam_step(owned, grads, adam_g, lr, optim["betas"], optim["eps"])

    for iteration, (lr_img, hr) in enumerate(batches):
        lr_g, lr_d = optim["lr_g"][iteration], optim["lr_d"][iteration]
        # once per iteration, before both steps (train mode: G's and E's BN statistics move once here)
        sr = ref_g(ref_e(lr_img, e, buffers["e"]) if e else lr_img, g, buffers["g"])
        mask = ref_mask(sr, hr, MASK_SCALE[spec["mask"]]) if spec.get("mask") else None
        if order == "g_first":
            g_step(sr, hr, mask, lr_g)
            d_step(sr, hr, mask, lr_d)
        else:
            d_step(sr, hr, mask, lr_d)
            g_step(sr, hr, mask, lr_g)
    parts = {"generator": (g, "g"), "discriminator": (d, "d"), "extractor": (e, "e")}
    out = {f"{name}.{k}": v for name, (params, key) in parts.items() for k, v in {**params, **buffers[key]}.items()}
    return {k: v.detach() for k, v in out.items()}


# ----------------------------------------------------------------------------------------------- the methods
# The paper values each preset must train with (docs/methods.md §1.4-1.6, 2.4, 3, 4, 5, 8.1; FASRGAN lambda2 = 1e-2).
# d_gan / d_map: the weight of D's global and map terms (1 in every official code).
METHODS = {
    "esrgan": {"preset": "esrgan", "gan": "ragan", "order": "g_first", "fs": False, "map": False,
        "pixel": "l1", "perceptual": "l1",
        "weights": {"pixel": 1e-2, "perceptual": 1.0, "adversarial": 5e-3, "d_gan": 1.0}},
    "fasrgan": {"preset": "fasrgan", "gan": "ragan", "order": "g_first", "fs": False, "map": True,
        "pixel": "l1", "perceptual": "l1",
        "weights": {"pixel": 1e-2, "perceptual": 1.0, "adversarial": 5e-3, "map": 5e-3, "attention": 1e-2,
                "d_gan": 1.0, "d_map": 1.0}},
    "fs_srgan": {"preset": "fs_srgan", "gan": "ragan", "order": "g_first", "fs": True, "map": False,
        "pixel": "l1", "perceptual": "l1",
        "weights": {"pixel": 1e-2, "perceptual": 1.0, "adversarial": 5e-3, "d_gan": 1.0}},
    "fa_fs_srgan": {"preset": "fa_fs_srgan", "gan": "ragan", "order": "g_first", "fs": True, "map": True,
        "pixel": "l1", "perceptual": "l1",
        "weights": {"pixel": 1e-2, "perceptual": 1.0, "adversarial": 5e-3, "map": 5e-3, "attention": 1e-2,
                "d_gan": 1.0, "d_map": 1.0}},
    "srgan": {"preset": "srgan", "gan": "vanilla_sum", "order": "g_first", "fs": False, "map": False,
        "pixel": None, "perceptual": "srgan",
        "weights": {"perceptual": 1.0, "adversarial": 1e-3, "d_gan": 1.0}},
    "pesr": {"preset": "pesr", "gan": "rsgan_focal", "order": "d_first", "fs": False, "map": False,
        "pixel": "l1", "perceptual": "mse",
        "weights": {"pixel": 255.0, "perceptual": 50.0, "tv": 2.55e-4, "adversarial": 1.0, "d_gan": 1.0}},
    "edsr_gan": {"preset": "edsr_gan", "gan": "vanilla_sum", "order": "d_first", "fs": False, "map": False,
        "pixel": "l1", "perceptual": "mse",
        "weights": {"pixel": 25.5, "perceptual": 5.0, "adversarial": 0.15, "d_gan": 1.0}},
}


@functools.cache
def preset_config(preset: str, tmp: str):
    """The preset's composed config with a 2-layer VGG (conv1_2) and no weights file: the parts under test."""
    from pathlib import Path

    return compose_config([f"experiment={preset}", "loss.perceptual.layer=conv1_2", "loss.perceptual.pretrained=false",
                           "loss.perceptual.weights_path=null"], Path(tmp))


def build_module(spec: dict, mask: str | None, tmp: str):
    """The real module: the preset's class, losses, objective, attention and step order around tiny nets."""
    cfg = preset_config(spec["preset"], tmp)
    torch.manual_seed(0)
    extractor = TinyE() if spec["fs"] else None
    generator = TinyG(FEAT if spec["fs"] else 3)
    discriminator = TinyD(FEAT if spec["fs"] else 3, with_map=spec["map"])
    make = lambda node: instantiate(node) if node is not None else None
    adam = functools.partial(torch.optim.Adam, lr=LR0, betas=BETAS, eps=EPS)
    schedule = functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[MILESTONE], gamma=0.5)
    module = get_class(cfg.module._target_)(
        generator, discriminator, objective=instantiate(cfg.gan), extractor=extractor,
        optimizer_g=adam, optimizer_d=adam, scheduler_g=schedule, scheduler_d=schedule,
        pixel_loss=make(cfg.loss.pixel), perceptual_loss=make(cfg.loss.perceptual), tv_loss=make(cfg.loss.tv),
        adversarial_weight=cfg.loss.adversarial_weight, map_objective=make(cfg.loss.map_objective),
        adversarial_map_weight=cfg.loss.adversarial_map_weight, attention=make(cfg.get("attention")),
        mask=instantiate(OmegaConf.load(CONF_DIR / "mask" / f"{mask}.yaml")) if mask else None,
        step_order=cfg.module.step_order, scale=SCALE,
    )
    return module.to(DTYPE)


def initial_state(module) -> dict:
    named = lambda m: {k: v.detach().clone() for k, v in m.named_parameters()} if m is not None else {}
    features = module.perceptual_loss.vgg.features
    return {"g": named(module.generator), "d": named(module.discriminator), "e": named(module.extractor),
            **{f"{key}_buffers": {k: v.clone() for k, v in part.named_buffers()} if part is not None else {}
               for key, part in (("g", module.generator), ("d", module.discriminator), ("e", module.extractor))},
            "vgg": [t.detach().clone() for m in features if isinstance(m, nn.Conv2d) for t in (m.weight, m.bias)]}


def data(state: dict | None = None, lr_size: int = LR_SIZE) -> list:
    """Two batches of (LR, HR). With ``state`` (the [0,255] mask cases), HR is the initial SR plus noise of up to
    3 grey levels, so the mask (saturated above about 1.6 grey levels) is not 1 everywhere."""
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(2 * BATCH, 3, lr_size * SCALE, lr_size * SCALE, generator=g, dtype=DTYPE)
    lr = F.avg_pool2d(hr, SCALE)
    if state is not None:
        with torch.no_grad():
            sr = initial_sr(lr, state)
        hr = sr + (torch.rand(hr.shape, generator=g, dtype=DTYPE) - 0.5) * 6 / 255
    return [(lr[i * BATCH:(i + 1) * BATCH], hr[i * BATCH:(i + 1) * BATCH]) for i in range(2)]


def initial_sr(lr: torch.Tensor, state: dict) -> torch.Tensor:
    """SR of the initial weights (on copies of the BN buffers)."""
    copy = lambda part: {k: v.clone() for k, v in state[f"{part}_buffers"].items()}
    features = ref_e(lr, state["e"], copy("e")) if state["e"] else lr
    return ref_g(features, state["g"], copy("g"))


class Pairs(TensorDataset):
    def __getitem__(self, i):
        lr, hr = super().__getitem__(i)
        return {"lr": lr, "hr": hr}


def fit(module, batches: list) -> None:
    """Lightning float64 training, one iteration per batch (in order)."""
    dataset = Pairs(torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
    trainer = pl.Trainer(accelerator="cpu", precision="64-true",
                         max_steps=len(batches) * module.optimizer_steps_per_iteration, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, DataLoader(dataset, batch_size=BATCH, shuffle=False))


def train_two_iterations(module, batches: list) -> dict:
    fit(module, batches)
    assert module.iteration == 2
    parts = {"generator": module.generator, "discriminator": module.discriminator, "extractor": module.extractor}
    return {f"{name}.{k}": v.detach() for name, part in parts.items() if part is not None
            for k, v in part.state_dict().items()}


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
    return max((a[k].to(DTYPE) - b[k].to(DTYPE)).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def compose_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def runs(compose_dir):
    """(method, mask) -> (spec, initial state, data, weights after 2 real iterations); each run once per module."""
    cache = {}

    def get(method: str, mask: str | None):
        if (method, mask) not in cache:
            spec = {**METHODS[method], "mask": mask, "mask_real": MASK_REAL}
            module = build_module(spec, mask, compose_dir)
            state = initial_state(module)
            batches = data(state if mask == "mse_255" else None)
            cache[method, mask] = spec, state, batches, train_two_iterations(module, batches)
        return cache[method, mask]

    return get


# mask=mse on every method (errors in [0,1] units); PESR and EDSR-GAN also with their presets' [0,255] mask
CASES = [(m, mask) for m in sorted(METHODS) for mask in (None, "mse")] + [("pesr", "mse_255"), ("edsr_gan", "mse_255")]
IDS = [f"{m}-{mask or 'plain'}" for m, mask in CASES]


@pytest.mark.parametrize("method,mask", CASES, ids=IDS)
def test_two_iterations_match_the_reference(runs, method, mask):
    spec, state, batches, trained = runs(method, mask)
    expected = reference(spec, state, batches)
    assert max_difference(trained, expected) < TOL
    moved = {k: v for k, v in expected.items() if not k.endswith("num_batches_tracked")}
    start = {f"{part}.{k}": v for part, key in (("generator", "g"), ("discriminator", "d"), ("extractor", "e"))
             for k, v in state[key].items()}
    # every parameter moved, except D's last bias, which cancels in the relativistic losses (real - fake)
    still = [k for k in start if torch.equal(moved[k], start[k]) and k != "discriminator.fc.bias"]
    assert still == [], f"not updated: {still}"


@pytest.mark.parametrize("method,mask", CASES, ids=IDS)
def test_reference_is_sensitive_to_every_loss_weight(runs, method, mask):
    """Each weight x 1.1 (the paper value changed by 10 %) gives weights that no longer match the real run."""
    spec, state, batches, trained = runs(method, mask)
    for name, value in spec["weights"].items():
        perturbed = reference(spec, state, batches, weights={name: 1.1 * value})
        assert max_difference(trained, perturbed) > SENSITIVE, f"{method}: weight {name} x 1.1 went unnoticed"
    if mask:  # the mask matters: without it, or on the other real input, the reference no longer matches
        assert max_difference(trained, reference({**spec, "mask": None}, state, batches)) > SENSITIVE
        assert max_difference(trained, reference({**spec, "mask_real": not MASK_REAL}, state, batches)) > SENSITIVE
        lr, hr = batches[0]
        first = ref_mask(initial_sr(lr, state),
                         hr, MASK_SCALE[mask])
        assert first.min() < 0.99 and first.max() > 0.5


@pytest.mark.parametrize("method", ["pesr", "edsr_gan", "esrgan"])
def test_reference_is_sensitive_to_the_step_order(runs, method):
    spec, state, batches, trained = runs(method, None)
    swapped = "g_first" if spec["order"] == "d_first" else "d_first"
    assert max_difference(trained, reference(spec, state, batches, order=swapped)) > SENSITIVE


@pytest.mark.parametrize("method", ["fs_srgan", "fa_fs_srgan"])
def test_fs_extractor_needs_the_gradient_through_the_discriminator_branch(runs, method):
    """Fs-SRGAN's E is trained in the G step by D'(E(SR)) too (docs/methods.md §1.5): without that gradient the
    reference no longer matches the real run."""
    spec, state, batches, trained = runs(method, None)
    assert max_difference(trained, reference(spec, state, batches, e_grad_from_d_branch=False)) > SENSITIVE


@pytest.mark.parametrize("method", ["pesr", "edsr_gan"])
def test_d_first_generator_loss_sees_the_just_updated_discriminator(method, compose_dir):
    """PESR / EDSR-GAN: in iteration 1 the D step runs first, and the G loss is computed with D's new weights."""
    module = build_module({**METHODS[method], "mask": None}, None, compose_dir)
    start = {k: v.detach().clone() for k, v in module.discriminator.named_parameters()}
    seen = []
    original = module.generator_losses

    def recording(*args, **kwargs):
        seen.append({k: v.detach().clone() for k, v in module.discriminator.named_parameters()})
        return original(*args, **kwargs)

    module.generator_losses = recording
    fit(module, data()[:1])
    after = dict(module.discriminator.named_parameters())
    assert len(seen) == 1
    assert all(torch.equal(seen[0][k], after[k]) for k in after)  # G saw D after its step ...
    assert any(not torch.equal(seen[0][k], start[k]) for k in start)  # ... which had moved


def test_reference_adam_is_torch_adam():
    """The hand-written Adam of the reference equals torch.optim.Adam (same betas/eps, lr change between steps)."""
    torch.manual_seed(0)
    p = torch.randn(5, dtype=DTYPE, requires_grad=True)
    mine, state = {"p": p.detach().clone()}, {}
    opt = torch.optim.Adam([p], lr=LR0, betas=BETAS, eps=EPS)
    for step, g in enumerate(torch.randn(3, 5, dtype=DTYPE)):
        opt.param_groups[0]["lr"] = LR0 * 0.5 ** step
        p.grad = g.clone()
        opt.step()
        ref_adam_step(mine, {"p": g}, state, LR0 * 0.5 ** step)
    assert (mine["p"] - p.detach()).abs().max() < 1e-14
    assert math.isclose(state["p"][2], 3)
