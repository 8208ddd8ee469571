"""Diameter profile along a centreline segment, sub-pixel, measured normal to the centreline.

At each centreline point the normal is taken from the tangent of the centreline smoothed along
its length (Gaussian, sigma `smooth` px); the map is sampled along the normal on both sides
(bilinear interpolation; steps of 1/4 px find the edge, then 1/20 px within that quarter pixel)
and each edge is the first 0.5 crossing, interpolated linearly between the two samples around
it. The diameter is the distance between the two edges.

- From a probability map (`method="probability"`): the 0.5 iso-contour of the map. On a map
  whose edge is a linear partial-volume ramp the crossing is the true edge; a model's map is
  blurrier and its bias is that of the model's 0.5 contour.
- From a binary mask (`method="mask"`): the same crossing on the 0/1 mask lies half-way between
  the last vessel pixel and the first background pixel, so each edge is quantised to a pixel
  boundary: expect up to +-1 px on a diameter (+-0.5 px per edge), larger on thin vessels.

Below the resolution: where the map is under 0.5 at the centreline point itself (a lumen narrower
than the mask can show, e.g. on a bridged gap, dskd.qca.graph), there is no 0.5 contour; the
diameter is then the map's integral across the vessel (the partial-volume width: exact for a
coverage map of a tube wider than a pixel, an estimate below that), and 0 on a binary mask.
A point whose edge is not found within `max_radius` px has no diameter (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates

__all__ = ["Method", "Profile", "diameter_profile"]

Method = Literal["probability", "mask"]
_STEP = 0.05  # px between samples along a normal, near an edge
_COARSE = 0.25  # px between the samples that find the edge's bracket first


@dataclass(frozen=True)
class Profile:
    """Diameters (K,) in px at the K centreline points; arc-length position (K,) in px from the
    first point; the (K, 2) unit normals; and which map gave the edges."""

    position: np.ndarray
    diameter: np.ndarray
    normals: np.ndarray
    centre: np.ndarray  # (K, 2) mid-points between the two edges (row, col)
    method: Method


def _tangents(points: np.ndarray, smooth: float) -> tuple[np.ndarray, np.ndarray]:
    """(unit tangents (K, 2), arc length (K,)) of a smoothed polyline."""
    smoothed = gaussian_filter1d(points, smooth, axis=0, mode="nearest") if len(points) > 3 else points
    steps = np.hypot(*np.diff(smoothed, axis=0).T)
    position = np.concatenate([[0.0], np.cumsum(steps)])
    tangent = np.gradient(smoothed, axis=0) if len(points) > 1 else np.array([[0.0, 1.0]])
    norm = np.linalg.norm(tangent, axis=1, keepdims=True)
    return tangent / np.where(norm > 0, norm, 1.0), position


def _first_crossing(samples: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(K,) index of the first sample below 0.5 in each row of (K, S) samples (0: none, or at the
    start), and (K,) the distance of the crossing interpolated between it and the one before."""
    below = samples < 0.5
    first = np.argmax(below, axis=1)
    first[~below.any(axis=1)] = 0
    k = np.flatnonzero(first > 0)
    before, after = samples[k, first[k] - 1], samples[k, first[k]]
    fraction = (before - 0.5) / np.maximum(before - after, 1e-12)
    distance = np.full(samples.shape[0], np.nan)
    distance[k] = (first[k] - 1 + fraction) * step
    return first, distance


def _edge_distance(values: np.ndarray, points: np.ndarray, direction: np.ndarray, max_radius: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(distance (K,) of the first 0.5 crossing along `direction` from each point, NaN if none;
    the map's integral along it (K,)). Coarse samples find the bracket, fine ones the crossing."""
    def sample(offsets: np.ndarray) -> np.ndarray:  # offsets (K, S) px along the direction
        coords = points[:, None, :] + offsets[:, :, None] * direction[:, None, :]
        flat = map_coordinates(values, coords.reshape(-1, 2).T, order=1, mode="constant", cval=0.0)
        return flat.reshape(offsets.shape)

    coarse_steps = np.arange(0.0, max_radius + _COARSE, _COARSE)
    coarse = sample(np.broadcast_to(coarse_steps, (len(points), len(coarse_steps))))
    integral = coarse.sum(axis=1) * _COARSE - coarse[:, 0] * _COARSE / 2
    first, _ = _first_crossing(coarse, _COARSE)
    start = np.maximum(first - 1, 0) * _COARSE  # the last coarse sample above 0.5
    fine_steps = np.arange(0.0, _COARSE + _STEP / 2, _STEP)
    fine = sample(start[:, None] + fine_steps[None, :])
    _, distance = _first_crossing(fine, _STEP)
    distance = start + distance
    distance[first == 0] = np.nan
    return distance, integral


def diameter_profile(
    points: np.ndarray, image: np.ndarray, *, method: Method, smooth: float = 2.0, max_radius: float = 30.0
) -> Profile:
    """The profile of one segment (module docstring).

    points: (K, 2) ordered centreline points (row, col). image: float (H, W) probability map in
    [0, 1], or the bool/0-1 mask. method says which it is, for the record.
    """
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"expected (K, 2) points, got {points.shape}")
    values = image.astype(np.float32, copy=False)
    tangent, position = _tangents(points, smooth)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    # Both sides of every point in one pass: half the calls into scipy, the same samples.
    distance, integral = _edge_distance(
        values, np.concatenate([points, points]), np.concatenate([normal, -normal]), max_radius
    )
    (plus, minus), (ahead, behind) = np.split(distance, 2), np.split(integral, 2)
    diameter = plus + minus
    centre = points + ((plus - minus) / 2)[:, None] * normal
    below = map_coordinates(values, points.T, order=1, mode="constant", cval=0.0) < 0.5
    diameter[below] = (ahead + behind)[below]
    centre[below] = points[below]
    return Profile(position, diameter, normal, centre, method)
