"""What lies behind the vessels: anatomy-like backgrounds, or real ones with their vessels removed.

The anatomy is drawn as the X-ray exposure before the vessels: large smooth regions of different
density (a bright lung field and a dark diaphragm or heart shadow with curved borders), a
spine-like band with vertebrae, faint ribs, and fractal texture whose power spectrum falls like
CIMAT's (slope about -2.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from dskd.data.synthetic.inpaint import fill_vessels

__all__ = ["anatomy_background", "smooth_background", "fractal_field", "collimator",
           "RealBackgrounds"]


def smooth_weights(n: int, knots: int) -> np.ndarray:
    """(n, knots + 2) Gaussian interpolation weights from knots spaced n / knots apart (one extra
    beyond each end), rows summing to 1: `weights @ values` is a smooth curve through them."""
    where = (np.arange(n) + 0.5) / n * knots + 0.5  # in knot units; knots sit at 0 .. knots + 1
    weights = np.exp(-0.5 * ((where[:, None] - np.arange(knots + 2)[None, :]) / 0.7) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def _low_res_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A smooth unit-std field (size, size): `cells` x `cells` noise, smoothly interpolated."""
    weights = smooth_weights(size, cells)
    # einsum, not @: a BLAS call this small costs more in thread start-up than in arithmetic
    rows = np.einsum("ik,kl->il", weights, rng.normal(size=(cells + 2, cells + 2)))
    field = np.einsum("il,jl->ij", rows, weights)
    return (field - field.mean()) / max(field.std(), 1e-9)


def fractal_field(rng: np.random.Generator, size: int, slope: float) -> np.ndarray:
    """Unit-std noise whose power spectrum falls as frequency ** slope (slope < 0)."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) * radius ** (slope / 2)
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(size, size))
    return field / max(field.std(), 1e-9)


def _soft_step(distance: np.ndarray, softness: float) -> np.ndarray:
    return 0.5 * (1 + np.tanh(distance / max(softness, 1e-3)))


def _curved_region(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: int,
                   softness: float) -> np.ndarray:
    """1 inside a large disc whose border (a gentle arc) crosses the image, 0 outside."""
    angle = rng.uniform(0, 2 * math.pi)
    radius = size * rng.uniform(0.6, 2.5)
    reach = size * rng.uniform(0.1, 0.45)  # how far the border is from the image centre
    cy = size / 2 + (radius + reach) * math.sin(angle)
    cx = size / 2 + (radius + reach) * math.cos(angle)
    return _soft_step(radius - np.hypot(yy - cy, xx - cx), softness)


def smooth_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """The plain option (realism basic): a level, a gradient and a smooth field."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    bg = rng.uniform(0.45, 0.65) + rng.uniform(-0.1, 0.1) * (yy - 0.5) + rng.uniform(-0.1, 0.1) * (xx - 0.5)
    return np.clip(bg + 0.04 * _low_res_field(rng, size, 5), 0.1, 1.0)


