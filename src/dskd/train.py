"""Training: `fit` reads top to bottom; one epoch of optimisation is `train_one_epoch`.

A run folder holds config.yaml (the resolved config), log.csv (one row per epoch), best.pt (best
validation Dice), last.pt (everything needed to resume) and training_curves.png.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from dskd.checkpoint import load_checkpoint, save_checkpoint
from dskd.config import Config, LossConfig, ModelConfig, OptimConfig, config_to_dict, save_config
from dskd.data.cases import Case, CaseArrays, load_case
from dskd.data.datasets import TrainCrops
from dskd.data.readers import read_cases
from dskd.data.splits import apply_split, carve_validation, read_split_file
from dskd.distributed import unwrap
from dskd.errors import CheckpointError, ConfigError, DataError
from dskd.evaluate import choose_threshold, predict_cases, score_predictions
from dskd.losses.objective import compute_objective, needs_teacher
from dskd.losses.self_distillation import alpha_schedule
from dskd.models.unet import build_model
from dskd.plots import plot_training_curves
from dskd.teacher import Teacher

__all__ = ["fit", "train_one_epoch", "split_training_cases", "lr_factor", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device=cuda but no CUDA device is available; use run.device=cpu")
    return torch.device(name)


def split_training_cases(config: Config) -> tuple[list[Case], list[Case]]:
    """(train, val) cases: from data.split_file when given, else a seeded carve of the dataset."""
    data = config.data
    if not data.root:
        raise ConfigError("data.root is empty; set it in the config or with --set data.root=PATH")
    cases = read_cases(data.layout, data.root)
    if data.split_file:
        split = read_split_file(data.split_file)
        return (apply_split(cases, split, "train", source=data.split_file),
                apply_split(cases, split, "val", source=data.split_file))
    return carve_validation(cases, data.val_fraction, config.run.seed)


def lr_factor(epoch: int, optim: OptimConfig) -> float:
    """Multiplier of the base learning rate during zero-based `epoch`."""
    if optim.schedule == "step":
        return optim.gamma ** (epoch // optim.step_size)
    if optim.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / optim.epochs))
    if optim.schedule == "linear":
        return 1 - epoch / optim.epochs
    return 1.0


def _build_optimizer(model: nn.Module, optim: OptimConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if optim.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    if optim.optimizer == "adam":
        return torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(params, lr=optim.lr, momentum=0.9, weight_decay=optim.weight_decay)


def train_one_epoch(
    model: nn.Module,
    teacher: Teacher | None,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    loss_config: LossConfig,
    alpha_t: float,
    device: torch.device,
    grad_clip: float = 0.0,
    amp: bool = False,
    description: str = "train",
) -> dict[str, float]:
    """One pass over the loader. Returns the mean of every loss term over the batches."""
    model.train()
    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=device))
    batches = 0
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16)
                if amp and device.type == "cuda" else nullcontext())
    for images, masks in tqdm(loader, desc=description, unit="batch", leave=False, disable=None):
        images = images.to(device, non_blocking=True)
        masks = masks.to(device, non_blocking=True)
        with autocast:
            teacher_out = teacher(images) if teacher is not None else None
            student_out = model(images)
            terms = compute_objective(student_out, teacher_out, masks, config=loss_config,
                                      alpha_t=alpha_t)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if teacher is not None:
            teacher.update(model)
        sums["loss"] += terms.total.detach()
        for name, value in terms.parts.items():
            sums[name] += value
        batches += 1
    return {name: float(total) / max(batches, 1) for name, total in sums.items()}


def _validation_dice(model: nn.Module, cases: list[CaseArrays], device: torch.device) -> float:
    if not cases:
        return float("nan")
    rows, _ = score_predictions(cases, predict_cases(model, cases, device), threshold=0.5)
    return float(np.mean([r["dice"] for r in rows]))


def _write_log(history: list[dict], path: Path) -> None:
    fields = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def _restore(run_dir: Path, config: Config, model: nn.Module, optimizer: torch.optim.Optimizer,
             teacher: Teacher | None) -> tuple[int, float, list[dict]]:
    """Load last.pt into the objects; returns (next epoch, best validation Dice, history)."""
    state = load_checkpoint(run_dir / "last.pt")
    stored = state["config"]
    current = config_to_dict(config)
    if stored != current:
        changed = [f"{s}.{k}" for s in current for k in current[s]
                   if stored.get(s, {}).get(k) != current[s][k]]
        raise CheckpointError(
            f"{run_dir / 'last.pt'}: config differs from the run being resumed ({', '.join(changed)})"
        )
    unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if teacher is not None:
        teacher.load_state_dict(state["teacher"])
    return int(state["epoch"]), float(state["best_val_dice"]), list(state["history"])


def fit(config: Config, run_dir: str | Path, *, resume: bool = False) -> Path:
    """Train the configured objective; returns the path of the best checkpoint."""
    run_dir = Path(run_dir)
    if (run_dir / "last.pt").exists() and not resume:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or "
                          "choose another --out")
    if resume and not (run_dir / "last.pt").exists():
        raise CheckpointError(f"{run_dir / 'last.pt'}: nothing to resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    if config.run.threads > 0:
        torch.set_num_threads(config.run.threads)
    device = resolve_device(config.run.device)
    torch.manual_seed(config.run.seed)

    # Data: labelled training crops, whole validation images.
    train_cases, val_cases = split_training_cases(config)
    train_arrays = [load_case(c) for c in train_cases]
    val_arrays = [load_case(c) for c in val_cases]
    if any(c.mask is None for c in val_arrays):
        raise DataError("validation cases need masks")
    crops = TrainCrops(train_arrays, crop_size=config.data.crop_size,
                       samples_per_epoch=config.data.samples_per_epoch,
                       foreground_prob=config.data.foreground_crop_prob, augment=config.augment,
                       seed=config.run.seed)
    loader = DataLoader(crops, batch_size=config.data.batch_size, shuffle=False, drop_last=True,
                        num_workers=config.data.num_workers, pin_memory=device.type == "cuda")
    log.info("training on %d images, validating on %d, %d crops of %d px per epoch",
             len(train_arrays), len(val_arrays), config.data.samples_per_epoch, config.data.crop_size)

    # Model, optimiser, teacher.
    model = build_model(config.model).to(device)
    optimizer = _build_optimizer(model, config.optim)
    teacher = (Teacher(model, kind=config.teacher.kind, ema_decay=config.teacher.ema_decay).to(device)
               if needs_teacher(config.loss) else None)
    if config.run.compile:
        model = torch.compile(model)
    start_epoch, best_dice, history = 0, -math.inf, []
    if resume:
        start_epoch, best_dice, history = _restore(run_dir, config, model, optimizer, teacher)
        log.info("resuming %s after epoch %d", run_dir, start_epoch)

    epochs = config.optim.epochs
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        lr = config.optim.lr * lr_factor(epoch, config.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        alpha_t = alpha_schedule(epoch, epochs, config.loss.alpha_T)
        crops.set_epoch(epoch)
        losses = train_one_epoch(model, teacher, loader, optimizer, loss_config=config.loss,
                                 alpha_t=alpha_t, device=device, grad_clip=config.optim.grad_clip,
                                 amp=config.run.amp, description=f"epoch {epoch + 1}/{epochs}")
        if teacher is not None:
            teacher.refresh(model)  # the teacher of epoch t + 1 is the student of epoch t
        val_dice = _validation_dice(model, val_arrays, device)
        record = {"epoch": epoch + 1, "lr": lr, "alpha_t": alpha_t, **losses, "val_dice": val_dice,
                  "seconds": round(time.perf_counter() - started, 2)}
        history.append(record)
        _write_log(history, run_dir / "log.csv")
        log.info("epoch %d/%d  loss %.4f  val Dice %.4f  (%.1fs)", epoch + 1, epochs,
                 losses.get("loss", float("nan")), val_dice, record["seconds"])

        weights = {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()}
        common = {"config": config_to_dict(config), "model": weights, "epoch": epoch + 1,
                  "threshold": config.run.threshold_value, "val_dice": val_dice}
        improved = not val_arrays or val_dice > best_dice
        if improved:
            best_dice = val_dice if val_arrays else best_dice
            save_checkpoint(common, run_dir / "best.pt")
        save_checkpoint({**common, "optimizer": optimizer.state_dict(), "best_val_dice": best_dice,
                         "teacher": teacher.state_dict() if teacher is not None else None,
                         "history": history}, run_dir / "last.pt")

    if config.run.threshold == "validation" and val_arrays:
        _store_validation_threshold(run_dir / "best.pt", config.model, val_arrays, device)
    plot_training_curves(history, run_dir / "training_curves.png")
    return run_dir / "best.pt"


def _store_validation_threshold(best_path: Path, model_config: ModelConfig,
                                val_cases: list[CaseArrays], device: torch.device) -> None:
    """Choose the threshold on the validation images with the best weights; store it in best.pt."""
    best = load_checkpoint(best_path)
    model = build_model(model_config).to(device)
    model.load_state_dict(best["model"])
    threshold = choose_threshold(val_cases, predict_cases(model, val_cases, device))
    save_checkpoint({**best, "threshold": threshold}, best_path)
