"""``SRDataModule``: wraps datasets built by Hydra into Lightning dataloaders.

Batches: ``{"lr": (B,3,h,w), "hr": (B,3,s*h,s*w), "name": list[str]}``, float32 RGB in [0,1]. Training uses the
global ``batch_size`` split over devices (the official runs: 16 per iteration, METHODS.md 1.7), shuffled, last
incomplete batch dropped; validation/test use batch 1 on whole images (sizes differ), one loader per dataset
in the order given (``val_names[i]`` is ``dataloader_idx`` i).
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from gansr.data.image_io import DatasetNotFoundError
from gansr.training.preemption import worker_init

__all__ = ["SRDataModule"]


def _prepare(datasets: Sequence[Dataset]) -> None:
    """Call ``prepare()`` on every dataset that has one; report every missing dataset in one error."""
    missing = []
    for ds in datasets:
        prepare = getattr(ds, "prepare", None)
        if prepare is None:
            continue
        try:
            prepare()
        except DatasetNotFoundError as err:
            missing.append(f"- {getattr(ds, 'name', type(ds).__name__)}: {err}")
    if missing:
        raise DatasetNotFoundError(f"{len(missing)} dataset(s) not found:\n" + "\n".join(missing))


class SRDataModule(LightningDataModule):
    """Train/val/test dataloaders for SR.

    Args:
        train: training dataset (random patches), or None for evaluation-only use.
        val: validation datasets (full images); each has a ``.name`` used in metric names ``val/<name>/...``.
        test: test datasets (default: none).
        batch_size: global training batch size; divided by the number of devices under DDP.
        num_workers: dataloader workers per loader (default ``min(4, cpu count)``); workers persist between
            epochs when > 0.
        pin_memory: default ``torch.cuda.is_available()``.
        scale: the run's SR factor; when given, every dataset with a ``scale`` must match it.
        patch_size: the HR training patch; when given, the training dataset's ``patch_size`` must match it.
            Both are declared here so other configs can read them (``input_size: ${data.patch_size}``).
    """

    def __init__(
        self,
        train: Dataset | None,
        val: Sequence[Dataset] = (),
        test: Sequence[Dataset] | None = None,
        batch_size: int = 16,
        num_workers: int | None = None,
        pin_memory: bool | None = None,
        scale: int | None = None,
        patch_size: int | None = None,
    ):
        super().__init__()
        self.train = train
        self.val = list(val or [])
        self.test = list(test or [])
        self.batch_size = int(batch_size)
        self.num_workers = min(4, os.cpu_count() or 1) if num_workers is None else int(num_workers)
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.scale = scale
        self.patch_size = patch_size
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for ds in self._all():
            if scale is not None and getattr(ds, "scale", scale) != scale:
                raise ValueError(f"dataset {getattr(ds, 'name', ds)} has scale {ds.scale} but data.scale is {scale}")
        if patch_size is not None and train is not None and getattr(train, "patch_size", patch_size) != patch_size:
            raise ValueError(f"training dataset patch_size {train.patch_size} differs from data.patch_size {patch_size}")

    @property
    def val_names(self) -> list[str]:
        return [getattr(ds, "name", f"val{i}") for i, ds in enumerate(self.val)]

    @property
    def test_names(self) -> list[str]:
        return [getattr(ds, "name", f"test{i}") for i, ds in enumerate(self.test)]

    def _all(self) -> list[Dataset]:
        return ([self.train] if self.train is not None else []) + self.val + self.test

    def prepare_data(self) -> None:
        """Check every folder and write missing LR images (once, on rank 0)."""
        _prepare(self._all())

    def setup(self, stage: str | None = None) -> None:
        """Check the datasets the stage needs; raises ``DatasetNotFoundError`` listing every missing one."""
        if stage == "fit":
            needed = ([self.train] if self.train is not None else []) + self.val
        elif stage == "validate":
            needed = self.val
        elif stage == "test":
            needed = self.test
        else:
            needed = self._all()
        _prepare(needed)

    def _per_device_batch(self) -> int:
        world = getattr(self.trainer, "world_size", 1) if self.trainer is not None else 1
        if self.batch_size % world:
            raise ValueError(f"batch_size={self.batch_size} is not divisible by the {world} devices; change data.batch_size")
        return self.batch_size // world

    def _loader(self, ds: Dataset, batch_size: int, train: bool) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=worker_init,  # workers ignore stop signals (gansr.training.preemption), Lightning's seeds
        )

    def train_dataloader(self) -> DataLoader:
        if self.train is None:
            raise ValueError("SRDataModule has no training dataset; set data.train in the config")
        batch = self._per_device_batch()
        if len(self.train) < batch:
            raise ValueError(
                f"training set {getattr(self.train, 'name', '')} has {len(self.train)} items, fewer than one batch "
                f"of {batch}; add images or raise data.repeat"
            )
        return self._loader(self.train, batch, train=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(ds, 1, train=False) for ds in self.val]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(ds, 1, train=False) for ds in self.test]
