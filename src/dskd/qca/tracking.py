"""The lesions of the frame read, followed through the frames around it: is a figure stable?

A cine's QCA is read on one frame (the best opacified); the frames next to it show the same
lesion a moment earlier or later in the heartbeat. If its %DS jumps between neighbours, the figure
read owes much to the frame chosen. Each lesion is looked for in each neighbour frame as the
narrowing whose minimal-lumen point lies nearest to the lesion's own, within `radius_px` (cardiac
motion moves a vessel by a few pixels between frames). Neighbours are analysed with the lowest
threshold (min_stenosis 0: any narrowing past the reference's shoulder), so a lesion that reads
45% next to a 55% frame is seen at 45%, not lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dskd.qca.analysis import FrameQCA, _round
from dskd.qca.calibration import Calibration

__all__ = ["TRACK_RADIUS_PX", "LesionReading", "follow_lesions", "reading_rows", "stability_summary"]

TRACK_RADIUS_PX = 12.0  # synthetic cines move the tree by at most 6 px (data.synthetic.cine)


@dataclass(frozen=True)
class LesionReading:
    """One lesion of the frame read, as seen on one frame (px; NaN when not found there)."""

    lesion: int  # index in the read frame's lesions
    frame: int
    offset: int  # frame - the frame read
    found: bool
    distance_px: float  # from the read lesion's MLD point to this frame's
    percent_diameter_stenosis: float
    mld_px: float
    reference_px: float
    length_px: float


def follow_lesions(read: FrameQCA, read_frame: int, neighbours: dict[int, FrameQCA], *,
                   radius_px: float = TRACK_RADIUS_PX) -> list[LesionReading]:
    """Each lesion of `read` (the analysis of frame `read_frame`) on its own frame and on every
    frame of `neighbours` ({frame: analysis}), ordered by lesion, then frame."""
    frames = {read_frame: read, **neighbours}
    readings = []
    for k, lesion in enumerate(read.lesions):
        for frame in sorted(frames):
            candidates = [lesion] if frame == read_frame else frames[frame].lesions
            distances = [float(np.hypot(c.row - lesion.row, c.col - lesion.col)) for c in candidates]
            nearest = int(np.argmin(distances)) if distances else -1
            if nearest < 0 or distances[nearest] > radius_px:
                readings.append(LesionReading(k, frame, frame - read_frame, False, np.nan, np.nan, np.nan,
                                              np.nan, np.nan))
                continue
            match = candidates[nearest]
            readings.append(LesionReading(k, frame, frame - read_frame, True, distances[nearest],
                                          match.percent_diameter_stenosis, match.mld_px,
                                          match.reference_px, match.length_px))
    return readings


def reading_rows(readings: list[LesionReading], calibration: Calibration) -> list[dict]:
    """One row per (lesion, frame), sizes in the calibration's unit (None where not found)."""
    size = calibration.size
    return [{"lesion": r.lesion, "frame": r.frame, "offset": r.offset, "found": r.found,
             "percent_diameter_stenosis": _round(r.percent_diameter_stenosis, 1),
             "mld": _round(size(r.mld_px)), "reference_diameter": _round(size(r.reference_px)),
             "length": _round(size(r.length_px)), "distance_px": _round(r.distance_px, 1),
             "unit": calibration.unit} for r in readings]


def stability_summary(readings: list[LesionReading], calibration: Calibration) -> list[dict]:
    """Per lesion: on how many frames it was found, and the spread of its %DS and MLD (in the
    calibration's unit) over those frames."""
    summary = []
    for k in sorted({r.lesion for r in readings}):
        mine = [r for r in readings if r.lesion == k]
        found = [r for r in mine if r.found]
        ds = np.array([r.percent_diameter_stenosis for r in found])
        mld = np.array([calibration.size(r.mld_px) for r in found])
        summary.append({
            "lesion": k, "frames": len(mine), "found_in": len(found),
            "percent_diameter_stenosis_min": _round(ds.min(), 1),
            "percent_diameter_stenosis_max": _round(ds.max(), 1),
            # sample standard deviation over the frames it was found in (n - 1; 0 for one frame)
            "percent_diameter_stenosis_sd": _round(ds.std(ddof=1) if len(ds) > 1 else 0.0, 1),
            "mld_min": _round(mld.min()), "mld_max": _round(mld.max()), "unit": calibration.unit,
        })
    return summary
