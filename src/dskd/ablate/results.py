"""One small JSON per finished run: who it is, how it was made, and its out-of-fold figures.

    {"format": 1, "grid": "components", "reference": "dice", "variant": "dskd",
     "overrides": ["loss.objective=dskd"], "fold": 0, "seed": 0,
     "commit": "5d2d692...", "trained_by": ["94f410b..."],
     "trained_on": ["Intel(R) Xeon(R) Processor, 2 cores, bf16 units: AMX"], "config_hash": "3f2a...",
     "epochs": 30, "wall_seconds": 412.5,   (+ "init_sha256" for a run started from model.init)
     "metrics": ["dice", "cldice", ...],
     "primary":   {"checkpoint": "last.pt", "epoch": 30, "threshold": 0.5,
                   "images": {"training_1": [0.8123, 0.7901, ...], ...}},
     "secondary": {"checkpoint": "best.pt", "epoch": 27, "threshold": 0.45, "images": {...}}}

The figures are ablate.scoring's (primary: last.pt at 0.5; secondary: best.pt at its chosen
threshold); "commit" is the code that scored the run, "trained_by" the code that trained it
(ablate.provenance; [] for a run trained outside dskd ablate), "trained_on" the machines it
trained on (absent in results from before 2026-12-07). Values have 4 decimals; each
image's list follows "metrics". The files are committed, so tables can be rebuilt without
checkpoints. This module is the file format only: its path, building, writing and reading.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from dskd.ablate.grid import Cell
from dskd.ablate.provenance import initial_weights
from dskd.ablate.scoring import FIGURES
from dskd.config import Config
from dskd.errors import DataError

__all__ = ["FORMAT", "result_path", "build_result", "write_result", "read_result", "read_results"]

FORMAT = 1
_RESULT_NAME = re.compile(r"^.+\.fold\d+-seed\d+\.json$")


def result_path(results: str | Path, cell: Cell) -> Path:
    """<results>/<variant>.fold<k>-seed<s>.json"""
    return Path(results) / f"{cell.variant.name}.{cell.key}.json"


def build_result(*, grid: str, reference: str, cell: Cell, config: Config, config_hash: str,
                 commit: str, trained_by: list[str], trained_on: list[str], seconds: float,
                 figures: dict[str, dict]) -> dict:
    return {"format": FORMAT, "grid": grid, "reference": reference, "variant": cell.variant.name,
            "overrides": list(cell.variant.overrides), "fold": cell.fold, "seed": cell.seed,
            "commit": commit, "trained_by": trained_by,
            **({"trained_on": trained_on} if trained_on else {}), "config_hash": config_hash,
            "epochs": config.optim.epochs, **initial_weights(config),
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
