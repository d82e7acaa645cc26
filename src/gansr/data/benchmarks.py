"""SR benchmark test sets in one documented layout.

Layout (the EDSR/SwinIR benchmark-package convention)::

    <root>/<Name>/HR/*.png                    HR images, any size (mod-cropped when loaded)
    <root>/<Name>/LR_bicubic/X4/<stem>x4.png  optional; used when complete, else made with the MATLAB-exact
                                              resize and cached (gansr.data.datasets)

``<Name>`` is one of :data:`BENCHMARKS`. Folders with another name (e.g. the ``Urban100_subset`` and
``Manga109_subset`` folders of ``../shared/data``) are used with ``folder=``; the dataset is then named after
the folder, so subset scores are never logged under the full set's name.

Evaluation conventions (crop ``scale`` pixels, Y channel, MATLAB ``rgb2ycbcr``) are in gansr.metrics
(docs/methods.md §1.8, 2.7).
"""
from __future__ import annotations

import os
from pathlib import Path

from gansr.data.datasets import HRFolderDataset
from gansr.utils.errors import InvalidValueError

__all__ = ["BENCHMARKS", "benchmark_dataset"]

_BENCH_PACKAGES = (
    "the EDSR benchmark package https://cv.snu.ac.kr/research/EDSR/benchmark.tar (<Name>/HR) or the SelfExSR "
    "repository https://github.com/jbhuang0604/SelfExSR (data/<Name>/image_SRF_4/*_HR.png)"
)
_PIRM = (
    "the PIRM 2018 SR challenge page https://www.pirm2018.org/PIRM-SR.html (evaluation code and self-validation "
    "set: https://github.com/roimehrez/PIRM2018)"
)

#: Benchmark name -> where researchers get it.
BENCHMARKS: dict[str, str] = {
    "Set5": f"Set5 (Bevilacqua et al., BMVC 2012): {_BENCH_PACKAGES}",
    "Set14": f"Set14 (Zeyde et al., 2010): {_BENCH_PACKAGES}",
    "BSD100": f"BSD100 / B100 (Martin et al., ICCV 2001; the BSDS300 test split): {_BENCH_PACKAGES}",
    "Urban100": f"Urban100 (Huang et al., CVPR 2015): {_BENCH_PACKAGES}",
    "Manga109": "Manga109 (Matsui et al., 2017): request it at http://www.manga109.org/en/ (academic use); "
    "the EDSR benchmark package also has a copy",
    "PIRM_val": f"PIRM 2018 validation set (100 images): {_PIRM}",
    "PIRM_test": f"PIRM 2018 test set (100 images): {_PIRM}",
    "PIRM_selfval": f"PIRM 2018 self-validation set (100 images): {_PIRM}",
    "DIV2K_val": "DIV2K validation HR (images 0801-0900): http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip "
    "from https://data.vision.ee.ethz.ch/cvl/DIV2K/ ; `python -m gansr.data.div2k --root <root>` downloads it "
    "and puts the images in <root>/DIV2K_val/HR",
}


def benchmark_dataset(
    name: str,
    root: str | os.PathLike,
    scale: int = 4,
    mod: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    folder: str | None = None,
) -> HRFolderDataset:
    """A benchmark test set as full-image LR/HR pairs (``patch_size=None``).

    Args:
        name: one of :data:`BENCHMARKS` (``Set5``, ``Set14``, ``BSD100``, ``Urban100``, ``Manga109``,
            ``PIRM_val``, ``PIRM_test``, ``PIRM_selfval``, ``DIV2K_val``).
        root: folder holding ``<Name>/HR``.
        scale: SR factor.
        mod: HR mod-crop (default ``scale``; FASRGAN's tables use 12, docs/methods.md §1.8).
        cache_dir: gansr cache root; LR images that are not shipped with the set go to
            ``<cache_dir>/lr/<dataset name>/X{scale}[_mod{mod}]`` (default: see gansr.data.datasets).
        folder: folder under ``root`` to read instead of ``<Name>`` (e.g. ``Urban100_subset``); the dataset is
            named after it.

    The folder is checked when the dataset is prepared (``SRDataModule.setup``); a missing folder raises
    ``DatasetNotFoundError`` naming the folder, the expected layout and where to get the set.
    """
    if name not in BENCHMARKS:
        raise InvalidValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}, or read another "
                                "folder under root with folders={<set>: <folder>}")
    folder = folder or name
    hr_dir = Path(root).expanduser() / folder / "HR"
    lr_cache_dir = None
    if cache_dir is not None:
        leaf = f"X{scale}" if mod in (None, scale) else f"X{scale}_mod{mod}"
        lr_cache_dir = Path(cache_dir).expanduser() / "lr" / folder / leaf
    hint = f"Expected the layout <root>/{folder}/HR/*.png with root={root}. Get it from {BENCHMARKS[name]}."
    return HRFolderDataset(folder, hr_dir, scale, mod=mod, lr_cache_dir=lr_cache_dir, hint=hint)
