"""Fs-SRGAN's discriminator D' on shared-extractor features (Yan et al., IEEE TMM 2021; docs/methods.md §1.5).

Official code: [FA] ``models/modules/architecture.py::Discriminator_VGG_192`` with ``in_nc = nf = 64``
(``models/networks.py::define_D``, ``which_model_D: discriminator_vgg_192_ex``). It is the VGG-style
discriminator with six stride-2 stages and conv biases, so it is that class with these arguments.
"""

from __future__ import annotations

from gansr.archs.vgg_discriminator import VGGStyleDiscriminator


class FsVGGDiscriminator(VGGStyleDiscriminator):
    """Discriminator_VGG_192: conv0 3x3 + conv1 4x4 s2, then five [3x3, 4x4 s2] pairs at 2, 4, 8, 8, 8 x num_feat
    channels (BN + LeakyReLU 0.2 after every conv but the first, conv biases kept), 192 -> 3x3, Linear(->100),
    LReLU, Linear(->1). Init kaiming x1 (``define_D``).

    Args:
        in_channels: feature channels of the shared extractor E (64).
        num_feat: channels of the first stage (64).
        input_size: HR patch size (192 in Fs-SRGAN).

    Shape: ``(B,in_channels,input_size,input_size) -> (B,1)`` logits, applied to ``E(HR)`` / ``E(SR)``.
    20,735,689 parameters at in 64, 192 (docs/methods.md §8.4).
    """

    def __init__(self, in_channels: int = 64, num_feat: int = 64, input_size: int = 192) -> None:
        super().__init__(in_channels=in_channels, num_feat=num_feat, input_size=input_size, conv_bias=True)
