"""``gansr-fetch-weights``: download, check and place the pretrained files gansr uses, for connected machines.

    gansr-fetch-weights                           # all four: VGG19, AlexNet (LPIPS), NIQE, Ma (NRQM)
    gansr-fetch-weights --only vgg19 --data-dir ../shared/data

Each file goes where the code looks for it (``gansr.utils.weights.WEIGHT_FILES``): the torchvision files into the torch
hub checkpoints folder (``$TORCH_HOME/hub/checkpoints``), the metric parameter files into ``$GANSR_CACHE`` (default
``~/.cache/gansr/weights``). Downloads are checked against the sha256 prefix in the torchvision file name (pyiqa
publishes no digest for its ``.mat`` files: their contents are checked by loading them instead), and the sha256 of
every file is printed. The official NIQE parameters shipped with a data folder (``<data>/metrics/niqe/
modelparameters.mat``, e.g. ``../shared/data``) are used as they are, so NIQE needs no download there.

One line per file; on an offline machine each missing file fails with the URL tried and the path to put it at, and the
command exits 1.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from gansr.utils.weights import (
    WEIGHT_FILES,
    MissingWeightError,
    WeightChecksumError,
    WeightFile,
    fetch_weight,
    find_shipped_niqe_params,
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_contents(spec: WeightFile, path: Path) -> None:
    """Load the file as the code will (weights_only / scipy), so a wrong or truncated file fails here."""
    if spec.key == "niqe":
        from gansr.metrics.no_reference import load_niqe_params

        params = load_niqe_params(path)
        if tuple(params.mu.shape) != (36,) or tuple(params.cov.shape) != (36, 36):
            raise ValueError(f"{path} is not NIQE's parameter file (mu {tuple(params.mu.shape)}, want (36,))")
    elif spec.key == "nrqm":
        from gansr.metrics.no_reference import load_ma_params

        load_ma_params(path)
    else:
        import torch

        torch.load(path, map_location="cpu", weights_only=True)


def fetch_one(spec: WeightFile, data_dirs: list[Path]) -> tuple[bool, str]:
    """Fetch (or find) one file: ``(ok, the line to print)``."""
    if spec.key == "niqe":
        shipped = find_shipped_niqe_params(*data_dirs)
        if shipped is not None:
            return True, f"ok      NIQE parameters: the official {shipped.name} shipped with the data, {shipped}"
    folder = spec.folder()
    already = (folder / spec.filename).is_file()
    try:
        path = fetch_weight(spec.filename, spec.url, sha256=spec.sha256, cache_dir=folder, announce=False)
        _check_contents(spec, path)
    except MissingWeightError as err:
        return False, f"MISSING {spec.filename}: tried {err.url} ({err.reason}); put the file at {err.path}"
    except (WeightChecksumError, ValueError, OSError, RuntimeError, KeyError) as err:
        return False, f"BAD     {spec.filename}: {err}; delete it and fetch again, or put a good copy at {folder / spec.filename}"
    how = "already there" if already else f"downloaded from {spec.url}"
    return True, f"ok      {spec.filename}: {how}, {path} (sha256 {_sha256(path)})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gansr-fetch-weights", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(WEIGHT_FILES),
                        help=f"comma-separated subset of {','.join(WEIGHT_FILES)} (default: all)")
    parser.add_argument("--data-dir", type=Path, action="append", default=None,
                        help="data folder that may ship metrics/niqe/modelparameters.mat (repeatable; default: "
                             "$GANSR_DATA, ./datasets and ../shared/data)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in WEIGHT_FILES]
    if unknown:
        raise SystemExit(f"gansr-fetch-weights: error: unknown file(s) {unknown}; choose from {list(WEIGHT_FILES)}")
    data_dirs = args.data_dir or [Path(p) for p in (os.environ.get("GANSR_DATA"), "datasets", "../shared/data") if p]
    results = [fetch_one(WEIGHT_FILES[key], data_dirs) for key in keys]
    for ok, line in results:
        print(line, file=sys.stdout if ok else sys.stderr, flush=True)
    failed = sum(not ok for ok, _ in results)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
