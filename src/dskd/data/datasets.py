"""PyTorch datasets: random augmented training crops, and whole images for evaluation."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from dskd.config import AugmentConfig
from dskd.data.cases import CaseArrays
from dskd.data.transforms import (
    augment_crop,
    intensity_stats,
    pad_to_multiple,
    sample_crop,
    standardize,
)
from dskd.errors import DataError

__all__ = ["TrainCrops", "image_tensor"]


class TrainCrops(Dataset):
    """`samples_per_epoch` random crops per epoch, each drawn from its own Generator seeded by
    (seed, epoch, index), so any worker count and any resume point give the same crops.

    Call `set_epoch(epoch)` before each epoch. Items: image (1, crop, crop) float32 standardised,
    mask (1, crop, crop) float32 in {0, 1}.
    """

    def __init__(self, cases: list[CaseArrays], *, crop_size: int, samples_per_epoch: int,
                 foreground_prob: float, augment: AugmentConfig, seed: int) -> None:
        for case in cases:
            if case.mask is None:
                raise DataError(f"case '{case.name}' has no mask; training needs labelled images")
        if not cases:
            raise DataError("no training cases")
        self.cases = cases
        self.foreground = [np.argwhere(c.mask) for c in cases]
        self.stats = [intensity_stats(c.image) for c in cases]
        self.crop_size = crop_size
        self.samples_per_epoch = samples_per_epoch
        self.foreground_prob = foreground_prob
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # Every image is visited equally often: a seeded permutation per epoch, cycled.
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.cases))
        k = order[index % len(self.cases)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        case = self.cases[k]
        image, mask = sample_crop(rng, case.image, case.mask, self.foreground[k],
                                  crop=self.crop_size, foreground_prob=self.foreground_prob,
                                  augment=self.augment)
        image, mask = augment_crop(rng, image, mask, self.augment)
        image = standardize(image, self.stats[k])
        return torch.from_numpy(image)[None], torch.from_numpy(mask.astype(np.float32))[None]


def image_tensor(image: np.ndarray, multiple: int) -> torch.Tensor:
    """A whole image ready for the network: standardised, edge-padded to `multiple`.

    image: float32 (H, W) in [0, 1] -> (1, 1, H', W'); crop outputs back with [..., :H, :W].
    """
    return torch.from_numpy(pad_to_multiple(standardize(image), multiple))[None, None]
