"""``gansr-upscale``: up-scale an image or a folder with a trained/imported generator or MATLAB-exact bicubic.

    gansr-upscale --input photo.png --output out/ --checkpoint outputs/esrgan/run/generator.pth
    gansr-upscale --input photo.png --output out/ --checkpoint outputs/esrgan/run/checkpoints/last.ckpt
    gansr-upscale --input LR_dir/ --output SR_dir/ --scale 4 --generator bicubic
    gansr-upscale --input big.png --output out/ --checkpoint G.pth --tile 128 --tile-overlap 16
    gansr-upscale --input photo.png --output out/ --checkpoint RealESRGAN_x4plus.pth   # public file (spandrel)

Outputs are ``<output>/<input stem>.png``. A folder holding two images with the same stem (``a.png`` and
``a.jpg``) is refused before anything runs, naming the stems, as is an output folder where an output would
replace one of the inputs. An image that cannot be read or up-scaled is reported and skipped; the others are
still written, the failures are listed at the end and the exit status is 1. Other errors (a bad ``--device``, a
missing or unsafe checkpoint, an output folder that cannot be written) end the command with one line, exit 1
(``gansr.cli.errors``).

Memory with ``--tile``: one LR tile in the network, and the output as 8-bit RGB (4 bytes a pixel in Pillow) plus
one row of tiles; see docs/inference.md for measured figures.
"""
from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from gansr.api import resolve_upscaler
from gansr.cli.arguments import non_negative_int, positive_int
from gansr.cli.errors import report_errors
from gansr.data.image_io import list_images, read_image, to_tensor, write_image
from gansr.inference import load_generator, tile_count, upscale_to_image
from gansr.utils.device import default_device, usable_device
from gansr.utils.errors import GansrError
from gansr.utils.output_paths import check_writable_folder


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gansr-upscale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--output", required=True, help="output folder (created); outputs are <stem>.png")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a gansr generator file (generator.pth, gansr-convert output), a "
                                             "training run's Lightning checkpoint (<run>/checkpoints/last.ckpt) or "
                                             "a public weight file spandrel detects (RealESRGAN_x4plus.pth, ...)")
    source.add_argument("--generator", choices=["bicubic"], help="bicubic: MATLAB-exact bicubic (the tables' Bicubic row)")
    parser.add_argument("--scale", type=positive_int, default=None,
                        help="scale (bicubic only; a checkpoint stores its own)")
    parser.add_argument("--tile", type=non_negative_int, default=0, help="LR tile size in pixels (0 = whole image)")
    parser.add_argument("--tile-overlap", type=non_negative_int, default=16, help="LR pixels of context around each tile")
    parser.add_argument("--no-ema", action="store_true", help="use the trained weights even when EMA weights exist")
    parser.add_argument("--device", default=default_device(), help="cpu, cuda, cuda:<index> (default: %(default)s)")
    return parser.parse_args(argv)


def plan_outputs(files: list[Path], out_dir: Path) -> dict[Path, Path]:
    """``{input: <out_dir>/<stem>.png}``.

    Raises:
        ValueError: two inputs share a stem (one output would overwrite the other), or an output would replace
            an input; the message lists them.
    """
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        by_stem[path.stem].append(path)
    clashes = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if clashes:
        listed = "; ".join(f"{stem}: {', '.join(p.name for p in paths)}" for stem, paths in sorted(clashes.items()))
        raise ValueError(f"inputs with the same name would be written to the same <stem>.png: {listed}. Rename or "
                         "move one of each, or up-scale them into different --output folders")
    outputs = {path: out_dir / f"{path.stem}.png" for path in files}
    inputs = {os.path.realpath(path) for path in files}  # unlike Path.resolve, no error for a symlink loop
    replaced = [path.name for path, out in outputs.items() if os.path.realpath(out) in inputs]
    if replaced:
        raise ValueError(f"the outputs would replace the inputs {replaced[:5]} in {out_dir}: choose another --output")
    return outputs


def upscale_file(path: Path, out: Path, upscaler: torch.nn.Module, scale: int, args: argparse.Namespace) -> None:
    """Read ``path``, up-scale it (tiled as ``args`` say) and write ``out``; nothing of it outlives the call, so a
    folder's peak memory is that of its largest image."""
    lr = to_tensor(read_image(path))[None].to(args.device)
    tiles = tile_count(lr.shape[-2], lr.shape[-1], args.tile)
    with tqdm(total=tiles, desc=path.name, unit="tile", leave=False, disable=tiles == 1) as bar:
        sr = upscale_to_image(upscaler, lr, scale, args.tile, args.tile_overlap, on_tile=bar.update)
    write_image(out, sr)


@report_errors("gansr-upscale")
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.generator == "bicubic" and args.scale is None:
        raise SystemExit("gansr-upscale: error: --generator bicubic needs --scale")
    device = usable_device(args.device)
    source = Path(args.input)
    try:
        files = [source] if source.is_file() else list_images(source)
        out_dir = check_writable_folder(args.output, "--output folder")
        outputs = plan_outputs(files, out_dir)
        generator = load_generator(args.checkpoint, use_ema=not args.no_ema) if args.checkpoint else None
        upscaler, scale = resolve_upscaler(generator, args.scale)
    except (ValueError, TypeError, RuntimeError) as err:  # a file that is no generator: one line (gansr.cli.errors)
        raise GansrError(str(err)) from None
    args.device = device
    upscaler = upscaler.to(device).eval()
    failures: list[str] = []
    for path in tqdm(files, desc="images", unit="img"):
        try:
            upscale_file(path, outputs[path], upscaler, scale, args)
        except (OSError, RuntimeError, ValueError) as err:  # unreadable image, out of memory, write failure
            failures.append(f"{path}: {err}")
            tqdm.write(f"gansr-upscale: skipped {path}: {err}")
    print(f"[gansr] {len(files) - len(failures)} of {len(files)} image(s) x{scale} -> {out_dir}")
    if failures:
        raise SystemExit(f"gansr-upscale: {len(failures)} image(s) failed:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
