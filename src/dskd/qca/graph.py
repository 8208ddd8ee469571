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

A mask whose skeleton has more than `MAX_BRANCHES` branches is not a vessel tree (noise, a failed
segmentation) and gets a DataError instead of a graph.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from dskd.errors import DataError

__all__ = ["MAX_BRANCHES", "Segment", "SegmentKind", "inscribed_diameter", "vessel_graph"]

# A vessel tree's skeleton has tens of branches (at most 32 on CIMAT's expert masks, 56 on the
# synthetic 512 px angiograms); a 64 px square of noise has over 700 (tests/qca/test_qca_core.py
# checks these). QCA refuses a mask past this many rather than read noise as vessels.
MAX_BRANCHES = 1000

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


def _paths(skeleton: np.ndarray, degrees: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """Ordered pixel coordinates of each skan path and its branch type (0-3); [] for no skeleton.
    degrees: the skeleton's _degrees."""
    from skan import Skeleton  # here: skan imports numba, seconds the first time

    if not (degrees > 0).any():  # no two pixels touch: no path (skan fails on it)
        return [], []
    graph = Skeleton(skeleton)
    return [graph.path_coordinates(i) for i in range(graph.n_paths)], _branch_kinds(graph)


def _branch_kinds(graph) -> list[int]:
    """skan's branch types (0 end-end, 1 junction-end, 2 junction-junction, 3 cycle) from the
    degrees of each path's two end pixels: the rule of skan.summarize, without the 20-column
    table summarize builds around the one column used here."""
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


def _bridge_width(segment: Segment, diameter: np.ndarray) -> float:
    """The width that sets how far a segment's free end may reach across a gap (px)."""
    return max(2.0, float(np.median(diameter[tuple(segment.points.astype(int).T)])))


def _closest_facing_ends(
    segments: list[Segment], widths: list[float], gap_factor: float
) -> tuple[float, int, int, bool, bool] | None:
    """(gap, i, j, i's last end?, j's last end?) of the closest pair of facing free ends, or None."""
    ends = []  # (segment, last end?, point, outward direction)
    for i, segment in enumerate(segments):
        for last in (False, True):
            if not segment.ends_at_junction[int(last)]:
                tip = segment.points[-1] if last else segment.points[0]
                ends.append((i, last, tip, _outward(segment.points, last)))
    if len(ends) < 2:
        return None
    tips = np.array([e[2] for e in ends])
    owner = np.array([e[0] for e in ends])
    reach = gap_factor * np.array([widths[e[0]] for e in ends])
    distances = np.hypot(*(tips[:, None, :] - tips[None, :, :]).transpose(2, 0, 1))
    within = (  # pairs of two segments' ends within reach of each other, in row-major order
        np.triu(distances > 0, k=1)
        & (owner[:, None] != owner[None, :])
        & (distances <= np.maximum(reach[:, None], reach[None, :]))
    )
    best = None
    for p, q in zip(*np.nonzero(within), strict=True):
        a, b = ends[p], ends[q]
        gap = float(distances[p, q])
        if best is not None and gap >= best[0]:
            continue
        line = (b[2] - a[2]) / gap
        if a[3] @ line >= 0.7 and b[3] @ -line >= 0.7:
            best = (gap, a[0], b[0], a[1], b[1])
    return best


def _bridge_gaps(segments: list[Segment], diameter: np.ndarray, gap_factor: float) -> list[Segment]:
    """Join facing free ends across narrow gaps (module docstring), nearest pairs first."""
    widths = [_bridge_width(s, diameter) for s in segments]
    while True:
        best = _closest_facing_ends(segments, widths, gap_factor)
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
        widths = [w for k, w in enumerate(widths) if k not in (i, j)] + [_bridge_width(joined, diameter)]


def inscribed_diameter(mask: np.ndarray) -> np.ndarray:
    """float (H, W): 2 x the distance to the nearest background pixel (a vessel touching the
    border has an edge there)."""
    return 2.0 * distance_transform_edt(np.pad(mask.astype(bool), 1))[1:-1, 1:-1]


def _joined_kind(ends_at_junction: tuple[bool, bool]) -> SegmentKind:
    if all(ends_at_junction):
        return "junction-junction"
    return "junction-end" if any(ends_at_junction) else "end-end"


class _JunctionEnds:
    """The segment ends that lie at junctions while `_join_through_junctions` joins segments, and
    the score of every pair of them that could be joined.

    An end keeps its tip for good (a join consumes two ends and hands the joined segments' other
    ends to the new segment), so which ends share a junction (tips within 2.5 px) is found once,
    with a k-d tree. A join changes the scores only of pairs at the junctions it touched: only
    those are scored again, and the best pair is kept in a heap. Scoring every pair after every
    join made the cost grow with the cube of the junctions: far slower on a fragmented mask (a bad
    segmentation, noise) than on a vessel tree.
    """

    def __init__(self, pieces: list[Segment | None], widths: list[float]) -> None:
        self.pieces, self.widths = pieces, widths
        self.owner: list[int] = []  # piece of each end
        self.last: list[bool] = []  # the piece's last end (else its first)
        self.outward: list[np.ndarray] = []
        self.ends_of: dict[int, list[int]] = {}  # piece -> its ends at junctions
        tips = []
        for k, piece in enumerate(pieces):
            for last in (False, True):
                if piece.ends_at_junction[int(last)]:
                    self.ends_of.setdefault(k, []).append(len(tips))
                    self.owner.append(k)
                    self.last.append(last)
                    self.outward.append(_outward(piece.points, last))
                    tips.append(piece.points[-1] if last else piece.points[0])
        self.alive = [True] * len(tips)
        self.near: list[list[int]] = [[] for _ in tips]  # the other ends of the same junction
        if tips:
            for p, q in cKDTree(np.array(tips)).query_pairs(2.5):
                self.near[p].append(q)
                self.near[q].append(p)
        self.scores: dict[tuple[int, int], float] = {}  # (p, q), p first in the order
        self.pairs_of: list[set[tuple[int, int]]] = [set() for _ in tips]
        self.heap: list[tuple[float, tuple[int, bool], tuple[int, bool], int, int]] = []
        for p in range(len(tips)):
            self._score_around(p)

    def _order(self, e: int) -> tuple[int, bool]:
        return self.owner[e], self.last[e]  # the order of the pieces' list, first end first

    def _forget(self, pair: tuple[int, int]) -> None:
        if self.scores.pop(pair, None) is not None:
            self.pairs_of[pair[0]].discard(pair)
            self.pairs_of[pair[1]].discard(pair)

    def _score(self, p: int, q: int) -> None:
        """Score the pair (p before q in the order): its straightness if the two continue each
        other (module docstring), else no entry."""
        self._forget((p, q))
        a, b = self.owner[p], self.owner[q]
        if a == b:
            return
        wa, wb = self.widths[a], self.widths[b]
        straightness = -float(self.outward[p] @ self.outward[q])  # 1: exactly opposite directions
        if straightness < 0.7 or max(wa, wb) > 1.35 * min(wa, wb):
            return
        others = [self.widths[self.owner[r]] for r in self.near[p]
                  if self.alive[r] and self.owner[r] not in (a, b)]
        # At a fork of three (a vessel and its side branch), the one left out must be the thinner.
        if len(others) == 1 and others[0] > 0.9 * min(wa, wb):
            return
        self.scores[(p, q)] = straightness
        self.pairs_of[p].add((p, q))
        self.pairs_of[q].add((p, q))
        heapq.heappush(self.heap, (-straightness, self._order(p), self._order(q), p, q))

    def _score_around(self, e: int) -> None:
        """Score again every live pair that holds e or an end of e's junction (a pair's score
        reads the ends at its first end's junction)."""
        for p in (e, *self.near[e]):
            if self.alive[p]:
                for q in self.near[p]:
                    if self.alive[q]:
                        self._score(*sorted((p, q), key=self._order))

    def best(self) -> tuple[int, int] | None:
        """The straightest pair; of equals, the first in the order."""
        while self.heap:
            negative, order_p, order_q, p, q = self.heap[0]
            current = self.scores.get((p, q))
            if current == -negative and (order_p, order_q) == (self._order(p), self._order(q)):
                return p, q
            heapq.heappop(self.heap)  # stale: re-scored, moved in the order, or joined
        return None

    def join(self, p: int, q: int, joined: int) -> None:
        """Ends p and q were joined, p's piece first, into piece `joined`: drop them, hand the
        other ends of their pieces to it, and score again what that changed."""
        p_piece, q_piece = self.owner[p], self.owner[q]
        points = self.pieces[joined].points
        handed = [e for k in (p_piece, q_piece) for e in self.ends_of.pop(k) if e not in (p, q)]
        for e in handed:
            self.last[e] = self.owner[e] == q_piece  # p's piece leads the joined one
            self.owner[e] = joined
            self.outward[e] = _outward(points, self.last[e])
        self.ends_of[joined] = handed
        self.alive[p] = self.alive[q] = False
        for e in (p, q, *handed):  # a handed end moved in the order: its pairs are keyed afresh
            for pair in list(self.pairs_of[e]):
                self._forget(pair)
        for e in (p, q, *handed):
            self._score_around(e)


def _join_through_junctions(segments: list[Segment], diameter: np.ndarray) -> list[Segment]:
    """Join, at each junction, the pair of branches that continue each other (module docstring),
    the straightest pair first, until no pair is left."""
    pieces: list[Segment | None] = list(segments)  # None: joined into a later piece
    widths = [max(1.0, float(np.median(diameter[tuple(s.points.astype(int).T)]))) for s in segments]
    ends = _JunctionEnds(pieces, widths)
    while (pair := ends.best()) is not None:
        p, q = pair
        i, j = ends.owner[p], ends.owner[q]
        a, b = pieces[i], pieces[j]
        first = a.points if ends.last[p] else a.points[::-1]  # a's points, ending at the junction
        second = b.points if not ends.last[q] else b.points[::-1]  # b's, starting there
        if np.array_equal(first[-1], second[0]):
            second = second[1:]
        points = np.concatenate([first, second])
        # the joined piece's ends: a's end away from the junction, then b's
        ends_at = (a.ends_at_junction[0 if ends.last[p] else 1], b.ends_at_junction[0 if ends.last[q] else 1])
        length = float(np.sum(np.hypot(*np.diff(points, axis=0).T)))
        pieces.append(Segment(0, points, _joined_kind(ends_at), length, ends_at, a.bridged + b.bridged))
        widths.append((widths[i] * len(first) + widths[j] * len(second)) / len(points))
        pieces[i] = pieces[j] = None
        ends.join(p, q, len(pieces) - 1)
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
    max_branches: int = MAX_BRANCHES,
) -> list[Segment]:
    """Segments of a bool (H, W) mask's centreline, spurs pruned (module docstring).
    diameter: the mask's inscribed_diameter, when the caller has it already. A DataError if the
    skeleton has more than max_branches branches (module docstring)."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    mask = mask.astype(bool)
    diameter = inscribed_diameter(mask) if diameter is None else diameter
    skeleton = skeletonize(mask)
    for attempt in range(max_passes + 1):
        degrees = _degrees(skeleton)
        paths, kinds = _paths(skeleton, degrees)
        if len(paths) > max_branches:
            raise DataError(
                f"the mask's centreline has {len(paths)} branches (more than {max_branches}): too "
                "fragmented to be a vessel tree, no QCA"
            )
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
