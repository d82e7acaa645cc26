"""gansr-convert: an official or gansr checkpoint -> a gansr generator file for gansr-upscale/gansr-eval
(docs/methods.md §2.2).

    gansr-convert --checkpoint RRDB_ESRGAN_x4.pth --arch rrdbnet --out G.pth
    gansr-convert --checkpoint ESRGAN_SRx4_DF2KOST_official-ff704c30.pth --arch rrdbnet --key params_ema --out G.pth
    gansr-convert --checkpoint FASRGAN.pth --arch rrdbnet --out G.pth                    # old-arch model.N keys
    gansr-convert --checkpoint edsr_baseline_x4-6b446fab.pt --arch edsr_baseline --out G.pth
    gansr-convert --checkpoint FsSRGAN_G.pth --arch fs_rrdbnet --extractor FsSRGAN_E.pth --out G.pth
    gansr-convert --checkpoint outputs/train/<run>/checkpoints/last.ckpt --out G.pth
    gansr-convert --checkpoint EDSR_Lx4_f256b32_DIV2K_official-76ee1c8f.pth --arch edsr --out G.pth   # BasicSR EDSR
    gansr-convert --checkpoint MSRResNet_x4.pth --arch msrresnet --key params_ema --out G.pth       # BasicSR
    gansr-convert --checkpoint SRGAN_G.pth --arch srresnet_basicsr --out G.pth    # FASRGAN repo sr_resnet, no BN
    gansr-convert --checkpoint G.pth --scheme esrgan --out RRDB_for_official_test.pth

A training run's Lightning checkpoint (``.ckpt`` inside its run folder) is converted with the architecture the run
recorded (``<run>/.hydra/config.yaml``, else ``<run>/hparams.yaml``): ``--arch``/``--set``/``--scale`` are not
needed and not used, and the output equals the run's ``generator.pth`` (EMA and extractor weights included).
``gansr-upscale`` and ``gansr-eval`` also read such a checkpoint directly. A ``.ckpt`` moved out of its run folder
needs ``--arch`` (and ``--set``) like official weights. A gansr generator file is converted with the config it
stores in the same way. A conversion to an official scheme that would drop part of the network (Fs-SRGAN's
extractor, the demo generator's bicubic image skip) is refused, saying why.

BasicSR files: ``params`` is used (``--key params_ema`` for the EMA weights); a file holding only ``params_ema`` (the
model-zoo layout) needs no ``--key``. BasicSR's EDSR names (``conv_first``, ``body.N.conv1``, ``conv_after_body``)
are mapped to gansr's EDSR, its MSRResNet names (``upconv1``, ``conv_hr``) to ``--arch msrresnet``. The FASRGAN
repository's ``sr_resnet`` without BN (``model.1.sub.N.res.{0,2}``) is mapped to ``--arch srresnet_basicsr``. Files of
other architectures (Real-ESRGAN's compact net, SwinIR, ...) need no conversion: gansr-upscale and gansr-eval run
them through spandrel (docs/inference.md).

The weights are loaded strictly into the network the config builds, so a file of another architecture or scale
fails here, naming the keys, rather than at upscaling time. Output (``--scheme gansr``): ``{"params": G,
"extractor": E (Fs-SRGAN only), "config": {"generator": ..., "extractor": ..., "scale": s}}`` - the generator file
format of ``gansr.inference.load_generator_file``. ``--scheme esrgan|old`` writes a plain RRDBNet state dict with
the official key names instead (for the official test scripts); ``--scheme old`` writes an SRResNetBasicSR with the
FASRGAN repository's ``sr_resnet`` names.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

from gansr.archs.shared_extractor import SharedExtractor
from gansr.cli import CONF_DIR
from gansr.cli.errors import report_errors
from gansr.inference import (
    RunConfigNotFoundError,
    generator_file_from_checkpoint,
    generator_from_state,
    run_generator_config,
)
from gansr.utils.checkpoint import (
    CheckpointMismatchError,
    extract_state_dict,
    load_generator_weights,
    read_state_dict,
    safe_load,
)
from gansr.utils.key_schemes import detect_scheme, from_gansr_keys
from gansr.utils.errors import InvalidValueError
from gansr.utils.output_paths import check_not_an_input, check_writable_file, save_weights
from gansr.utils.safe_config import UnsafeConfigError, build_architecture
from gansr.utils.yaml_data import read_yaml_data, resolve_references

# what a gansr generator file holds (gansr.inference's module docstring)
GENERATOR_FILE_ENTRIES = ("params", "params_ema", "extractor", "extractor_ema", "config")


def generator_node(arch: str) -> dict:
    """``conf/generator/<arch>.yaml``, or the .yaml file ``arch``, as plain data (read without resolvers)."""
    path = Path(arch) if arch.endswith(".yaml") else CONF_DIR / "generator" / f"{arch}.yaml"
    if not path.is_file():
        choices = sorted(p.stem for p in (CONF_DIR / "generator").glob("*.yaml"))
        raise FileNotFoundError(f"no generator config {path}; choose one of {choices} or give a .yaml path")
    node = read_yaml_data(path)
    if not isinstance(node, Mapping):
        raise UnsafeConfigError(f"{path}: a generator config is a mapping with a _target_, got {type(node).__name__}")
    return dict(node)


def extractor_node() -> dict:
    """Fs-SRGAN's shared extractor E (its defaults are the paper's nb=1; FA+Fs: num_block=2)."""
    return {"_target_": f"{SharedExtractor.__module__}.{SharedExtractor.__qualname__}"}


def _merged(base: Mapping, update: Mapping) -> dict:
    merged = dict(base)
    for key, value in update.items():
        both = isinstance(value, Mapping) and isinstance(merged.get(key), Mapping)
        merged[key] = _merged(merged[key], value) if both else value
    return merged


def check_overrides(overrides: list[str], option: str = "--set") -> list[str]:
    """``overrides`` when each is one ``key=value`` (key: a dotted name); else :class:`InvalidValueError` naming
    the item, e.g. ``"num_feat=8 num_block=2"`` given as one quoted argument."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
            raise InvalidValueError(f"{option} {item!r}: give key=value settings, e.g. {option} num_feat=32 num_block=8")
        if re.search(r"\s[A-Za-z_][\w.]*=", value):
            raise InvalidValueError(f"{option} {item!r}: several settings in one argument; give each as its own word, "
                                    f"without quotes: {option} {' '.join(item.split())}")
    return overrides


