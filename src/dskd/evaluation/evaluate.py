"""Scoring a model on labelled images: per-image rows, per-image mean/std and pooled figures.

The figures and the protocol are those of dskd.metrics.suite (overlap, AUC/AP, topology,
distances); docs/evaluation.md states them. The same scoring serves masks made by other tools
(dskd.evaluation.folders), so every method is measured the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dskd.data.cases import Case, CaseArrays
from dskd.data.readers import list_images
from dskd.errors import DataError
from dskd.evaluation.ledger import check_ledger, ledger_path, record_look
from dskd.inference.backends import Net, TorchNet
from dskd.inference.cases import net_probabilities
from dskd.inference.ensemble import agreed_threshold, as_one_net
from dskd.inference.probabilities import TTA
from dskd.metrics.overlap import OVERLAP_METRICS
from dskd.metrics.scoring import pooled_probabilistic, score_predictions, summarize
from dskd.metrics.suite import Protocol
from dskd.metrics.summary import EvaluationSummary
from dskd.tables import write_csv

__all__ = ["write_report", "write_evaluation", "ScoredCheckpoint", "score_checkpoint", "evaluate_checkpoint"]

log = logging.getLogger(__name__)


def write_report(rows: list[dict], summary: EvaluationSummary, out_dir: str | Path, *,
                 pr_curve: dict[str, np.ndarray] | None = None) -> None:
    """out_dir/per_image.csv and out_dir/summary.json (and pr_curve.csv when given)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["name", *OVERLAP_METRICS]
    write_csv(out_dir / "per_image.csv", rows, fields)
    summary.write(out_dir / "summary.json")
    if pr_curve is not None and pr_curve["recall"].size:
        columns = ("threshold", "precision", "recall")
        write_csv(out_dir / "pr_curve.csv",
                  [dict(zip(columns, values, strict=True))
                   for values in zip(*(pr_curve[k].tolist() for k in columns), strict=True)],
                  columns)


def write_evaluation(out_dir: str | Path, cases: list[CaseArrays], predictions: list[np.ndarray],
                     rows: list[dict], counts: torch.Tensor, *,
                     probabilities: list[np.ndarray] | None, threshold: float | None,
                     policy: str, protocol: Protocol, sources: dict[str, str | None],
                     overlays: bool, report: bool) -> EvaluationSummary:
    """The common end of every evaluation (a model on a dataset, or masks from any tool): pooled
    AUC/AP when there are probabilities, the summary, per_image.csv, summary.json, pr_curve.csv,
    and the overlays and HTML report when asked for."""
    pooled_extra, pr_curve = ({}, None)
    if probabilities is not None and "probabilistic" in protocol.groups:
        pooled_extra, pr_curve = pooled_probabilistic(cases, probabilities)
    summary = summarize(rows, counts, threshold=threshold, threshold_policy=policy,
                        protocol=protocol, pooled_extra=pooled_extra).with_sources(**sources)
    write_report(rows, summary, out_dir, pr_curve=pr_curve)
    if overlays or report:
        from dskd.evaluation.report.gallery import write_overlays

        write_overlays(cases, predictions, Path(out_dir) / "overlays")
    if report:
        from dskd.evaluation.report.run_report import write_run_report

        write_run_report(out_dir, rows, summary, pr_curve=pr_curve)
    return summary


