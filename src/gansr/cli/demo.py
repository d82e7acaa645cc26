"""``gansr-demo`` (``make demo``): the embedded default, offline on a CPU in a few minutes.

1. PSNR warm-up of a tiny RRDBNet (``experiment=demo_psnr``) on natural photos shipped inside scikit-image;
2. a tiny FASRGAN GAN stage from that generator (``experiment=demo``: RaGAN + the per-pixel map term + the
   fine-grained attention loss, with a narrow UNet discriminator; docs/methods.md §1.3-1.4);
3. a table of bicubic vs the two models on the held-out photos (PSNR-Y, SSIM-Y; markdown + CSV) and an image
   grid (LR | bicubic | PSNR model | GAN model | HR).

The GAN run folder (``<out>/gan``: ``checkpoints/last.ckpt`` + ``hparams.yaml``) holds the UNet discriminator, so
``gansr.analysis`` and ``notebooks/results.ipynb`` can show its score map and attention weights next to the crops.

The GAN stage has no VGG19 perceptual term (``loss=demo``), so the demo needs no download and gives the same numbers
on every machine; ``gansr-demo loss=fasrgan`` puts the term back when ``vgg19-dcbb9e9d.pth`` is on disk.

Ctrl-C (or SIGTERM) stops the whole demo: the running stage saves its checkpoint, the GAN stage does not start
after a stopped PSNR stage, no table or grid is written, and the exit status is 130 (143). Both stages run with
``resume=auto``: the same command again continues where it stopped, and a finished stage is not trained again
(``--out`` elsewhere, or deleting it, starts over). docs/reliability.md.

Results are deterministic for a given thread count (``--threads``, default 1, passed to both stages as
``speed.threads``: the tiny model gains nothing from more threads, and on a busy 2-core machine PyTorch's default
count thrashed, 788 s instead of 87 s; docs/speed.md "CPU threads").
"""
from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

import torch

from gansr.archs.bicubic import BicubicUpsampler
from gansr.cli import compose_config
from gansr.cli.errors import report_errors
from gansr.cli.train import TRAIN_READS, train
from gansr.data.demo_data import demo_heldout_dataset
from gansr.data.image_io import write_image
from gansr.evaluation import evaluate_upscaler, write_table
from gansr.figures import comparison_row, panel_figure
from gansr.inference import load_generator_file
from gansr.training.config_keys import stage_overrides
from gansr.training.preemption import StoppedBySignal
from gansr.utils.console_streams import guard_console_streams
from gansr.utils.output_paths import check_writable_folder


def comparison_grid(heldout, upscalers: dict, scale: int, crop_size: int = 64, zoom_factor: int = 3):
    """The demo's picture: one row per held-out photo (``gansr.figures.comparison_row``): HR thumbnail with the crop
    boxed | LR | each upscaler | HR, zoomed on the window where the upscalers differ most, PSNR/SSIM under each."""
    rows, labels = [], []
    for index in range(len(heldout)):
        item = heldout[index]
        with torch.no_grad():
            outputs = {name: u(item["lr"][None])[0].clamp(0, 1) for name, u in upscalers.items()}
        rows.append(comparison_row(item["lr"], outputs, item["hr"], scale=scale, crop_size=crop_size,
                                   zoom_factor=zoom_factor))
        labels.append(f"held-out photo {index + 1}: {item.get('name', '')}".rstrip(": "))
    heading = (f"x{scale} super-resolution on the held-out photos. Crops: the {crop_size}x{crop_size} HR window where "
               f"the methods differ most, shown x{zoom_factor}.\nUnder each panel: PSNR (dB) / SSIM on Y "
               f"(border {scale}) of the whole image, then of the crop.")
    return panel_figure(rows, heading=heading, row_labels=labels)


@report_errors("gansr-demo")  # a read-only --out, a missing file, a refused run: one line, exit 1
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gansr-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_outputs", help="folder for runs, table and grid (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for PyTorch (default: %(default)s); results are deterministic for a given "
                             "thread count, and the numbers in README are for 1 thread")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for both stages, e.g. trainer.max_steps=50")
    args = parser.parse_args(argv)
    guard_console_streams()  # `gansr-demo | tee` and Ctrl-C: the stop still saves (docs/reliability.md)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    out = check_writable_folder(Path(args.out).resolve(), "--out folder")
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        run_demo(out, args.overrides, args.threads)
    except StoppedBySignal as stopped:
        print(stopped, flush=True)
        raise SystemExit(stopped.exit_code) from None
    finally:  # in-process callers (tests) keep their own thread count
        torch.set_num_threads(threads_before)


