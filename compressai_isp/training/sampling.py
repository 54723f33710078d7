"""Resumable, rank-sharded sample order with per-sample seeds.

Exact resumption needs the data stream after a restart to be the one the interrupted run
would have seen. Two things make that hold regardless of ``--num-workers``:

* :class:`ResumableSampler` derives the epoch's permutation from ``(seed, epoch)`` alone and can
  start mid-epoch (``start`` samples already consumed by this rank), sharding it across
  distributed ranks like ``DistributedSampler``.
* Each index is yielded with its own seed, and :class:`SeededDataset` runs the wrapped
  dataset's ``__getitem__`` (random crop, flip, synthetic noise ...) under that seed with the
  global Python / NumPy / torch generators saved and restored around it, so sample content does
  not depend on which worker loads it, and loading in the main process does not disturb the
  training RNG (quantisation noise).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

__all__ = ["ResumableSampler", "SeededDataset", "sample_seed"]

_MASK63 = (1 << 63) - 1


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for the ``position``-th sample of ``epoch`` (SplitMix64-style mixing)."""
    z = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + position) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & _MASK63


class ResumableSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, seed)`` for one epoch of this rank's shard, from position ``start``.

    Args:
        size: dataset length.
        seed: run seed; the permutation of epoch ``e`` is ``randperm(size)`` under ``seed + e``.
        shuffle: ``False`` keeps dataset order (validation).
        rank, world_size: shard of a distributed run; the permutation is padded by wrapping so
            every rank gets ``ceil(size / world_size)`` samples (as ``DistributedSampler``).
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        *,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if size <= 0:
            raise ValueError("cannot sample from an empty dataset")
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch and how many of this rank's samples of it were already consumed."""
        self.epoch, self.start = epoch, start

    @property
    def per_rank(self) -> int:
        return -(-self.size // self.world_size)

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.world_size
        order = (order * (total // len(order) + 1))[:total]
        mine = order[self.rank : total : self.world_size]
        for pos in range(self.start, len(mine)):
            global_pos = pos * self.world_size + self.rank
            yield mine[pos], sample_seed(self.seed, self.epoch, global_pos)


class SeededDataset(Dataset):
    """Runs ``base[index % len(base)]`` under a given seed, leaving the caller's generators as
    they were. Indices past the end revisit the images with other seeds (other patches), which
    is how validation draws several patches per image."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed % (1 << 32))
            torch.manual_seed(seed)
            try:
                return self.base[index % len(self)]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
