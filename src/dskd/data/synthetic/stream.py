"""Synthetic angiograms as files (`write_synthetic_dataset`) or generated on the fly
(`SyntheticCrops`, a Dataset of training crops in TrainCrops' format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from dskd.data.io import write_png
from dskd.data.synthetic.background import RealBackgrounds
from dskd.data.synthetic.render import synth_angiogram
from dskd.data.synthetic.style import Realism, SynthStyle, style_for
from dskd.data.transforms import AugmentConfig, augment_intensity, intensity_stats, sample_crop, standardize

__all__ = ["synth_case", "write_synthetic_dataset", "SyntheticCrops"]


def synth_case(seed: int, k: int, size: int = 300, style: SynthStyle | None = None, *,
               backgrounds: RealBackgrounds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Image k of seed `seed`: float32 (size, size) in [0, 1] and its bool mask. It depends only on
    (seed, k, size, style), so files and streams of the same seed hold the same images."""
    return synth_angiogram(np.random.default_rng([seed, k]), size, style or SynthStyle(),
                           backgrounds=backgrounds)


def write_synthetic_dataset(out: str | Path, *, n: int, size: int = 300, seed: int = 0,
                            start: int = 0, progress: bool = True,
                            realism: Realism = "standard", style: SynthStyle | None = None,
                            backgrounds: RealBackgrounds | None = None) -> Path:
    """Write images/case_XXXX.png and masks/case_XXXX.png (the generic folder layout) under `out`.

    Case k (k = start .. start + n - 1) is `synth_case(seed, k)`, so splits made of different
    ranges of k never share an image. `style` overrides the `realism` preset.
    """
    out = Path(out)
    style = style or style_for(realism)
    for k in tqdm(range(start, start + n), desc=f"synth {out.name}", unit="img",
                  disable=None if progress else True, leave=False):
        image, mask = synth_case(seed, k, size, style, backgrounds=backgrounds)
        write_png(out / "images" / f"case_{k:04d}.png", image)
        write_png(out / "masks" / f"case_{k:04d}.png", mask)
    return out


class SyntheticCrops(Dataset):
    """Training crops of synthetic angiograms generated when asked for: an endless, seeded stream.

    Item (epoch, index) (or index, for the epoch given to `set_epoch`) is one random crop of image
    k = epoch * samples_per_epoch + index of `synth_case(seed, k)`: every item is a new image, the
    same for any worker count or resume point. Items as TrainCrops': image (1, crop, crop) float32
    standardised with its whole image's statistics, mask (1, crop, crop) float32 in {0, 1}.
    """

    def __init__(self, *, crop_size: int, samples_per_epoch: int, foreground_prob: float,
                 augment: AugmentConfig, seed: int, size: int = 300, style: SynthStyle | None = None,
                 backgrounds: RealBackgrounds | None = None) -> None:
        if crop_size > size:
            raise ValueError(f"crop_size {crop_size} is larger than the synthetic image size {size}")
        self.crop_size = crop_size
        self.samples_per_epoch = samples_per_epoch
        self.foreground_prob = foreground_prob
        self.augment = augment
        self.seed = seed
        self.size = size
        self.style = style or SynthStyle()
        self.backgrounds = backgrounds
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = item if isinstance(item, tuple) else (self.epoch, item)
        k = epoch * self.samples_per_epoch + index
        image, mask = synth_case(self.seed, k, self.size, self.style, backgrounds=self.backgrounds)
        rng = np.random.default_rng([self.seed, k, 1])
        crop, crop_mask, _ = sample_crop(rng, image, mask, np.argwhere(mask), crop=self.crop_size,
                                         foreground_prob=self.foreground_prob, augment=self.augment)
        crop = standardize(augment_intensity(rng, crop, self.augment), intensity_stats(image))
        return torch.from_numpy(crop)[None], torch.from_numpy(crop_mask.astype(np.float32))[None]
