from dskd.metrics.distance import EMPTY_POLICIES, surface_distance_metrics
from dskd.metrics.overlap import OVERLAP_METRICS, confusion_counts, overlap_metrics
from dskd.metrics.probabilistic import average_precision, precision_recall_curve, roc_auc
from dskd.metrics.suite import METRIC_GROUPS, METRICS, Protocol, score_image
from dskd.metrics.topology import betti_numbers, cldice_from_counts, skeleton_counts, topology_metrics
from dskd.metrics.width import centreline_diameters, vessel_width

__all__ = [
    "OVERLAP_METRICS",
    "confusion_counts",
    "overlap_metrics",
    "roc_auc",
    "average_precision",
    "precision_recall_curve",
    "skeleton_counts",
    "cldice_from_counts",
    "betti_numbers",
    "topology_metrics",
    "EMPTY_POLICIES",
    "surface_distance_metrics",
    "METRIC_GROUPS",
    "METRICS",
    "Protocol",
    "score_image",
    "centreline_diameters",
    "vessel_width",
]
