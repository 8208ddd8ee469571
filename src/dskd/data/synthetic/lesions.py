"""Stenoses in synthetic angiograms, with the answers known (issue 32): the whole chain image ->
model -> mask -> QCA can then be measured.

A stenosis narrows one annotated artery of the tree by a raised-cosine profile of full length
3-6 reference diameters and depth %DS (20-90%), both in the rendered image (less iodine) and in
its mask (whose floor of 3 px is lowered to 0.5 px for that artery, so the mask shows the narrowed
lumen). It is placed on the wider arteries (median diameter >= 5 px), at least 4 reference
diameters from either end of its tube, at most one per tube. Its truth: the
MLD point (row, col), the reference diameter there, %DS, and its length under QCA's shoulder rule
(dskd.qca.lesions: narrower than 90% of the reference), L x arccos(0.2 / depth - 1) / pi; and
whether another annotated vessel overlaps the lesion in the picture (`overlapped`: along the
stretch QCA measures as the lesion, another vessel's lumen overlaps the artery's unnarrowed lumen
or comes within half a pixel of it, so the two merge in a mask, as where a branch leaves inside
the stenosis or a vessel crosses it). A mask is the union of the vessels: an overlapped stenosis
is hidden in it, 2D QCA cannot see it, and an angiographer would read it in another projection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.spatial.distance import cdist

from dskd.data.synthetic.phantoms import lesion_length
from dskd.data.synthetic.render import synth_angiogram_from
from dskd.data.synthetic.style import SynthStyle
from dskd.data.synthetic.trees import STEP, Vessel, coronary_tree

__all__ = ["SyntheticLesion", "add_stenoses", "synth_angiogram_with_lesions"]

SHOULDER = 0.1


@dataclass(frozen=True)
class SyntheticLesion:
    row: float
    col: float
    percent_diameter_stenosis: float
    reference_px: float
    full_length_px: float
    length_px: float  # under QCA's shoulder rule
    overlapped: bool = False  # another annotated vessel lies over the narrowed stretch

    def to_dict(self) -> dict:
        return {k: v if isinstance(v, bool) else round(v, 3) for k, v in asdict(self).items()}


def _overlapped(vessels: list[Vessel], index: int, stretch: np.ndarray) -> bool:
    """Whether an annotated vessel other than vessels[index] comes within half a pixel of its lumen
    along the (K,) bool stretch of its points (radii before narrowing)."""
    points, radii = vessels[index].points[stretch], vessels[index].radii[stretch]
    return any(
        bool((cdist(points, other.points) < radii[:, None] + other.radii[None, :] + 0.5).any())
        for k, other in enumerate(vessels)
        if k != index and other.labelled
    )


def add_stenoses(
    rng: np.random.Generator,
    vessels: list[Vessel],
    count: int,
    *,
    percent: tuple[float, float] = (20.0, 90.0),
) -> tuple[list[Vessel], list[SyntheticLesion]]:
    """The vessels with up to `count` stenoses on annotated arteries, and their truth."""
    vessels = list(vessels)
    candidates = [i for i, v in enumerate(vessels) if v.labelled and 2 * float(np.median(v.radii)) >= 5.0]
    rng.shuffle(candidates)
    lesions = []
    for i in candidates[:count]:
        vessel = vessels[i]
        s = np.arange(len(vessel.radii)) * STEP
        reference = 2 * float(np.median(vessel.radii))
        full = float(rng.uniform(3, 6)) * reference
        margin = 4 * reference + full / 2
        if s[-1] < 2 * margin:
            continue
        centre = float(rng.uniform(margin, s[-1] - margin))
        depth = float(rng.uniform(*percent))
        x = (s - centre) / full
        bump = np.where(np.abs(x) < 0.5, (1 + np.cos(2 * np.pi * x)) / 2, 0.0)
        k = int(np.argmin(np.abs(s - centre)))
        local_reference = 2 * float(vessel.radii[k])
        length = lesion_length(full, depth, SHOULDER)
        overlapped = _overlapped(vessels, i, np.abs(s - centre) < length / 2)
        # The mask follows the narrowed lumen down to 0.5 px (an expert outlines the lumen).
        vessels[i] = replace(vessel, radii=vessel.radii * (1 - depth / 100 * bump), mask_floor=0.5)
        lesions.append(
            SyntheticLesion(
                float(vessel.points[k, 0]),
                float(vessel.points[k, 1]),
                depth,
                local_reference,
                full,
                length,
                overlapped,
            )
        )
    return vessels, lesions


def synth_angiogram_with_lesions(
    rng: np.random.Generator, size: int = 300, style: SynthStyle | None = None, *, count: int = 2
) -> tuple[np.ndarray, np.ndarray, list[SyntheticLesion]]:
    """An angiogram, its mask and the truth of its stenoses (module docstring)."""
    style = replace(style or SynthStyle(), stenoses=0)  # placed here, with their truth kept
    vessels, lesions = add_stenoses(rng, coronary_tree(rng, size, style), count)
    image, mask = synth_angiogram_from(rng, vessels, size, style)
    return image, mask, lesions
