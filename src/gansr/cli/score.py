"""``gansr-score``: score a folder of SR images against a folder of HR images (PSNR/SSIM, LPIPS, NIQE, Ma, PI, RMSE).

    gansr-score --sr results/Set5 --hr datasets/Set5/HR --scale 4 --metrics psnr_y,ssim_y,lpips --out scores.json

Matching (SR file -> HR file, by file stem): an SR file matches the HR file with the same stem, otherwise the HR file
whose stem is the longest prefix of the SR stem that is followed by a separator: ``_``, ``-``, ``.``, a space, or
``x``/``X`` plus a digit (a scale tag). So ``baby_x4_SR.png``, ``babyx4.png`` and ``baby_ESRGAN.png`` all match
``baby.png``, while ``img_10_SR.png`` matches ``img_10.png`` and not ``img_1.png``. Stems are case-sensitive. HR files
without an SR image are an error (a mean over part of a set is not that set's score) unless ``--allow-partial``; SR
files without an HR image are listed in a warning; no match at all is an error. The JSON's ``"matching"`` says how many
images were scored and lists the unmatched files.

Sizes: with ``--mod N`` each HR image is first cropped top-left to a multiple of N in height and width, as the
papers' test code does (``modcrop``). FASRGAN's released Set5 outputs need ``--mod 8``: their HR folder is named
``HR_GTmod12`` but holds Set5 cropped to multiples of 8 (woman 224x344 from 228x344). Then the HR
image is cropped top-left to the SR size when it is larger by less than ``--scale`` pixels in each dimension (SR of a
mod-cropped LR; a note is printed); any other size difference is an error naming both files.

Conventions (written to the JSON under "conventions"): images read as 8-bit RGB; PSNR/SSIM/RMSE shave
``--crop-border`` pixels (default: the scale) before the MATLAB ``rgb2ycbcr`` Y conversion; SSIM is Wang 2003
(``ssim_index.m``); LPIPS AlexNet ``--lpips-version`` on [-1,1] inputs, no crop; NIQE/Ma/PI on the rounded Y channel
with ``--nr-crop-border`` (default 0, FASRGAN's script); PI = ((10 - Ma) + NIQE) / 2; the RMSE of a set is
sqrt(mean MSE) (PIRM 2018). JSON: ``{"metrics": {name: mean}, "images": [{"name", "hr", name: value}],
"matching": {"scored", "hr_files", "unmatched_hr", "unmatched_sr"}, "conventions": {...}}``; infinite values (PSNR of
identical images) are written as null.

Weights: LPIPS needs torchvision's ``alexnet-owt-7be5be79.pth`` in the torch hub checkpoints folder; NIQE/Ma/PI need
``niqe_modelparameters.mat`` / ``NRQM_model.mat`` in ``$GANSR_CACHE`` (default ``~/.cache/gansr/weights``) or the files
given with ``--niqe-params`` / ``--ma-params``; NIQE also finds the official ``metrics/niqe/modelparameters.mat``
shipped next to the ``--hr`` data. Without ``--metrics``, the metrics whose files are missing are left out (one line
says which); a metric named in ``--metrics`` whose file is missing stops the run with its name, the URL tried and the
folder. ``gansr-fetch-weights`` fetches every file on a connected machine.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import torch

from gansr.cli.arguments import non_negative_int, positive_int
from gansr.cli.errors import report_errors
from gansr.data.image_io import list_images, read_image, to_tensor
from gansr.utils.atomic import write_text_atomic
from gansr.utils.errors import InvalidValueError
from gansr.utils.output_paths import check_writable_file
from gansr.utils.weights import find_shipped_niqe_params

_SEPARATOR = re.compile(r"[_\-. ]|[xX]\d")


def match_hr_stem(sr_stem: str, hr_stems: list[str]) -> str | None:
    """The HR stem an SR stem belongs to (see the module docstring), or ``None``."""
    if sr_stem in hr_stems:
        return sr_stem
    candidates = [h for h in hr_stems if sr_stem.startswith(h) and _SEPARATOR.match(sr_stem, len(h))]
    return max(candidates, key=len, default=None)


def match_files(sr_files: list[Path], hr_files: list[Path]) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair SR files with HR files by stem: ``(pairs, unmatched_sr, unmatched_hr)``; pairs in SR name order."""
    hr_by_stem = {p.stem: p for p in hr_files}
    pairs, unmatched_sr = [], []
    for sr in sorted(sr_files):
        stem = match_hr_stem(sr.stem, list(hr_by_stem))
        if stem is None:
            unmatched_sr.append(sr)
        else:
            pairs.append((sr, hr_by_stem[stem]))
    used = {hr for _, hr in pairs}
    return pairs, unmatched_sr, [hr for hr in hr_files if hr not in used]


