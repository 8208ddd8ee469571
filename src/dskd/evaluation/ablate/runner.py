"""`dskd ablate --grid`: plan the grid's runs, then train and score each one as its own job.

Each cell is one job (`run_cell`): `python -m dskd train` in a process of its own (with --resume
when its folder holds an interrupted run), then the out-of-fold scoring of its two checkpoints,
then its result JSON. Finished runs whose result matches their config are skipped, so a second
call continues a grid where the first one stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from dskd.config import Config, load_config
from dskd.errors import DskdError
from dskd.evaluation.ablate.grid import Cell, Grid, GridError
from dskd.evaluation.ablate.results import (
    build_result,
    read_result,
    record_training_commit,
    result_path,
    score_run,
    training_commits,
    wall_seconds,
    write_result,
)
from dskd.evaluation.ablate.reuse import index_results
from dskd.evaluation.ablate.runs import (
    RunState,
    config_hash,
    inspect_run,
    resolve_cell,
    resume_overrides,
    run_dir,
)
from dskd.evaluation.provenance import git_commit

__all__ = ["Action", "Planned", "CellJob", "default_threads", "plan_grid", "format_plan", "run_cell",
           "stop_training"]

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


_TRAINING: set[subprocess.Popen] = set()  # this process's running `dskd train`, for stop_training


def stop_training(signum: int, frame: object = None) -> None:
    """SIGTERM handler of a pool worker: end its `dskd train` (the run resumes next time), exit."""
    for process in list(_TRAINING):
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    os._exit(128 + signum)  # not SystemExit: the pool's worker loop would catch it and wait on


def _train(job: CellJob, config: Config, state: RunState) -> None:
    folder = Path(job.run_dir)
    overrides = [*job.cell.overrides, f"run.threads={job.threads}"]
    command = [sys.executable, "-m", "dskd", "train", "--config", job.base, "--out", str(folder)]
    if state.status == "interrupted":
        overrides += resume_overrides(state.stored or {}, config)  # later values win
        command.append("--resume")
    for text in overrides:
        command += ["--set", text]
    record_training_commit(folder, git_commit())
    env = {**os.environ, "OMP_NUM_THREADS": str(job.threads), "MKL_NUM_THREADS": str(job.threads)}
    log_path = folder.parent / f"{folder.name}.log"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        _TRAINING.add(process)
        try:
            code = process.wait()
        finally:
            _TRAINING.discard(process)
    if code != 0:
        raise DskdError(f"{job.cell.variant.name} fold {job.cell.fold} seed {job.cell.seed}: "
                        f"dskd train exited {code}; see {log_path}")


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
                          trained_by=training_commits(folder),
                          seconds=wall_seconds(folder), figures=figures)
    return str(write_result(Path(job.result), result))
