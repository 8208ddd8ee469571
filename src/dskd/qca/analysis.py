"""QCA of one frame: the vessel graph, each segment's diameter profile, lesions, in one result.

    result = analyse_frame(mask, probability=probs, calibration=from_user(0.25))
    result.lesions[0].percent_diameter_stenosis, result.to_dict()

Pure arrays in, plain data out: reading files and writing CSV, JSON and pictures is the job of
the applications (dskd.deploy.qca). Figures are stored in px; `to_dict` and the row helpers give
them in the calibration's unit, next to that calibration's source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dskd.qca.calibration import PIXELS, Calibration
from dskd.qca.graph import Segment, inscribed_diameter, vessel_graph
from dskd.qca.lesions import Lesion, find_lesions
from dskd.qca.profile import Method, Profile, diameter_profile

__all__ = ["FrameQCA", "analyse_frame", "measure_width_at", "segment_rows", "lesion_rows"]

DEFAULT_MIN_STENOSIS = 50.0  # %DS: the clinical threshold of a "significant" stenosis


@dataclass(frozen=True)
class FrameQCA:
    segments: list[Segment]
    profiles: list[Profile]
    lesions: list[Lesion]
    calibration: Calibration
    method: Method
    min_stenosis: float
    seconds: dict[str, float] = field(default_factory=dict)  # cost by stage

    def to_dict(self) -> dict:
        return {
            "calibration": self.calibration.to_dict(),
            "unit": self.calibration.unit,
            "diameters_from": self.method,
            "min_stenosis_percent": self.min_stenosis,
            "segments": segment_rows(self),
            "lesions": lesion_rows(self),
            "profiles": [
                {
                    "segment": s.index,
                    "position": [round(self.calibration.size(v), 4) for v in p.position],
                    "diameter": [
                        None if not np.isfinite(v) else round(self.calibration.size(v), 4) for v in p.diameter
                    ],
                    # The centreline's pixels (row, col), where each diameter was measured.
                    "points": [[round(float(r), 1), round(float(c), 1)] for r, c in s.points],
                }
                for s, p in zip(self.segments, self.profiles, strict=True)
            ],
        }


def _as_map(mask: np.ndarray, probability: np.ndarray | None) -> tuple[np.ndarray, Method]:
    if probability is None:
        return mask.astype(np.float32), "mask"
    if probability.shape != mask.shape:
        raise ValueError(f"probability map {probability.shape} and mask {mask.shape} differ in size")
    return probability.astype(np.float32, copy=False), "probability"


def analyse_frame(
    mask: np.ndarray,
    *,
    probability: np.ndarray | None = None,
    calibration: Calibration = PIXELS,
    min_stenosis: float = DEFAULT_MIN_STENOSIS,
    spur_factor: float = 1.5,
) -> FrameQCA:
    """QCA of a bool (H, W) mask, its diameters from `probability` (float (H, W) in [0, 1]) when
    given, else from the mask. Lesions of %DS >= min_stenosis are kept."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    values, method = _as_map(mask.astype(bool), probability)
    clock = time.perf_counter()
    diameter = inscribed_diameter(mask)
    segments = vessel_graph(mask.astype(bool), spur_factor=spur_factor, diameter=diameter)
    graph_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    # Edges are searched out to 1.5x the segment's widest inscribed radius (+3 px), not further:
    # the cost of a profile is its number of samples.
    profiles = [
        diameter_profile(
            s.points,
            values,
            method=method,
            max_radius=0.75 * float(diameter[tuple(s.points.astype(int).T)].max()) + 3,
        )
        for s in segments
    ]
    profile_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    lesions = [
        lesion
        for s, p in zip(segments, profiles, strict=True)
        for lesion in find_lesions(s, p, min_stenosis=min_stenosis)
    ]
    seconds = {"graph": graph_seconds, "profiles": profile_seconds, "lesions": time.perf_counter() - clock}
    return FrameQCA(segments, profiles, lesions, calibration, method, min_stenosis, seconds)


def measure_width_at(
    mask: np.ndarray,
    point: tuple[float, float],
    *,
    probability: np.ndarray | None = None,
    reach: float = 10.0,
    span: float = 5.0,
) -> float:
    """Median diameter in px of the centreline within `span` px (along it) of the centreline point
    nearest to `point` (row, col), which must lie within `reach` px: a catheter's width."""
    values, method = _as_map(mask.astype(bool), probability)
    best: tuple[float, Segment, int] | None = None
    for segment in vessel_graph(mask.astype(bool)):
        distances = np.hypot(*(segment.points - np.asarray(point, dtype=np.float64)).T)
        k = int(np.argmin(distances))
        if best is None or distances[k] < best[0]:
            best = (float(distances[k]), segment, k)
    if best is None or best[0] > reach:
        return float("nan")
    _, segment, k = best
    profile = diameter_profile(segment.points, values, method=method)
    near = profile.diameter[np.abs(profile.position - profile.position[k]) <= span]
    return float(np.nanmedian(near)) if np.isfinite(near).any() else float("nan")


def _round(value: float, digits: int = 4) -> float | None:
    return None if not np.isfinite(value) else round(float(value), digits)


def segment_rows(result: FrameQCA) -> list[dict]:
    """One row per segment, sizes in the calibration's unit."""
    size, rows = result.calibration.size, []
    for segment, profile in zip(result.segments, result.profiles, strict=True):
        d = profile.diameter[np.isfinite(profile.diameter)]
        rows.append(
            {
                "segment": segment.index,
                "kind": segment.kind,
                "unit": result.calibration.unit,
                "length": _round(size(segment.length_px)),
                "diameter_mean": _round(size(d.mean())) if d.size else None,
                "diameter_min": _round(size(d.min())) if d.size else None,
                "diameter_max": _round(size(d.max())) if d.size else None,
                "start_row": int(segment.points[0, 0]),
                "start_col": int(segment.points[0, 1]),
                "end_row": int(segment.points[-1, 0]),
                "end_col": int(segment.points[-1, 1]),
                "lesions": sum(lesion.segment == segment.index for lesion in result.lesions),
                "diameters_from": result.method,
                "calibration": result.calibration.source,
            }
        )
    return rows


def lesion_rows(result: FrameQCA) -> list[dict]:
    """One row per lesion, sizes in the calibration's unit."""
    size = result.calibration.size
    return [
        {
            "lesion": k,
            "segment": lesion.segment,
            "unit": result.calibration.unit,
            "percent_diameter_stenosis": round(lesion.percent_diameter_stenosis, 1),
            "percent_area_stenosis": round(lesion.percent_area_stenosis, 1),
            "mld": _round(size(lesion.mld_px)),
            "reference_diameter": _round(size(lesion.reference_px)),
            "length": _round(size(lesion.length_px)),
            "position": _round(size(lesion.position_px)),
            "start": _round(size(lesion.start_px)),
            "end": _round(size(lesion.end_px)),
            "row": round(lesion.row, 1),
            "col": round(lesion.col, 1),
            "diameters_from": result.method,
            "calibration": result.calibration.source,
        }
        for k, lesion in enumerate(result.lesions)
    ]
