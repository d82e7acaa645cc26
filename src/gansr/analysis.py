"""Inspect a trained GAN run: what its discriminator and losses see on one crop (``notebooks/results.ipynb``).

* :func:`load_gan_run` - the trained :class:`~gansr.GANModule` of a run folder, rebuilt from the config that
  ``gansr-train`` saved (``<run>/hparams.yaml`` of the CSV logger, else ``.hydra/config.yaml``), read as data and
  built from gansr's own classes only (:mod:`gansr.training.rebuild`), and ``checkpoints/last.ckpt`` (read with
  :func:`~gansr.utils.checkpoint.safe_load`, ``weights_only=True``).
* :func:`inspect_crop` - for one HR-size crop: SR, the error mask of mask-aided training (docs/methods.md §7), the
  FASRGAN UNet's per-pixel score map (docs/methods.md §1.3) and the fine-grained attention weights of FASRGAN's
  attention loss (docs/methods.md §1.4, attention term, :func:`gansr.losses.attention.attention_weights`, the very function the
  loss uses).
* :func:`crop_panel_figure` - bicubic | SR | HR | mask | score map | attention of that crop, side by side.

The score map and attention weights need a discriminator that returns a per-pixel map (``discriminator=unet``:
FASRGAN, FA+Fs-SRGAN, ``srgan_fa``, the demo's GAN stage).
"""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from gansr.archs.bicubic import BicubicUpsampler
from gansr.losses.attention import attention_weights
from gansr.training.gan_module import GANModule, split_discriminator_output
from gansr.training.mask import ErrorMask
from gansr.training.rebuild import build_run_module
from gansr.training.variants import EDSRGAN, PESR
from gansr.utils.checkpoint import CheckpointMismatchError, safe_load
from gansr.utils.run_folder import (
    RUN_CONFIG_FILES,
    read_run_config,
    read_sections,
    run_config_files,
)

__all__ = ["crop_panel_figure", "default_mask", "inspect_crop", "load_gan_run", "load_run_config"]

#: baselines whose official code works in [0,255]: their mask error is in those units (docs/methods.md §7.1 row 2)
NATIVE_255 = (PESR, EDSRGAN)


def default_mask(module: GANModule) -> ErrorMask:
    """The mask shown for a run trained without one: the paper's k=0.2, b=0.5 (docs/methods.md §7) in the baseline's
    native units (docs/methods.md §7.1 row 2): ``error_scale`` 255 for PESR and EDSR-GAN, 1 otherwise (the ``mse_255``
    and ``mse`` mask configs)."""
    return ErrorMask(k=0.2, b=0.5, error_scale=255.0 if isinstance(module, NATIVE_255) else 1.0)


def load_run_config(run_dir: str | Path) -> DictConfig:
    """The config of a ``gansr-train`` run folder (:data:`~gansr.utils.run_folder.RUN_CONFIG_FILES`:
    ``<run_dir>/hparams.yaml``, resolved, written by the CSV logger, else ``<run_dir>/.hydra/config.yaml``), read as
    data (:func:`~gansr.utils.run_folder.read_run_config`: plain ``${a.b}`` references copied in, no resolver run),
    as a DictConfig for attribute access; it holds no interpolation.

    Raises:
        FileNotFoundError: neither file (a run composed in code without the CSV logger).
        ConfigFileError: the file is not plain data (a resolver ``${oc.env:...}``, an alias bomb, too large).
        ValueError: the file holds no ``module`` config.
    """
    file = _run_config_file(run_dir)
    cfg = read_run_config(file)
    if not isinstance(cfg.get("module"), dict):
        raise ValueError(f"{file} holds no 'module' config: not a gansr-train run folder")
    return OmegaConf.create(cfg)


def _run_config_file(run_dir: str | Path) -> Path:
    found = run_config_files(run_dir)
    if not found:
        names = " or ".join(str(name) for name in RUN_CONFIG_FILES)
        raise FileNotFoundError(
            f"no {names} in {run_dir}: gansr.analysis rebuilds a run from the config its CSV logger or gansr-train "
            "saved; train with logger=csv (the default) or logger=many"
        )
    return found[0]


