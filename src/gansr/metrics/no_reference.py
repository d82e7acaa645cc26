"""No-reference perceptual metrics of the PIRM 2018 challenge: NIQE, Ma (NRQM) and the Perceptual Index (PI).

* NIQE (Mittal, Soundararajan, Bovik, IEEE SPL 2013) with the official LIVE pristine parameters
  (``modelparameters.mat``: ``mu_prisparam`` 1x36, ``cov_prisparam`` 36x36), 96x96 blocks, two scales (the second by
  MATLAB-style bicubic x0.5). The feature/distance code is ``pyiqa.archs.niqe_arch.niqe`` (pyiqa 0.1.16, a port of
  BasicSR's ``basicsr/metrics/niqe.py``, docs/methods.md §2.7); the input conversion is ours and explicit.
  Set14 baboon (GTmod12 crop, Y, no crop) gives 5.7300 here against MATLAB's 5.7296 (tests/test_metrics_golden.py).
* Ma (Ma, Yang, Yang, Yang, CVIU 2017, "NRQM"): ``pyiqa.archs.nrqm_arch.nrqm`` (DCT, GSM and SVD features, three
  random forests and a linear regression) with the regression parameters of pyiqa's ``NRQM_model.mat``.
* PI = ((10 - Ma) + NIQE) / 2 (PIRM 2018, ``evaluate_results.m``); lower is better.

Conventions (PIRM / FASRGAN ``Test_scripts/PI``, docs/methods.md §1.8): MATLAB Y channel of the uint8 image, i.e. rounded
(``round_y=True``), ``crop_border`` pixels shaved per side (PIRM used 4, FASRGAN's script 0).

Parameter files are found with :func:`gansr.utils.weights.fetch_weight` in :func:`~gansr.utils.weights.default_cache_dir`
(``$GANSR_CACHE``) and downloaded (announced) from pyiqa's weight store when missing (``NIQE_PARAMS_URL``,
``MA_PARAMS_URL``); offline, a :class:`~gansr.utils.weights.MissingWeightError` names the file, the folder and the URL
tried. The official NIQE file shipped with a data folder (``../shared/data/metrics/niqe/modelparameters.mat``) is
found without ``path`` when ``$GANSR_DATA``/``$GANSR_SHARED_DATA`` point there; the CLIs also look next to the folders
they are given (:func:`~gansr.utils.weights.find_shipped_niqe_params`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gansr.metrics.color import rgb2y
from gansr.utils.weights import WEIGHT_FILES, fetch_weight, find_shipped_niqe_params

__all__ = [
    "MA_PARAMS_FILE",
    "MA_PARAMS_URL",
    "NIQE_PARAMS_FILE",
    "NIQE_PARAMS_URL",
    "MaParams",
    "NIQEParams",
    "load_ma_params",
    "load_niqe_params",
    "ma",
    "niqe",
    "perceptual_index",
]

NIQE_PARAMS_FILE = WEIGHT_FILES["niqe"].filename
NIQE_PARAMS_URL = WEIGHT_FILES["niqe"].url
MA_PARAMS_FILE = WEIGHT_FILES["nrqm"].filename
MA_PARAMS_URL = WEIGHT_FILES["nrqm"].url
NIQE_BLOCK = 96


@dataclass(frozen=True)
class NIQEParams:
    """Pristine multivariate Gaussian of NIQE: ``mu (36,)``, ``cov (36,36)``, float64."""

    mu: Tensor
    cov: Tensor


@dataclass(frozen=True)
class MaParams:
    """Ma et al.'s regression: ``linear (4,1)`` and, per feature group (DCT, GSM, SVD), one random forest
    ``(left_child, right_child, threshold, prediction, split_feature)`` as arrays of shape (nodes, trees)."""

    linear: np.ndarray
    forests: tuple[tuple[np.ndarray, ...], ...]


def load_niqe_params(path: str | os.PathLike | None = None) -> NIQEParams:
    """Read ``mu_prisparam`` / ``cov_prisparam`` from ``path``, else from the official file shipped with the data
    (:func:`~gansr.utils.weights.find_shipped_niqe_params`: ``$GANSR_DATA``, ``$GANSR_SHARED_DATA``), else from the
    cache (an announced download when missing)."""
    import scipy.io

    path = path if path is not None else find_shipped_niqe_params()
    mat = scipy.io.loadmat(fetch_weight(NIQE_PARAMS_FILE, NIQE_PARAMS_URL, local_path=path))
    return NIQEParams(
        mu=torch.from_numpy(np.ravel(mat["mu_prisparam"]).astype(np.float64)),
        cov=torch.from_numpy(np.asarray(mat["cov_prisparam"], dtype=np.float64)),
    )


def load_ma_params(path: str | os.PathLike | None = None) -> MaParams:
    """Read pyiqa's ``NRQM_model.mat`` (struct ``model`` with ``linear`` and a 1x3 cell ``rf`` of forests whose fields
    0, 1, 4, 5, 6 are left child, right child, threshold, prediction, split feature; as in ``pyiqa.archs.nrqm_arch``)."""
    import scipy.io

    model = scipy.io.loadmat(fetch_weight(MA_PARAMS_FILE, MA_PARAMS_URL, local_path=path))["model"]
    forests = tuple(
        tuple(model["rf"][0, 0][0, i][0, 0][field] for field in (0, 1, 4, 5, 6)) for i in range(3)
    )
    return MaParams(linear=np.asarray(model["linear"][0, 0], dtype=np.float64), forests=forests)


def _luma(img: Tensor, crop_border: int, y_channel: bool, round_y: bool) -> Tensor:
    """``(B,3,H,W)`` RGB (``y_channel=True``) or ``(B,1,H,W)`` gray (``y_channel=False``) in [0,1] -> ``(B,1,h,w)``
    float64 on [0,255], border shaved after the conversion (as ``convert_shave_image.m``)."""
    if img.ndim != 4 or img.shape[1] != (3 if y_channel else 1):
        want = "RGB (B,3,H,W) with y_channel=True" if y_channel else "gray (B,1,H,W) with y_channel=False"
        raise ValueError(f"expected {want}, got shape {tuple(img.shape)}")
    if y_channel:
        y = rgb2y(img, round=round_y)
    else:
        y = img.to(torch.float64) * 255.0
        y = torch.floor(y + 0.5) if round_y else y
    if crop_border < 0 or 2 * crop_border >= min(y.shape[-2:]):
        raise ValueError(f"crop_border={crop_border} is invalid for images of size {tuple(y.shape[-2:])}")
    return y[..., crop_border : y.shape[-2] - crop_border, crop_border : y.shape[-1] - crop_border]


def niqe(
    img: Tensor, params: NIQEParams, *, crop_border: int = 0, y_channel: bool = True, round_y: bool = True
) -> Tensor:
    """NIQE per image (lower is better): ``(B,3,H,W)`` in [0,1] -> ``(B,)`` float64.

    The image (after cropping) must hold at least two 96x96 blocks; rows/columns beyond whole blocks are ignored.
    """
    y = _luma(img, crop_border, y_channel, round_y)
    h, w = y.shape[-2:]
    if (h // NIQE_BLOCK) * (w // NIQE_BLOCK) < 2:
        raise ValueError(f"NIQE needs at least two 96x96 blocks, got an image of {h}x{w} after cropping")
    batch = y.shape[0]
    mu = params.mu.to(y).expand(batch, -1)
    cov = params.cov.to(y).expand(batch, -1, -1)
    from pyiqa.archs.niqe_arch import niqe as _pyiqa_niqe  # pyiqa is imported where used (seconds to import)

    return _pyiqa_niqe(y, mu, cov, NIQE_BLOCK, NIQE_BLOCK).reshape(batch)


def ma(img: Tensor, params: MaParams, *, crop_border: int = 0, y_channel: bool = True, round_y: bool = True) -> Tensor:
    """Ma et al.'s score per image (higher is better, about 0-10): ``(B,3,H,W)`` in [0,1] -> ``(B,)`` float64.

    The random forests run on the CPU (pyiqa); images should be at least 48x48 after cropping.
    """
    from pyiqa.archs.nrqm_arch import nrqm as _pyiqa_nrqm

    y = _luma(img, crop_border, y_channel, round_y)
    scores = _pyiqa_nrqm(y, params.linear, [list(forest) for forest in params.forests])
    return scores.reshape(y.shape[0]).to(device=img.device, dtype=torch.float64)


def perceptual_index(niqe_score: Tensor, ma_score: Tensor) -> Tensor:
    """PIRM 2018 Perceptual Index ``((10 - Ma) + NIQE) / 2`` (lower is better); elementwise, any shape."""
    return ((10.0 - ma_score) + niqe_score) / 2.0
