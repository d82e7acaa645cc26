"""A training order that a resumed run can continue exactly: every sample is a pure function of ``(seed, position)``.

The training stream is one long sequence of *positions* 0, 1, 2, ... (BasicSR's endless ``EnlargedSampler`` idea):
position ``p`` reads item ``perm_e[p mod n]`` of the dataset, where ``e = p // n`` and ``perm_e`` is a permutation
of the ``n`` items drawn from ``(seed, e)``, and its random crop/flips come from a NumPy generator keyed by
``(seed, p)``. Nothing depends on the DataLoader worker that loads it, on how many workers there are, or on
Lightning's epochs, so

* iteration ``i`` of a run with global batch ``B`` always reads positions ``i*B ... i*B+B-1``; a run resumed at
  iteration ``k`` starts its sampler at position ``k*B`` (from the module's iteration counter, which the
  checkpoint holds) and reads exactly what the uninterrupted run read;
* under DDP, rank ``r`` of ``W`` takes positions ``r, r+W, ...`` of each global batch, so the ranks together read
  the same samples as one process with the global batch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import Dataset, Sampler

__all__ = ["PositionSampler", "SeededStream", "crop_rng", "degradation_rng", "epoch_permutation"]

# SeedSequence keys: one stream for the visiting order, one for the per-sample crops, one for the per-sample
# degradation drawn on the training device (gansr.data.degradations).
_ORDER, _CROP, _DEGRADE = 0, 1, 2


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The visiting order of data epoch ``epoch``: a permutation of ``range(n)`` fixed by ``(seed, epoch)``."""
    return np.random.default_rng((seed, _ORDER, epoch)).permutation(n)


def crop_rng(seed: int, position: int) -> np.random.Generator:
    """The random generator of the sample at stream ``position`` (crop corner, flips)."""
    return np.random.default_rng((seed, _CROP, position))


def degradation_rng(seed: int, position: int) -> np.random.Generator:
    """The random generator of the device-side degradation (and flips) of the sample at stream ``position``."""
    return np.random.default_rng((seed, _DEGRADE, position))


class SeededStream(Dataset):
    """Maps a stream position to a training item: ``stream[p] = dataset.item(perm_{p//n}[p % n], crop_rng(seed, p))``.

    An HR-only item (a dataset whose LR is made on the training device) also carries ``"position": p``.

    ``dataset`` needs ``__len__`` and ``item(index, rng)`` (:class:`gansr.data.datasets.HRFolderDataset`). The
    permutation of the current data epoch is cached per worker process.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self._epoch: int | None = None
        self._order: np.ndarray | None = None

    def __len__(self) -> int:
        """Items per data epoch (the stream itself is endless)."""
        return len(self.dataset)

    def index_at(self, position: int) -> int:
        """The dataset index read at stream ``position``."""
        epoch, offset = divmod(int(position), len(self.dataset))
        if epoch != self._epoch:
            self._order, self._epoch = epoch_permutation(self.seed, epoch, len(self.dataset)), epoch
        return int(self._order[offset])

    def __getitem__(self, position: int) -> dict:
        item = self.dataset.item(self.index_at(position), crop_rng(self.seed, int(position)))
        if "lr" not in item:  # an HR-only patch: its LR is made on the device from degradation_rng(seed, position)
            item["position"] = int(position)
        return item


class PositionSampler(Sampler[int]):
    """Yields this rank's stream positions from ``start()`` on: ``start()+rank, start()+rank+world, ...``.

    Args:
        start: called when an iterator is made (at the start of fitting, after a checkpoint is restored): the
            first global position to read, i.e. ``iteration * global_batch``.
        stop: the global position where the run ends (``max_iterations * global_batch``); None = endless (the
            sampler then has no length and Lightning treats the loader as infinite).
        rank, world: this process's DDP rank and the number of processes.

    ``len()`` counts this rank's positions from 0 to ``stop``, so a resumed run and the uninterrupted run see the
    same loader length (Lightning adds the batches already done to its own counter when it resumes).
    """

    def __init__(self, start: Callable[[], int], stop: int | None, rank: int = 0, world: int = 1) -> None:
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"PositionSampler: rank {rank} out of range for {world} process(es)")
        self.start = start
        self.stop = stop
        self.rank = rank
        self.world = world

    def __iter__(self) -> Iterator[int]:
        position = int(self.start()) + self.rank
        while self.stop is None or position < self.stop:
            yield position
            position += self.world

    def __len__(self) -> int:
        if self.stop is None:
            raise TypeError("PositionSampler without stop is endless")
        return self.stop // self.world