def resolve(node: Mapping, scale: int, overrides: list[str], source: str) -> dict:
    """``node`` + ``key=value`` overrides with plain ``${scale}`` references filled in (what the generator file
    stores); any other interpolation is refused, never resolved (:mod:`gansr.utils.yaml_data`)."""
    update = OmegaConf.to_container(OmegaConf.from_dotlist(overrides), resolve=False)
    return resolve_references({"scale": scale, "network": _merged(node, update)}, "network", source)


def load_network(config: Mapping, checkpoint: Mapping, key: str | None, path: str) -> nn.Module:
    """Build the network of ``config`` (one of gansr's architectures, as a generator file stores it), once its
    meta-device twin fits the weights, and load ``checkpoint`` (read from ``path``) into it strictly (any key
    scheme). A file whose keys cannot be mapped (e.g. an sr_resnet with BN) fails naming ``path``."""
    try:
        weights = read_state_dict(checkpoint, key)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(f"{path}: {err}") from None
    network = build_architecture(config, "--arch", weights=weights)
    load_generator_weights(network, checkpoint, strict=True, key=key)
    return network


def _tensors(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}


def _extractor_key(checkpoint: Mapping, key: str | None) -> str | None:
    """Lightning checkpoints and gansr files keep E under ``extractor``; official E files are plain state dicts."""
    if key is not None:
        return key
    in_lightning = any(k.startswith("extractor.") for k in checkpoint.get("state_dict", {}))
    return "extractor" if in_lightning or "extractor" in checkpoint else None


def recorded_run_config(args: argparse.Namespace, checkpoint: Mapping) -> dict | None:
    """The generator config a training run recorded for its Lightning checkpoint ``args.checkpoint`` (None for
    other files, or for a ``.ckpt`` outside its run folder when ``--arch`` is given)."""
    if not isinstance(checkpoint.get("state_dict"), Mapping):
        return None
    try:
        config, config_file = run_generator_config(args.checkpoint)
    except RunConfigNotFoundError:
        if args.arch is None:
            raise
        return None
    if args.arch or args.overrides:
        print(f"note: {args.checkpoint} is a gansr run's checkpoint: using the architecture recorded in {config_file} "
              f"({config['generator']}), not --arch/--set")
    return config


def stored_generator_config(args: argparse.Namespace, checkpoint: Mapping) -> dict | None:
    """The config a gansr generator file stores beside its weights (None for other files); it wins over
    ``--arch``/``--set``/``--scale``, which could describe another network (e.g. without the demo's image skip)."""
    if not (isinstance(checkpoint.get("config"), Mapping) and "params" in checkpoint):
        return None
    if args.arch or args.overrides:
        print(f"note: {args.checkpoint} is a gansr generator file: using the architecture it stores "
              f"({checkpoint['config']['generator']}), not --arch/--set")
    return dict(checkpoint["config"])


