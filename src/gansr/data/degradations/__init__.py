"""Degradation models that make LR from HR patches on the training device (the ``degradation`` config group).

``bicubic_matlab`` (the default, the papers' tables) is not here: its LR images are made once on the CPU with the
MATLAB-exact bicubic and cached (:mod:`gansr.data.datasets`). The others run per batch after the batch reached the
device (``SRDataModule.device_transform``), the CPU workers only decoding and cropping HR:

* :class:`BlurDownsample` (BD) and :class:`BicubicNoise` (DN), the benchmark degradations of RDN/SRMD;
* :class:`RealESRGANDegradation`, Real-ESRGAN's second-order pipeline.

docs/methods.md ("Degradations") gives the parameters, their sources and the measured differences from the
reference implementations.
"""
from gansr.data.degradations.base import DeviceDegradation, dihedral
from gansr.data.degradations.classic import LR_KINDS, BicubicNoise, BlurDownsample, make_degraded_lr
from gansr.data.degradations.realesrgan import RealESRGANDegradation

__all__ = ["LR_KINDS", "BicubicNoise", "BlurDownsample", "DeviceDegradation", "RealESRGANDegradation", "dihedral",
           "make_degraded_lr"]
