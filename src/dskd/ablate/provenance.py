"""What made a run: the commits of the code that trained it, the machines it trained on, its
training time, and the initial weights it started from (for the run's result JSON)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from dskd.checkpoint import file_sha256
from dskd.config import Config
from dskd.inference.machine import describe_machine

__all__ = ["record_training_commit", "training_commits", "record_training_machine", "training_machines",
           "wall_seconds", "initial_weights"]


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


def record_training_machine(run_folder: Path) -> None:
    """Append this machine (CPU, cores, bf16 units) to run_folder's machine.txt (once in a row): a
    run resumed elsewhere lists both, so its wall time is read against the right CPUs."""
    known = training_machines(run_folder)
    here = describe_machine()
    if not known or known[-1] != here:
        run_folder.mkdir(parents=True, exist_ok=True)
        with open(run_folder / "machine.txt", "a") as handle:
            handle.write(here + "\n")


def training_machines(run_folder: Path) -> list[str]:
    """The machines the run trained on, in order ([] when not recorded)."""
    path = run_folder / "machine.txt"
    return path.read_text().splitlines() if path.is_file() else []


def wall_seconds(run_folder: Path) -> float:
    """Training time of the run: the sum of log.csv's per-epoch seconds (NaN without a log)."""
    path = run_folder / "log.csv"
    if not path.is_file():
        return math.nan
    with open(path, newline="") as handle:
        return round(sum(float(row["seconds"]) for row in csv.DictReader(handle)), 1)


def initial_weights(config: Config) -> dict:
    """{"init_sha256": ...} of the model.init checkpoint a run started from, so that results of
    runs started from a rebuilt file of the same name are told apart; {} without model.init."""
    init = config.model.init
    if not init:
        return {}
    return {"init_sha256": file_sha256(init) if Path(init).is_file() else None}
