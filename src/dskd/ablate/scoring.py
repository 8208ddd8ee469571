"""The out-of-fold figures of a finished run, scored in memory (dskd.evaluation.score_checkpoint).

Primary: the last checkpoint at the fixed threshold 0.5, so nothing is chosen on the held-out
fold. Secondary: best.pt (best validation Dice on that same fold) at the threshold chosen on it,
an optimistic figure reported beside the primary one.
"""

from __future__ import annotations

import math
from pathlib import Path

from dskd.checkpoint import load_checkpoint
from dskd.config import Config
from dskd.evaluation.evaluate import score_checkpoint
from dskd.metrics.suite import Protocol

__all__ = ["FIGURES", "score_run"]

FIGURES = ("dice", "cldice", "sensitivity", "precision", "betti_0_error", "betti_1_error")
_PROTOCOL = Protocol(groups=("overlap", "topology"))  # the figures above, nothing slower


def _rounded(value: float) -> float | None:
    """4 decimals; None for an undefined figure (NaN), which JSON cannot hold."""
    number = float(value)
    return None if math.isnan(number) else round(number, 4)


def score_run(run_folder: Path, config: Config, fold: int) -> dict[str, dict]:
    """{"primary": ..., "secondary": ...} of a finished run on fold_<fold> of config's split file:
    each {"checkpoint", "epoch", "threshold", "images": {name: [each of FIGURES]}}.

    config gives this machine's data paths. Nothing is written.
    """
    parts = {}
    for part, name, threshold in (("primary", "last.pt", 0.5), ("secondary", "best.pt", None)):
        checkpoint = run_folder / name
        epoch = int(load_checkpoint(checkpoint)["epoch"])
        scored = score_checkpoint(checkpoint, config.data.root, layout=config.data.layout,
                                  split_file=config.data.split_file, split_part=f"fold_{fold}",
                                  threshold=threshold, protocol=_PROTOCOL)
        images = {row["name"]: [_rounded(row[m]) for m in FIGURES] for row in scored.rows}
        parts[part] = {"checkpoint": name, "epoch": epoch, "threshold": round(scored.threshold, 4),
                       "images": images}
    return parts
