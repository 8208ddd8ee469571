"""The run folder: config.yaml, log.csv, best.pt and last.pt, written by rank 0 only.

last.pt holds everything a resumed run needs (weights, optimiser, teacher, scaler, history);
best.pt the weights of the best validation Dice. Both are written atomically (checkpoint.py).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dskd.checkpoint import load_checkpoint, save_checkpoint
from dskd.config import Config, config_to_dict, resume_conflicts, save_config
from dskd.errors import CheckpointError, ConfigError
from dskd.tables import write_csv
from dskd.training.setup import Training
from dskd.writing import make_output_folder

__all__ = ["Progress", "open_run_dir", "restore", "save_epoch"]

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where a run stands: the next epoch to train, the best validation Dice so far, the log."""

    next_epoch: int = 0
    best_dice: float = -math.inf
    history: list[dict] = field(default_factory=list)


def open_run_dir(run_dir: Path, config: Config, resume: bool) -> dict | None:
    """Check the run folder and write config.yaml; returns last.pt's contents when resuming.

    A resumed run may change only the settings that do not change its result (config.py,
    RESUME_MAY_CHANGE: threads, data-loader workers, caching); anything else is refused.
    """
    if (run_dir / "last.pt").exists() and not resume:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or "
                          "choose another --out")
    if resume and not (run_dir / "last.pt").exists():
        raise CheckpointError(f"{run_dir / 'last.pt'}: nothing to resume")
    if not resume and (run_dir / "config.yaml").exists():
        log.warning("%s holds a run stopped before its first epoch ended (config.yaml, no last.pt); "
                    "starting it over", run_dir)
    state = None
    if resume:
        state = load_checkpoint(run_dir / "last.pt")
        changed = resume_conflicts(state.get("config"), config)
        if changed:
            raise CheckpointError(f"{run_dir / 'last.pt'}: config differs from the run being "
                                  f"resumed ({', '.join(changed)})")
    make_output_folder(run_dir)
    save_config(config, run_dir / "config.yaml")
    return state


def restore(state: dict, training: Training) -> Progress:
    """Load last.pt's contents into the run's objects."""
    training.student.load_state_dict(state["model"])
    training.optimizer.load_state_dict(state["optimizer"])
    training.teacher.load_state_dict(state["teacher"])
    if training.scaler.is_enabled() and state.get("scaler"):
        training.scaler.load_state_dict(state["scaler"])
    return Progress(int(state["epoch"]), float(state["best_val_dice"]), list(state["history"]))


def save_epoch(run_dir: Path, config: Config, training: Training, progress: Progress, *,
               improved: bool) -> None:
    """log.csv, last.pt (everything to resume), and best.pt when validation Dice improved."""
    write_csv(run_dir / "log.csv", progress.history)
    # Stored in the default (row-major) layout whatever the training layout.
    weights = {k: v.detach().clone(memory_format=torch.contiguous_format)
               for k, v in training.student.state_dict().items()}
    last = progress.history[-1]
    common = {"config": config_to_dict(config), "model": weights, "epoch": last["epoch"],
              "threshold": config.run.threshold_value, "val_dice": last["val_dice"],
              "precision": training.precision}
    if improved:
        save_checkpoint(common, run_dir / "best.pt")
    scaler = training.scaler.state_dict() if training.scaler.is_enabled() else None
    save_checkpoint({**common, "optimizer": training.optimizer.state_dict(),
                     "best_val_dice": progress.best_dice,
                     "teacher": training.teacher.state_dict(), "scaler": scaler,
                     "history": progress.history}, run_dir / "last.pt")
