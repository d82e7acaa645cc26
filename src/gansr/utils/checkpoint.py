"""Loading weight files safely and mapping the official key schemes to gansr's names (docs/methods.md §2.2, 1.9 #8, 3).

* :func:`safe_load` - ``torch.load(weights_only=True)``; a file that needs code to unpickle is refused, a file
  changed after it was written (:func:`check_integrity`: a stored CRC-32 does not match) too.
* :func:`extract_state_dict` - unwraps BasicSR ``params``/``params_ema``, gansr exports, Lightning checkpoints
  (``state_dict`` with a ``generator.`` prefix) and DataParallel ``module.`` prefixes.
* :func:`to_gansr_keys` / :func:`from_gansr_keys` - RRDB-family keys between the three schemes (old sequential
  ``model.0``/``model.1.sub.N.RDBk.convj.0`` of [FA]/[BSR-2019], [ESR] ``RRDB_trunk``/``trunk_conv``/``upconv1``/
  ``HRconv``, [BSR] = gansr ``body.N.rdbk``/``conv_body``/``conv_up1``/``conv_hr``), the Fs-SRGAN extractor's nb=1
  unwrapped keys ``model.1.sub.RDBk...``, PESR's ``embed``/``upsample`` (-> EDSR's ``head``/``tail``) and BasicSR's
  EDSR and MSRResNet names (``conv_first``/``body.N.conv1``/``conv_after_body``/``upsample``/``upconv1``), and
  the FASRGAN repository's ``sr_resnet`` without BN (``model.1.sub.N.res.{0,2}``) <-> gansr's SRResNetBasicSR.
* :func:`load_generator_weights` - all of the above, then a strict load that names the keys that do not fit.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gansr.archs.blocks import MeanShift
from gansr.utils.errors import GansrError

StateDict = dict[str, torch.Tensor]


class UnsafeCheckpointError(GansrError, RuntimeError):
    """The file holds pickled Python objects that ``weights_only=True`` refuses (possible code execution)."""


class CheckpointMismatchError(GansrError, RuntimeError):
    """The weights do not fit the network (another architecture, scale or size)."""


class DamagedCheckpointError(GansrError, ValueError):
    """The file's bytes changed after it was written (a stored CRC-32 does not match): a disk, copy or transfer
    error. ``torch.load`` checks no checksum and would load the damaged tensors. ``reason`` says what is damaged."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path} is damaged: {reason}; use another copy or an earlier checkpoint")


