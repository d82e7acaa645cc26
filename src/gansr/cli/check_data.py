"""``gansr-check-data``: find every problem in a dataset tree in one pass.

Reported: unreadable/truncated/corrupt files, grayscale/alpha/palette/16-bit files (converted with a warning when
loaded), HR images smaller than the training patch, HR sizes not divisible by the scale (mod-cropped when
loaded), empty folders (folders holding only non-image files are skipped), a tree with no image at all, a file
given instead of a folder. Folders whose path has a part starting with ``LR`` (``LR_bicubic/X4``) hold LR images:
only readability and colour mode are checked there.
Exit code 1 when anything is reported.

Example::

    gansr-check-data datasets/ --scale 4 --patch-size 128
"""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from tqdm import tqdm

from gansr.data.image_io import IMAGE_EXTENSIONS, ImageReadError, read_image


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gansr-check-data",
        description="Check a dataset tree (all sub-folders) and report every problem; exit 1 if any.",
    )
    parser.add_argument("root", type=Path, help="dataset folder to walk")
    parser.add_argument("--scale", type=_at_least(1), default=4, help="SR scale: HR sizes should be multiples (default 4)")
    parser.add_argument("--patch-size", type=_at_least(0), default=128,
                        help="HR training patch size; smaller images are reported (default 128, 0 = skip)")
    return parser


def _at_least(minimum: int):
    """argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def _is_lr_folder(folder: Path, root: Path) -> bool:
    return any(part.upper().startswith("LR") for part in folder.relative_to(root).parts)


def check_image(path: Path, scale: int, patch_size: int, is_lr: bool) -> list[str]:
    """Problems of one image file (empty list when none)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            img = read_image(path)
        except ImageReadError as err:
            return [f"unreadable ({err.reason})"]
    problems = [str(w.message).removeprefix(f"{path}: ") for w in caught if issubclass(w.category, UserWarning)]
    if is_lr:
        return problems
    h, w = img.shape[:2]
    if patch_size and (h < patch_size or w < patch_size):
        problems.append(f"{w}x{h} is smaller than the HR patch {patch_size}x{patch_size}")
    if h % scale or w % scale:
        problems.append(f"{w}x{h} is not divisible by the scale {scale} (cropped to "
                        f"{w - w % scale}x{h - h % scale} when loaded)")
    return problems


def check_tree(root: Path, scale: int, patch_size: int) -> tuple[list[str], int]:
    """``(problem lines "path: problem", number of images checked)`` for every folder under ``root``."""
    if root.is_file():
        return [f"{root}: is a file, not a folder; give the folder that holds the images"], 0
    if not root.is_dir():
        return [f"{root}: folder does not exist"], 0
    report: list[str] = []
    images: list[tuple[Path, bool]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        folder = Path(dirpath)
        found = sorted(f for f in filenames if Path(f).suffix.lower() in IMAGE_EXTENSIONS and not f.startswith("."))
        if not filenames and not dirnames:
            report.append(f"{folder}: empty folder")
        images += [(folder / f, _is_lr_folder(folder, root)) for f in found]
    if not images:
        report.append(f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} in it and its sub-folders)")
    for path, is_lr in tqdm(images, desc="checking", unit="img", disable=len(images) < 50):
        report += [f"{path}: {p}" for p in check_image(path, scale, patch_size, is_lr)]
    return report, len(images)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report, n_images = check_tree(args.root, args.scale, args.patch_size)
    for line in report:
        print(line)
    if report:
        print(f"{len(report)} problem(s) found in {args.root} ({n_images} image(s) checked)")
        return 1
    print(f"OK: {n_images} image(s) in {args.root}, no problems")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
