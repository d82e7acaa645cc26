"""gansr-convert: an official or gansr checkpoint -> a small generator-only state dict (METHODS.md 2.2).

    gansr-convert --checkpoint RRDB_ESRGAN_x4.pth --arch rrdbnet --out G.pth
    gansr-convert --checkpoint ESRGAN_SRx4_DF2KOST_official-ff704c30.pth --arch rrdbnet --key params_ema --out G.pth
    gansr-convert --checkpoint outputs/train/<run>/checkpoints/last.ckpt --arch rrdbnet --out G.pth
    gansr-convert --checkpoint FsSRGAN_E.pth --target gansr.archs.shared_extractor.SharedExtractor --out E.pth

The weights are loaded strictly into the network the config builds, so a file of another architecture or scale
fails here, naming the keys, rather than at upscaling time.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from gansr.cli import CONF_DIR
from gansr.utils.checkpoint import detect_scheme, extract_state_dict, from_gansr_keys, load_generator_weights, safe_load


def build_network(arch: str | None, target: str | None, scale: int, overrides: list[str]) -> nn.Module:
    """Instantiate ``conf/generator/<arch>.yaml`` (or a yaml path, or the class ``target``) with ``scale`` and
    ``key=value`` overrides."""
    if target is not None:
        node = OmegaConf.create({"_target_": target})
    else:
        path = Path(arch) if arch.endswith(".yaml") else CONF_DIR / "generator" / f"{arch}.yaml"
        if not path.is_file():
            choices = sorted(p.stem for p in (CONF_DIR / "generator").glob("*.yaml"))
            raise FileNotFoundError(f"no generator config {path}; choose one of {choices} or give a .yaml path")
        node = OmegaConf.load(path)
    node = OmegaConf.merge(node, OmegaConf.from_dotlist(overrides))
    root = OmegaConf.create({"scale": scale, "network": node})
    return instantiate(root.network)


def convert(
    checkpoint: str | Path | Mapping,
    network: nn.Module,
    out: str | Path,
    key: str | None = None,
    scheme: str = "gansr",
) -> dict[str, torch.Tensor]:
    """Load ``checkpoint`` (a file or a loaded checkpoint) strictly into ``network`` and save its state dict to ``out`` in ``scheme`` names."""
    load_generator_weights(network, checkpoint, strict=True, key=key)
    state = from_gansr_keys({k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}, scheme)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gansr-convert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="input: official weights, BasicSR file, gansr export or .ckpt")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--arch", help="generator config name in conf/generator (rrdbnet, fs_rrdbnet, edsr, pesr, ...) or a .yaml")
    which.add_argument("--target", help="network class instead of a config, e.g. gansr.archs.shared_extractor.SharedExtractor")
    parser.add_argument("--out", required=True, help="output .pth (a plain state dict)")
    parser.add_argument("--scale", type=int, default=4, help="up-scaling factor of the network (default 4)")
    parser.add_argument("--key", default=None,
                        help="entry holding the weights: params | params_ema | extractor (BasicSR/gansr exports) or a "
                             "Lightning prefix such as generator (default) or extractor")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="ARG=VALUE",
                        help="constructor overrides, e.g. num_block=17 in_channels=64")
    parser.add_argument("--scheme", choices=["gansr", "esrgan", "old"], default="gansr",
                        help="key names of the output: gansr (default), esrgan (new-arch RRDB_trunk...) or old (model.N)")
    args = parser.parse_args(argv)

    network = build_network(args.arch, args.target, args.scale, args.overrides)
    checkpoint = safe_load(args.checkpoint)
    source = detect_scheme(extract_state_dict(checkpoint, args.key))
    state = convert(checkpoint, network, args.out, key=args.key, scheme=args.scheme)
    params = sum(v.numel() for v in state.values())
    print(f"{args.checkpoint} ({source} keys) -> {args.out} ({args.scheme} keys): "
          f"{type(network).__name__}, {len(state)} tensors, {params:,} values")


if __name__ == "__main__":
    main()