def mod_crop(hr: torch.Tensor, mod: int | None) -> torch.Tensor:
    """``hr (3,H,W)`` cropped top-left to ``(3, H - H % mod, W - W % mod)`` (BasicSR / FASRGAN ``modcrop``); as is
    when ``mod`` is None."""
    if mod is None:
        return hr
    height, width = hr.shape[-2:]
    return hr[:, : height - height % mod, : width - width % mod]


def align_hr(sr: torch.Tensor, hr: torch.Tensor, scale: int, sr_path: Path, hr_path: Path) -> torch.Tensor:
    """Crop ``hr (3,H,W)`` top-left to ``sr (3,h,w)`` when ``0 <= H-h < scale`` and ``0 <= W-w < scale``."""
    (h, w), (hh, hw) = sr.shape[-2:], hr.shape[-2:]
    if (h, w) == (hh, hw):
        return hr
    if 0 <= hh - h < scale and 0 <= hw - w < scale:
        print(f"note: {hr_path.name} is {hh}x{hw}, cropped top-left to the SR size {h}x{w} of {sr_path.name}")
        return hr[:, :h, :w]
    raise ValueError(
        f"size mismatch: SR {sr_path} is {h}x{w} but HR {hr_path} is {hh}x{hw} (HR may only be larger by less than "
        f"the scale {scale}); check --scale and that the SR images come from these HR images (SR of mod-cropped HR: --mod N, "
        f"e.g. --mod 8 for FASRGAN's released Set5 outputs)"
    )


