"""`dskd ablate --grid`: plan the grid's runs, then train and score each one as its own job.

Each cell is one job (`run_cell`): `python -m dskd train` in a process of its own (with --resume
when its folder holds an interrupted run), then the out-of-fold scoring of its two checkpoints,
then its result JSON. Finished runs whose result matches their config are skipped, so a second
call continues a grid where the first one stopped.

Launchers:
- local: a process pool of --jobs workers (`concurrent.futures`, spawned processes). Not
  submitit's LocalExecutor: that one starts every job at once, whatever the number of cores, and
  kills a job after its timeout; --jobs N is a bound on this machine's load.
- slurm: submitit's AutoExecutor, one Slurm job array (map_array) of every cell to run, at most
  --jobs at a time (slurm_array_parallelism), --threads CPUs per task. The same code runs with
  submitit's local cluster in the tests.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, get_args

from dskd.config import Config, load_config
from dskd.errors import DskdError
from dskd.evaluation.ablate.grid import Cell, Grid, GridError
from dskd.evaluation.ablate.results import (
    build_result,
    git_commit,
    read_result,
    record_training_commit,
    result_path,
    score_run,
    training_commits,
    wall_seconds,
    write_result,
)
from dskd.evaluation.ablate.reuse import adopt_result, index_results
from dskd.evaluation.ablate.runs import (
    RunState,
    config_hash,
    inspect_run,
    resolve_cell,
    resume_overrides,
    run_dir,
)

__all__ = ["Action", "Planned", "CellJob", "default_threads", "plan_grid", "format_plan", "run_cell",
           "launch_local", "launch_submitit", "run_grid"]

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
        code = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
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


def _describe(job: CellJob) -> str:
    return f"{job.cell.variant.name} fold {job.cell.fold} seed {job.cell.seed}"


def launch_local(jobs: list[CellJob], *, workers: int) -> list[str]:
    """Run the jobs in a pool of `workers` processes; returns one error line per failed job."""
    failures = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_cell, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                log.info("done: %s -> %s", _describe(job), future.result())
            except Exception as error:  # one failed run must not stop the others
                failures.append(f"{_describe(job)}: {error}")
                log.error("failed: %s: %s", _describe(job), error)
    return failures


def launch_submitit(jobs: list[CellJob], folder: str | Path, *, parallelism: int, threads: int,
                    timeout_min: int = 24 * 60, partition: str | None = None,
                    cluster: str | None = "slurm") -> list[str]:
    """One submitit job array of the jobs (Slurm: at most `parallelism` at once), waited for.

    cluster="local" runs the same array with submitit's LocalExecutor (the tests do).
    Returns one error line per failed job.
    """
    try:
        import submitit
    except ImportError:
        raise DskdError("--launcher slurm needs submitit: pip install 'dskd[ablate]'") from None
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise DskdError("--launcher slurm needs Slurm's sbatch on PATH (run it on a login node); "
                        "use --launcher local on this machine")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    executor.update_parameters(name="dskd-ablate", timeout_min=timeout_min, cpus_per_task=threads,
                               slurm_array_parallelism=parallelism,
                               **({"slurm_partition": partition} if partition else {}))
    submitted = executor.map_array(run_cell, jobs)
    log.info("submitted %d jobs (%s); logs in %s", len(submitted),
             ", ".join(j.job_id for j in submitted[:3]) + (", ..." if len(submitted) > 3 else ""), folder)
    failures = []
    for job, handle in zip(jobs, submitted, strict=True):
        try:
            log.info("done: %s -> %s", _describe(job), handle.result())
        except Exception as error:  # submitit re-raises the job's error (or its failure) here
            line = str(error).strip().splitlines()
            failures.append(f"{_describe(job)}: {line[-1] if line else type(error).__name__} "
                            f"(job {handle.job_id}, logs in {folder})")
    return failures


def run_grid(grid: Grid, out: str | Path, *, jobs: int = 1, threads: int | None = None,
             results: str | Path | None = None, launcher: Literal["local", "slurm"] = "local",
             score_only: bool = False, dry_run: bool = False, partition: str | None = None,
             timeout_min: int = 24 * 60, cluster: str | None = None) -> tuple[list[Planned], list[str]]:
    """Plan the grid and (unless dry_run) run what it needs; returns (the plan, failure lines)."""
    if jobs < 1:
        raise DskdError(f"--jobs {jobs} must be >= 1")
    if threads is None:  # Slurm gives each job its own CPUs: one, unless --threads says more
        threads = default_threads(jobs) if launcher == "local" else 1
    if threads < 1:
        raise DskdError(f"--threads {threads} must be >= 1")
    results = Path(results) if results is not None else Path(out) / "results"
    planned = plan_grid(grid, out, results, threads=threads)
    if dry_run:
        return planned, []
    blocked = [p for p in planned if p.action == "blocked"]
    if blocked:
        raise GridError(f"{len(blocked)} run(s) cannot go on, e.g. {blocked[0].detail}")
    for p in planned:
        if p.action == "reuse" and p.source is not None:
            adopt_result(p.source, result_path(results, p.cell), grid=grid.name,
                         reference=grid.reference, cell=p.cell)
    wanted = ("score",) if score_only else ("score", "train", "resume")
    todo = [CellJob(grid.name, grid.reference, p.cell, str(grid.base), str(run_dir(out, p.cell)),
                    str(result_path(results, p.cell)), threads, train=p.action != "score")
            for p in planned if p.action in wanted]
    if not todo:
        return planned, []
    started = time.perf_counter()
    if launcher == "local":
        failures = launch_local(todo, workers=jobs)
    elif launcher == "slurm":
        failures = launch_submitit(todo, Path(out) / "submitit", parallelism=jobs, threads=threads,
                                   timeout_min=timeout_min, partition=partition,
                                   cluster=cluster or "slurm")
    else:
        raise DskdError(f"--launcher {launcher}: valid: local, slurm")
    log.info("%d jobs in %.1f min, %d failed", len(todo), (time.perf_counter() - started) / 60,
             len(failures))
    return planned, failures