def check_nothing_dropped(config: Mapping, generator: nn.Module, args: argparse.Namespace) -> None:
    """Refuse an official-scheme output (a plain RRDBNet state dict) that would lose part of the network: Fs-SRGAN's
    shared extractor, or the bicubic image skip (``image_skip="bicubic"``) that the official RRDBNet has not."""
    if args.scheme == "gansr":
        return
    if config.get("extractor"):
        raise ValueError(f"{args.checkpoint}: refusing --scheme {args.scheme}: the network has a shared extractor E "
                         "that a plain RRDBNet state dict cannot hold; keep --scheme gansr")
    if getattr(generator, "image_skip", "none") != "none":
        raise ValueError(f"{args.checkpoint}: refusing --scheme {args.scheme}: the generator adds the bicubic "
                         "up-scaling of its input to its output (image_skip=bicubic), which the official RRDBNet "
                         "has not, so the official code would compute something else; keep --scheme gansr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gansr-convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--checkpoint", required=True, help="official weights, BasicSR file, gansr file or .ckpt")
    add("--arch", help="config in conf/generator (rrdbnet, edsr, pesr, msrresnet, ...) or a .yaml; not needed for "
                       "a run's .ckpt or a gansr generator file")
    add("--out", required=True, help="output .pth")
    add("--scale", type=int, default=4, help="up-scaling factor of the network (default 4)")
    add("--key", help="generator entry: params (default) | params_ema; .ckpt: generator | generator_ema.generator")
    add("--set", dest="overrides", nargs="*", default=[], metavar="K=V", help="generator args, e.g. num_block=17")
    add("--extractor", help="Fs-SRGAN: the file with the shared extractor E (may equal --checkpoint)")
    add("--extractor-key", help="E entry: extractor (default in gansr files and .ckpt) | generator_ema.extractor")
    add("--extractor-set", dest="extractor_overrides", nargs="*", default=[], metavar="K=V", help="E args: num_block=2")
    add("--scheme", choices=["gansr", "esrgan", "old"], default="gansr",
        help="gansr: generator file (default); esrgan/old: plain RRDBNet state dict with official names "
             "(old: also srresnet_basicsr as the FASRGAN repo's sr_resnet)")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.extractor and args.scheme != "gansr":
        parser.error("--extractor needs --scheme gansr (the official schemes hold one network per file)")
    check_overrides(args.overrides)
    check_overrides(args.extractor_overrides, "--extractor-set")

    check_writable_file(args.out, "--out file")
    check_not_an_input([args.out], [("--checkpoint", args.checkpoint), ("--extractor", args.extractor)])
    checkpoint = safe_load(args.checkpoint)
    source = detect_scheme(extract_state_dict(checkpoint, args.key))
    recorded = recorded_run_config(args, checkpoint)
    kind = "gansr run checkpoint" if recorded is not None else "gansr generator file"
    recorded = recorded if recorded is not None else stored_generator_config(args, checkpoint)
    if recorded is not None and args.scheme == "gansr":
        if isinstance(checkpoint.get("state_dict"), Mapping):
            output = generator_file_from_checkpoint(checkpoint, recorded)
        else:
            output = {k: v for k, v in checkpoint.items() if k in GENERATOR_FILE_ENTRIES}
        generator = generator_from_state(output, args.checkpoint, use_ema=False).generator  # strict: the weights fit
        generator_from_state(output, args.checkpoint, use_ema=True)
        save_weights(output, args.out)
        print(f"{args.checkpoint} ({kind}) -> {args.out} (gansr): {type(generator).__name__}, the recorded "
              "architecture")
        return
    if recorded is not None:
        generator_config, args.scale = recorded["generator"], int(recorded["scale"])
    elif args.arch is None:
        parser.error("--arch is needed: only gansr generator files and a training run's .ckpt inside its run folder "
                     "record their architecture (public files of architectures gansr lacks need no conversion: "
                     "gansr-upscale and gansr-eval read them through spandrel)")
    else:
        generator_config = resolve(generator_node(args.arch), args.scale, args.overrides, f"--arch {args.arch}")
    generator = load_network(generator_config, checkpoint, args.key, args.checkpoint)
    check_nothing_dropped(recorded or {}, generator, args)
    if args.scheme != "gansr":
        output = from_gansr_keys(_tensors(generator), args.scheme)
    else:
        output = {"params": _tensors(generator)}
        extractor_config = None
        if args.extractor:
            extractor_file = safe_load(args.extractor)
            extractor_config = resolve(extractor_node(), args.scale, args.extractor_overrides, "--extractor-set")
            key = _extractor_key(extractor_file, args.extractor_key)
            output["extractor"] = _tensors(load_network(extractor_config, extractor_file, key, args.extractor))
        output["config"] = {
            "generator": generator_config,
            "extractor": extractor_config,
            "scale": args.scale,
        }
    save_weights(output, args.out)
    parts = type(generator).__name__ + (" + SharedExtractor" if args.extractor else "")
    print(f"{args.checkpoint} ({source} keys) -> {args.out} ({args.scheme}): {parts}")


@report_errors("gansr-convert", also=(ValueError, KeyError, TypeError, RuntimeError))  # incl. mismatched weights
def cli() -> None:
    """The ``gansr-convert`` console command: :func:`main`, with its errors as one line each instead of a traceback."""
    main()


if __name__ == "__main__":
    cli()