def _conventions(args: argparse.Namespace, names: list[str]) -> dict[str, object]:
    conventions: dict[str, object] = {
        "scale": args.scale,
        "input": "8-bit RGB files",
        "matching": "SR stem == HR stem, or longest HR stem prefix followed by _ - . space or x<digit>",
        "hr_mod": args.mod,
    }
    if {"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "rmse"} & set(names):
        conventions["crop_border"] = args.crop_border
        conventions["y_channel"] = "MATLAB rgb2ycbcr Y (16 + 65.481R + 128.553G + 24.966B), float64, " \
                                   f"{'rounded (uint8 rgb2ycbcr)' if args.round_y else 'not rounded'}, after the border crop"
        conventions["psnr"] = "10 log10(255^2 / MSE) per image, mean over images"
        conventions["ssim"] = "Wang 2003 ssim_index: 11x11 Gaussian sigma 1.5, K1 0.01, K2 0.03, L 255, valid, " \
                              "no down-sampling; RGB = mean over channels"
    if "rmse" in names:
        conventions["rmse"] = "PIRM 2018: rounded Y, sqrt(mean over images of MSE)"
    if "lpips" in names:
        conventions["lpips"] = {"net": "alex", "version": args.lpips_version, "input_range": "[-1, 1]", "crop_border": 0}
    if {"niqe", "ma", "pi"} & set(names):
        conventions["no_reference"] = {
            "crop_border": args.nr_crop_border,
            "channel": "MATLAB rgb2ycbcr Y of the uint8 image (rounded)",
            "niqe": "96x96 blocks, LIVE pristine parameters, pyiqa 0.1.16 niqe",
            "ma": "Ma et al. 2017 (NRQM), pyiqa 0.1.16 nrqm with NRQM_model.mat",
            "pi": "((10 - Ma) + NIQE) / 2 (PIRM 2018)",
        }
    return conventions


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _format_table(rows: list[dict[str, object]], means: dict[str, float], names: list[str]) -> str:
    width = max(len("mean"), *(len(str(row["name"])) for row in rows))
    fmt = lambda v: f"{v:>10.4f}" if v is not None else f"{'inf':>10}"
    lines = [f"{'image':<{width}} " + " ".join(f"{n:>10}" for n in names)]
    lines += [f"{row['name']:<{width}} " + " ".join(fmt(row[n]) for n in names) for row in rows]
    lines.append(f"{'mean':<{width}} " + " ".join(fmt(_finite(means[n])) for n in names))
    return "\n".join(lines)


def score_folders(args: argparse.Namespace) -> dict[str, object]:
    """Score the SR folder against the HR folder; returns the JSON document."""
    from gansr.metrics import DEFAULT_METRICS, available_metrics, build_metrics  # torchmetrics: seconds to import

    niqe_params = args.niqe_params or find_shipped_niqe_params(args.hr)
    if args.metrics is None:
        names, note = available_metrics(DEFAULT_METRICS, niqe_params_path=niqe_params, ma_params_path=args.ma_params)
        if note:
            print(f"gansr-score: {note}", file=sys.stderr)
    else:
        names = [n.strip() for n in args.metrics.split(",") if n.strip()]
        if not names:
            raise InvalidValueError(f"--metrics {args.metrics!r} names no metric; give e.g. --metrics psnr_y,ssim_y, "
                                    "or leave --metrics out for every metric whose weight files exist")
    pairs, unmatched_sr, unmatched_hr = match_files(list_images(args.sr), list_images(args.hr))
    if not pairs:
        raise ValueError(f"no SR file in {args.sr} matches an HR file in {args.hr} (matching by file stem, see --help)")
    if unmatched_hr and not args.allow_partial:
        raise ValueError(
            f"{len(unmatched_hr)} of {len(pairs) + len(unmatched_hr)} HR file(s) in {args.hr} have no SR image in "
            f"{args.sr}: {[p.name for p in unmatched_hr]}. Up-scale them too, or pass --allow-partial to score the "
            f"{len(pairs)} matched image(s) only"
        )
    if unmatched_sr or unmatched_hr:
        print(f"warning: unmatched SR files: {[p.name for p in unmatched_sr]}; HR files without SR: "
              f"{[p.name for p in unmatched_hr]}", file=sys.stderr)
    metrics = build_metrics(names, crop_border=args.crop_border, lpips_version=args.lpips_version,
                            nr_crop_border=args.nr_crop_border, niqe_params_path=niqe_params,
                            ma_params_path=args.ma_params, round_y=args.round_y)
    rows: list[dict[str, object]] = []
    for sr_path, hr_path in pairs:
        sr = to_tensor(read_image(sr_path))
        hr = align_hr(sr, mod_crop(to_tensor(read_image(hr_path)), args.mod), args.scale, sr_path, hr_path)
        row: dict[str, object] = {"name": sr_path.name, "hr": hr_path.name}
        for name, metric in metrics.items():
            row[name] = _finite(float(metric(sr[None], hr[None])))  # accumulates and returns this image's value
        rows.append(row)
    means = {name: float(metric.compute()) for name, metric in metrics.items()}
    print(_format_table(rows, means, names))
    matching = {"scored": len(rows), "hr_files": len(pairs) + len(unmatched_hr),
                "unmatched_hr": [p.name for p in unmatched_hr], "unmatched_sr": [p.name for p in unmatched_sr]}
    return {"metrics": {n: _finite(v) for n, v in means.items()}, "images": rows, "matching": matching,
            "conventions": _conventions(args, names)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gansr-score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sr", required=True, type=Path, help="folder of super-resolved images")
    parser.add_argument("--hr", required=True, type=Path, help="folder of ground-truth HR images")
    parser.add_argument("--scale", type=positive_int, default=4, help="SR scale factor (default: %(default)s)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated: psnr_y,ssim_y,psnr_rgb,ssim_rgb,rmse,lpips,niqe,ma,pi (default: those "
                             "of psnr_y,ssim_y,lpips,niqe,ma,pi whose weight files exist; one line names the others)")
    parser.add_argument("--mod", type=positive_int, default=None,
                        help="crop each HR image top-left to a multiple of N first (modcrop; FASRGAN's released Set5 "
                             "outputs: 8; default: no mod-crop)")
    parser.add_argument("--crop-border", type=non_negative_int, default=None,
                        help="border shaved by PSNR/SSIM/RMSE (default: the scale)")
    parser.add_argument("--nr-crop-border", type=non_negative_int, default=0,
                        help="border shaved by NIQE/Ma/PI (default: %(default)s, as FASRGAN's PI script)")
    parser.add_argument("--lpips-version", default="0.1", choices=("0.1", "0.0"),
                        help="LPIPS linear weights; FASRGAN's tables used 0.0 (default: %(default)s)")
    parser.add_argument("--round-y", action="store_true",
                        help="PSNR/SSIM on the rounded Y of MATLAB rgb2ycbcr(uint8), the convention of the RCAN/EDSR-era "
                             "scripts behind the published Bicubic/EDSR/RCAN rows (default: unrounded, as BasicSR/FASRGAN)")
    parser.add_argument("--niqe-params", type=Path, default=None,
                        help="NIQE modelparameters.mat (default: metrics/niqe/modelparameters.mat shipped next to the "
                             "--hr data, e.g. ../shared/data, else niqe_modelparameters.mat in $GANSR_CACHE)")
    parser.add_argument("--ma-params", type=Path, default=None,
                        help="Ma et al. NRQM_model.mat (default: NRQM_model.mat in $GANSR_CACHE)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="score the matched images even when some HR files have no SR image (listed in the JSON)")
    parser.add_argument("--out", type=Path, default=None, help="write the scores as JSON to this file")
    return parser


@report_errors("gansr-score", also=(ValueError,))  # incl. size mismatches of an SR/HR pair
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.crop_border is None:
        args.crop_border = args.scale
    if args.out is not None:
        check_writable_file(args.out, "--out file")
    document = score_folders(args)
    if args.out is not None:
        write_text_atomic(args.out, json.dumps(document, indent=2, allow_nan=False) + "\n")
        print(f"scores written to {args.out}")


if __name__ == "__main__":
    main()