# ----------------------------------------------------------------------------------------------- reading files
def check_integrity(path: str | Path) -> None:
    """Check every member of a PyTorch file against the CRC-32 its zip directory stores (``torch.save``'s format
    since PyTorch 1.6 stores one per tensor and for the pickle; ``zipfile.ZipFile.testzip``). Reads the whole file
    once. A file in the older non-zip format has no checksums and is left to ``torch.load``.

    Raises:
        DamagedCheckpointError: naming the file and the first member whose bytes do not match, or the zip
            directory's damage.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as err:
        raise DamagedCheckpointError(path, f"its zip structure does not read ({err})") from None
    if damaged is not None:
        raise DamagedCheckpointError(path, f"its member {damaged} fails its CRC-32 check (the file changed after "
                                           "it was written)")


def safe_load(path: str | Path) -> dict:
    """Read a checkpoint with ``torch.load(path, map_location="cpu", weights_only=True)`` (a ``.safetensors`` file
    with ``safetensors.torch.load_file``).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the pickle needs globals beyond tensors and plain containers (e.g. a whole pickled
            model, or a class whose ``__reduce__`` runs code); nothing from it is executed.
        ValueError: not a PyTorch file.
        TypeError: not a dict at the top level.
        DamagedCheckpointError: a ``ValueError``; the file changed after it was written (:func:`check_integrity`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix.lower() == ".safetensors":  # tensors only by design: no pickle at all
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except SafetensorError as err:
            raise ValueError(f"{path} is not a readable safetensors file: {err}") from None
    check_integrity(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err) or "Unsupported operand" in str(err):
            reason = str(err).split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
            raise ValueError(f"{path} is not a readable PyTorch checkpoint: {reason}") from None
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it needs {found.group(1)}" if found else "it holds Python objects"
        raise UnsafeCheckpointError(
            f"refused to unpickle {path}: {what}; gansr only loads tensors. Re-save just the weights from code you "
            "trust: torch.save(model.state_dict(), 'G.pth')"
        ) from None
    except (RuntimeError, KeyError, EOFError) as err:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {type(err).__name__}: {err}") from None
    if not isinstance(obj, Mapping):
        raise TypeError(f"{path}: expected a dict of tensors at the top level, got {type(obj).__name__}")
    return dict(obj)


def extract_state_dict(obj: Mapping, key: str | None = None) -> StateDict:
    """The generator's tensors inside a loaded checkpoint.

    * Lightning checkpoint (has ``state_dict``): the entries under the prefix ``key`` (default ``generator``),
      prefix removed; e.g. ``key="extractor"`` or ``key="generator_ema.generator"``.
    * BasicSR / gansr export (``params``, ``params_ema``, ``extractor``): ``obj[key]`` (default ``params``, or
      ``params_ema`` in a file holding only that, as BasicSR's model zoo); a missing ``key`` falls back to the entry
      that is there, with a warning, as BasicSR's ``load_network``.
    * Otherwise ``obj`` itself is the state dict.

    ``module.`` prefixes (DataParallel) are removed. Raises KeyError/TypeError naming what is there instead.
    """
    if isinstance(obj.get("state_dict"), Mapping):
        prefix = f"{key or 'generator'}."
        state = {k[len(prefix) :]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
        if not state:
            present = sorted({k.split(".")[0] for k in obj["state_dict"]})
            raise KeyError(f"Lightning checkpoint has no '{prefix}*' tensors; prefixes present: {present}; pass key=")
    elif key is not None and key in obj:
        state = obj[key]
    elif "params" in obj or "params_ema" in obj:
        present = "params" if "params" in obj else "params_ema"  # a model-zoo file may hold params_ema only
        if key is not None:  # not in obj (the branch above took it otherwise)
            warnings.warn(f"checkpoint has no '{key}' entry; using '{present}' (BasicSR fallback)", stacklevel=2)
        state = obj[present]
    elif key is not None:
        raise KeyError(f"checkpoint has no entry '{key}'; top-level keys: {sorted(obj)[:8]}")
    else:
        state = obj
    if not isinstance(state, Mapping):
        raise TypeError(f"expected a state dict (name -> tensor), got {type(state).__name__}")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise TypeError(f"not a state dict: entries {not_tensors[:4]} are not tensors; pass key= to pick the weights")
    return {k.removeprefix("module."): v for k, v in state.items()}


# ----------------------------------------------------------------------------------------------- key schemes
def detect_scheme(state: Mapping[str, torch.Tensor]) -> str:
    """``"old"`` (sequential ``model.N``), ``"old_srresnet"`` (the FASRGAN repository's sequential ``sr_resnet``:
    ``model.1.sub.N.res.M``), ``"esrgan"`` (``RRDB_trunk``...), ``"pesr"`` (``embed``),
    ``"basicsr_edsr"`` (BasicSR's EDSR: ``conv_first``, ``body.N.conv1``, ``conv_after_body``),
    ``"basicsr_msrresnet"`` (BasicSR's MSRResNet: ``upconv1``, ``conv_hr``) or ``"gansr"``."""
    keys = list(state)
    if any(re.match(r"^model\.1\.sub\.\d+\.res\.", k) for k in keys):
        return "old_srresnet"
    if any(k.startswith(("model.0.", "model.1.sub.")) for k in keys):
        return "old"
    if any(k.startswith(("RRDB_trunk.", "trunk_conv.", "HRconv.")) for k in keys):
        return "esrgan"
    if any(k.startswith("embed.") for k in keys):
        return "pesr"
    if "conv_after_body.weight" in state and any(k.startswith("body.0.conv1.") for k in keys):
        return "basicsr_edsr"
    if "upconv1.weight" in state and "conv_hr.weight" in state:
        return "basicsr_msrresnet"
    return "gansr"


_ESRGAN_TO_GANSR = [
    (r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv(\d+)\.", r"conv_up\1."),
    (r"^HRconv\.", "conv_hr."),
]
_GANSR_TO_ESRGAN = [
    (r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."),
    (r"^conv_body\.", "trunk_conv."),
    (r"^conv_up(\d+)\.", r"upconv\1."),
    (r"^conv_hr\.", "HRconv."),
]
_OLD_TO_GANSR = [
    (r"^model\.0\.", "conv_first."),
    (r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"^model\.1\.sub\.RDB(\d)\.conv(\d)\.0\.", r"body.0.rdb\1.conv\2."),  # nb=1: sequential() unwrapped the RRDB
    (r"^model\.1\.sub\.\d+\.(weight|bias)$", r"conv_body.\1"),
]


def _rename(state: Mapping[str, torch.Tensor], rules: list[tuple[str, str]]) -> StateDict:
    renamed = {}
    for name, tensor in state.items():
        for pattern, replacement in rules:
            name, count = re.subn(pattern, replacement, name)
            if count:
                break
        renamed[name] = tensor
    return renamed


def _top_level_indices(state: Mapping[str, torch.Tensor], prefix: str, first: int) -> list[int]:
    found = {int(m.group(1)) for k in state if (m := re.match(rf"^{re.escape(prefix)}(\d+)\.(weight|bias)$", k))}
    return sorted(i for i in found if i >= first)


def _old_tail_rules(state: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    """Old arch: ``model.<i>`` for i >= 2 are the up-sampling convs, then HR conv, then the last conv."""
    indices = _top_level_indices(state, "model.", 2)
    if not indices:
        return []  # the Fs-SRGAN extractor has no tail
    if len(indices) < 2:
        raise CheckpointMismatchError(f"old-arch checkpoint with a single tail conv model.{indices[0]}: not an RRDBNet")
    *ups, hr, last = indices
    names = {i: f"conv_up{n}" for n, i in enumerate(ups, 1)} | {hr: "conv_hr", last: "conv_last"}
    return [(rf"^model\.{i}\.", f"{name}.") for i, name in names.items()]


def _gansr_to_old_rules(state: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    num_block = len({m.group(1) for k in state if (m := re.match(r"^body\.(\d+)\.", k))})
    num_up = len({m.group(1) for k in state if (m := re.match(r"^conv_up(\d+)\.", k))})
    return [
        (r"^conv_first\.", "model.0."),
        (r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0."),
        (r"^conv_body\.", f"model.1.sub.{num_block}."),
        *((rf"^conv_up{n}\.", f"model.{3 * n}.") for n in range(1, num_up + 1)),
        (r"^conv_hr\.", f"model.{3 * num_up + 2}."),
        (r"^conv_last\.", f"model.{3 * num_up + 4}."),
    ]


def _old_srresnet_rules(state: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    """The FASRGAN repository's ``SRResNet`` (``codes/models/modules/architecture.py``, ``which_model_G: sr_resnet``,
    ``norm_type: null``, mode CNA, pixel-shuffle) -> :class:`~gansr.archs.srresnet_basicsr.SRResNetBasicSR` names.

    Its ``block.sequential`` flattens the nested blocks: ``model.0`` fea_conv, ``model.1.sub.N.res.{0,2}`` the
    ResNetBlocks' convs (``res.1`` their ReLU), ``model.1.sub.<nb>`` the LR conv, ``model.{2+3k}`` the up-sampling
    convs (conv, PixelShuffle, ReLU each), then HR_conv0 (conv, ReLU) and HR_conv1. With ``norm_type: batch`` the
    BN layers sit at ``res.1``/``res.4``: refused, SRResNetBasicSR has none."""
    norm = [k for k in state if k.endswith("running_mean") or re.match(r"^model\.1\.sub\.\d+\.res\.[14]\.", k)]
    if norm:
        raise CheckpointMismatchError(f"an sr_resnet with batch norm (norm_type batch: {_examples(norm)}): gansr's "
                                      "srresnet_basicsr has no BN layers; only norm_type null files convert")
    indices = _top_level_indices(state, "model.", 2)
    if len(indices) < 2:
        raise CheckpointMismatchError(f"an sr_resnet without its HR convs (model.N, N >= 2: {indices}): not SRResNet")
    *ups, hr, last = indices
    names = {i: f"upsample.{3 * n}" for n, i in enumerate(ups)} | {hr: "conv_hr", last: "conv_last"}
    return [
        (r"^model\.0\.", "conv_first."),
        (r"^model\.1\.sub\.(\d+)\.res\.([02])\.", r"body.\1.body.\2."),
        (r"^model\.1\.sub\.\d+\.(weight|bias)$", r"conv_body.\1"),
        *((rf"^model\.{i}\.", f"{name}.") for i, name in names.items()),
    ]


def _gansr_to_old_srresnet_rules(state: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    """The inverse of :func:`_old_srresnet_rules`."""
    num_block = len({m.group(1) for k in state if (m := re.match(r"^body\.(\d+)\.", k))})
    num_up = len(_top_level_indices(state, "upsample.", 0))
    return [
        (r"^conv_first\.", "model.0."),
        (r"^body\.(\d+)\.body\.([02])\.", r"model.1.sub.\1.res.\2."),
        (r"^conv_body\.", f"model.1.sub.{num_block}."),
        *((rf"^upsample\.{3 * k}\.", f"model.{2 + 3 * k}.") for k in range(num_up)),
        (r"^conv_hr\.", f"model.{2 + 3 * num_up}."),
        (r"^conv_last\.", f"model.{4 + 3 * num_up}."),
    ]


def _pesr_rules(state: Mapping[str, torch.Tensor]) -> list[tuple[str, str]]:
    """PESR ``upsample.{0,2,..,last}`` = EDSR ``tail.0.{0,2,..}`` + ``tail.1``; ``embed`` = ``head.0``."""
    indices = _top_level_indices(state, "upsample.", 0)
    rules = [(r"^embed\.", "head.0.")]
    if indices:
        rules += [(rf"^upsample\.{indices[-1]}\.", "tail.1."), (r"^upsample\.(\d+)\.", r"tail.0.\1.")]
    return rules


def _basicsr_edsr_to_gansr(state: Mapping[str, torch.Tensor]) -> StateDict:
    """BasicSR's ``EDSR`` (``basicsr/archs/edsr_arch.py``) -> gansr's :class:`~gansr.archs.edsr.EDSR` names.

    BasicSR names the same network ``conv_first`` (= ``head.0``), ``body.N.conv{1,2}`` (= ``body.N.body.{0,2}``),
    ``conv_after_body`` (= ``body.R``), ``upsample.N`` (= ``tail.0.N``), ``conv_last`` (= ``tail.1``), and keeps its
    mean (DIV2K's) and ``img_range`` (255) as constants outside the state dict: the mean-shift tensors gansr stores
    are added with those default values (a BasicSR EDSR trained with another ``rgb_mean`` is not detectable)."""
    num_block = len({m.group(1) for k in state if (m := re.match(r"^body\.(\d+)\.conv1\.", k))})
    renamed = _rename(state, [
        (r"^conv_first\.", "head.0."),
        (r"^body\.(\d+)\.conv1\.", r"body.\1.body.0."),
        (r"^body\.(\d+)\.conv2\.", r"body.\1.body.2."),
        (r"^conv_after_body\.", f"body.{num_block}."),
        (r"^upsample\.(\d+)\.", r"tail.0.\1."),
        (r"^conv_last\.", "tail.1."),
    ])
    for name, sign in (("sub_mean", -1), ("add_mean", 1)):
        for key, tensor in MeanShift(255.0, sign=sign).state_dict().items():
            renamed.setdefault(f"{name}.{key}", tensor)
    return renamed


_MSRRESNET_TO_GANSR = [
    (r"^body\.(\d+)\.conv1\.", r"body.\1.body.0."),
    (r"^body\.(\d+)\.conv2\.", r"body.\1.body.2."),
    (r"^upconv1\.", "upsample.0."),  # conv, shuffle, LeakyReLU per stage: the second conv is upsample.3
    (r"^upconv2\.", "upsample.3."),
]


def to_gansr_keys(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Rename a state dict in any known scheme (:func:`detect_scheme`) to gansr names; tensors are shared."""
    scheme = detect_scheme(state)
    if scheme == "old":
        return _rename(state, _OLD_TO_GANSR + _old_tail_rules(state))
    if scheme == "old_srresnet":
        return _rename(state, _old_srresnet_rules(state))
    if scheme == "esrgan":
        return _rename(state, _ESRGAN_TO_GANSR)
    if scheme == "pesr":
        return _rename(state, _pesr_rules(state))
    if scheme == "basicsr_edsr":
        return _basicsr_edsr_to_gansr(state)
    if scheme == "basicsr_msrresnet":
        return _rename(state, _MSRRESNET_TO_GANSR)
    return dict(state)


def from_gansr_keys(state: Mapping[str, torch.Tensor], scheme: str) -> StateDict:
    """Rename an RRDBNet/extractor state dict from gansr names to ``"esrgan"`` (new arch, [ESR] ``test.py``) or
    ``"old"`` (sequential, [FA]/[BSR-2019] ``test.py``) names, or an SRResNetBasicSR one to ``"old"`` (the FASRGAN
    repository's ``sr_resnet`` names); ``"gansr"`` returns a copy."""
    if scheme == "gansr":
        return dict(state)
    srresnet = "conv_body.weight" in state and "body.0.body.0.weight" in state
    if scheme == "old" and srresnet:
        return _rename(state, _gansr_to_old_srresnet_rules(state))
    if "conv_first.weight" not in state or not any(".rdb" in k for k in state):
        raise ValueError(f"the '{scheme}' key scheme exists for RRDBNet and the shared extractor only (and 'old' "
                         "for srresnet_basicsr)")
    if scheme == "esrgan":
        return _rename(state, _GANSR_TO_ESRGAN)
    if scheme == "old":
        return _rename(state, _gansr_to_old_rules(state))
    raise ValueError(f"cannot write the '{scheme}' scheme; choose gansr, esrgan or old")


# ----------------------------------------------------------------------------------------------- loading
def read_state_dict(source: str | Path | Mapping, key: str | None = None) -> StateDict:
    """File path, loaded checkpoint or state dict -> state dict in gansr names (see :func:`extract_state_dict`)."""
    obj = safe_load(source) if isinstance(source, (str, Path)) else source
    return to_gansr_keys(extract_state_dict(obj, key))


@dataclass
class LoadReport:
    """Keys a non-strict :func:`load_generator_weights` left alone (gansr names)."""

    missing: list[str]
    unexpected: list[str]


def _examples(names: list[str], limit: int = 3) -> str:
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_generator_weights(
    model: nn.Module, path_or_state_dict: str | Path | Mapping, strict: bool = True, key: str | None = None
) -> LoadReport:
    """Load weights in any supported scheme/wrapping into ``model`` (gansr names).

    Args:
        model: the network to fill (in place).
        path_or_state_dict: a file, a loaded checkpoint dict, or a state dict.
        strict: every model key must be provided and no extra key may remain (shapes must always match).
        key: which entry/prefix holds the weights (see :func:`extract_state_dict`).

    Raises:
        CheckpointMismatchError: naming the first missing, unexpected and shape-mismatched keys.
    """
    obj = safe_load(path_or_state_dict) if isinstance(path_or_state_dict, (str, Path)) else path_or_state_dict
    raw = extract_state_dict(obj, key)
    state = to_gansr_keys(raw)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched or (strict and (missing or unexpected)):
        source = path_or_state_dict if isinstance(path_or_state_dict, (str, Path)) else "the state dict"
        parts = [
            f"{len(names)} {what}: {_examples(names)}"
            for what, names in (("missing", missing), ("unexpected", unexpected), ("with other shapes", mismatched))
            if names
        ]
        raise CheckpointMismatchError(
            f"{source} ({detect_scheme(raw)} keys) does not fit {type(model).__name__}: {'; '.join(parts)}. "
            "Another architecture, scale or size? Check the generator config (num_block, num_feat, in_channels, scale)"
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return LoadReport(missing=missing, unexpected=unexpected)
