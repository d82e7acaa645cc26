"""``SRDataModule``: wraps datasets built by Hydra into Lightning dataloaders.

Batches: ``{"lr": (B,3,h,w), "hr": (B,3,s*h,s*w), "name": list[str]}``, float32 RGB in [0,1]. Training uses the
global ``batch_size`` split over devices (the official runs: 16 per iteration, docs/methods.md §1.7); validation/test use
batch 1 on whole images (sizes differ), one loader per dataset in the order given (``val_names[i]`` is
``dataloader_idx`` i).

The training loader reads one stream that lasts the whole run (:mod:`gansr.data.sampling`): shuffled passes over
the items, each sample's crop seeded by its position, the start taken from the module's iteration counter. So a
resumed run reads exactly what the uninterrupted run read, whatever the number of workers, and the workers are
started once per run, never per epoch (Lightning sees one epoch as long as ``trainer.max_steps``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import os
import random
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from gansr.data.image_io import DatasetNotFoundError
from gansr.data.sampling import PositionSampler, SeededStream
from gansr.training.preemption import ignore_stop_signals

if TYPE_CHECKING:  # kornia loads only when a degradation is configured
    from gansr.data.degradations.base import DeviceDegradation

__all__ = ["SRDataModule", "StreamLoader", "worker_init"]


def worker_init(worker_id: int) -> None:
    """Runs first in every DataLoader worker process: the one place for per-worker set-up.

    Workers ignore SIGTERM/SIGUSR1/SIGINT sent to the process group (:func:`~gansr.training.preemption.
    ignore_stop_signals`): the main process decides, saves and stops. Then it seeds Python's and NumPy's global generators from the worker's torch seed (the loader's base seed plus
    ``worker_id``), as ``seed_everything(workers=True)`` would, for datasets that draw from them. The training
    stream itself does not: its crops are seeded by stream position.
    """
    ignore_stop_signals()
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


class StreamLoader(DataLoader):
    """The training DataLoader over a :class:`SeededStream`. Lightning stores its :meth:`state_dict` in checkpoints
    and hands it back on resume (so it counts as resumable mid-epoch); a resume that changed the seed or the global
    batch would read other samples than the uninterrupted run, and is warned about."""

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.dataset.seed, "global_batch": self.batch_size * self.sampler.world}

    def load_state_dict(self, state: dict[str, int]) -> None:
        now = self.state_dict()
        if state != now:
            warnings.warn(
                f"resume: the checkpoint was trained with data seed {state.get('seed')} and global batch "
                f"{state.get('global_batch')}, this run uses {now['seed']} and {now['global_batch']}: training goes on, "
                "but not as the uninterrupted run would have", UserWarning, stacklevel=2)


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
        num_workers: dataloader workers per loader (default ``min(4, cpu count)``); when > 0 they are started once
            and kept for the whole run.
        pin_memory: default ``torch.cuda.is_available()``.
        prefetch_factor: batches each worker loads ahead (when ``num_workers > 0``).
        seed: fixes the training order and the random crops (``gansr.data.sampling``; the configs pass ``${seed}``).
        scale: the run's SR factor; when given, every dataset with a ``scale`` must match it.
        patch_size: the HR training patch; when given, the training dataset's ``patch_size`` must match it.
            Both are declared here so other configs can read them (``input_size: ${data.patch_size}``).
        degradation: None (the default, ``degradation=bicubic_matlab``): training pairs read the cached
            MATLAB-bicubic LR. Else a :class:`~gansr.data.degradations.DeviceDegradation`: the workers give HR
            patches only and :meth:`device_transform` makes the LR (and the flips) on the training device; the
            validation/test sets read the degradation's saved LR (``eval_lr_kind``: bicubic, BD or DN).
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
        prefetch_factor: int = 4,
        seed: int = 0,
        degradation: DeviceDegradation | None = None,
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
        self.prefetch_factor = int(prefetch_factor)
        self.seed = int(seed)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        for ds in self._all():
            if scale is not None and getattr(ds, "scale", scale) != scale:
                raise ValueError(f"dataset {getattr(ds, 'name', ds)} has scale {ds.scale} but data.scale is {scale}")
        if patch_size is not None and train is not None and getattr(train, "patch_size", patch_size) != patch_size:
            raise ValueError(f"training dataset patch_size {train.patch_size} differs from data.patch_size {patch_size}")
        self.degradation = degradation
        self.device_augment = False
        if degradation is not None:
            if scale is not None and degradation.scale != scale:
                raise ValueError(f"degradation scale {degradation.scale} differs from data.scale {scale}")
            if train is not None:
                self.device_augment = train.use_hr_patches_only()
            for ds in self.val + self.test:
                ds.use_lr_kind(degradation.eval_lr_kind)

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

    def _loader(self, ds: Dataset, batch_size: int, sampler: PositionSampler | None = None) -> DataLoader:
        workers = self.num_workers > 0
        return (DataLoader if sampler is None else StreamLoader)(
            ds,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=workers,
            prefetch_factor=self.prefetch_factor if workers else None,
            worker_init_fn=worker_init if workers else None,
            # worker base seeds come from this generator, not from torch's global one (which stays the module's)
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _stream_sampler(self, batch: int) -> PositionSampler:
        """Positions of this rank, from the module's iteration counter to the run's last iteration.

        Without a trainer (or with ``max_steps < 0``, an endless run) the stream covers one pass over the items,
        respectively never ends.
        """
        trainer = self.trainer
        world = getattr(trainer, "world_size", 1) if trainer is not None else 1
        global_batch = batch * world
        if trainer is None:
            return PositionSampler(lambda: 0, len(self.train) // global_batch * global_batch)
        module = trainer.lightning_module
        steps_per_iteration = getattr(module, "optimizer_steps_per_iteration", 1)
        max_iterations = trainer.max_steps // steps_per_iteration if trainer.max_steps >= 0 else None
        return PositionSampler(
            lambda: getattr(trainer.lightning_module, "iteration", 0) * global_batch,
            None if max_iterations is None else max_iterations * global_batch,
            rank=trainer.global_rank,
            world=world,
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
        return self.stream_loader(batch, self._stream_sampler(batch))

    def stream_loader(self, batch_size: int, sampler: PositionSampler) -> StreamLoader:
        """The training loader: batches of ``batch_size`` read at ``sampler``'s positions of the seeded stream."""
        return self._loader(SeededStream(self.train, self.seed), batch_size, sampler)

    def device_transform(self, batch: dict) -> dict:
        """On the training device: an HR-only training batch ``{"hr" (B,3,P,P), "position" (B,), "name"}`` becomes
        ``{"lr" (B,3,P/s,P/s), "hr", "name"}`` through the degradation (flips included); other batches pass."""
        if self.degradation is None or "lr" in batch:
            return batch
        lr, hr = self.degradation.apply(batch["hr"], batch["position"], self.seed, self.device_augment)
        return {"lr": lr, "hr": hr, "name": batch["name"]}

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(ds, 1) for ds in self.val]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(ds, 1) for ds in self.test]
