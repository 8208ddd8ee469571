"""Synthetic X-ray coronary angiograms with exact vessel masks.

What makes them look like angiograms rather than lines on noise:
- a coronary-like tree: a thick trunk that forks, branches that wander with smoothly varying
  curvature, side branches leaving at 25-70 degrees, diameters tapering from about 8 px to 1 px,
  branches of one tree crossing one another;
- X-ray physics: the image is background * exp(-k * c * chord), the chord being the path length
  through a cylindrical vessel, so thin branches are faint and crossings are darker; the iodine
  concentration c fades along the branches;
- a bright, low-frequency background with rib-like bands and a heart shadow, a contrast-filled
  catheter ending at the tree's ostium (and sometimes a thin guide wire), neither in the mask;
- system blur, signal-dependent noise and a circular collimator with a dark outside.
Deterministic: image k of seed s depends only on (s, k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from dskd.data.io import write_png

__all__ = ["synth_angiogram", "write_synthetic_dataset", "SynthStyle"]

_STEP = 0.35  # px between centreline samples: dense enough that stamped disks form a smooth tube


@dataclass(frozen=True)
class SynthStyle:
    """Knobs of the generator (defaults give CIMAT-like 300x300 images)."""

    max_diameter: float = 8.0
    min_diameter: float = 1.2
    max_generations: int = 3
    noise: tuple[float, float] = (0.015, 0.035)  # noise std at full brightness, drawn per image
    guide_wire_prob: float = 0.3


@dataclass
class _Branch:
    points: np.ndarray  # (K, 2) y, x
    radii: np.ndarray  # (K,)
    contrast: np.ndarray  # (K,) relative iodine concentration


def _walk(rng: np.random.Generator, start: np.ndarray, heading: float, length: float,
          size: int, *, max_turn: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """A centreline whose curvature (rad/px, at most max_turn) itself random-walks.

    Returns points (K, 2) and headings (K,); stops early when it leaves the image by 10%.
    """
    n = max(2, int(length / _STEP))
    turn = rng.normal(0, max_turn / 3)
    points, headings = [start], [heading]
    for _ in range(n - 1):
        turn = float(np.clip(turn + rng.normal(0, max_turn / 12) * math.sqrt(_STEP),
                             -max_turn, max_turn))
        heading += turn * _STEP
        nxt = points[-1] + _STEP * np.array([math.sin(heading), math.cos(heading)])
        if not (-0.1 * size < nxt[0] < 1.1 * size and -0.1 * size < nxt[1] < 1.1 * size):
            break
        points.append(nxt)
        headings.append(heading)
    return np.array(points), np.array(headings)


def _grow(rng: np.random.Generator, start: np.ndarray, heading: float, radius: float,
          length: float, contrast: float, generation: int, size: int, style: SynthStyle,
          out: list[_Branch], *, fork: bool = False) -> None:
    """Grow one branch and, recursively, its side branches (and an end fork when `fork`)."""
    points, headings = _walk(rng, start, heading, length, size)
    t = np.linspace(0, 1, len(points))
    min_radius = style.min_diameter / 2
    taper = rng.uniform(0.85, 1.0) if fork else rng.uniform(0.45, 0.7)
    end_radius = max(min_radius, radius * taper)
    radii = radius + (end_radius - radius) * t
    fade = rng.uniform(0.1, 0.4) * (1 - min(1.0, radius / 4))  # thin branches fade more
    contrasts = contrast * (1 - fade * t)
    out.append(_Branch(points, radii, contrasts))
    if fork:  # the left main stem splits into two long arteries (LAD- and LCx-like)
        for sign in (-1, 1):
            _grow(rng, points[-1], headings[-1] + sign * rng.uniform(0.3, 0.8),
                  radii[-1] * rng.uniform(0.8, 0.95), size * rng.uniform(0.6, 0.9),
                  contrasts[-1], generation + 1, size, style, out)
        return
    if generation >= style.max_generations or len(points) < 20:
        return
    length_px = len(points) * _STEP
    for _ in range(rng.poisson(length_px / (size * 0.15))):
        k = int(rng.uniform(0.05, 0.95) * len(points))
        child_radius = radii[k] * rng.uniform(0.4, 0.75)
        if child_radius < min_radius:
            continue
        side = rng.choice([-1, 1]) * rng.uniform(math.radians(25), math.radians(70))
        _grow(rng, points[k], headings[k] + side, child_radius,
              length_px * rng.uniform(0.25, 0.6), contrasts[k] * rng.uniform(0.85, 1.0),
              generation + 1, size, style, out)


def _stamp(size: int, branch: _Branch) -> tuple[np.ndarray, np.ndarray]:
    """Chord length through the vessel (max over its samples) and its mask, both (size, size).

    Written by hand (no library draws variable-radius tubes with their X-ray path length).
    """
    reach = int(math.ceil(branch.radii.max())) + 1
    offsets = np.arange(-reach, reach + 1)
    centre = np.round(branch.points).astype(int)
    ys = centre[:, 0, None, None] + offsets[None, :, None]  # (K, W, 1)
    xs = centre[:, 1, None, None] + offsets[None, None, :]  # (K, 1, W)
    ys, xs = np.broadcast_arrays(ys, xs)
    d2 = (ys - branch.points[:, 0, None, None]) ** 2 + (xs - branch.points[:, 1, None, None]) ** 2
    r = branch.radii[:, None, None]
    inside = (ys >= 0) & (ys < size) & (xs >= 0) & (xs < size)
    chord = 2 * np.sqrt(np.clip(r**2 - d2, 0, None))
    # A floor of 1 px of path where the vessel is hit keeps 1-px branches faint but visible, as the
    # detector's pixel integrates them rather than sampling their centre.
    chord = np.where(d2 < r**2, np.maximum(chord, 1.0), 0.0) * branch.contrast[:, None, None]
    keep = inside & (chord > 0)
    thickness = np.zeros((size, size))
    np.maximum.at(thickness, (ys[keep], xs[keep]), chord[keep])
    mask = np.zeros((size, size), dtype=bool)
    # A pixel is vessel when its centre lies within the radius (at least 0.6 px, so that the
    # thinnest branches stay connected one-pixel lines).
    hit = inside & (d2 < np.maximum(r, 0.6) ** 2)
    mask[ys[hit], xs[hit]] = True
    return thickness, mask


def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.normal(size=(size, size)), sigma, mode="wrap")
    return field / max(field.std(), 1e-9)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Bright, low-frequency anatomy: gradient, blotches, rib-like bands, a heart shadow."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    bg = rng.uniform(0.5, 0.75) + rng.uniform(-0.12, 0.12) * (yy - 0.5) + rng.uniform(-0.12, 0.12) * (
        xx - 0.5)
    bg += 0.05 * _smooth_field(rng, size, size / 8) + 0.015 * _smooth_field(rng, size, size / 40)
    for _ in range(rng.integers(2, 5)):  # ribs: curved bands with soft edges
        angle = rng.uniform(-0.6, 0.6) + math.pi / 2 * rng.integers(2)
        u = xx * math.cos(angle) + yy * math.sin(angle)
        v = -xx * math.sin(angle) + yy * math.cos(angle)
        u = u + rng.uniform(-0.6, 0.6) * (v - 0.5) ** 2
        centre, width, edge = rng.uniform(-0.1, 1.1), rng.uniform(0.04, 0.09), rng.uniform(0.005, 0.02)
        band = 1 / (1 + np.exp(-(u - centre + width / 2) / edge)) - 1 / (
            1 + np.exp(-(u - centre - width / 2) / edge))
        bg -= rng.uniform(0.03, 0.08) * band
    cy, cx = rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.9)
    ry, rx = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6)
    heart = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    bg -= rng.uniform(0.05, 0.15) / (1 + np.exp((heart - 1) / 0.08))
    return np.clip(bg, 0.15, 1.0)


def _catheter(rng: np.random.Generator, ostium: np.ndarray, size: int) -> _Branch:
    """A contrast-filled tube running from the image border to the ostium of the tree."""
    heading = math.atan2(-ostium[0], rng.uniform(-0.3, 0.6) * size)  # towards the upper border
    points, _ = _walk(rng, ostium.astype(float), heading, 2 * size, size, max_turn=0.006)
    radius = rng.uniform(1.8, 2.6)
    return _Branch(points, np.full(len(points), radius), np.full(len(points), rng.uniform(0.8, 1.1)))


def _guide_wire(rng: np.random.Generator, size: int) -> _Branch:
    start = rng.uniform(0.1, 0.9, 2) * size
    points, _ = _walk(rng, start, rng.uniform(0, 2 * math.pi), size * rng.uniform(0.3, 0.7), size,
                      max_turn=0.01)
    return _Branch(points, np.full(len(points), 0.5), np.full(len(points), 4.0))


def _collimator(rng: np.random.Generator, size: int) -> np.ndarray:
    """1 inside the circular field, falling smoothly to 0 outside."""
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = (0.5 + rng.uniform(-0.06, 0.06, 2)) * size
    radius = rng.uniform(0.5, 0.66) * size
    distance = np.hypot(yy - cy, xx - cx)
    return 1 / (1 + np.exp((distance - radius) / 1.5))


def synth_angiogram(rng: np.random.Generator, size: int = 300,
                    style: SynthStyle = SynthStyle()) -> tuple[np.ndarray, np.ndarray]:
    """One angiogram and its vessel mask: float32 (size, size) in [0, 1] and bool (size, size)."""
    ostium = np.array([rng.uniform(0.15, 0.4), rng.uniform(0.25, 0.75)]) * size
    trunk_heading = rng.uniform(math.radians(40), math.radians(140))  # into the image, downwards
    branches: list[_Branch] = []
    _grow(rng, ostium, trunk_heading, style.max_diameter / 2 * rng.uniform(0.8, 1.0),
          size * rng.uniform(0.05, 0.15), 1.0, 0, size, style, branches, fork=True)

    thickness = np.zeros((size, size))
    mask = np.zeros((size, size), dtype=bool)
    for branch in branches:  # attenuation adds where branches cross; each branch stamps once
        t, m = _stamp(size, branch)
        thickness += t
        mask |= m
    clutter = [_catheter(rng, ostium, size)]
    if rng.random() < style.guide_wire_prob:
        clutter.append(_guide_wire(rng, size))
    for item in clutter:
        thickness += _stamp(size, item)[0]

    k = rng.uniform(0.07, 0.12)  # attenuation per px of iodine path
    image = _background(rng, size) * np.exp(-k * thickness)
    image = ndimage.gaussian_filter(image, rng.uniform(0.5, 0.9))  # focal spot and detector blur
    field = _collimator(rng, size)
    image = image * field + rng.uniform(0.04, 0.12) * (1 - field)
    noise = rng.uniform(*style.noise)
    image = image + noise * np.sqrt(np.clip(image, 0, None)) * rng.normal(size=image.shape)
    mask &= field > 0.5  # what the collimator hides is not annotated
    return np.clip(image, 0, 1).astype(np.float32), mask


def write_synthetic_dataset(out: str | Path, *, n: int, size: int = 300, seed: int = 0,
                            start: int = 0, progress: bool = True) -> Path:
    """Write images/case_XXXX.png and masks/case_XXXX.png (the generic folder layout) under `out`.

    Case k (k = start .. start + n - 1) uses Generator([seed, k]) alone, so splits made of
    different ranges of k never share an image.
    """
    out = Path(out)
    for k in tqdm(range(start, start + n), desc=f"synth {out.name}", unit="img",
                  disable=None if progress else True, leave=False):
        image, mask = synth_angiogram(np.random.default_rng([seed, k]), size)
        write_png(out / "images" / f"case_{k:04d}.png", image)
        write_png(out / "masks" / f"case_{k:04d}.png", mask)
    return out
