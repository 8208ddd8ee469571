"""PyTorch datasets: random augmented training crops, and whole images for evaluation.

Images are either held in memory (a list of CaseArrays, read once) or read from disk when needed
(`LazyCases`, for datasets larger than memory): the crops are the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dskd.data.cases import Case, CaseArrays, load_case
from dskd.data.resolution import upscale_case
from dskd.data.transforms import (
    AugmentConfig,
    augment_intensity,
    intensity_stats,
    pad_to_multiple,
    sample_crop,
    standardize,
)
from dskd.errors import DataError

__all__ = ["TrainCrops", "EpochSampler", "LazyCases", "load_cases", "image_tensor"]


class LazyCases(Sequence[CaseArrays]):
    """Cases read from disk on every access: item k is `load_case(cases[k])`, upscaled `scale`
    times (dskd.data.resolution).

    Holds only file paths, so it is cheap to send to data-loader workers, and a worker holds one
    image at a time: memory stays the same whatever the number of images.
    """

    def __init__(self, cases: Sequence[Case], *, scale: int = 1) -> None:
        self.cases = list(cases)
        self.scale = scale

    def __len__(self) -> int:
        return len(self.cases)

    @overload
    def __getitem__(self, index: int) -> CaseArrays: ...
    @overload
    def __getitem__(self, index: slice) -> LazyCases: ...

    def __getitem__(self, index: int | slice) -> CaseArrays | LazyCases:
        if isinstance(index, slice):
            return LazyCases(self.cases[index], scale=self.scale)
        return upscale_case(load_case(self.cases[index]), self.scale)


def load_cases(cases: Sequence[Case], *, cache: bool, scale: int = 1) -> Sequence[CaseArrays]:
    """All cases read now into memory (cache=True), or a LazyCases that reads each on access;
    scale: upscale each that many times (a network of model.input_scale trains on them)."""
    if not cache:
        return LazyCases(cases, scale=scale)
    return [upscale_case(load_case(c), scale) for c in cases]


class TrainCrops(Dataset):
    """`samples_per_epoch` random crops per epoch, each drawn from its own Generator seeded by
    (seed, epoch, index), so any worker count, any number of processes (each reading its own
    indices) and any resume point give the same crops.

    cases: CaseArrays in memory, or a LazyCases: then each item reads its image from disk and
    computes the vessel coordinates (for foreground-centred crops) and intensity statistics of that
    image on the spot instead of keeping them for every image.
    Items are indexed by (epoch, index), as an EpochSampler yields them, or by index alone for
    the epoch last given to `set_epoch`. Items: image (1, crop, crop) float32 standardised,
    mask (1, crop, crop) float32 in {0, 1}; with_placement=True adds where the crop came from:
    float64 (10,), the index of its case in `cases` followed by CropPlacement.to_vector().
    """

    def __init__(self, cases: Sequence[CaseArrays], *, crop_size: int, samples_per_epoch: int,
                 foreground_prob: float, augment: AugmentConfig, seed: int,
                 with_placement: bool = False) -> None:
        if not len(cases):
            raise DataError("no training cases")
        self.lazy = isinstance(cases, LazyCases)
        if self.lazy:
            unlabelled = [c.name for c in cases.cases if c.mask is None]
        else:
            unlabelled = [c.name for c in cases if c.mask is None]
        if unlabelled:
            raise DataError(f"case '{unlabelled[0]}' has no mask; training needs labelled images")
        self.cases = cases
        self.foreground = [] if self.lazy else [np.argwhere(c.mask) for c in cases]
        self.stats = [] if self.lazy else [intensity_stats(c.image) for c in cases]
        self.crop_size = crop_size
        self.samples_per_epoch = samples_per_epoch
        self.foreground_prob = foreground_prob
        self.augment = augment
        self.seed = seed
        self.with_placement = with_placement
        self.epoch = 0
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, its permutation of the cases)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _case_order(self, epoch: int) -> np.ndarray:
        """Every image is visited equally often: a seeded permutation per epoch, cycled."""
        if self._order is None or self._order[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.cases))
            self._order = (epoch, order)
        return self._order[1]

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        k = self._case_order(epoch)[index % len(self.cases)]
        rng = np.random.default_rng([self.seed, epoch, index])
        case = self.cases[k]
        if self.lazy:
            foreground, stats = np.argwhere(case.mask), intensity_stats(case.image)
        else:
            foreground, stats = self.foreground[k], self.stats[k]
        image, mask, placement = sample_crop(rng, case.image, case.mask, foreground,
                                             crop=self.crop_size,
                                             foreground_prob=self.foreground_prob,
                                             augment=self.augment)
        image = standardize(augment_intensity(rng, image, self.augment), stats)
        item = (torch.from_numpy(image)[None], torch.from_numpy(mask.astype(np.float32))[None])
        if self.with_placement:
            where = np.concatenate([[float(k)], placement.to_vector()])
            return (*item, torch.from_numpy(where))
        return item


class EpochSampler(Sampler[tuple[int, int]]):
    """(epoch, index) pairs for TrainCrops, the indices taken from `indices` (e.g. a
    DistributedSampler's share). The epoch travels with every index to the data-loader workers,
    so the workers can live across epochs (persistent_workers) and still draw the new epoch's crops.
    Call `set_epoch(epoch)` before each epoch.
    """

    def __init__(self, indices: Iterable[int]) -> None:
        self.indices = indices
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.indices, "set_epoch"):
            self.indices.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, index) for index in self.indices)

    def __len__(self) -> int:
        return len(self.indices)  # type: ignore[arg-type]


def image_tensor(image: np.ndarray, multiple: int) -> torch.Tensor:
    """A whole image ready for the network: standardised, edge-padded to `multiple`.

    image: float32 (H, W) in [0, 1] -> (1, 1, H', W'); crop outputs back with [..., :H, :W].
    """
    return torch.from_numpy(pad_to_multiple(standardize(image), multiple))[None, None]
