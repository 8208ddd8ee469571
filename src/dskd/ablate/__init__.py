"""`dskd ablate`: cross-validated ablation grids, one job per (variant, fold, seed), result files
per run, and the paired out-of-fold table (docs/reproduction.md).

    grid.py     grid files: base config, folds, seeds, reference, variants (a list and/or axes)
    runs.py     a cell's expected config, path-normalised comparison and hash, run folder state
    training_process.py  a cell's training in a process of its own, through dskd.training.fit
    scoring.py  out-of-fold figures of a finished run, scored in memory
    provenance.py  the commits that trained a run, its training time, its initial weights
    results.py  the small result JSON of a run (path, build, write, read)
    reuse.py    results of equal runs taken from other grids
    runner.py   the plan of a grid and the job of one cell
    launch.py   the jobs on a local process pool or a submitit (Slurm) job array, under a lock
    table.py    per-variant means and paired differences to the reference (dskd.evaluation.stats)
    report.py   table.md, table.json, table.html with a forest plot
"""

from dskd.ablate.grid import Cell, Grid, GridError, Variant, read_grid

__all__ = ["Cell", "Grid", "GridError", "Variant", "read_grid"]
