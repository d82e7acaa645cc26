"""Mapping the official key schemes of SR weight files to gansr's names and back (docs/methods.md §2.2, 1.9 #8, 3).

* :func:`detect_scheme` - which layout a state dict uses;
* :func:`to_gansr_keys` / :func:`from_gansr_keys` - RRDB-family keys between the three schemes (old sequential
  ``model.0``/``model.1.sub.N.RDBk.convj.0`` of [FA]/[BSR-2019], [ESR] ``RRDB_trunk``/``trunk_conv``/``upconv1``/
  ``HRconv``, [BSR] = gansr ``body.N.rdbk``/``conv_body``/``conv_up1``/``conv_hr``), the Fs-SRGAN extractor's nb=1
  unwrapped keys ``model.1.sub.RDBk...``, PESR's ``embed``/``upsample`` (-> EDSR's ``head``/``tail``) and BasicSR's
  EDSR and MSRResNet names (``conv_first``/``body.N.conv1``/``conv_after_body``/``upsample``/``upconv1``), and
  the FASRGAN repository's ``sr_resnet`` without BN (``model.1.sub.N.res.{0,2}``) <-> gansr's SRResNetBasicSR.

Renaming only: tensors are shared, nothing is loaded (:mod:`gansr.utils.checkpoint` reads the files).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from gansr.archs.blocks import MeanShift
from gansr.utils.errors import GansrError

StateDict = dict[str, torch.Tensor]


class CheckpointMismatchError(GansrError, RuntimeError):
    """The weights do not fit the network (another architecture, scale or size)."""


def name_examples(names: list[str], limit: int = 3) -> str:
    """The first ``limit`` names, then how many more: ``a, b, c (+4 more)``."""
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


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
        raise CheckpointMismatchError(f"an sr_resnet with batch norm (norm_type batch: {name_examples(norm)}): gansr's "
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