def check_stage(result, index: int, name: str, run: Path) -> None:
    """Raise :class:`StoppedBySignal` when a signal stopped stage ``index`` of 2 (its checkpoint is saved): the
    later stage does not start and no table or grid is written from half-trained models."""
    if result.preempted_by is not None:
        raise StoppedBySignal(result.preempted_by, (
            f"[demo] {signal.Signals(result.preempted_by).name}: stopped in stage {index} of 2 ({name}) "
            + (f"at iteration {result.iteration} (saved {run / 'checkpoints' / 'last.ckpt'}); " if result.iteration
               else "before its first iteration; ") +
            f"{'the GAN stage did not start, ' if index == 1 else ''}no table or grid was written. Run the same "
            "command again to continue where it stopped"))


def run_demo(out: Path, overrides: list[str], threads: int) -> None:
    """Both training stages, the held-out table and the grid, written under ``out``."""
    start = time.time()
    print(f"[demo] {threads} CPU thread(s) (--threads); the GAN stage has no VGG19 term (loss=demo)")

    # resume=auto: a demo stopped by Ctrl-C continues where it stopped when run again; a finished stage is not retrained
    psnr_stage = ["experiment=demo_psnr", "run_name=psnr", "resume=auto", f"speed.threads={threads}"]
    psnr_overrides = stage_overrides(compose_config(psnr_stage, out / "psnr"), TRAIN_READS, overrides)  # not loss=...
    psnr_cfg = compose_config([*psnr_stage, *psnr_overrides], out / "psnr")
    check_stage(train(psnr_cfg), 1, "PSNR stage", out / "psnr")
    gan_cfg = compose_config(
        ["experiment=demo", "run_name=gan", "resume=auto", f"speed.threads={threads}",
         f"module.generator_init={out / 'psnr' / 'checkpoints' / 'last.ckpt'}", *overrides],
        out / "gan",
    )
    check_stage(train(gan_cfg), 2, "GAN stage", out / "gan")

    heldout = demo_heldout_dataset(psnr_cfg.data.cache_dir, psnr_cfg.scale, lr_cache_dir=out / "lr_cache")
    upscalers = {
        "Bicubic (MATLAB)": BicubicUpsampler(scale=psnr_cfg.scale),
        "Tiny RRDBNet (PSNR stage)": load_generator_file(out / "psnr" / "generator.pth"),
        "Tiny FASRGAN (GAN stage)": load_generator_file(out / "gan" / "generator.pth"),
    }
    short_names = {"Bicubic (MATLAB)": "Bicubic", "Tiny RRDBNet (PSNR stage)": "PSNR model",
                   "Tiny FASRGAN (GAN stage)": "GAN model"}  # the grid's column titles
    rows = []
    for name, upscaler in upscalers.items():
        scores = evaluate_upscaler(upscaler, heldout, ["psnr_y", "ssim_y"], crop_border=psnr_cfg.scale)
        rows.append({"method": name, "images": len(heldout), **scores})
    table = write_table(rows, out / "results.md", out / "results.csv",
                        title=f"Demo: x{psnr_cfg.scale} on {len(heldout)} held-out scikit-image photos (Y channel, crop {psnr_cfg.scale})")

    grid_upscalers = {short_names[name]: upscaler for name, upscaler in upscalers.items()}
    write_image(out / "grid.png", comparison_grid(heldout, grid_upscalers, psnr_cfg.scale))

    print("\n" + table)
    print(f"[demo] grid (LR | bicubic | PSNR model | GAN model | HR): {out / 'grid.png'}")
    print(f"[demo] table: {out / 'results.md'} and {out / 'results.csv'}")
    print(f"[demo] runs (checkpoints, logs, validation crops): {out / 'psnr'} and {out / 'gan'}")
    print(f"[demo] mask, score map and attention weights of a crop: notebooks/results.ipynb with GANSR_DEMO_DIR={out}")
    print(f"[demo] done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
