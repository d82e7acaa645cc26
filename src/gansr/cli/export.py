"""``gansr-export``: a gansr generator file or a run's checkpoint -> ONNX, TorchScript and ``torch.export`` files.

    gansr-export --checkpoint outputs/esrgan/<run>/generator.pth --out-dir exported/
    gansr-export --checkpoint outputs/esrgan/<run>/checkpoints/last.ckpt --out-dir exported/ --formats onnx
    gansr-export --checkpoint G.pth --out-dir exported/ --name esrgan_x4 --no-ema

Writes ``<out-dir>/<name>.onnx`` (ONNX, opset of torch's exporter), ``<name>.pt`` (TorchScript) and ``<name>.pt2``
(``torch.export``), each taking ``lr (B,3,h,w)`` float32 in [0,1] of any batch, height and width and returning
``sr (B,3,s*h,s*w)`` (not clamped). Each file is run after writing (ONNX Runtime for ONNX) on a test image and
compared with the PyTorch output; the max |difference| is printed. Which architectures export to what:
docs/inference.md. ONNX and ``.pt2`` need ``pip install -e .[export]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gansr.export import FORMATS, ExportError, export_network
from gansr.inference import load_generator
from gansr.utils.interop import ForeignGenerator
from gansr.utils.output_paths import check_writable_folder


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gansr-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a gansr generator file or a run's .ckpt")
    parser.add_argument("--out-dir", required=True, help="output folder (created)")
    parser.add_argument("--name", help="file name stem (default: the checkpoint's stem)")
    parser.add_argument("--formats", nargs="+", choices=list(FORMATS), default=list(FORMATS),
                        help="what to write (default: all three)")
    parser.add_argument("--no-ema", action="store_true", help="export the trained weights even when EMA weights exist")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |difference| an exported file may show")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        generator = load_generator(args.checkpoint, use_ema=not args.no_ema)
        if isinstance(generator.generator, ForeignGenerator):
            raise ExportError(f"{args.checkpoint}: a {generator.generator.architecture} file (detected by spandrel), "
                              "not one of gansr's architectures; gansr-export exports gansr's generators only")
        out_dir = check_writable_folder(args.out_dir, "--out-dir folder")
        stem = out_dir / (args.name or Path(args.checkpoint).stem)
        checks = export_network(generator, stem, args.formats, args.tolerance)
    except (OSError, ValueError, RuntimeError) as err:  # incl. ExportError, UnrecognisedWeightsError
        raise SystemExit(f"gansr-export: error: {err}") from None
    for check in checks:
        size = check.path.stat().st_size / 2**20
        print(f"[gansr] {check.format:<11} {check.path} ({size:.1f} MiB): max |difference| vs PyTorch on a "
              f"{check.test_shape[-2]}x{check.test_shape[-1]} test image = {check.max_difference:.2e}")


if __name__ == "__main__":
    main()
