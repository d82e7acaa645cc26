"""``gansr-upscale``: up-scale an image or a folder with a trained/imported generator or MATLAB-exact bicubic.

    gansr-upscale --input photo.png --output out/ --checkpoint outputs/esrgan/run/generator.pth
    gansr-upscale --input LR_dir/ --output SR_dir/ --scale 4 --generator bicubic
    gansr-upscale --input big.png --output out/ --checkpoint G.pth --tile 128 --tile-overlap 16
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from gansr.archs.bicubic import BicubicUpsampler
from gansr.data.image_io import list_images, read_image, to_tensor, write_image
from gansr.inference import load_generator_file, tile_count, tiled_upscale


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--output", required=True, help="output folder (created); files keep their names")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a gansr generator file (generator.pth, or gansr-convert output)")
    source.add_argument("--generator", choices=["bicubic"], help="bicubic: MATLAB-exact bicubic (the tables' Bicubic row)")
    parser.add_argument("--scale", type=int, default=None, help="scale (bicubic only; a checkpoint stores its own)")
    parser.add_argument("--tile", type=int, default=0, help="LR tile size in pixels (0 = whole image)")
    parser.add_argument("--tile-overlap", type=int, default=16, help="LR pixels of context around each tile")
    parser.add_argument("--no-ema", action="store_true", help="use the trained weights even when EMA weights exist")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.generator == "bicubic":
        if args.scale is None:
            raise SystemExit("--generator bicubic needs --scale")
        upscaler, scale = BicubicUpsampler(scale=args.scale), args.scale
    else:
        try:
            upscaler = load_generator_file(args.checkpoint, use_ema=not args.no_ema)
        except (OSError, ValueError, TypeError, RuntimeError) as err:  # incl. UnsafeConfigError/UnsafeCheckpointError
            raise SystemExit(f"gansr-upscale: {err}") from None
        scale = upscaler.scale
        if args.scale is not None and args.scale != scale:
            raise SystemExit(f"--scale {args.scale} differs from the checkpoint's scale {scale}")
    upscaler = upscaler.to(args.device).eval()
    source = Path(args.input)
    files = [source] if source.is_file() else list_images(source)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in tqdm(files, desc="images", unit="img"):
        lr = to_tensor(read_image(path))[None].to(args.device)
        tiles = tile_count(lr.shape[-2], lr.shape[-1], args.tile)
        with tqdm(total=tiles, desc=path.name, unit="tile", leave=False, disable=tiles == 1) as bar:
            sr = tiled_upscale(upscaler, lr, scale, args.tile, args.tile_overlap, on_tile=bar.update)
        write_image(out_dir / f"{path.stem}.png", sr[0].clamp(0, 1).cpu())
    print(f"[gansr] {len(files)} image(s) x{scale} -> {out_dir}")


if __name__ == "__main__":
    main()
