"""``gansr-downscale``: write MATLAB-exact bicubic (or BD / DN) LR images of a folder of HR images.

Each HR image is cropped (bottom/right) to a multiple of the scale, then down-scaled with MATLAB
``imresize(uint8_img, 1/s, 'bicubic')`` semantics (gansr.data.imresize, docs/methods.md §2.8) and saved as PNG named
``<stem>x{s}.png`` (the EDSR/SwinIR ``LR_bicubic/X{s}`` convention).

``--degradation bd|dn`` writes RDN's benchmark degradations instead (gansr.data.degradations: Gaussian blur 7x7
sigma 1.6 then decimation; bicubic then Gaussian noise of level 30, seeded by the file name), the same every run.

Example::

    gansr-downscale --hr datasets/Set14/HR --out datasets/Set14/LR_bicubic/X4 --scale 4
    gansr-downscale --hr datasets/Set14/HR --out datasets/Set14/LR_BD/X3 --scale 3 --degradation bd
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gansr.cli.arguments import positive_int
from gansr.cli.errors import report_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gansr-downscale",
        description="Write MATLAB-exact bicubic LR PNGs (uint8 imresize) of every image in an HR folder.",
    )
    parser.add_argument("--hr", required=True, type=Path, help="folder of HR images")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the LR PNGs")
    parser.add_argument("--scale", type=positive_int, default=4, help="down-scaling factor (default 4)")
    parser.add_argument("--degradation", choices=("bicubic", "bd", "dn"), default="bicubic",
                        help="bicubic (MATLAB imresize, default), bd (blur + decimation) or dn (bicubic + noise 30)")
    parser.add_argument("--suffix", default=None,
                        help="appended to the file stem (default 'x<scale>', e.g. babyx4.png; '' keeps the stem)")
    return parser


@report_errors("gansr-downscale")  # a missing or unreadable image, a read-only --out: one line, exit 1
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    suffix = f"x{args.scale}" if args.suffix is None else args.suffix
    if any(bad in suffix for bad in ("/", "\\", "..", "\0")):
        parser.error(f"--suffix {suffix!r} is appended to a file name: it may not hold '/', '\\', '..' or NUL")
    # torch and the image code load only now, so that --help and argument errors answer at once
    from tqdm import tqdm

    from gansr.data.datasets import make_lr
    from gansr.data.image_io import list_images, read_image, write_image
    from gansr.data.transforms import mod_crop
    from gansr.utils.output_paths import check_not_an_input, check_writable_folder

    files = list_images(args.hr)
    targets = {path: args.out / f"{path.stem}{suffix}.png" for path in files}
    check_not_an_input(targets.values(), [("HR image", path) for path in files], "output",  # before any write
                       "give another --out or --suffix")
    check_writable_folder(args.out, "--out folder")
    cropped = []
    for path in tqdm(files, desc=f"downscale x{args.scale}", unit="img"):
        hr = read_image(path)
        hr_mod = mod_crop(hr, args.scale)
        if hr_mod.shape != hr.shape:
            cropped.append(f"{path.name} {hr.shape[1]}x{hr.shape[0]} -> {hr_mod.shape[1]}x{hr_mod.shape[0]}")
        write_image(targets[path], make_lr(hr_mod, args.scale, args.degradation, path.stem))
    if cropped:
        print(f"note: {len(cropped)} HR image(s) cropped to a multiple of {args.scale} before down-scaling "
              f"(crop them the same way when comparing with the LR): " + "; ".join(cropped))
    print(f"wrote {len(files)} LR image(s) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
