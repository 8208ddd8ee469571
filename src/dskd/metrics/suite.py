"""Every figure of one image under one stated protocol, and what each figure means when pooled.

The protocol (connectivity, empty-mask policy, zero division, pixel spacing, which groups to
compute) is a small frozen dataclass, written into every summary so that two evaluations can be
checked to be comparable before they are compared. Lengths (HD95, ASSD, vessel widths) are in
millimetres when the protocol has a pixel spacing and in pixels otherwise; `Protocol.length_units`
says which, and the summary carries it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch

from dskd.metrics.distance import EMPTY_POLICIES, EmptyPolicy, surface_distance_metrics
from dskd.metrics.overlap import OVERLAP_METRICS, confusion_counts, overlap_metrics
from dskd.metrics.probabilistic import average_precision, roc_auc
from dskd.metrics.topology import Connectivity, topology_metrics
from dskd.metrics.width import Spacing, check_spacing, vessel_width
from dskd.qca.agreement import diameter_agreement

__all__ = [
    "MetricGroup",
    "METRIC_GROUPS",
    "Protocol",
    "MetricInfo",
    "METRICS",
    "LENGTH_METRICS",
    "better_direction",
    "score_image",
]

MetricGroup = Literal["overlap", "probabilistic", "topology", "distance", "width", "diameter"]
METRIC_GROUPS: tuple[MetricGroup, ...] = ("overlap", "probabilistic", "topology", "distance", "width",
                                          "diameter")


@dataclass(frozen=True)
class Protocol:
    """How masks are scored. The defaults are the project's protocol (docs/evaluation.md)."""

    connectivity: Connectivity = 8  # pixel neighbourhood of a component, for Betti numbers
    empty_policy: EmptyPolicy = "diagonal"  # HD95/ASSD when exactly one mask is empty
    zero_division: float = 1.0  # value of a ratio with nothing to count (overlap, clDice)
    groups: tuple[MetricGroup, ...] = METRIC_GROUPS
    spacing_mm: Spacing | None = None  # (row, column) pixel spacing; lengths in mm, else in pixels

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "spacing_mm", check_spacing(self.spacing_mm))
        except ValueError as error:
            raise ValueError(f"spacing_mm: {error}") from None
        if self.connectivity not in (4, 8):
            raise ValueError(f"connectivity={self.connectivity!r}; valid: 4, 8")
        if self.empty_policy not in EMPTY_POLICIES:
            raise ValueError(f"empty_policy={self.empty_policy!r}; valid: {', '.join(EMPTY_POLICIES)}")
        unknown = [g for g in self.groups if g not in METRIC_GROUPS]
        if unknown:
            raise ValueError(f"metric group {unknown[0]!r}; valid: {', '.join(METRIC_GROUPS)}")

    @property
    def length_units(self) -> Literal["mm", "px"]:
        return "mm" if self.spacing_mm is not None else "px"

    def to_dict(self) -> dict:
        """Plain JSON values (JSON has no NaN: a NaN zero_division is written as "nan")."""
        zero_division = "nan" if math.isnan(self.zero_division) else self.zero_division
        spacing = list(self.spacing_mm) if self.spacing_mm is not None else None
        return {**asdict(self), "zero_division": zero_division, "groups": list(self.groups),
                "spacing_mm": spacing, "length_units": self.length_units}


@dataclass(frozen=True)
class MetricInfo:
    group: MetricGroup
    higher_is_better: bool | None  # None: neither (a ratio whose ideal is 1)
    pooled: str | None  # how the pooled figure is formed; None: reported per image only


_COUNTS_POOLED = "confusion counts of all images summed, then the ratio (every in-FOV pixel weighs the same)"
_PER_IMAGE_ONLY = None

