"""Pictures and offline HTML reports of evaluations: overlay gallery, box plots, PR curves,
training curves, threshold sweeps, and the pages that link them."""

from dskd.evaluation.report.compare_report import write_comparison_report
from dskd.evaluation.report.run_report import write_run_report

__all__ = ["write_run_report", "write_comparison_report"]
