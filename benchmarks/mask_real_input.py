"""Does the error mask give D a brightness shortcut? (issue 20 item 5; docs/methods.md, "Mask-aided adversarial
training"). CPU, single thread, a few minutes:

    OMP_NUM_THREADS=1 nice python benchmarks/mask_real_input.py --hr-dir <data_dir>/T91/HR --out mask_real.json

A tiny ``esrgan_mask`` (RRDBNet 16 features x 1 block with a bicubic image skip, VGG-128-style D with 8 features,
HR 64, batch 8, no VGG loss so it runs offline) starts from its own MSE stage (``esrgan_mask_psnr``, ``--psnr-iterations``) and trains
``--gan-iterations`` GAN iterations three times from the same start, seed and data: without the mask (control),
``mask.apply_to_real=false`` (D sees SR x mask against HR) and ``true`` (both multiplied by the same mask). On held-out HR patches (the last
``--held-out`` images of the folder) it reports: the mask's mean, min and max; the mean brightness of HR, of SR and
of D's fake and real inputs; D's mean logit on its real and fake input and their gap; and the gap D reaches on
the unmasked pair (SR vs HR), i.e. whether D learned realism or the mask's dimming.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from gansr.cli import compose_config
from gansr.data.image_io import read_image
from gansr.data.imresize import imresize
from gansr.training.gan_module import split_discriminator_output
from gansr.training.mask import ErrorMask

# image_skip=bicubic (as the demo): SR starts at bicubic brightness, so a short PSNR stage gives a sensible start
TINY = ["generator.num_feat=16", "generator.num_block=1", "generator.num_grow_ch=8", "+generator.image_skip=bicubic",
        "data.patch_size=64",
        "data.batch_size=8", "data.num_workers=0", "data.val=[]", "data=folder"]


def fit(cfg, iterations: int, workdir: Path):
    pl.seed_everything(0, workers=True)
    module = instantiate(cfg.module)
    trainer = pl.Trainer(accelerator="cpu", max_steps=iterations * module.optimizer_steps_per_iteration, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=workdir)
    trainer.fit(module, datamodule=instantiate(cfg.data))
    return module, trainer


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".bmp"))


def held_out_patches(folder: Path, count: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre HR crops of the last ``count`` images and their MATLAB-bicubic x4 LR."""
    hrs = []
    for path in image_files(folder)[-count:]:
        image = read_image(path)
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        hrs.append(torch.from_numpy(image[top:top + size, left:left + size].copy()).permute(2, 0, 1).float() / 255)
    hr = torch.stack(hrs)
    return imresize(hr, 1 / 4).clamp(0, 1), hr


@torch.no_grad()
def measure(module, lr: torch.Tensor, hr: torch.Tensor) -> dict:
    module.eval()
    sr = module(lr)
    mask = ErrorMask()(sr, hr)  # the preset's k, b and [0,1] units; the no-mask arm is measured with it too
    fake_in, real_in = module.discriminator_inputs(sr, hr, mask if module.mask is not None else None)
    logit = lambda x: split_discriminator_output(module.discriminator(x))[0].mean().item()  # noqa: E731
    out = {"mask_mean": mask.mean().item(), "mask_min": mask.min().item(), "mask_max": mask.max().item(),
           "hr_mean": hr.mean().item(), "sr_mean": sr.mean().item(), "d_fake_input_mean": fake_in.mean().item(),
           "d_real_input_mean": real_in.mean().item(), "d_real_logit": logit(real_in), "d_fake_logit": logit(fake_in),
           "d_real_logit_unmasked": logit(hr), "d_fake_logit_unmasked": logit(sr)}
    out["d_gap"] = out["d_real_logit"] - out["d_fake_logit"]
    out["d_gap_unmasked"] = out["d_real_logit_unmasked"] - out["d_fake_logit_unmasked"]
    out["d_gap_dimmed_hr"] = logit(hr) - logit(hr * mask)  # D's response to the dimming alone, on real images
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hr-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--psnr-iterations", type=int, default=300)
    parser.add_argument("--gan-iterations", type=int, default=300)
    parser.add_argument("--held-out", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="gansr_mask_real_"))
    train_dir = work / "HR"
    train_dir.mkdir()
    images = image_files(args.hr_dir)
    for path in images[:-args.held_out]:  # the held-out images are not trained on
        shutil.copy(path, train_dir / path.name)
    data = [f"data.train.hr_dir={train_dir}", f"data.train.lr_cache_dir={work / 'lr'}", "data.train.repeat=20"]
    psnr_cfg = compose_config(["experiment=esrgan_mask_psnr", *TINY, *data], work / "psnr")
    psnr_module, trainer = fit(psnr_cfg, args.psnr_iterations, work / "psnr")
    start = work / "psnr.ckpt"
    trainer.save_checkpoint(start)
    lr, hr = held_out_patches(args.hr_dir, args.held_out)
    results = {"command": "benchmarks/mask_real_input.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
               "psnr_start": measure_psnr(psnr_module, lr, hr)}
    arms = {"no_mask": ["~mask"], "apply_to_real_false": ["mask.apply_to_real=false"],
            "apply_to_real_true": ["mask.apply_to_real=true"]}
    for arm, overrides in arms.items():
        cfg = compose_config(["experiment=esrgan_mask", *TINY, *data, "discriminator.num_feat=8", "loss.perceptual=null",
                              f"module.generator_init={start}", *overrides], work / arm)
        module, _ = fit(cfg, args.gan_iterations, work / arm)
        results[arm] = {**measure(module, lr, hr), "psnr": measure_psnr(module, lr, hr)}
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


@torch.no_grad()
def measure_psnr(module, lr: torch.Tensor, hr: torch.Tensor) -> float:
    mse = (module.eval()(lr).clamp(0, 1) - hr).square().mean().item()
    return float(10 * np.log10(1 / mse))


if __name__ == "__main__":
    main()
