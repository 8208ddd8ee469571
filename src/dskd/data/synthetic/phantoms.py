"""Tube phantoms with analytic answers, for checking QCA (docs/qca.md, benchmarks/qca_phantoms.py).

A tube is a dense centreline (spacing 0.1 px) with a radius at every point. Each pixel's value is
the partial-volume coverage of a linear edge, clip(r - d + 0.5, 0, 1), d the distance from the
pixel centre to the nearest centreline point and r that point's radius: the map's 0.5 crossing is
exactly the true edge, and the binary mask (>= 0.5) holds the pixels whose centre lies inside.
Tubes overlap by their maximum. A stenosis is a raised-cosine narrowing of full length L and
depth %DS (of the local reference radius), so its answers are known in closed form:
MLD = (1 - DS/100) x reference at its centre, and its length under QCA's shoulder rule (narrower
than (1 - shoulder) x reference) is L x arccos(2 shoulder / depth - 1) / pi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["Tube", "TrueLesion", "Phantom", "straight", "arc", "narrowing", "render", "lesion_length"]

_SPACING = 0.1


@dataclass
class TrueLesion:
    row: float
    col: float
    percent_diameter_stenosis: float
    full_length_px: float
    reference_px: float  # diameter at the lesion if healthy


@dataclass
class Tube:
    points: np.ndarray  # (M, 2) dense centreline (row, col)
    radius: np.ndarray  # (M,)
    lesions: list[TrueLesion] = field(default_factory=list)


@dataclass
class Phantom:
    probability: np.ndarray  # float32 (H, W)
    tubes: list[Tube]

    @property
    def mask(self) -> np.ndarray:
        return self.probability >= 0.5


def _arc_length(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def straight(
    start: tuple[float, float], end: tuple[float, float], radius: float | tuple[float, float]
) -> Tube:
    """A straight tube; radius constant, or tapering linearly from the first value to the second."""
    length = math.dist(start, end)
    t = np.linspace(0.0, 1.0, max(2, int(length / _SPACING)))
    points = np.asarray(start) + t[:, None] * (np.asarray(end) - np.asarray(start))
    r0, r1 = (radius, radius) if np.isscalar(radius) else radius
    return Tube(points, r0 + t * (r1 - r0))


def arc(
    centre: tuple[float, float], bend_radius: float, start_angle: float, end_angle: float, radius: float
) -> Tube:
    """A tube along a circular arc (angles in radians)."""
    length = bend_radius * abs(end_angle - start_angle)
    angles = np.linspace(start_angle, end_angle, max(2, int(length / _SPACING)))
    points = np.stack([centre[0] + bend_radius * np.sin(angles), centre[1] + bend_radius * np.cos(angles)], 1)
    return Tube(points, np.full(len(angles), float(radius)))


def lesion_length(full_length: float, percent: float, shoulder: float = 0.1) -> float:
    """Length of a raised-cosine narrowing where it is deeper than `shoulder` of the reference."""
    depth = percent / 100
    if depth <= shoulder:
        return 0.0
    return full_length * math.acos(2 * shoulder / depth - 1) / math.pi


def narrowing(tube: Tube, at: float, percent: float, full_length: float) -> Tube:
    """The tube with a raised-cosine stenosis of `percent` %DS and full length centred at fraction
    `at` of its length."""
    s = _arc_length(tube.points)
    centre = at * s[-1]
    x = (s - centre) / full_length
    bump = np.where(np.abs(x) < 0.5, (1 + np.cos(2 * np.pi * x)) / 2, 0.0)
    k = int(np.argmin(np.abs(s - centre)))
    lesion = TrueLesion(
        float(tube.points[k, 0]), float(tube.points[k, 1]), percent, full_length, 2 * float(tube.radius[k])
    )
    return Tube(tube.points, tube.radius * (1 - percent / 100 * bump), [*tube.lesions, lesion])


def render(shape: tuple[int, int], tubes: list[Tube]) -> Phantom:
    """The partial-volume map of the tubes (module docstring)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    pixels = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)
    probability = np.zeros(rows.size, dtype=np.float32)
    for tube in tubes:
        distance, nearest = cKDTree(tube.points).query(pixels, distance_upper_bound=tube.radius.max() + 2)
        inside = np.isfinite(distance)
        coverage = np.clip(tube.radius[nearest[inside]] - distance[inside] + 0.5, 0.0, 1.0)
        probability[inside] = np.maximum(probability[inside], coverage)
    return Phantom(probability.reshape(shape), tubes)
