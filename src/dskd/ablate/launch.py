"""`dskd ablate --grid`: run the planned cells as jobs, N at a time, on this machine or on Slurm.

Launchers:
- local: a process pool of --jobs workers (`concurrent.futures`, spawned processes). Not
  submitit's LocalExecutor: that one starts every job at once, whatever the number of cores, and
  kills a job after its timeout; --jobs N is a bound on this machine's load.
- slurm: submitit's AutoExecutor, one Slurm job array (map_array) of every cell to run, at most
  --jobs at a time (slurm_array_parallelism), --threads CPUs per task. The same code runs with
  submitit's local cluster in the tests.

Only one `dskd ablate` runs a grid's --out folder at a time (dskd.folder_lock): a second one would
resume the same runs twice. So that the lock means it, a local pool's workers and their training
processes end when `dskd ablate` ends, however it ends (Linux; `_follow_parent`).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

from dskd.ablate.grid import Grid, GridError
from dskd.ablate.results import result_path
from dskd.ablate.reuse import adopt_result
from dskd.ablate.runner import CellJob, Planned, default_threads, plan_grid, run_cell
from dskd.ablate.runs import run_dir
from dskd.ablate.training_process import die_with_parent, stop_training
from dskd.errors import DskdError
from dskd.folder_lock import folder_lock

__all__ = ["launch_local", "launch_submitit", "run_grid"]

log = logging.getLogger(__name__)


def _describe(job: CellJob) -> str:
    return f"{job.cell.variant.name} fold {job.cell.fold} seed {job.cell.seed}"


def _follow_parent(parent: int) -> None:
    """Pool initializer: when `dskd ablate` dies (killed, its terminal closed), each worker gets
    SIGTERM and ends its training process (training_process.stop_training), so no run trains on
    without the process that holds the folder's lock; the next `dskd ablate` resumes it."""
    signal.signal(signal.SIGTERM, stop_training)
    die_with_parent(parent)


def launch_local(jobs: list[CellJob], *, workers: int) -> list[str]:
    """Run the jobs in a pool of `workers` processes; returns one error line per failed job."""
    failures = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_follow_parent, initargs=(os.getpid(),)) as pool:
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
    """Plan the grid and (unless dry_run) run what it needs; returns (the plan, failure lines).

    A run holds the lock of `out` from its plan to its last job, so a second `dskd ablate` on the
    same folder stops at once with one line naming the first one's pid.
    """
    if jobs < 1:
        raise DskdError(f"--jobs {jobs} must be >= 1")
    if threads is None:  # Slurm gives each job its own CPUs: one, unless --threads says more
        threads = default_threads(jobs) if launcher == "local" else 1
    if threads < 1:
        raise DskdError(f"--threads {threads} must be >= 1")
    if launcher not in ("local", "slurm"):
        raise DskdError(f"--launcher {launcher}: valid: local, slurm")
    results = Path(results) if results is not None else Path(out) / "results"
    if dry_run:
        return plan_grid(grid, out, results, threads=threads), []
    Path(out).mkdir(parents=True, exist_ok=True)
    with folder_lock(out, command="dskd ablate"):
        planned = plan_grid(grid, out, results, threads=threads)
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
        return planned, _launch(todo, out, launcher=launcher, jobs=jobs, threads=threads,
                                timeout_min=timeout_min, partition=partition, cluster=cluster)


def _launch(todo: list[CellJob], out: str | Path, *, launcher: str, jobs: int, threads: int,
            timeout_min: int, partition: str | None, cluster: str | None) -> list[str]:
    if not todo:
        return []
    started = time.perf_counter()
    if launcher == "local":
        failures = launch_local(todo, workers=jobs)
    else:
        failures = launch_submitit(todo, Path(out) / "submitit", parallelism=jobs, threads=threads,
                                   timeout_min=timeout_min, partition=partition,
                                   cluster=cluster or "slurm")
    log.info("%d jobs in %.1f min, %d failed", len(todo), (time.perf_counter() - started) / 60,
             len(failures))
    return failures
