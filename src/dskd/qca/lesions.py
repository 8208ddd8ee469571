"""Reference diameter, lesions and stenosis along one segment's diameter profile.

Definitions (docs/qca.md gives the literature):
- **Reference diameter** (interpolated, the way modern QCA packages define it): a straight line
  fitted to the diameters of the segment's healthy parts, so a vessel that tapers along its length
  has a tapering reference. Robust fit: least squares, then the points more than `shoulder` below
  the line (narrowings) or more than 2 x `shoulder` above it (bulges at branch points) are left
  out and the line fitted again, five times. Its value at the minimal lumen point is the RVD.
- **Lesion**: a stretch of the profile narrower than (1 - `shoulder`) x the reference; its
  **length** is that stretch's length along the centreline (from shoulder to shoulder, the
  crossings interpolated), its **MLD** the smallest diameter in it (profile median-filtered over 3
  points first, so a single-point dip of a binary mask is not a lesion),
  **%DS** = 100 (1 - MLD / RVD) and **%AS** = 100 (1 - (MLD / RVD)^2) (circular lumen).
- Vessels whose reference diameter is under 2.5 px are not graded: a lumen a pixel or two wide
  has no measurable narrowing, and on predicted masks the thin distal branches break into
  fragments whose bridged gaps read as severe lesions (on CIMAT out of fold, most of the false
  lesions: benchmarks/qca_cimat.py).
- Points near a segment's ends are left out of both the fit and the search: within one median
  diameter of a junction (the lumen widens where branches meet) and within two of a free end
  (vessels fade and thin there, and a mask's end is rounded). Segments shorter than three median
  diameters once those are removed have no healthy part to fit and get no lesion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import median_filter

from dskd.qca.graph import Segment
from dskd.qca.profile import Profile

__all__ = ["Lesion", "reference_line", "analysable", "find_lesions"]


@dataclass(frozen=True)
class Lesion:
    """One narrowing of one segment; lengths and diameters in px (the caller calibrates)."""

    segment: int
    position_px: float  # arc length of the MLD from the segment's first point
    row: float
    col: float
    mld_px: float
    reference_px: float
    percent_diameter_stenosis: float
    percent_area_stenosis: float
    length_px: float
    start_px: float
    end_px: float

    def to_dict(self) -> dict:
        return asdict(self)


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through (N,) points. Written out rather than
    np.polyfit: the same line, at a quarter of polyfit's cost (its SVD), which a 512x512 frame
    pays about a hundred times."""
    dx = x - x.mean()
    spread = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / spread if spread > 0 else 0.0
    return slope, float(y.mean() - slope * x.mean())


def reference_line(
    position: np.ndarray,
    diameter: np.ndarray,
    usable: np.ndarray,
    *,
    shoulder: float = 0.1,
    iterations: int = 5,
) -> np.ndarray:
    """(K,) the robust tapering reference (module docstring); NaN when fewer than 3 usable points."""
    keep = usable & np.isfinite(diameter)
    if keep.sum() < 3:
        return np.full_like(diameter, np.nan)
    line = np.full_like(diameter, np.nanmedian(diameter[keep]))
    for _ in range(iterations):
        slope, intercept = _line_fit(position[keep], diameter[keep])
        line = intercept + slope * position
        healthy = keep & (diameter >= (1 - shoulder) * line) & (diameter <= (1 + 2 * shoulder) * line)
        if healthy.sum() < 3 or np.array_equal(healthy, keep):
            break
        keep = healthy
    return line


def analysable(segment: Segment, profile: Profile) -> np.ndarray:
    """(K,) bool: the points away from the segment's ends (module docstring); all False when the
    segment is too short to have a healthy part."""
    finite = np.isfinite(profile.diameter)
    if finite.sum() < 3:
        return np.zeros_like(finite)
    typical = float(np.nanmedian(profile.diameter))
    margins = [typical if junction else 2 * typical for junction in segment.ends_at_junction]
    position, total = profile.position, profile.position[-1]
    usable = finite & (position >= margins[0]) & (position <= total - margins[1])
    if total - sum(margins) < 3 * typical:
        return np.zeros_like(finite)
    return usable


def _crossing(position: np.ndarray, ratio: np.ndarray, inside: int, outside: int, level: float) -> float:
    """Arc length where the ratio crosses `level` between an inside point and the next outside one."""
    if not np.isfinite(ratio[outside]):
        return float(position[outside])
    span = ratio[outside] - ratio[inside]
    fraction = (level - ratio[inside]) / span if span != 0 else 0.5
    # The next point may lie outside the analysed stretch and still be narrow: never past it.
    fraction = min(max(fraction, 0.0), 1.0)
    return float(position[inside] + fraction * (position[outside] - position[inside]))


MIN_REFERENCE_PX = 2.5  # vessels thinner than this are not graded (module docstring)


def find_lesions(
    segment: Segment,
    profile: Profile,
    *,
    min_stenosis: float = 50.0,
    shoulder: float = 0.1,
    min_reference: float = MIN_REFERENCE_PX,
) -> list[Lesion]:
    """Narrowings of %DS >= min_stenosis along one segment, where the reference diameter is at
    least min_reference px (module docstring)."""
    usable = analysable(segment, profile)
    if not usable.any():
        return []
    # Undefined points (no edge found) are rare; the median of their neighbours stands in.
    filled = np.where(np.isfinite(profile.diameter), profile.diameter, np.nanmedian(profile.diameter))
    smoothed = median_filter(filled, size=3, mode="nearest")
    reference = reference_line(profile.position, smoothed, usable, shoulder=shoulder)
    with np.errstate(divide="ignore", invalid="ignore"):  # a reference of 0 grades nothing (below)
        ratio = smoothed / reference
    narrow = usable & (ratio < 1 - shoulder)
    lesions = []
    index = np.flatnonzero(narrow)
    runs = np.split(index, np.flatnonzero(np.diff(index) > 1) + 1) if index.size else []
    for run in runs:
        k = int(run[np.argmin(smoothed[run])])
        mld, rvd = float(smoothed[k]), float(reference[k])
        ds = 100.0 * (1.0 - mld / rvd)
        if ds < min_stenosis or rvd < min_reference:
            continue
        first, last = int(run[0]), int(run[-1])
        start = (
            _crossing(profile.position, ratio, first, first - 1, 1 - shoulder)
            if first > 0
            else float(profile.position[first])
        )
        end = (
            _crossing(profile.position, ratio, last, last + 1, 1 - shoulder)
            if last + 1 < len(ratio)
            else float(profile.position[last])
        )
        row, col = profile.centre[k] if np.all(np.isfinite(profile.centre[k])) else segment.points[k]
        lesions.append(
            Lesion(
                segment.index,
                float(profile.position[k]),
                float(row),
                float(col),
                mld,
                rvd,
                ds,
                100.0 * (1.0 - (mld / rvd) ** 2),
                end - start,
                start,
                end,
            )
        )
    return lesions
