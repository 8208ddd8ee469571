"""`dskd ablate --grid`: plan the grid's runs, then train and score each one as its own job.

Each cell is one job (`run_cell`): training in a process of its own (ablate.training_process;
resumed when its folder holds an interrupted run), then the out-of-fold scoring of its two
checkpoints in memory (ablate.scoring), then its result JSON (ablate.results). Finished runs whose
result matches their config are skipped, so a second call continues a grid where the first one
stopped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from dskd.ablate.grid import Cell, Grid, GridError
from dskd.ablate.provenance import (
    record_training_commit,
    record_training_machine,
    training_commits,
    training_machines,
    wall_seconds,
)
from dskd.ablate.results import build_result, read_result, result_path, write_result
from dskd.ablate.reuse import index_results
from dskd.ablate.runs import (
    RunState,
    config_hash,
    inspect_run,
    resolve_cell,
    resume_overrides,
    run_dir,
)
from dskd.ablate.scoring import score_run
from dskd.ablate.training_process import train_in_process
from dskd.config import Config, load_config
from dskd.errors import DskdError
from dskd.evaluation.provenance import git_commit

__all__ = ["Action", "Planned", "CellJob", "default_threads", "plan_grid", "format_plan", "run_cell"]

log = logging.getLogger(__name__)

Action = Literal["skip", "reuse", "score", "train", "resume", "blocked"]


def default_threads(jobs: int) -> int:
    """Torch threads per run: this machine's cores shared by the runs at once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


@dataclass(frozen=True)
class CellJob:
    """What one job needs, as plain values: it is pickled to a worker process or a Slurm job."""

    grid: str
    reference: str  # the grid's reference variant (recorded in the result)
    cell: Cell
    base: str  # the base config file
    run_dir: str
    result: str  # the result JSON to write
    threads: int
    train: bool  # False: score a finished run only


@dataclass(frozen=True)
class Planned:
    cell: Cell
    state: RunState
    action: Action
    epochs: int  # the run's final epoch
    detail: str = ""
    source: dict | None = None  # reuse: the other grid's result of the same run


def _config(base: str | Path, cell: Cell, threads: int) -> Config:
    return load_config(base, [*cell.overrides, f"run.threads={threads}"])


def _result_is_fresh(path: Path, cell: Cell, digest: str) -> bool:
    if not path.is_file():
        return False
    try:
        result = read_result(path)
    except DskdError:
        return False
    return (result.get("config_hash") == digest and result.get("variant") == cell.variant.name
            and result.get("fold") == cell.fold and result.get("seed") == cell.seed)


def plan_grid(grid: Grid, out: str | Path, results: str | Path, *, threads: int) -> list[Planned]:
    """What each cell needs: skip (scored), reuse (another grid has the same run), score (trained),
    train, resume, or blocked (why)."""
    planned, reusable = [], index_results(grid.reuse)
    for cell in grid.cells():
        config = resolve_cell(grid, cell, threads=threads)
        state, epochs = inspect_run(run_dir(out, cell), config), config.optim.epochs
        digest = config_hash(config)
        if state.status == "new" and _result_is_fresh(result_path(results, cell), cell, digest):
            planned.append(Planned(cell, state, "skip", epochs))  # scored here earlier, or reused
            continue
        if state.status == "new" and (digest, cell.fold, cell.seed) in reusable:
            folder, source = reusable[(digest, cell.fold, cell.seed)]
            planned.append(Planned(cell, state, "reuse", epochs, f"from {folder}", source))
            continue
        if state.status == "conflict":
            planned.append(Planned(cell, state, "blocked", epochs, state.detail))
        elif state.status == "finished":
            fresh = _result_is_fresh(result_path(results, cell), cell, digest)
            planned.append(Planned(cell, state, "skip" if fresh else "score", epochs))
        elif state.status == "interrupted":
            try:
                resume_overrides(state.stored or {}, config)
                planned.append(Planned(cell, state, "resume", epochs))
            except GridError as error:
                planned.append(Planned(cell, state, "blocked", epochs, str(error)))
        else:
            planned.append(Planned(cell, state, "train", epochs))
    return planned


def format_plan(grid: Grid, planned: list[Planned], out: str | Path) -> str:
    """One line per cell, then the counts of each action."""
    lines = [f"grid {grid.name}: {len(grid.variants)} variants x {len(grid.folds)} folds x "
             f"{len(grid.seeds)} seeds = {len(planned)} runs in {Path(out) / 'runs'}"]
    for p in planned:
        done = f"{p.state.epoch}/{p.epochs}"
        lines.append(f"  {p.action:<8} {p.cell.variant.name:<24} fold {p.cell.fold} seed {p.cell.seed} "
                     f"epochs {done:>7}" + (f"  ({p.detail})" if p.detail else ""))
    counts = {a: sum(p.action == a for p in planned) for a in get_args(Action)}
    lines.append(", ".join(f"{n} {a}" for a, n in counts.items() if n))
    return "\n".join(lines)


def _train(job: CellJob, config: Config, state: RunState) -> None:
    folder = Path(job.run_dir)
    overrides = [*job.cell.overrides, f"run.threads={job.threads}"]
    resume = state.status == "interrupted"
    note = ""
    if resume:
        kept = resume_overrides(state.stored or {}, config)
        overrides += kept  # later values win
        threads = [item for item in kept if item.startswith("run.threads=")]
        if threads:  # said, since more threads than cores slows a run many times over (docs/training.md)
            note = (f"resumes with {threads[0]}, as it started (its weights then equal an uninterrupted "
                    f"run's), not --threads {job.threads}")
            log.warning("%s %s", folder, note)
    record_training_commit(folder, git_commit())
    record_training_machine(folder)
    train_in_process(job.base, overrides, folder, resume=resume, threads=job.threads, note=note)


def run_cell(job: CellJob) -> str:
    """Train or resume one run (when job.train), score it out of fold, write its result JSON.

    The run folder is inspected again here, not trusted from the plan: a Slurm job may start long
    after it was submitted. Returns the result file's path.
    """
    import torch

    cell, folder = job.cell, Path(job.run_dir)
    config = _config(job.base, cell, job.threads)
    state = inspect_run(folder, config)
    if state.status == "conflict":
        raise GridError(state.detail)
    if state.status != "finished":
        if not job.train:
            raise DskdError(f"{folder}: not finished ({state.epoch}/{config.optim.epochs} epochs)")
        _train(job, config, state)
        state = inspect_run(folder, config)
        if state.status != "finished":
            raise DskdError(f"{folder}: training ended after {state.epoch} epochs ({state.status})")
    torch.set_num_threads(job.threads)
    figures = score_run(folder, config, cell.fold)
    result = build_result(grid=job.grid, reference=job.reference, cell=cell, config=config,
                          config_hash=config_hash(config), commit=git_commit(),
                          trained_by=training_commits(folder), trained_on=training_machines(folder),
                          seconds=wall_seconds(folder), figures=figures)
    return str(write_result(Path(job.result), result))
