"""The vessel graph of a mask: its centreline cut into segments between junctions and ends.

skan (a maintained skeleton-analysis library) turns the skeleton into paths; this module only
prunes spurs and keeps each segment's ordered centreline points. Spur rule: a branch that runs
from a junction to a free end and is shorter than `spur_factor` times the vessel diameter at its
junction (2 x the distance transform there) is a bump of the vessel's edge, not a vessel: it is
erased and the skeleton analysed again, so the two branches it split become one segment. Branches
shorter than `min_length` px that end freely on both sides (specks) are dropped too.

Gaps: a severe stenosis can be narrower than a pixel, and the mask then breaks in two. Two free
ends that face each other (each one's outward direction within 45 degrees of the line to the
other) across at most `gap_factor` vessel diameters are joined by a straight bridge into one
segment (`Segment.bridged`), so the narrowing is measured as a lesion rather than lost.

Through junctions: a vessel goes on past the point where a side branch leaves it, and a lesion
there is a lesion of the vessel. At every junction the two branches that continue each other
most straightly (their directions within 45 degrees of opposite, median diameters within a
factor of 1.35; at a fork of three, only if the branch left out is the thinner: a side branch,
not the split of a vessel into two) are joined into one segment, repeatedly, so a segment
follows a vessel from end to end and the side branches are segments of their own
(`through_junctions=False` keeps the skeleton's pieces). Joining across a real bifurcation would
put the parent's width into the daughter's reference and read the step down as a stenosis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

__all__ = ["Segment", "SegmentKind", "inscribed_diameter", "vessel_graph"]

SegmentKind = Literal["end-end", "junction-end", "junction-junction", "cycle"]
_KINDS: dict[int, SegmentKind] = {0: "end-end", 1: "junction-end", 2: "junction-junction", 3: "cycle"}


@dataclass(frozen=True)
class Segment:
    """One centreline segment: points (K, 2) float64 (row, col) in order along the vessel."""

    index: int
    points: np.ndarray
    kind: SegmentKind
    length_px: float  # along the centreline
    ends_at_junction: tuple[bool, bool]  # (first point, last point)
    bridged: int = 0  # gaps in the mask bridged inside this segment


def _paths(skeleton: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """Ordered pixel coordinates of each skan path and its branch type (0-3); [] for no skeleton."""
    from skan import Skeleton  # here: skan imports numba, seconds the first time

    if skeleton.sum() < 2:
        return [], []
    graph = Skeleton(skeleton)
    return [graph.path_coordinates(i) for i in range(graph.n_paths)], _branch_kinds(graph)


def _branch_kinds(graph) -> list[int]:
    """skan's branch types (0 end-end, 1 junction-end, 2 junction-junction, 3 cycle) from the
    degrees of each path's two end pixels: the rule of skan.summarize, without the 20-column
    table summarize builds around it (12 of the 15 ms of a 512x512 frame's skeleton analysis)."""
    first = graph.paths.indices[graph.paths.indptr[:-1]]
    last = graph.paths.indices[graph.paths.indptr[1:] - 1]
    free_first, free_last = graph.degrees[first] == 1, graph.degrees[last] == 1
    kinds = np.where(free_first | free_last, 1, 2)
    kinds[free_first & free_last] = 0
    kinds[first == last] = 3
    return [int(k) for k in kinds]


def _junction_end(path: np.ndarray, skeleton_degree: np.ndarray) -> tuple[bool, bool]:
    first, last = (tuple(path[0].astype(int)), tuple(path[-1].astype(int)))
    return skeleton_degree[first] > 2, skeleton_degree[last] > 2


def _degrees(skeleton: np.ndarray) -> np.ndarray:
    """Skeleton neighbours of every skeleton pixel (8-connected), 0 off the skeleton."""
    padded = np.pad(skeleton.astype(np.uint8), 1)
    height, width = skeleton.shape
    count = sum(
        padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if dr or dc
    )
    return np.where(skeleton, count, 0)


def _outward(points: np.ndarray, at_end: bool, span: int = 6) -> np.ndarray:
    """Unit direction in which a segment leaves through its first (or last) point."""
    inner = points[-min(span, len(points))] if at_end else points[min(span, len(points)) - 1]
    tip = points[-1] if at_end else points[0]
    direction = tip - inner
    norm = np.linalg.norm(direction)
    return direction / norm if norm > 0 else direction


def _closest_facing_ends(
    segments: list[Segment], diameter: np.ndarray, gap_factor: float
) -> tuple[float, int, int, bool, bool] | None:
    """(gap, i, j, i's last end?, j's last end?) of the closest pair of facing free ends, or None."""
    ends = []  # (segment, last end?, point, outward direction, segment width)
    for i, segment in enumerate(segments):
        width = max(2.0, float(np.median(diameter[tuple(segment.points.astype(int).T)])))
        for last in (False, True):
            if not segment.ends_at_junction[int(last)]:
                tip = segment.points[-1] if last else segment.points[0]
                ends.append((i, last, tip, _outward(segment.points, last), width))
    if len(ends) < 2:
        return None
    tips = np.array([e[2] for e in ends])
    distances = np.hypot(*(tips[:, None, :] - tips[None, :, :]).transpose(2, 0, 1))
    best = None
    for p, q in zip(*np.nonzero(np.triu(distances > 0, k=1)), strict=True):
        a, b = ends[p], ends[q]
        gap = float(distances[p, q])
        if a[0] == b[0] or gap > gap_factor * max(a[4], b[4]) or (best is not None and gap >= best[0]):
            continue
        line = (b[2] - a[2]) / gap
        if a[3] @ line >= 0.7 and b[3] @ -line >= 0.7:
            best = (gap, a[0], b[0], a[1], b[1])
    return best


def _bridge_gaps(segments: list[Segment], diameter: np.ndarray, gap_factor: float) -> list[Segment]:
    """Join facing free ends across narrow gaps (module docstring), nearest pairs first."""
    while True:
        best = _closest_facing_ends(segments, diameter, gap_factor)
        if best is None:
            return [
                Segment(k, s.points, s.kind, s.length_px, s.ends_at_junction, s.bridged)
                for k, s in enumerate(segments)
            ]
        gap, i, j, a_end, b_end = best
        if i > j:
            i, j, a_end, b_end = j, i, b_end, a_end
        a, b = segments[i], segments[j]
        first = a.points if a_end else a.points[::-1]
        second = b.points if not b_end else b.points[::-1]
        steps = np.linspace(0.0, 1.0, max(2, int(np.ceil(gap)) + 1))[1:-1]
        bridge = first[-1] + steps[:, None] * (second[0] - first[-1])
        points = np.concatenate([first, bridge, second])
        ends = (
            a.ends_at_junction[1] if a_end else a.ends_at_junction[0],
            b.ends_at_junction[0] if not b_end else b.ends_at_junction[1],
        )
        joined = Segment(
            0,
            points,
            _joined_kind(ends),
            float(np.sum(np.hypot(*np.diff(points, axis=0).T))),
            ends,
            a.bridged + b.bridged + 1,
        )
        segments = [s for k, s in enumerate(segments) if k not in (i, j)] + [joined]


def inscribed_diameter(mask: np.ndarray) -> np.ndarray:
    """float (H, W): 2 x the distance to the nearest background pixel (a vessel touching the
    border has an edge there)."""
    return 2.0 * distance_transform_edt(np.pad(mask.astype(bool), 1))[1:-1, 1:-1]


def _joined_kind(ends_at_junction: tuple[bool, bool]) -> SegmentKind:
    if all(ends_at_junction):
        return "junction-junction"
    return "junction-end" if any(ends_at_junction) else "end-end"


def _best_continuation(
    tips: np.ndarray, outward: np.ndarray, owner: np.ndarray, width: np.ndarray
) -> tuple[int, int] | None:
    """Indices (p, q) of the two junction ends that continue each other most straightly (module
    docstring), or None. Ends: tips (N, 2), outward unit directions (N, 2), owning segment (N,),
    segment width (N,)."""
    close = np.hypot(*(tips[:, None, :] - tips[None, :, :]).transpose(2, 0, 1)) <= 2.5  # same junction
    thinner = np.minimum(width[:, None], width[None, :])
    candidate = (
        np.triu(close, k=1)
        & (owner[:, None] != owner[None, :])
        & (np.maximum(width[:, None], width[None, :]) <= 1.35 * thinner)
        # a vectorised first cut on straightness, with slack for rounding; the exact test follows
        & (np.einsum("pi,qi->pq", outward, outward) <= -0.7 + 1e-9)
    )
    best, best_straightness = None, -np.inf
    for p, q in zip(*np.nonzero(candidate), strict=True):
        straightness = -float(outward[p] @ outward[q])  # 1: exactly opposite directions
        if straightness < 0.7:
            continue
        others = width[close[p] & (owner != owner[p]) & (owner != owner[q])]
        # At a fork of three (a vessel and its side branch), the one left out must be the thinner.
        if len(others) == 1 and others[0] > 0.9 * thinner[p, q]:
            continue
        if straightness > best_straightness:
            best, best_straightness = (int(p), int(q)), straightness
    return best


def _join_through_junctions(segments: list[Segment], diameter: np.ndarray) -> list[Segment]:
    """Join, at each junction, the pair of branches that continue each other (module docstring),
    the straightest pair first. A join changes only the joined branches' ends, so the list of
    junction ends is updated rather than rebuilt from every segment."""
    pieces: list[Segment | None] = list(segments)  # None: joined into a later piece
    widths = [max(1.0, float(np.median(diameter[tuple(s.points.astype(int).T)]))) for s in segments]

    def junction_ends(k: int) -> list[tuple[int, bool, np.ndarray, np.ndarray]]:
        """(piece, last end?, tip, outward direction) of piece k's ends at a junction."""
        points, at_junction = pieces[k].points, pieces[k].ends_at_junction
        return [
            (k, last, points[-1] if last else points[0], _outward(points, last))
            for last in (False, True)
            if at_junction[int(last)]
        ]

    ends = [end for k in range(len(pieces)) for end in junction_ends(k)]
    while ends:
        pair = _best_continuation(
            np.array([e[2] for e in ends]),
            np.array([e[3] for e in ends]),
            np.array([e[0] for e in ends]),
            np.array([widths[e[0]] for e in ends]),
        )
        if pair is None:
            break
        (i, i_last, _, _), (j, j_last, _, _) = ends[pair[0]], ends[pair[1]]
        a, b = pieces[i], pieces[j]
        first = a.points if i_last else a.points[::-1]
        second = b.points if not j_last else b.points[::-1]
        if np.array_equal(first[-1], second[0]):
            second = second[1:]
        points = np.concatenate([first, second])
        ends_at = (a.ends_at_junction[0 if i_last else 1], b.ends_at_junction[1 if not j_last else 0])
        length = float(np.sum(np.hypot(*np.diff(points, axis=0).T)))
        pieces.append(Segment(0, points, _joined_kind(ends_at), length, ends_at, a.bridged + b.bridged))
        widths.append((widths[i] * len(first) + widths[j] * len(second)) / len(points))
        pieces[i] = pieces[j] = None
        ends = [e for e in ends if e[0] not in (i, j)] + junction_ends(len(pieces) - 1)
    kept = [s for s in pieces if s is not None]
    return [
        Segment(k, s.points, s.kind, s.length_px, s.ends_at_junction, s.bridged) for k, s in enumerate(kept)
    ]


def vessel_graph(
    mask: np.ndarray,
    *,
    spur_factor: float = 1.5,
    min_length: float = 3.0,
    max_passes: int = 3,
    gap_factor: float = 3.0,
    diameter: np.ndarray | None = None,
    through_junctions: bool = True,
) -> list[Segment]:
    """Segments of a bool (H, W) mask's centreline, spurs pruned (module docstring).
    diameter: the mask's inscribed_diameter, when the caller has it already."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    mask = mask.astype(bool)
    diameter = inscribed_diameter(mask) if diameter is None else diameter
    skeleton = skeletonize(mask)
    for attempt in range(max_passes + 1):
        paths, kinds = _paths(skeleton)
        degrees = _degrees(skeleton)
        if attempt == max_passes:
            break
        erased = False
        for path, kind in zip(paths, kinds, strict=True):
            length = float(np.sum(np.hypot(*np.diff(path, axis=0).T)))
            if kind == 1:
                at_junction = _junction_end(path, degrees)
                junction = path[0] if at_junction[0] else path[-1]
                if length < spur_factor * diameter[tuple(junction.astype(int))]:
                    body = path[1:] if at_junction[0] else path[:-1]
                    skeleton[tuple(body.astype(int).T)] = False
                    erased = True
            elif kind == 0 and length < min_length:
                skeleton[tuple(path.astype(int).T)] = False
                erased = True
        if not erased:
            break  # this pass's paths are the graph's
        skeleton = skeletonize(skeleton)  # a junction left with two branches is thinned again
    segments = []
    for path, kind in zip(paths, kinds, strict=True):
        points = path.astype(np.float64)
        length = float(np.sum(np.hypot(*np.diff(points, axis=0).T)))
        if kind == 0 and length < min_length:
            continue
        segments.append(Segment(len(segments), points, _KINDS[kind], length, _junction_end(path, degrees)))
    segments = _bridge_gaps(segments, diameter, gap_factor)
    return _join_through_junctions(segments, diameter) if through_junctions else segments