def load_gan_run(run_dir: str | Path, checkpoint: str | Path | None = None) -> GANModule:
    """The trained GAN module of a run folder, in eval mode on the CPU.

    Built from the ``module`` section of the run's config (:func:`load_run_config`'s file, read as data) without
    ``generator_init`` (the weights come from the checkpoint) and without the perceptual loss (not needed to
    inspect a crop, and it would need the VGG19 weights file), by :func:`~gansr.training.rebuild.build_run_module`:
    only gansr's own classes with plain arguments, checked against the checkpoint's keys and shapes on the
    ``meta`` device first; nothing from the file reaches Hydra's ``instantiate`` or a resolver. The weights come
    from ``checkpoint`` (default ``<run_dir>/checkpoints/last.ckpt``), loaded with ``weights_only=True``.

    Raises:
        FileNotFoundError: no run config or no checkpoint.
        ConfigFileError: the config is not plain data (an interpolation other than ``${a.b}``, an alias bomb).
        UnsafeConfigError: the config names code outside gansr's classes, or non-plain arguments.
        ValueError: the run is not a GAN run (e.g. a PSNR pre-training stage).
        TypeError: the configured module is not a :class:`~gansr.GANModule`.
        CheckpointMismatchError: the checkpoint's weights do not fit the configured module.
    """
    run_dir = Path(run_dir)
    file = _run_config_file(run_dir)
    module_cfg = read_sections(file, ["module"], unset=["module.generator_init", "module.perceptual_loss"]).get("module")
    if not isinstance(module_cfg, dict):
        raise ValueError(f"{file} holds no 'module' config: not a gansr-train run folder")
    if "discriminator" not in module_cfg:
        raise ValueError(
            f"{run_dir} is not a GAN run (module {module_cfg.get('_target_')} has no discriminator); "
            "gansr.analysis inspects GAN stages (e.g. the demo's <out>/gan)"
        )
    path = Path(checkpoint) if checkpoint is not None else run_dir / "checkpoints" / "last.ckpt"
    checkpoint_dict = safe_load(path)
    weights = checkpoint_dict.get("state_dict")
    if not isinstance(weights, dict):
        raise CheckpointMismatchError(f"{path}: not a gansr training checkpoint (no state_dict)")
    state = {k: v for k, v in weights.items() if not k.startswith("perceptual_loss.")}
    module = build_run_module(module_cfg, state, file)
    if not isinstance(module, GANModule):
        raise TypeError(f"{run_dir}: module {type(module).__name__} is not a GANModule")
    module.load_state_dict(state)  # keys and shapes already checked (the perceptual loss is neither built nor kept)
    module.iteration = int(checkpoint_dict.get("iteration", 0))  # the module's own counter (docs/methods.md §8.2)
    return module.eval()


def _crop_window(hr_size: tuple[int, int], size: int, scale: int, top: int | None, left: int | None) -> tuple[int, int]:
    h, w = hr_size
    if size > h or size > w:
        raise ValueError(f"inspect_crop: the discriminator needs a {size}x{size} crop, the HR image is {h}x{w}")
    top = (h - size) // 2 if top is None else top
    left = (w - size) // 2 if left is None else left
    top, left = top - top % scale, left - left % scale  # on the LR grid, so LR and HR crops match exactly
    if not (0 <= top <= h - size and 0 <= left <= w - size):
        raise ValueError(f"inspect_crop: crop {size}x{size} at ({top},{left}) leaves the {h}x{w} HR image")
    return top, left


