"""`dskd ablate`: cross-validated ablation grids, one job per (variant, fold, seed), result files
per run, and the paired out-of-fold table (docs/reproduction.md).

    grid.py     grid files: base config, folds, seeds, reference, variants (a list and/or axes)
    runs.py     a cell's expected config, path-normalised comparison and hash, run folder state
    results.py  out-of-fold scoring of a finished run and its small result JSON
    reuse.py    results of equal runs taken from other grids
    runner.py   the plan of a grid and the job of one cell
    launch.py   the jobs on a local process pool or a submitit (Slurm) job array, under a lock
    table.py    per-variant means and paired differences to the reference (dskd.evaluation.stats)
    report.py   table.md, table.json, table.html with a forest plot
"""

from dskd.evaluation.ablate.grid import Cell, Grid, GridError, Variant, read_grid

__all__ = ["Cell", "Grid", "GridError", "Variant", "read_grid"]
