"""Crops and augmentations for angiograms, applied identically to image and mask.

Written here rather than taken from MONAI's dictionary transforms because every sample draws from
its own numpy Generator seeded by (seed, epoch, index): that makes a run reproducible whatever the
number of data-loader workers, and makes a resumed run draw exactly the crops an uninterrupted run
would, which MONAI's per-transform random state does not give across workers and restarts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "AugmentConfig", "CropPlacement", "apply_placement", "augment_intensity", "draw_placement",
    "intensity_stats", "pad_to_multiple", "sample_crop", "standardize",
]


@dataclass(frozen=True)
class AugmentConfig:
    """The augmentations' options (a config's `augment` section), applied identically to image and
    mask (intensity ones to the image only)."""

    flips: bool = True
    rot90: bool = True
    rotation_deg: float = 15.0  # uniform in [-r, r]
    scale_range: float = 0.15  # zoom uniform in [1 - s, 1 + s]
    affine_prob: float = 0.5
    brightness: float = 0.1  # additive shift uniform in [-b, b]
    contrast: float = 0.2  # multiplicative factor uniform in [1 - c, 1 + c]
    gamma: float = 0.3  # gamma uniform in [1 - g, 1 + g]
    noise_std: float = 0.0


def intensity_stats(image: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a whole image, the reference of `standardize`."""
    return float(image.mean()), max(float(image.std()), 1e-6)


def standardize(image: np.ndarray, stats: tuple[float, float] | None = None) -> np.ndarray:
    """(image - mean) / std, with the stats of the whole image (default: of `image` itself).

    Training crops pass their source image's stats so that a crop is scaled exactly as it would be
    inside the whole image at inference. This removes exposure and bit-depth differences.
    """
    mean, std = intensity_stats(image) if stats is None else stats
    return ((image - mean) / std).astype(np.float32)


