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

from dskd.qca.analysis import FrameQCA

__all__ = ["TRACK_RADIUS_PX", "LesionReading", "follow_lesions", "stability_summary"]

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


def stability_summary(readings: list[LesionReading]) -> list[dict]:
    """Per lesion: on how many frames it was found, and the spread of its %DS and MLD (px) there."""
    summary = []
    for k in sorted({r.lesion for r in readings}):
        mine = [r for r in readings if r.lesion == k]
        found = [r for r in mine if r.found]
        ds = np.array([r.percent_diameter_stenosis for r in found])
        mld = np.array([r.mld_px for r in found])
        summary.append({
            "lesion": k, "frames": len(mine), "found_in": len(found),
            "percent_diameter_stenosis_min": round(float(ds.min()), 1),
            "percent_diameter_stenosis_max": round(float(ds.max()), 1),
            # sample standard deviation over the frames it was found in (n - 1; 0 for one frame)
            "percent_diameter_stenosis_sd": round(float(ds.std(ddof=1)) if len(ds) > 1 else 0.0, 1),
            "mld_px_min": round(float(mld.min()), 3), "mld_px_max": round(float(mld.max()), 3),
        })
    return summary