METRICS: dict[str, MetricInfo] = {
    **{name: MetricInfo("overlap", True, _COUNTS_POOLED) for name in OVERLAP_METRICS},
    "auc_roc": MetricInfo("probabilistic", True, "all in-FOV pixels of all images ranked together"),
    "average_precision": MetricInfo("probabilistic", True,
                                    "all in-FOV pixels of all images ranked together"),
    "cldice": MetricInfo("topology", True,
                         "skeleton pixel counts of all images summed, then clDice"),
    "betti_0_error": MetricInfo("topology", False, _PER_IMAGE_ONLY),
    "betti_1_error": MetricInfo("topology", False, _PER_IMAGE_ONLY),
    "component_ratio": MetricInfo("topology", None, _PER_IMAGE_ONLY),
    "hd95": MetricInfo("distance", False, _PER_IMAGE_ONLY),
    "assd": MetricInfo("distance", False, _PER_IMAGE_ONLY),
    # Vessel width along the centreline (metrics.width) of the prediction and of the label.
    "width_median": MetricInfo("width", None, _PER_IMAGE_ONLY),
    "width_p95": MetricInfo("width", None, _PER_IMAGE_ONLY),
    "width_median_label": MetricInfo("width", None, _PER_IMAGE_ONLY),
    "width_p95_label": MetricInfo("width", None, _PER_IMAGE_ONLY),
    # Diameters a clinician would read (dskd.qca.agreement): prediction - label along the label's
    # centreline, both measured on the binary masks.
    "diameter_error_abs": MetricInfo("diameter", False, _PER_IMAGE_ONLY),
    "diameter_error": MetricInfo("diameter", None, _PER_IMAGE_ONLY),
}
def better_direction(metric: str) -> str:
    """Which way is better, in words: "higher", "lower", "closer to 1" (a ratio whose ideal is 1)
    or "–" (a measurement with no better side: widths, signed diameter errors)."""
    info = METRICS.get(metric)
    if info is None or info.higher_is_better is None:
        return "closer to 1" if metric == "component_ratio" else "–"
    return "higher" if info.higher_is_better else "lower"


# Figures that are lengths: in Protocol.length_units (mm with a pixel spacing, else pixels).
LENGTH_METRICS = ("hd95", "assd", "width_median", "width_p95", "width_median_label", "width_p95_label",
                  "diameter_error_abs", "diameter_error")


def score_image(pred: np.ndarray, truth: np.ndarray, *, fov: np.ndarray | None = None,
                probabilities: np.ndarray | None = None,
                protocol: Protocol = Protocol()) -> dict[str, float | int | str]:
    """All figures of the protocol's groups for one image.

    pred, truth, fov: bool (H, W); probabilities: float (H, W) in [0, 1] or None (then the
    probabilistic group is skipped: a binary mask has no ranking). Pixels outside the field of
    view are not counted; for topology and distances both masks are cut to it first.
    Returns the metric names of METRICS plus detail columns: tp, fp, fn, tn, the Betti numbers,
    the skeleton counts, empty_mask and, when distances or widths are computed, length_units.
    """
    if fov is not None:
        pred, truth = pred & fov, truth & fov
    row: dict[str, float | int | str] = {}
    counts = confusion_counts(torch.from_numpy(pred)[None], torch.from_numpy(truth)[None],
                              None if fov is None else torch.from_numpy(fov)[None])
    if "overlap" in protocol.groups:
        values = overlap_metrics(counts, zero_division=protocol.zero_division)
        row.update({k: float(values[k][0]) for k in OVERLAP_METRICS})
    if "probabilistic" in protocol.groups and probabilities is not None:
        scores, labels = (probabilities, truth) if fov is None else (probabilities[fov], truth[fov])
        row["auc_roc"] = roc_auc(scores, labels)
        row["average_precision"] = average_precision(scores, labels)
    if "topology" in protocol.groups:
        row.update(topology_metrics(pred, truth, connectivity=protocol.connectivity,
                                    zero_division=protocol.zero_division))
    if "distance" in protocol.groups:
        row.update(surface_distance_metrics(pred, truth, empty_policy=protocol.empty_policy,
                                            spacing=protocol.spacing_mm))
    if "width" in protocol.groups:
        row.update(vessel_width(pred, spacing=protocol.spacing_mm))
        row.update({f"{k}_label": v for k, v in vessel_width(truth, spacing=protocol.spacing_mm).items()})
    if "diameter" in protocol.groups:
        spacing = protocol.spacing_mm
        # The binary masks on both sides: quantised alike, and the same figure whether a model or
        # another tool's masks are scored.
        row.update(diameter_agreement(pred, truth,
                                      mm_per_px=None if spacing is None else (spacing[0] + spacing[1]) / 2))
    if any(g in protocol.groups for g in ("distance", "width", "diameter")):
        row["length_units"] = protocol.length_units
    row.update(dict(zip(("tp", "fp", "fn", "tn"), (int(c) for c in counts[0]), strict=True)))
    return row

