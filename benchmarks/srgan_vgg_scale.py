"""Measure ``loss.perceptual.feature_scale`` for the SRGAN content loss (docs/methods.md, "SRGAN's 1/12.75").

Needs, on a machine with the files (none is fetched here):
  * torchvision's VGG19 (``gansr-fetch-weights`` puts ``vgg19-dcbb9e9d.pth`` in the torch hub folder), and
  * the TF-slim VGG19 that SRGAN-TF used: ``vgg_19.ckpt`` from
    http://download.tensorflow.org/models/vgg_19_2016_08_28.tar.gz (read with ``tensorflow``), or that checkpoint
    already converted to a ``.pth`` state dict with torchvision keys (``--reference-pth``).

    python benchmarks/srgan_vgg_scale.py --images <data_dir>/Set14/HR --reference-ckpt vgg_19.ckpt

Pairs: each HR image (cropped to a multiple of 4, RGB) and its MATLAB-bicubic x4 down-up version (an SR-like,
blurred image of it). Prints the factor and the override that uses it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gansr.data.image_io import read_image
from gansr.data.imresize import imresize
from gansr.losses.perceptual import VGGFeatureExtractor
from gansr.losses.vgg_scale import (
    caffe_input,
    feature_scale,
    tf_slim_vgg19_state_dict,
    torchvision_input,
)


def reference_vgg(args) -> torch.nn.Module:
    if args.reference_pth:
        state = torch.load(args.reference_pth, map_location="cpu", weights_only=True)
    else:
        import tensorflow as tf  # only here: reading the TF-slim checkpoint

        reader = tf.train.load_checkpoint(args.reference_ckpt)
        state = tf_slim_vgg19_state_dict({k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()})
    vgg = VGGFeatureExtractor("conv5_4", before_activation=False, pretrained=False)
    own = vgg.features.state_dict().keys()
    vgg.features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                  if k.removeprefix("features.") in own}, strict=True)
    return vgg.features


def pairs(folder: Path, limit: int):
    for path in sorted(folder.glob("*.png"))[:limit]:
        image = read_image(path)  # (H,W,3) uint8 RGB
        image = image[: image.shape[0] // 4 * 4, : image.shape[1] // 4 * 4]
        hr = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255
        blurred = imresize(imresize(hr, 1 / 4), 4).clamp(0, 1)
        yield hr[None], blurred[None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--reference-ckpt", help="TF-slim vgg_19.ckpt (needs tensorflow)")
    source.add_argument("--reference-pth", help="the TF-slim VGG19 as a torchvision-key state dict")
    parser.add_argument("--vgg19", default=None, help="torchvision vgg19-dcbb9e9d.pth (default: torch hub folder)")
    parser.add_argument("--limit", type=int, default=14)
    args = parser.parse_args()
    model = VGGFeatureExtractor("conv5_4", before_activation=False, pretrained=True, weights_path=args.vgg19).features
    scale = feature_scale(reference_vgg(args).eval(), caffe_input, model.eval(), torchvision_input,
                          pairs(args.images, args.limit))
    print(f"feature_scale = {scale:.4f}   (gansr-train experiment=srgan loss.perceptual.feature_scale={scale:.4f})")


if __name__ == "__main__":
    main()