def _attach_fov(cases: list[Case], fov_dir: str | Path, fov_suffix: str) -> list[Case]:
    """Cases with their field-of-view mask from fov_dir/<name><fov_suffix>.<ext>."""
    folder = Path(fov_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: field-of-view folder not found")
    by_name = {p.stem: p for p in list_images(folder)}
    attached = []
    for case in cases:
        path = by_name.get(f"{case.name}{fov_suffix}")
        if path is None:
            raise DataError(f"{folder}: no field-of-view mask named {case.name}{fov_suffix}.* "
                            "(set --fov-suffix if the names differ by a suffix)")
        attached.append(replace(case, fov=path))
    return attached


def _load_models(checkpoints: list[Path], device: torch.device, threshold: float | None
                 ) -> tuple[Net, float, str]:
    """(the models as one Net, the threshold, its policy). Several checkpoints are averaged; their
    stored thresholds must agree unless `threshold` replaces them."""
    from dskd.checkpoint import load_model

    loaded = [load_model(c, check_threshold=threshold is None) for c in checkpoints]
    nets = [TorchNet(model, device) for model, _, _ in loaded]
    if threshold is not None:
        return as_one_net(nets), threshold, "fixed"
    policies = {"validation" if c.run.threshold == "validation" else "fixed" for _, c, _ in loaded}
    policy = policies.pop() if len(policies) == 1 else "fixed"
    return as_one_net(nets), agreed_threshold([t for _, _, t in loaded]), policy


@dataclass(frozen=True)
class ScoredCheckpoint:
    """What scoring a model on labelled cases gives, held in memory (nothing written)."""

    checkpoints: list[Path]
    cases: list[CaseArrays]
    probabilities: list[np.ndarray]
    rows: list[dict]  # one per case: "name" and each metric of the protocol
    counts: torch.Tensor  # (N, 4) confusion counts of each case, for the pooled figures
    threshold: float
    policy: str  # "fixed" or "validation": where the threshold came from

    def summary(self, protocol: Protocol) -> EvaluationSummary:
        return summarize(self.rows, self.counts, threshold=self.threshold,
                         threshold_policy=self.policy, protocol=protocol)


def score_checkpoint(checkpoint: str | Path | list[str | Path], data_root: str | Path, *,
                     layout: str = "folder", split_file: str | None = None, split_part: str = "test",
                     device: str = "cpu", threshold: float | None = None,
                     fov_dir: str | Path | None = None, fov_suffix: str = "",
                     protocol: Protocol | None = None, tta: TTA = "none",
                     ledger: str | Path | None = None, out: str | Path | None = None
                     ) -> ScoredCheckpoint:
    """Score a checkpoint (or the mean probabilities of several: an ensemble) on a labelled
    dataset, in memory: the per-image rows and confusion counts, nothing written.

    The threshold is the one stored in the checkpoint: 0.5 by default, or the one chosen on the
    validation split during training or by `dskd threshold-sweep` (policy "validation").
    `threshold` overrides it (policy "fixed"). tta: test-time augmentation (inference.TTA).
    Scoring the "test" part of a split file appends the look to the test ledger
    (dskd.evaluation.ledger; `ledger` overrides its place beside the split file; `out` is recorded
    as where the figures went), whoever asks: the ledger cannot be bypassed from Python.
    """
    from dskd.data.cases import load_case
    from dskd.data.readers import read_cases
    from dskd.data.splits import apply_split, read_split_file

    checkpoints = [Path(c) for c in (checkpoint if isinstance(checkpoint, list) else [checkpoint])]
    looks_at_test = bool(split_file) and split_part == "test"
    if looks_at_test:
        ledger = ledger_path(split_file, ledger)
        check_ledger(ledger)
    protocol = protocol if protocol is not None else Protocol()
    net, threshold, policy = _load_models(checkpoints, torch.device(device), threshold)
    cases = read_cases(layout, data_root)
    if split_file:
        cases = apply_split(cases, read_split_file(split_file), split_part, source=str(split_file))
    if fov_dir is not None:
        cases = _attach_fov(cases, fov_dir, fov_suffix)
    arrays = [load_case(c) for c in cases]
    probabilities = net_probabilities(net, arrays, tta=tta, progress=True)
    rows, counts = score_predictions(arrays, probabilities, threshold=threshold, protocol=protocol,
                                     progress=True)
    scored = ScoredCheckpoint(checkpoints, arrays, probabilities, rows, counts, threshold, policy)
    if looks_at_test:
        summary = scored.summary(protocol)
        figure = {"dice": summary.mean("dice"), "dice_pooled": summary.pooled.get("dice")}
        record_look(ledger, split_file=split_file, part=split_part,
                    what=", ".join(str(c) for c in checkpoints), data=str(data_root),
                    n_images=len(arrays), threshold=threshold, tta=tta, out=out,
                    figure={k: v for k, v in figure.items() if v is not None})
    return scored


def evaluate_checkpoint(checkpoint: str | Path | list[str | Path], data_root: str | Path,
                        out_dir: str | Path, *, layout: str = "folder",
                        split_file: str | None = None, split_part: str = "test",
                        device: str = "cpu", overlays: bool = False,
                        threshold: float | None = None, fov_dir: str | Path | None = None,
                        fov_suffix: str = "", protocol: Protocol | None = None,
                        report: bool = False, tta: TTA = "none",
                        ledger: str | Path | None = None) -> EvaluationSummary:
    """`score_checkpoint`, then its files in out_dir: per_image.csv, summary.json, pr_curve.csv
    (and overlays/, and the HTML report with its figures when report=True)."""
    protocol = protocol if protocol is not None else Protocol()
    scored = score_checkpoint(checkpoint, data_root, layout=layout, split_file=split_file,
                              split_part=split_part, device=device, threshold=threshold,
                              fov_dir=fov_dir, fov_suffix=fov_suffix, protocol=protocol, tta=tta,
                              ledger=ledger, out=out_dir)
    checkpoints = scored.checkpoints
    training_log = checkpoints[0].parent / "log.csv"
    sources = {"checkpoint": ", ".join(str(c) for c in checkpoints), "data": str(data_root),
               "fov": str(fov_dir) if fov_dir is not None else None,
               "training_log": str(training_log) if training_log.is_file() and len(checkpoints) == 1
               else None}
    return write_evaluation(out_dir, scored.cases,
                            [probs >= scored.threshold for probs in scored.probabilities],
                            scored.rows, scored.counts, probabilities=scored.probabilities,
                            threshold=scored.threshold, policy=scored.policy, protocol=protocol,
                            sources=sources, overlays=overlays, report=report)
