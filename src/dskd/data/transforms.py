"""Crops and augmentations for angiograms, applied identically to image and mask.

Written here rather than taken from MONAI's dictionary transforms because every sample draws from
its own numpy Generator seeded by (seed, epoch, index): that makes a run reproducible whatever the
number of data-loader workers, and makes a resumed run draw exactly the crops an uninterrupted run
would, which MONAI's per-transform random state does not give across workers and restarts.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from dskd.config import AugmentConfig

__all__ = ["intensity_stats", "standardize", "pad_to_multiple", "sample_crop", "augment_crop"]


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


def sample_crop(
    rng: np.random.Generator,
    image: np.ndarray,
    mask: np.ndarray,
    foreground: np.ndarray,
    *,
    crop: int,
    foreground_prob: float,
    augment: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """A `crop` x `crop` window of (image, mask), rotated and scaled about its centre.

    image: float32 (H, W); mask: bool (H, W); foreground: (K, 2) vessel pixel coordinates.
    Sampling straight from the full image (instead of rotating a cut-out) leaves no empty corners.
    Returns image float32 (crop, crop) and mask bool (crop, crop).
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
    out = (crop, crop)
    image_crop = ndimage.affine_transform(image, matrix, offset, output_shape=out, order=1,
                                          mode="reflect")
    mask_crop = ndimage.affine_transform(mask.astype(np.float32), matrix, offset, output_shape=out,
                                         order=1, mode="reflect") > 0.5
    return image_crop.astype(np.float32), mask_crop


def augment_crop(
    rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, augment: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Flips and 90-degree rotations of both; gamma, contrast, brightness, noise of the image.

    image: float32 (H, W) in about [0, 1]; mask: bool (H, W). Returns new arrays.
    """
    if augment.flips:
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if rng.random() < 0.5:
            image, mask = image[::-1, :], mask[::-1, :]
    if augment.rot90:
        turns = int(rng.integers(4))
        image, mask = np.rot90(image, turns), np.rot90(mask, turns)
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
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(mask)
