"""gansr-interpolate: ESRGAN network interpolation ``(1 - alpha) * PSNR + alpha * GAN`` per tensor
([ESR] ``net_interp.py``; docs/methods.md §2.6).

    gansr-interpolate --a RRDB_PSNR_x4.pth --b RRDB_ESRGAN_x4.pth --alpha 0.8 --out interp_08.pth

Both files are converted to gansr key names first (any scheme/wrapping ``gansr-convert`` reads), so an old-arch
PSNR model blends with a new-arch GAN model. Two gansr generator files give a generator file; official weights
give a gansr-named state dict (``gansr-convert`` it to upscale).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import torch

from gansr.cli.errors import report_errors
from gansr.utils.checkpoint import CheckpointMismatchError, read_state_dict, safe_load
from gansr.utils.output_paths import check_not_an_input, check_writable_file, save_weights


def interpolate_state_dicts(
    a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * a[k] + alpha * b[k]`` for every floating-point tensor; alpha 0 gives ``a``, 1 gives ``b``
    exactly. Integer tensors (BatchNorm's ``num_batches_tracked``) come from ``b`` when alpha >= 0.5, else ``a``.

    Raises:
        ValueError: alpha outside [0, 1].
        CheckpointMismatchError: the key sets or shapes differ (naming the first few).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    shapes = [f"{k} {tuple(a[k].shape)} vs {tuple(b[k].shape)}" for k in a if k in b and a[k].shape != b[k].shape]
    if only_a or only_b or shapes:
        raise CheckpointMismatchError(
            "the two networks differ (interpolation needs the same architecture): "
            f"only in a: {only_a[:3]}; only in b: {only_b[:3]}; other shapes: {shapes[:3]}"
        )
    blended = {}
    for k, va in a.items():
        vb = b[k]
        if va.is_floating_point():
            blended[k] = (1.0 - alpha) * va + alpha * vb.to(va.dtype)
        else:
            blended[k] = (vb if alpha >= 0.5 else va).clone()
    return blended


def interpolate_files(
    a: str | Path, b: str | Path, alpha: float, key_a: str | None = None, key_b: str | None = None
) -> dict:
    """Blend the generators of two files (any scheme/wrapping, converted to gansr names first).

    When ``a`` is a gansr generator file (``params`` + ``config``, from gansr-train or gansr-convert) the result is
    one too, with ``a``'s config (and the two shared extractors blended as well, if ``a`` has one); otherwise it is a
    plain gansr-named state dict (run gansr-convert on it to upscale).
    """
    a_obj, b_obj = safe_load(a), safe_load(b)
    blended = interpolate_state_dicts(read_state_dict(a_obj, key_a), read_state_dict(b_obj, key_b), alpha)
    if "config" not in a_obj:
        return blended
    output = {"params": blended, "config": a_obj["config"]}
    if a_obj["config"].get("extractor"):
        extractors = (read_state_dict(obj, "extractor") for obj in (a_obj, b_obj))
        output["extractor"] = interpolate_state_dicts(*extractors, alpha)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="gansr-interpolate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", required=True, help="the PSNR-oriented model (alpha = 0)")
    parser.add_argument("--b", required=True, help="the GAN model (alpha = 1)")
    parser.add_argument("--alpha", type=float, required=True, help="weight of --b in [0, 1] (ESRGAN uses 0.8)")
    parser.add_argument("--out", required=True, help="output .pth")
    parser.add_argument("--key-a", default=None, help="entry holding the weights of --a (params, params_ema, ...)")
    parser.add_argument("--key-b", default=None, help="entry holding the weights of --b (params, params_ema, ...)")
    args = parser.parse_args(argv)

    check_writable_file(args.out, "--out file")
    check_not_an_input([args.out], [("--a", args.a), ("--b", args.b)])
    output = interpolate_files(args.a, args.b, args.alpha, args.key_a, args.key_b)
    save_weights(output, args.out)
    kind = "generator file" if "config" in output else "state dict (gansr names; gansr-convert it to upscale)"
    print(f"{args.out}: (1 - {args.alpha}) * {args.a} + {args.alpha} * {args.b}, {kind}")


@report_errors("gansr-interpolate", also=(ValueError, KeyError, TypeError, RuntimeError))  # incl. mismatched weights
def cli() -> None:
    """The ``gansr-interpolate`` console command: :func:`main`, with its errors as one line each instead of a traceback."""
    main()


if __name__ == "__main__":
    cli()