def pad_to_multiple(array: np.ndarray, multiple: int, *, minimum: int = 0) -> np.ndarray:
    """Pad (H, W) at the bottom/right with edge values to a multiple of `multiple` (and >= minimum)."""
    height, width = array.shape[-2:]
    target_h = max(minimum, -(-height // multiple) * multiple)
    target_w = max(minimum, -(-width // multiple) * multiple)
    if (target_h, target_w) == (height, width):
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, target_h - height), (0, target_w - width)]
    return np.pad(array, pad, mode="edge")


def _crop_centre(rng: np.random.Generator, mask: np.ndarray, foreground: np.ndarray,
                 crop: int, foreground_prob: float) -> tuple[float, float]:
    """Centre (y, x) of a crop: on a random vessel pixel with probability foreground_prob."""
    height, width = mask.shape
    if len(foreground) and rng.random() < foreground_prob:
        y, x = foreground[rng.integers(len(foreground))]
    else:
        y, x = rng.integers(height), rng.integers(width)
    half = crop / 2
    # Keep the crop inside the image where it fits, so that crops rarely show padding.
    y = min(max(float(y), half), max(half, height - half))
    x = min(max(float(x), half), max(half, width - half))
    return y, x


@dataclass(frozen=True)
class CropPlacement:
    """Where a training crop lies in its source image, so that other maps of the same image (the
    teacher's outputs on the whole image) can be cut and turned exactly as the crop was.

    Pixel (i, j) of the crop, before flips and turns, samples the source at
    matrix @ (i, j) + offset (row, column; linear interpolation, mirrored at the borders); then
    the crop is flipped left-right (flip_lr), upside down (flip_ud) and turned `turns` quarter
    turns (np.rot90), in that order.
    """

    matrix: np.ndarray  # (2, 2)
    offset: np.ndarray  # (2,)
    flip_lr: bool
    flip_ud: bool
    turns: int

    def to_vector(self) -> np.ndarray:
        """float64 (9,): matrix (row-major), offset, flip_lr, flip_ud, turns."""
        return np.concatenate([self.matrix.ravel(), self.offset,
                               [float(self.flip_lr), float(self.flip_ud), float(self.turns)]])

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> CropPlacement:
        v = np.asarray(vector, dtype=np.float64)
        return cls(v[:4].reshape(2, 2), v[4:6], bool(v[6]), bool(v[7]), int(v[8]))


def draw_placement(
    rng: np.random.Generator,
    mask: np.ndarray,
    foreground: np.ndarray,
    *,
    crop: int,
    foreground_prob: float,
    augment: AugmentConfig,
) -> CropPlacement:
    """A random crop of side `crop`: centre (on a vessel with probability foreground_prob),
    rotation and zoom about the centre, flips and quarter turns.

    mask: bool (H, W); foreground: (K, 2) vessel pixel coordinates.
    Sampling straight from the full image (instead of rotating a cut-out) leaves no empty corners.
    """
    cy, cx = _crop_centre(rng, mask, foreground, crop, foreground_prob)
    angle, zoom = 0.0, 1.0
    if rng.random() < augment.affine_prob:
        angle = math.radians(rng.uniform(-augment.rotation_deg, augment.rotation_deg))
        zoom = rng.uniform(1 - augment.scale_range, 1 + augment.scale_range)
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    matrix = np.array([[cos, -sin], [sin, cos]])
    half = (crop - 1) / 2
    offset = np.array([cy, cx]) - 0.5 - matrix @ np.array([half, half])
    flip_lr = flip_ud = False
    if augment.flips:
        flip_lr = bool(rng.random() < 0.5)
        flip_ud = bool(rng.random() < 0.5)
    turns = int(rng.integers(4)) if augment.rot90 else 0
    return CropPlacement(matrix, offset, flip_lr, flip_ud, turns)


def apply_placement(array: np.ndarray, placement: CropPlacement, crop: int) -> np.ndarray:
    """The crop of float `array` (H, W) at `placement`: float32 (crop, crop)."""
    out = ndimage.affine_transform(array, placement.matrix, placement.offset,
                                   output_shape=(crop, crop), order=1, mode="reflect")
    if placement.flip_lr:
        out = out[:, ::-1]
    if placement.flip_ud:
        out = out[::-1, :]
    return np.ascontiguousarray(np.rot90(out, placement.turns), dtype=np.float32)


def sample_crop(
    rng: np.random.Generator,
    image: np.ndarray,
    mask: np.ndarray,
    foreground: np.ndarray,
    *,
    crop: int,
    foreground_prob: float,
    augment: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray, CropPlacement]:
    """A randomly placed, rotated, scaled, flipped and turned `crop` x `crop` window of
    (image, mask); see draw_placement.

    image: float32 (H, W); mask: bool (H, W); foreground: (K, 2) vessel pixel coordinates.
    Returns image float32 (crop, crop), mask bool (crop, crop) and the placement.
    """
    placement = draw_placement(rng, mask, foreground, crop=crop, foreground_prob=foreground_prob,
                               augment=augment)
    mask_crop = apply_placement(mask.astype(np.float32), placement, crop) > 0.5
    return apply_placement(image, placement, crop), mask_crop, placement


def augment_intensity(rng: np.random.Generator, image: np.ndarray,
                      augment: AugmentConfig) -> np.ndarray:
    """Gamma, contrast, brightness and noise of an image crop.

    image: float32 (H, W) in about [0, 1]. Returns a new float32 array.
    """
    image = np.clip(image, 0.0, 1.0)
    if augment.gamma > 0:
        image = image ** rng.uniform(1 - augment.gamma, 1 + augment.gamma)
    if augment.contrast > 0:
        mean = image.mean()
        image = (image - mean) * rng.uniform(1 - augment.contrast, 1 + augment.contrast) + mean
    if augment.brightness > 0:
        image = image + rng.uniform(-augment.brightness, augment.brightness)
    if augment.noise_std > 0:
        image = image + rng.normal(0, augment.noise_std, image.shape)
    return np.ascontiguousarray(image, dtype=np.float32)
