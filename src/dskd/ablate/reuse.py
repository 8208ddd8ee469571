"""Results other grids already hold: a cell that is the same run as one of theirs is not trained twice.

The paper's ablation axes each hold DSKD at its defaults (alpha_T 0.5, n 16, the frequency form),
which is the `dskd` cell of the components grid. Two cells are the same run when their
config hashes (runs.config_hash: the normalised non-default settings, data.fold and run.seed
included) agree, so the result of one is the result of the other. A grid names the folders it may
take results from (`reuse:` in the grid file); a taken result is written under this grid's name
with `reused_from` saying where it came from, and its run folder stays empty.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dskd.ablate.grid import Cell
from dskd.ablate.results import read_results, write_result
from dskd.errors import DataError

__all__ = ["ReuseIndex", "index_results", "adopt_result"]

log = logging.getLogger(__name__)

ReuseIndex = dict[tuple[str, int, int], tuple[Path, dict]]  # (config hash, fold, seed) -> result


def index_results(folders: tuple[Path, ...] | list[Path]) -> ReuseIndex:
    """The results of other grids by (config hash, fold, seed); a folder without results is skipped."""
    index: ReuseIndex = {}
    for folder in folders:
        try:
            results = read_results(folder)
        except DataError as error:  # a grid not yet run on this machine: nothing to take from it
            log.warning("reuse: %s", error)
            continue
        for result in results:
            if "reused_from" in result:  # take only first-hand results
                continue
            index.setdefault((result["config_hash"], result["fold"], result["seed"]), (folder, result))
    return index


def adopt_result(source: dict, target: Path, *, grid: str, reference: str, cell: Cell) -> Path:
    """Write `source` (another grid's result of the same run) as this cell's result."""
    adopted = {**source, "grid": grid, "reference": reference, "variant": cell.variant.name,
               "overrides": list(cell.variant.overrides),
               "reused_from": f"{source['grid']}/{source['variant']}.{cell.key}"}
    return write_result(target, adopted)
