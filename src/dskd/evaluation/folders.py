"""Scoring masks that any tool produced (nnU-Net, FR-UNet, ...) against labels, matched by name.

    dskd evaluate --pred DIR --labels DIR [--fov DIR] [--images DIR]

Files are matched by name without extension, after removing an optional suffix per folder
(labels "7_gt.png" match predictions "7.png" with --label-suffix _gt; with a suffix, only the
files that carry it are read, so labels may share a folder with their images). The two sets of names
must be the same: a missing file is an error, never a silently smaller test set. The output
folder may not be one of these folders (its figures would be read as images next time). The scoring is
dskd.evaluation.evaluate's, so these figures are comparable with `dskd evaluate --checkpoint`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.data.cases import CaseArrays
from dskd.data.io import IMAGE_SUFFIXES, read_image, read_mask
from dskd.data.readers import list_images
from dskd.errors import DataError
from dskd.evaluation.evaluate import write_evaluation
from dskd.metrics.scoring import score_masks
from dskd.metrics.suite import Protocol
from dskd.metrics.summary import EvaluationSummary

__all__ = ["MatchedFiles", "match_folders", "evaluate_folders"]

log = logging.getLogger(__name__)

_SHOWN = 3  # names listed in a mismatch error


@dataclass(frozen=True)
class MatchedFiles:
    name: str
    prediction: Path
    label: Path
    fov: Path | None = None
    image: Path | None = None


def _names(folder: Path, suffix: str, what: str) -> dict[str, Path]:
    """{name: path} of the images in folder, `suffix` removed from the end of each stem."""
    if not folder.is_dir():
        raise DataError(f"{folder}: {what} folder not found")
    files = list_images(folder)
    if not files:
        raise DataError(f"{folder}: no {what} images found (suffixes: {', '.join(IMAGE_SUFFIXES)})")
    if suffix:  # only the files that carry it: labels may share a folder with their images
        files = [p for p in files if p.stem.endswith(suffix) and len(p.stem) > len(suffix)]
        if not files:
            raise DataError(f"{folder}: no {what} image is named *{suffix}.*")
    names: dict[str, Path] = {}
    for path in files:
        name = path.stem[: -len(suffix)] if suffix else path.stem
        if name in names:
            raise DataError(f"{folder}: two {what} files are named {name} ({names[name].name}, {path.name})")
        names[name] = path
    return names


def _sample(names: set[str]) -> str:
    shown = sorted(names)[:_SHOWN]
    return ", ".join(shown) + (", ..." if len(names) > _SHOWN else "")


def match_folders(pred_dir: str | Path, labels_dir: str | Path, *, fov_dir: str | Path | None = None,
                  images_dir: str | Path | None = None, pred_suffix: str = "", label_suffix: str = "",
                  fov_suffix: str = "", image_suffix: str = "") -> list[MatchedFiles]:
    """One MatchedFiles per name, sorted by name; DataError when the folders disagree."""
    preds = _names(Path(pred_dir), pred_suffix, "prediction")
    labels = _names(Path(labels_dir), label_suffix, "label")
    if preds.keys() != labels.keys():
        no_label, no_pred = set(preds) - set(labels), set(labels) - set(preds)
        parts = []
        if no_label:
            parts.append(f"{len(no_label)} predictions have no label ({_sample(no_label)})")
        if no_pred:
            parts.append(f"{len(no_pred)} labels have no prediction ({_sample(no_pred)})")
        raise DataError(f"{pred_dir} and {labels_dir} hold different images: {'; '.join(parts)}; "
                        "names must match (see --pred-suffix, --label-suffix)")
    extras = {}
    for key, folder, suffix in (("fov", fov_dir, fov_suffix), ("image", images_dir, image_suffix)):
        if folder is None:
            continue
        found = _names(Path(folder), suffix, key)
        missing = set(labels) - set(found)
        if missing:
            raise DataError(f"{folder}: no {key} for {len(missing)} labelled images ({_sample(missing)}); "
                            f"names must match (see --{key}-suffix)")
        extras[key] = found
    return [MatchedFiles(name, preds[name], labels[name], extras.get("fov", {}).get(name),
                         extras.get("image", {}).get(name)) for name in sorted(labels)]


def _check_out_dir(out_dir: str | Path, inputs: dict[str, str | Path | None]) -> None:
    """Refuse an output folder that is one of the input folders ({option: folder}): the report's
    PNG figures would land among the images read there and be scored (or fail) next time."""
    out = Path(out_dir).resolve()
    for option, folder in inputs.items():
        if folder is not None and Path(folder).resolve() == out:
            raise DataError(f"--out {out_dir} is the {option} folder; the report's files would mix "
                            f"with the images read from it; choose another --out")


def _load(files: MatchedFiles, probability_threshold: float | None
          ) -> tuple[CaseArrays, np.ndarray, np.ndarray | None]:
    label = read_mask(files.label)
    if probability_threshold is None:
        pred, probs = read_mask(files.prediction), None
    else:
        probs = read_image(files.prediction)
        pred = probs >= probability_threshold
    fov = read_mask(files.fov) if files.fov is not None else None
    image = read_image(files.image) if files.image is not None else None
    for other, path in ((pred, files.prediction), (fov, files.fov), (image, files.image)):
        if other is not None and other.shape != label.shape:
            raise DataError(f"{path}: size {other.shape[1]}x{other.shape[0]} does not match its label "
                            f"{files.label} ({label.shape[1]}x{label.shape[0]})")
    # Without an angiogram the overlay is drawn on a dark background.
    background = image if image is not None else np.full(label.shape, 0.15, np.float32)
    return CaseArrays(files.name, background, label, fov), pred, probs


def evaluate_folders(pred_dir: str | Path, labels_dir: str | Path, out_dir: str | Path, *,
                     fov_dir: str | Path | None = None, images_dir: str | Path | None = None,
                     pred_suffix: str = "", label_suffix: str = "", fov_suffix: str = "",
                     image_suffix: str = "", probability_threshold: float | None = None,
                     protocol: Protocol | None = None, overlays: bool = False,
                     report: bool = False) -> EvaluationSummary:
    """Score a folder of predictions against a folder of labels; writes what evaluate_checkpoint
    writes.

    Predictions are binary masks (0/1 or 0/255), binarised by the tool that made them (threshold
    policy "external"), unless probability_threshold is given: then they are probability maps
    (8- or 16-bit grey levels scaled to [0, 1]) thresholded here (policy "fixed"), and AUC-ROC,
    AP and the precision-recall curve are computed as well.
    """
    protocol = protocol if protocol is not None else Protocol()
    _check_out_dir(out_dir, {"--pred": pred_dir, "--labels": labels_dir, "--fov": fov_dir,
                            "--images": images_dir})
    matched = match_folders(pred_dir, labels_dir, fov_dir=fov_dir, images_dir=images_dir,
                            pred_suffix=pred_suffix, label_suffix=label_suffix,
                            fov_suffix=fov_suffix, image_suffix=image_suffix)
    loaded = [_load(files, probability_threshold) for files in matched]
    cases = [case for case, _, _ in loaded]
    predictions = [pred for _, pred, _ in loaded]
    probabilities = [probs for _, _, probs in loaded] if probability_threshold is not None else None
    rows, counts = score_masks(cases, predictions, probabilities=probabilities, protocol=protocol,
                               progress=True)
    sources = {"predictions": str(pred_dir), "labels": str(labels_dir),
               "fov": str(fov_dir) if fov_dir is not None else None, "training_log": None}
    summary = write_evaluation(out_dir, cases, predictions, rows, counts,
                               probabilities=probabilities, threshold=probability_threshold,
                               policy="fixed" if probability_threshold is not None else "external",
                               protocol=protocol, sources=sources, overlays=overlays, report=report)
    log.info("scored %d predictions from %s", len(rows), pred_dir)
    return summary
