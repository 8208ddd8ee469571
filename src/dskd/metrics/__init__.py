from dskd.metrics.overlap import OVERLAP_METRICS, confusion_counts, overlap_metrics

__all__ = ["OVERLAP_METRICS", "confusion_counts", "overlap_metrics"]
