"""Training: `fit` reads top to bottom; one step is `train_step` (step.py).

A run folder holds config.yaml (the resolved config), log.csv (one row per epoch), best.pt (best
validation Dice), last.pt (everything needed to resume), training_curves.png and, with
run.tensorboard=true, tensorboard/ (event files).

The same code trains in one process or in several started by torchrun (docs/training.md): each
process then owns one share of every batch (`data.batch_size` is the global batch), the student is
wrapped in DistributedDataParallel, validation images are scored in shards whose counts are summed,
and only rank 0 writes the run folder.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from dskd.config import Config
from dskd.errors import ConfigError
from dskd.losses.self_distillation import alpha_schedule
from dskd.plots import plot_training_curves
from dskd.training.data import training_data
from dskd.training.distributed import World, barrier, broadcast_module, run_on_main
from dskd.training.run_folder import Progress, open_run_dir, restore, save_epoch
from dskd.training.setup import Training, build_training, lr_factor, resolve_device
from dskd.training.step import train_one_epoch
from dskd.training.tensorboard import open_board
from dskd.training.validation import store_validation_threshold, validation_dice

__all__ = ["fit"]

log = logging.getLogger(__name__)


def _check_world(config: Config, device: torch.device, world: World) -> None:
    """Settings that depend on the number of processes, checked before any process waits."""
    batch = config.data.batch_size
    if batch % world.size:
        raise ConfigError(f"data.batch_size={batch} (the global batch) is not divisible by the "
                          f"{world.size} processes; use a multiple of {world.size}")
    if config.run.sync_batchnorm and world.distributed and device.type != "cuda":
        raise ConfigError("run.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm is "
                          "CUDA-only); set run.sync_batchnorm=false on CPU")


def _start_epoch(training: Training, epoch: int, config: Config) -> tuple[float, float]:
    """Set the epoch's learning rate; returns (lr, alpha_t)."""
    lr = config.optim.lr * lr_factor(epoch, config.optim)
    for group in training.optimizer.param_groups:
        group["lr"] = lr
    return lr, alpha_schedule(epoch, config.optim.epochs, config.loss.alpha_T)


def fit(config: Config, run_dir: str | Path, *, resume: bool = False,
        world: World | None = None) -> Path:
    """Train the configured objective; returns the path of the best checkpoint.

    world: this process's place under torchrun (see dskd.training.distributed.process_group);
    None for a single process.
    """
    world = world or World()
    run_dir = Path(run_dir)
    device = resolve_device(config.run.device, world)
    _check_world(config, device, world)
    state = run_on_main(lambda: open_run_dir(run_dir, config, resume), world)
    if config.run.threads > 0:
        torch.set_num_threads(config.run.threads)
    torch.manual_seed(config.run.seed)

    data = training_data(config, device, world)
    training = build_training(config, device, world)
    progress = restore(state, training) if state is not None else Progress()
    if state is not None:
        log.info("resuming %s after epoch %d", run_dir, progress.next_epoch)

    board = open_board(config.run.tensorboard, run_dir, is_main=world.is_main)
    epochs = config.optim.epochs
    for epoch in range(progress.next_epoch, epochs):
        started = time.perf_counter()
        lr, alpha_t = _start_epoch(training, epoch, config)
        data.sampler.set_epoch(epoch)
        training.wrap_for_epoch()
        training.teacher.start_epoch(data.train_cases)
        losses = train_one_epoch(training, data.loader, alpha_t=alpha_t, world=world,
                                 description=f"epoch {epoch + 1}/{epochs}")
        # Every process takes rank 0's BatchNorm statistics (each updated its own from its share
        # of the batches), so the teacher, validation and checkpoint agree everywhere.
        broadcast_module(training.student, world)
        training.teacher.end_epoch(training.student, world)
        val_dice = validation_dice(training.student, data.val_cases, device, world)
        progress.history.append({"epoch": epoch + 1, "lr": lr, "alpha_t": alpha_t, **losses,
                                 "val_dice": val_dice,
                                 "seconds": round(time.perf_counter() - started, 2)})
        log.info("epoch %d/%d  loss %.4f  val Dice %.4f  (%.1fs)", epoch + 1, epochs,
                 losses.get("loss", float("nan")), val_dice, progress.history[-1]["seconds"])
        improved = not len(data.val_cases) or val_dice > progress.best_dice
        if improved and len(data.val_cases):
            progress.best_dice = val_dice
        if world.is_main:
            save_epoch(run_dir, config, training, progress, improved=improved)
            board.write_epoch(progress.history[-1], training.student, data.val_cases, device)
    board.close()

    if world.is_main:
        if config.run.threshold == "validation" and len(data.val_cases):
            store_validation_threshold(run_dir / "best.pt", config.model, data.val_cases, device)
        plot_training_curves(progress.history, run_dir / "training_curves.png")
    barrier(world)  # no process leaves before the run folder is complete
    return run_dir / "best.pt"
