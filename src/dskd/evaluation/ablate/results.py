"""One small JSON per finished run: who it is, how it was made, and its out-of-fold figures.

    {"format": 1, "grid": "components", "reference": "dice", "variant": "dskd",
     "overrides": ["loss.objective=dskd"], "fold": 0, "seed": 0,
     "commit": "5d2d692...", "trained_by": ["94f410b..."], "config_hash": "3f2a...",
     "epochs": 30, "wall_seconds": 412.5,   (+ "init_sha256" for a run started from model.init)
     "metrics": ["dice", "cldice", ...],
     "primary":   {"checkpoint": "last.pt", "epoch": 30, "threshold": 0.5,
                   "images": {"training_1": [0.8123, 0.7901, ...], ...}},
     "secondary": {"checkpoint": "best.pt", "epoch": 27, "threshold": 0.45, "images": {...}}}

Primary figures: the last checkpoint at the fixed threshold 0.5, so nothing is chosen on the
held-out fold. Secondary: best.pt (best validation Dice on that same fold) at the threshold chosen
on it, an optimistic figure reported beside the primary one. "commit" is the code that scored the
run, "trained_by" the code that trained it (its commit.txt, written before each training
session; [] for a run trained outside dskd ablate). Values have 4 decimals; each image's
list follows "metrics". The files are committed, so tables can be rebuilt without checkpoints.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

from dskd.checkpoint import file_sha256, load_checkpoint
from dskd.config import Config
from dskd.errors import DataError
from dskd.evaluation.ablate.grid import Cell
from dskd.metrics.suite import Protocol

__all__ = ["FIGURES", "FORMAT", "result_path", "record_training_commit",
           "training_commits", "wall_seconds", "score_run",
           "build_result", "write_result", "read_result", "read_results"]

FORMAT = 1
FIGURES = ("dice", "cldice", "sensitivity", "precision", "betti_0_error", "betti_1_error")
_PROTOCOL = Protocol(groups=("overlap", "topology"))  # the figures above, nothing slower
_RESULT_NAME = re.compile(r"^.+\.fold\d+-seed\d+\.json$")


def result_path(results: str | Path, cell: Cell) -> Path:
    """<results>/<variant>.fold<k>-seed<s>.json"""
    return Path(results) / f"{cell.variant.name}.{cell.key}.json"


def record_training_commit(run_folder: Path, commit: str) -> None:
    """Append the commit of the code about to train in run_folder to its commit.txt (once)."""
    known = training_commits(run_folder)
    if not known or known[-1] != commit:
        run_folder.mkdir(parents=True, exist_ok=True)
        with open(run_folder / "commit.txt", "a") as handle:
            handle.write(commit + "\n")


def training_commits(run_folder: Path) -> list[str]:
    """The commits of the code that trained the run, in order ([] when not recorded)."""
    path = run_folder / "commit.txt"
    return path.read_text().split() if path.is_file() else []


def wall_seconds(run_folder: Path) -> float:
    """Training time of the run: the sum of log.csv's per-epoch seconds."""
    path = run_folder / "log.csv"
    if not path.is_file():
        return float("nan")
    with open(path, newline="") as handle:
        return round(sum(float(row["seconds"]) for row in csv.DictReader(handle)), 1)


def _round(value: str) -> float | None:
    number = float(value) if value not in ("", None) else float("nan")
    return None if math.isnan(number) else round(number, 4)


def _score(checkpoint: Path, config: Config, fold: int, out: Path, threshold: float | None) -> dict:
    from dskd.evaluation.evaluate import evaluate_checkpoint

    evaluate_checkpoint(checkpoint, config.data.root, out, layout=config.data.layout,
                        split_file=config.data.split_file, split_part=f"fold_{fold}",
                        threshold=threshold, protocol=_PROTOCOL)
    with open(out / "per_image.csv", newline="") as handle:
        return {row["name"]: [_round(row[m]) for m in FIGURES] for row in csv.DictReader(handle)}


def score_run(run_folder: Path, config: Config, fold: int) -> dict[str, dict]:
    """Out-of-fold figures of a finished run on fold_<fold> of config's split file.

    config gives this machine's data paths. Writes the evaluations to <run>/oof-last and oof-best.
    """
    parts = {}
    for part, name, threshold in (("primary", "last.pt", 0.5), ("secondary", "best.pt", None)):
        checkpoint = run_folder / name
        stored = load_checkpoint(checkpoint)
        chosen = threshold if threshold is not None else float(stored.get("threshold", 0.5))
        images = _score(checkpoint, config, fold, run_folder / f"oof-{name[:-3]}", threshold)
        parts[part] = {"checkpoint": name, "epoch": int(stored["epoch"]), "threshold": round(chosen, 4),
                       "images": images}
    return parts


def _initial_weights(config: Config) -> dict:
    """{"init_sha256": ...} of the model.init checkpoint a run started from, so that results of
    runs started from a rebuilt file of the same name are told apart; {} without model.init."""
    init = config.model.init
    if not init:
        return {}
    return {"init_sha256": file_sha256(init) if Path(init).is_file() else None}


def build_result(*, grid: str, reference: str, cell: Cell, config: Config, config_hash: str,
                 commit: str, trained_by: list[str], seconds: float, figures: dict[str, dict]) -> dict:
    return {"format": FORMAT, "grid": grid, "reference": reference, "variant": cell.variant.name,
            "overrides": list(cell.variant.overrides), "fold": cell.fold, "seed": cell.seed,
            "commit": commit, "trained_by": trained_by, "config_hash": config_hash,
            "epochs": config.optim.epochs, **_initial_weights(config),
            "wall_seconds": None if math.isnan(seconds) else seconds, "metrics": list(FIGURES),
            **figures}


def write_result(path: Path, result: dict) -> Path:
    """Compact JSON, one image a line (small diffs when a file is committed again)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, value in result.items():
        if key in ("primary", "secondary"):
            head = {k: v for k, v in value.items() if k != "images"}
            rows = ",\n".join(f"   {json.dumps(n)}: {json.dumps(v)}" for n, v in value["images"].items())
            lines.append(f' "{key}": {json.dumps(head)[:-1]}, "images": {{\n{rows}}}}}')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    tmp.replace(path)
    return path


def read_result(path: str | Path) -> dict:
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a readable ablation result ({error})") from None
    if not isinstance(result, dict) or result.get("format") != FORMAT or "primary" not in result:
        raise DataError(f"{path}: not an ablation result of format {FORMAT} (written by dskd ablate)")
    return result


def read_results(where: str | Path) -> list[dict]:
    """Every result JSON in a folder: an ablate --out folder (its results/) or a results folder."""
    folder = Path(where)
    if (folder / "results").is_dir():
        folder = folder / "results"
    if not folder.is_dir():
        raise DataError(f"{where}: no such folder; give an ablate --out folder or its results/")
    results = [read_result(p) for p in sorted(folder.glob("*.json")) if _RESULT_NAME.match(p.name)]
    if not results:
        raise DataError(f"{folder}: no result files (<variant>.fold<k>-seed<s>.json); run dskd ablate "
                        "--grid first")
    return results
