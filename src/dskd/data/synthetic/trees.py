"""Coronary-like vessel trees as centrelines with radii: a main artery, side branches, a crossing
artery, thin unannotated vessels and a catheter.

Each path is built in one go (no loop over steps): a curvature signal of low-pass noise plus a
steady bend is integrated twice, into headings and then into points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dskd.data.synthetic.background import smooth_weights
from dskd.data.synthetic.style import SynthStyle

__all__ = ["Vessel", "smooth_path", "coronary_tree"]

STEP = 0.5  # px between centreline samples


@dataclass
class Vessel:
    """One tube: points (K, 2) as (y, x) px, radii (K,) px, density (K,) relative iodine.

    labelled: part of the vessel mask (annotated arteries) or not (thin vessels, the catheter).
    mask_floor: the thinnest radius its mask is drawn at (None: the style's, min_diameter / 2);
    a stenosed artery's is lower, so its mask shows the narrowing (dskd.data.synthetic.lesions).
    """

    points: np.ndarray
    radii: np.ndarray
    density: np.ndarray
    labelled: bool = True
    mask_floor: float | None = None


def _low_pass(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """(n,) smooth noise of about unit std, correlated over about `scale` px of path: random
    values at knots `scale` px apart, interpolated (a matrix product, cheaper than a filter)."""
    knots = max(1, int(math.ceil(n * STEP / scale)))
    weights = smooth_weights(n, knots)
    curve = np.einsum("ik,k->i", weights, rng.normal(size=knots + 2))
    return curve / 0.64  # the interpolation's average std for unit-std knots


def smooth_path(rng: np.random.Generator, start: np.ndarray, heading: float, length: float, *,
                wiggle: float, bend: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random centreline: points (K, 2) (y, x) and headings (K,) (rad), K = length / STEP.

    The heading turns steadily by `bend` rad/px (a C-shaped artery), and deviates from that by
    a slow meander (std 1.5 x wiggle rad, over ~60 px) and small wiggles (std `wiggle` rad, over
    ~10 px). Deviations of the heading, not of the curvature, are random: they stay bounded, so
    paths bend and wander but do not curl up. Lengths scale with `scale` (size / 300, at least
    0.5: a small image shows part of a tree, not a tree of hair-thin wiggles).
    """
    n = max(2, int(length / STEP))
    scale = max(scale, 0.5)
    headings = (heading + bend * STEP * np.arange(n)
                + 1.5 * wiggle * _low_pass(rng, n, 60 * scale) + wiggle * _low_pass(rng, n, 10 * scale))
    steps = STEP * np.stack([np.sin(headings), np.cos(headings)], axis=1)
    points = start + np.concatenate([np.zeros((1, 2)), np.cumsum(steps[:-1], axis=0)])
    return points, headings


def _taper(n: int, start: float, end: float, rng: np.random.Generator) -> np.ndarray:
    """Radii that fall from `start` to `end`, faster near the start (a convex profile) with
    small smooth variations (stenosis-like narrowings appear now and then)."""
    t = np.linspace(0, 1, n)
    shape = t ** rng.uniform(0.6, 1.0)
    radii = start + (end - start) * shape
    return np.clip(radii * (1 + 0.05 * _low_pass(rng, n, 8.0)), 0.3, None)


def _branch(rng: np.random.Generator, parent: Vessel, headings: np.ndarray, at: int,
            diameter: float, length: float, style: SynthStyle, *, labelled: bool,
            end_diameter: float, scale: float) -> tuple[Vessel, np.ndarray]:
    side = rng.choice([-1.0, 1.0]) * math.radians(rng.uniform(25, 80))
    points, heads = smooth_path(rng, parent.points[at], float(headings[at] + side), length,
                                wiggle=style.wiggle * rng.uniform(0.7, 1.4),
                                bend=rng.uniform(-1, 1) / length, scale=scale)
    radii = _taper(len(points), diameter / 2, end_diameter / 2, rng)
    density = np.full(len(points), parent.density[at] * rng.uniform(0.85, 1.0))
    return Vessel(points, radii, density, labelled), heads


def _artery(rng: np.random.Generator, size: int, style: SynthStyle, start: np.ndarray,
            heading: float, diameter: float, length: float, n_side: int) -> list[Vessel]:
    """An annotated artery of proximal `diameter` px and its annotated side branches."""
    scale = size / 300
    bend = rng.choice([-1.0, 1.0]) * rng.uniform(0.0, 2.5) / length  # C-shaped like an RCA
    points, headings = smooth_path(rng, start, heading, length, wiggle=style.wiggle, bend=bend,
                                   scale=scale)
    end = max(style.min_diameter, diameter * rng.uniform(0.35, 0.6))
    main = Vessel(points, _taper(len(points), diameter / 2, end / 2, rng), np.ones(len(points)))
    vessels = [main]
    for _ in range(n_side):
        at = int(rng.uniform(0.08, 0.9) * len(points))
        d = max(style.min_diameter, 2 * main.radii[at] * rng.uniform(0.45, 0.8))
        child, heads = _branch(rng, main, headings, at, d, size * rng.uniform(0.2, 0.6), style,
                               labelled=True, end_diameter=style.min_diameter, scale=scale)
        vessels.append(child)
        if rng.random() < 0.3 and len(child.points) > 60:  # a second-generation branch
            at2 = int(rng.uniform(0.2, 0.8) * len(child.points))
            d2 = max(style.min_diameter, 2 * child.radii[at2] * rng.uniform(0.6, 0.9))
            vessels.append(_branch(rng, child, heads, at2, d2, size * rng.uniform(0.1, 0.3), style,
                                   labelled=True, end_diameter=style.min_diameter, scale=scale)[0])
    return vessels


def _faint(rng: np.random.Generator, size: int, style: SynthStyle, trees: list[Vessel]) -> list[Vessel]:
    """Thin vessels (1-3 px) that are visible but left unannotated, as in CIMAT's masks: most
    leave an annotated vessel, a few start anywhere."""
    out = []
    for _ in range(rng.poisson(style.faint_vessels * min(1.0, (size / 300) ** 2))):
        length = size * rng.uniform(0.05, 0.35)
        d = rng.uniform(1.0, 3.0)
        if trees and rng.random() < 0.75:
            parent = trees[rng.integers(len(trees))]
            at = int(rng.integers(len(parent.points)))
            start, density = parent.points[at], parent.density[at]
            heading = rng.uniform(0, 2 * math.pi)
        else:
            start, density = rng.uniform(0.1, 0.9, 2) * size, 1.0
            heading = rng.uniform(0, 2 * math.pi)
        points, _ = smooth_path(rng, start, heading, length, wiggle=style.wiggle * 1.5, scale=size / 300)
        radii = _taper(len(points), d / 2, max(0.4, d / 2 * rng.uniform(0.4, 0.9)), rng)
        out.append(Vessel(points, radii, np.full(len(points), density * rng.uniform(0.5, 1.1)),
                          labelled=False))
    return out


def _blobs(rng: np.random.Generator, size: int, style: SynthStyle, ostium: np.ndarray) -> list[Vessel]:
    """Short, wide, unannotated stains (contrast at the ostium, the catheter's tip, overlapping
    side branches seen end-on): 5-20 px long, 4-14 px wide, half of them at the ostium."""
    out = []
    for _ in range(rng.poisson(style.blobs * min(1.0, (size / 300) ** 2))):
        start = ostium + rng.normal(0, 8, 2) if rng.random() < 0.5 else rng.uniform(0.1, 0.9, 2) * size
        points, _ = smooth_path(rng, start, rng.uniform(0, 2 * math.pi), rng.uniform(5, 20) * size / 300,
                                wiggle=0.3, scale=size / 300)
        radius = rng.uniform(2.0, 7.0)
        out.append(Vessel(points, np.full(len(points), radius), np.full(len(points), rng.uniform(0.4, 1.0)),
                          labelled=False))
    return out


def _catheter(rng: np.random.Generator, size: int, ostium: np.ndarray, heading: float) -> Vessel:
    """A contrast-filled tube (4-6 px) from the ostium out of the field, heading `heading`."""
    back = heading + rng.uniform(-0.5, 0.5)
    points, _ = smooth_path(rng, ostium, back, 1.5 * size, wiggle=0.05,
                            bend=rng.uniform(-1, 1) / size, scale=size / 300)
    radius = rng.uniform(2.0, 3.0)
    return Vessel(points, np.full(len(points), radius), np.full(len(points), rng.uniform(0.9, 1.4)),
                  labelled=False)


def _place(rng: np.random.Generator, vessels: list[Vessel], size: int) -> None:
    """Move (and if needed shrink) a tree so that its annotated vessels lie in the field: their
    bounding box at most 0.9 x size wide, at a random place within [-0.03, 1.03] x size."""
    points = np.concatenate([v.points for v in vessels if v.labelled])
    low, high = points.min(axis=0), points.max(axis=0)
    extent = np.maximum(high - low, 1.0)
    shrink = min(1.0, 0.9 * size / extent.max())
    centre = (low + high) / 2
    half = extent * shrink / 2
    room = np.maximum(0.0, 0.53 * size - half)
    target = size / 2 + rng.uniform(-1, 1, 2) * room
    for v in vessels:
        v.points = (v.points - centre) * shrink + target


def coronary_tree(rng: np.random.Generator, size: int, style: SynthStyle) -> list[Vessel]:
    """Every tube of one image: annotated arteries first, then the unannotated ones."""
    wide = rng.random() < style.wide_main_prob
    diameter = rng.uniform(*(style.wide_main_diameter if wide else style.main_diameter))
    heading = rng.uniform(0, 2 * math.pi)
    vessels = _artery(rng, size, style, np.zeros(2), heading, diameter, size * rng.uniform(1.0, 1.6),
                      int(rng.poisson(style.side_branches)))
    _place(rng, vessels, size)
    ostium = vessels[0].points[0]
    # A smaller image is a smaller field of view: a tube passing near the tree crosses it less
    # often (in proportion to its side), and fewer thin vessels and stains lie in it (to its area).
    field = min(1.0, size / 300)
    if rng.random() < style.crossing_prob * field:  # another artery (a different vessel) crossing this one
        target = vessels[0].points[rng.integers(len(vessels[0].points))]
        heading = rng.uniform(0, 2 * math.pi)
        start = target - size * rng.uniform(0.15, 0.4) * np.array([math.sin(heading), math.cos(heading)])
        vessels += _artery(rng, size, style, start, heading,
                           rng.uniform(0.4, 0.8) * diameter, size * rng.uniform(0.4, 0.9),
                           int(rng.poisson(style.side_branches / 3)))
    vessels += _faint(rng, size, style, vessels)
    vessels += _blobs(rng, size, style, ostium)
    if rng.random() < style.catheter_prob * field:
        away = ostium - np.concatenate([v.points for v in vessels]).mean(axis=0)
        vessels.append(_catheter(rng, size, ostium, math.atan2(away[0], away[1])))
    return vessels