@torch.no_grad()
def inspect_crop(
    module: GANModule,
    lr: torch.Tensor,
    hr: torch.Tensor,
    *,
    top: int | None = None,
    left: int | None = None,
) -> dict[str, object]:
    """What a GAN run's discriminator and losses see on one crop.

    The crop is ``P x P`` HR pixels (``P`` = the discriminator's ``input_size``, e.g. the run's HR patch size;
    the whole image when D has no fixed size) at ``(top, left)`` (default: the centre; snapped to the LR grid),
    and the matching ``P/s x P/s`` LR window. ``SR = module(lr_crop)`` (training weights, as D sees it in training).

    Args:
        module: a GAN module with a per-pixel-map discriminator (:func:`load_gan_run`).
        lr: ``(3,h,w)`` or ``(1,3,h,w)`` in [0,1]; hr: ``(3,s*h,s*w)`` or ``(1,3,s*h,s*w)``.
        top, left: HR coordinates of the crop's corner.

    Returns:
        ``lr (3,P/s,P/s)``, ``bicubic``, ``sr``, ``hr`` ``(3,P,P)`` (``sr`` and ``bicubic`` unclamped);
        ``mask (P,P)``: :class:`~gansr.training.mask.ErrorMask` of SR vs HR (the run's mask, else the paper default
        k=0.2, b=0.5 in the baseline's units, :func:`default_mask`; docs/methods.md §7), averaged over channels;
        ``mask_source``: "run" or "default (k=0.2, b=0.5, error_scale 1)" (255 for PESR/EDSR-GAN);
        ``map_logits (C,P,P)``: D's map on its fake input (``SR``, or ``SR * mask`` for a mask-aided run,
        docs/methods.md §7.1 row 5); ``score_map (P,P)``: ``sigmoid(map_logits)`` averaged over channels (1 = looks real,
        docs/methods.md §1.3); ``attention (P,P)``: ``attention_weights(map_logits)`` = ``1 - sigmoid(map_logits)``
        averaged over channels, the weights of FASRGAN's attention loss (docs/methods.md §1.4, attention term);
        ``global_score``: ``sigmoid`` of D's global logit; ``top``, ``left``, ``size``.

    Raises:
        ValueError: the discriminator returns no per-pixel map ("needs discriminator=unet"), or the crop does not
            fit the image.
    """
    lr = lr[None] if lr.dim() == 3 else lr
    hr = hr[None] if hr.dim() == 3 else hr
    scale = int(module.scale)
    if hr.shape[-2:] != (lr.shape[-2] * scale, lr.shape[-1] * scale):
        raise ValueError(f"inspect_crop: hr {tuple(hr.shape)} is not x{scale} of lr {tuple(lr.shape)}")
    discriminator = getattr(module, "discriminator", None)
    if discriminator is None:
        raise ValueError(f"inspect_crop needs a GAN module with a discriminator, got {type(module).__name__}")
    size = getattr(discriminator, "input_size", None) or min(hr.shape[-2:])
    size -= size % scale
    top, left = _crop_window(tuple(hr.shape[-2:]), size, scale, top, left)
    device = next(module.parameters()).device
    hr_crop = hr[..., top : top + size, left : left + size].to(device)
    lr_crop = lr[..., top // scale : (top + size) // scale, left // scale : (left + size) // scale].to(device)

    was_training = module.training
    module.eval()
    try:
        sr = module(lr_crop)
        run_mask = module.mask(sr, hr_crop) if module.mask is not None else None
        fake_in, _ = module.discriminator_inputs(sr, hr_crop, run_mask)
        global_logits, map_logits = split_discriminator_output(module.discriminate(fake_in))
    finally:
        module.train(was_training)
    if map_logits is None:
        raise ValueError(
            f"inspect_crop: {type(discriminator).__name__} returns no per-pixel score map; the score map and the "
            "attention weights need discriminator=unet (FASRGAN's UNet)"
        )
    shown_mask = module.mask if module.mask is not None else default_mask(module)
    mask = run_mask if run_mask is not None else shown_mask(sr, hr_crop)
    return {
        "lr": lr_crop[0].cpu(),
        "bicubic": BicubicUpsampler(scale)(lr_crop)[0].cpu(),
        "sr": sr[0].cpu(),
        "hr": hr_crop[0].cpu(),
        "mask": mask[0].mean(0).cpu(),
        "mask_source": "run" if run_mask is not None
        else f"default (k=0.2, b=0.5, error_scale {shown_mask.error_scale:g})",
        "map_logits": map_logits[0].cpu(),
        "score_map": torch.sigmoid(map_logits[0]).mean(0).cpu(),
        "attention": attention_weights(map_logits[0]).mean(0).cpu(),
        "global_score": float(torch.sigmoid(global_logits).mean()),
        "top": top,
        "left": left,
        "size": size,
    }


def crop_panel_figure(crop: dict[str, object], title: str | None = None, panel_size: float = 2.6):
    """A matplotlib Figure of one :func:`inspect_crop` result: bicubic | SR | HR | mask | score map | attention.

    Images are clamped to [0,1]; every map carries a colorbar. Score map (1 = D finds the pixel real) and attention
    (1 = largest L1 weight) use the fixed [0,1] range; the mask uses its own range (in [0,1] units with k=0.2,
    b=0.5 it stays within about 0.5-0.7, docs/methods.md §7.1 row 2, and would look flat on [0,1]), so read its colorbar.
    Built without pyplot (no global figure state); Jupyter shows it as a cell's last expression.
    """
    from matplotlib.figure import Figure

    images = [("bicubic", crop["bicubic"]), ("SR", crop["sr"]), ("HR", crop["hr"])]
    maps = [  # (title, values, colormap, fixed range or None = the values' own range)
        (f"error mask, own range\n{crop['mask_source']}", crop["mask"], "viridis", None),
        (f"D score map (global {crop['global_score']:.2f})", crop["score_map"], "magma", (0.0, 1.0)),
        ("attention weight 1 - score", crop["attention"], "magma", (0.0, 1.0)),
    ]
    fig = Figure(figsize=(panel_size * 6 + 1.5, panel_size + 0.6), layout="constrained")
    axes = fig.subplots(1, 6)
    for ax, (name, img) in zip(axes[:3], images):
        ax.imshow(img.clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(name, fontsize=9)
    for ax, (name, values, cmap, value_range) in zip(axes[3:], maps):
        vmin, vmax = value_range or (None, None)
        shown = ax.imshow(values.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=9)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{crop['size']}x{crop['size']} HR crop at ({crop['top']}, {crop['left']})", fontsize=10)
    return fig