def anatomy_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Exposure (size, size) float64 in about [0.15, 1]: level, lung, diaphragm, spine, ribs, texture."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    scale = size / 300
    bg = np.full((size, size), rng.uniform(0.42, 0.6))
    bg += 0.05 * _low_res_field(rng, size, 4) + 0.015 * _low_res_field(rng, size, 9)
    if rng.random() < 0.8:  # a bright lung field beyond the heart border
        bg += rng.uniform(0.08, 0.3) * _curved_region(rng, yy, xx, size, rng.uniform(4, 25) * scale)
    for _ in range(rng.integers(0, 3)):  # diaphragm / heart shadow: dark, sharper border
        bg -= rng.uniform(0.06, 0.2) * _curved_region(rng, yy, xx, size, rng.uniform(1.5, 8) * scale)
    if rng.random() < 0.5:  # a spine-like band with vertebrae along it
        angle = rng.uniform(-0.35, 0.35) + (math.pi / 2 if rng.random() < 0.2 else 0)
        u = (xx - size * rng.uniform(0.1, 0.9)) * math.cos(angle) + (yy - size / 2) * math.sin(angle)
        v = -(xx - size / 2) * math.sin(angle) + (yy - size / 2) * math.cos(angle)
        half = size * rng.uniform(0.07, 0.15)
        band = _soft_step(half - np.abs(u), rng.uniform(3, 10) * scale)
        period = size * rng.uniform(0.1, 0.16)
        vertebrae = 0.5 + 0.5 * np.cos(2 * math.pi * v / period + rng.uniform(0, 6.3))
        bg += band * (rng.uniform(-0.08, 0.08) + rng.uniform(0.0, 0.05) * vertebrae)
    for _ in range(rng.integers(0, 4)):  # faint ribs: curved bands with soft edges
        angle = rng.uniform(-0.8, 0.8)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        v = -xx * math.sin(angle) + yy * math.cos(angle)
        u = u + rng.uniform(-1.2, 1.2) * (v - size / 2) ** 2 / size
        centre, width = rng.uniform(0, size), size * rng.uniform(0.03, 0.08)
        edge = rng.uniform(1.5, 5) * scale
        bg -= rng.uniform(0.01, 0.05) * (_soft_step(u - centre + width / 2, edge)
                                          - _soft_step(u - centre - width / 2, edge))
    bg += rng.uniform(0.015, 0.04) * fractal_field(rng, size, rng.uniform(-2.6, -1.9))
    return np.clip(bg, 0.12, 1.0)


def collimator(rng: np.random.Generator, size: int, radius_range: tuple[float, float], *,
               rim_prob: float = 0.0) -> np.ndarray:
    """1 inside the circular field, falling over ~1 px to 0 outside: (size, size). With
    probability rim_prob a thin dark or bright rim runs just inside the edge, as on many
    CIMAT images (an edge that is not a vessel)."""
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = (0.5 + rng.uniform(-0.08, 0.08, 2)) * size
    radius = rng.uniform(*radius_range) * size
    distance = np.hypot(yy - cy, xx - cx) - radius
    field = 1 / (1 + np.exp(distance / rng.uniform(0.4, 1.5)))
    if rng.random() < rim_prob:
        width = rng.uniform(1.0, 4.0) * size / 300
        rim = np.exp(-0.5 * ((distance + 1.5 * width) / width) ** 2)
        field = field * (1 + rng.uniform(-0.25, 0.15) * rim)
    return field


class RealBackgrounds:
    """Vessel-free backgrounds made from the user's own labelled images (the vessels filled in by
    `fill_vessels`), drawn at random with flips and quarter turns.

    images, masks: float (H, W) in [0, 1] and bool (H, W) pairs, all of one size. For an honest
    score, make them from other folds than the images scored (docs/synthetic.md).
    """

    def __init__(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], *, seed: int = 0) -> None:
        if not len(images) or len(images) != len(masks):
            raise ValueError(f"need as many masks as images, at least one (got {len(images)}, {len(masks)})")
        rng = np.random.default_rng(seed)
        self.backgrounds = [fill_vessels(i, m, margin=3, rng=rng) for i, m in zip(images, masks, strict=True)]

    @classmethod
    def from_files(cls, pairs: Sequence[tuple[str | Path, str | Path]]) -> RealBackgrounds:
        from dskd.data.io import read_image, read_mask

        return cls([read_image(i) for i, _ in pairs], [read_mask(m) for _, m in pairs])

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """One background (size, size) float64: a random one, flipped/turned, resized if needed."""
        bg = self.backgrounds[rng.integers(len(self.backgrounds))].astype(np.float64)
        if bg.shape != (size, size):
            bg = ndimage.zoom(bg, (size / bg.shape[0], size / bg.shape[1]), order=1)[:size, :size]
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
        return np.rot90(bg, int(rng.integers(4))).copy()
