"""Training: `fit` reads top to bottom; one epoch of optimisation is `train_one_epoch`.

A run folder holds config.yaml (the resolved config), log.csv (one row per epoch), best.pt (best
validation Dice), last.pt (everything needed to resume) and training_curves.png.

The same code trains in one process or in several started by torchrun (docs/training.md): each
process then owns one share of every batch (`data.batch_size` is the global batch), the student is
wrapped in DistributedDataParallel, validation images are scored in shards whose counts are summed,
and only rank 0 writes the run folder.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from dskd.checkpoint import load_checkpoint, save_checkpoint
from dskd.config import (
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    config_to_dict,
    save_config,
)
from dskd.data.cases import Case, CaseArrays
from dskd.data.datasets import EpochSampler, TrainCrops, load_cases
from dskd.data.readers import read_cases
from dskd.data.readers.common import natural_key
from dskd.data.splits import apply_split, carve_validation, fold_parts, read_split_file
from dskd.errors import CheckpointError, ConfigError, DataError
from dskd.evaluation.evaluate import choose_threshold, predict_cases, score_predictions
from dskd.inference import predict_probabilities
from dskd.losses.objective import (
    compute_objective,
    needs_teacher,
    student_reads_side_outputs,
    teacher_reads_side_outputs,
)
from dskd.losses.self_distillation import alpha_schedule
from dskd.models.unet import build_model
from dskd.plots import plot_training_curves
from dskd.training.distributed import World, barrier, broadcast_module, reduce_sum, run_on_main
from dskd.training.frozen_copy import Teacher
from dskd.training.teacher_maps import TeacherMaps

__all__ = ["fit", "train_one_epoch", "split_training_cases", "lr_factor", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(name: str, world: World | None = None) -> torch.device:
    """The training device; under torchrun on GPUs, GPU `local_rank` of this node."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device=cuda but no CUDA device is available; use run.device=cpu")
    if name == "cuda" and world is not None and world.distributed:
        return torch.device("cuda", world.local_rank)
    return torch.device(name)


def split_training_cases(config: Config) -> tuple[list[Case], list[Case]]:
    """(train, val) cases: from data.split_file when given, else a seeded carve of the dataset."""
    data = config.data
    if not data.root:
        raise ConfigError("data.root is empty; set it in the config or with --set data.root=PATH")
    cases = read_cases(data.layout, data.root)
    if data.split_file and data.fold >= 0:
        split = read_split_file(data.split_file)
        train_parts, val_part = fold_parts(split, data.fold)
        train = [c for part in train_parts for c in apply_split(cases, split, part,
                                                                 source=data.split_file)]
        return (sorted(train, key=lambda c: natural_key(c.name)),
                apply_split(cases, split, val_part, source=data.split_file))
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


def _check_world(config: Config, device: torch.device, world: World) -> None:
    """Settings that depend on the number of processes, checked before any process waits."""
    batch = config.data.batch_size
    if batch % world.size:
        raise ConfigError(f"data.batch_size={batch} (the global batch) is not divisible by the "
                          f"{world.size} processes; use a multiple of {world.size}")
    if config.run.sync_batchnorm and world.distributed and device.type != "cuda":
        raise ConfigError("run.sync_batchnorm=true needs GPUs (PyTorch's SyncBatchNorm is "
                          "CUDA-only); set run.sync_batchnorm=false on CPU")


def _autocast_dtype(run: RunConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of run.amp on CUDA; None (full float32) otherwise."""
    if not run.amp:
        return None
    if device.type != "cuda":
        log.warning("run.amp is ignored on %s: mixed precision is used on CUDA devices only",
                    device.type)
        return None
    return torch.float16 if run.amp_dtype == "float16" else torch.bfloat16


def _grad_scaler() -> torch.amp.GradScaler:
    """Loss scaling for float16 autocast (bfloat16 needs none: it has float32's exponent range)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # torch < 2.3


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
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    world: World | None = None,
    teacher_maps: TeacherMaps | None = None,
    description: str = "train",
) -> dict[str, float]:
    """One pass over the loader. Returns the mean of every loss term over the batches (and over
    the processes, under torchrun).

    amp_dtype: autocast dtype (None: float32); scaler: a GradScaler for float16. Side outputs that
    the objective does not read this epoch are not computed, by the student or the teacher.
    teacher_maps: the teacher's outputs on the whole training images (teacher.runs_on=
    whole_images); the loader then yields each crop's placement too, and the teacher's outputs
    for a batch are cut from the maps instead of being computed on it.
    """
    world = world or World()
    model.train()
    sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=device))
    batches = 0
    autocast = (torch.autocast(device_type=device.type, dtype=amp_dtype) if amp_dtype is not None
                else nullcontext())
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    teacher_ready = teacher_maps is not None or (teacher is not None and teacher.ready)
    student_sides = student_reads_side_outputs(loss_config, teacher_ready=teacher_ready)
    teacher_sides = teacher_reads_side_outputs(loss_config)
    progress = tqdm(loader, desc=description, unit="batch", leave=False,
                    disable=None if world.is_main else True)
    for images, masks, *placements in progress:
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        masks = masks.to(device, non_blocking=True)
        with autocast:
            if teacher_maps is not None:
                teacher_out = teacher_maps.crops(placements[0], images.shape[-1])
            else:
                teacher_out = (teacher(images, with_side_outputs=teacher_sides)
                               if teacher is not None else None)
            student_out = model(images, with_side_outputs=student_sides)
            terms = compute_objective(student_out, teacher_out, masks, config=loss_config,
                                      alpha_t=alpha_t)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(terms.total).backward()
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        else:
            terms.total.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if teacher is not None:
            teacher.update(model)
        sums["loss"] += terms.total.detach()
        for name, value in terms.parts.items():
            sums[name] += value
        batches += 1
    # One all-reduce for all the terms and the batch count (a no-op in a single process).
    names = list(sums)
    packed = torch.stack([*(sums[n].float() for n in names),
                          torch.tensor(float(batches), device=device)])
    packed = reduce_sum(packed, world)
    total_batches = max(float(packed[-1]), 1.0)
    return {name: float(packed[i]) / total_batches for i, name in enumerate(names)}


def _train_loader(crops: TrainCrops, data: DataConfig, device: torch.device,
                  world: World) -> tuple[EpochSampler, DataLoader]:
    """Batches of crops, and the sampler whose set_epoch starts each epoch. Under torchrun each
    process gets every world.size-th crop.

    Crop i of an epoch is the same random draw whatever process reads it, and the sampler deals
    indices round-robin, so the processes' shares of batch k together are exactly the single
    process's batch k: N processes train on the same global batches as one.
    """
    indices = (DistributedSampler(crops, num_replicas=world.size, rank=world.rank, shuffle=False,
                                  drop_last=True) if world.distributed else range(len(crops)))
    sampler = EpochSampler(indices)
    loader = DataLoader(crops, batch_size=data.batch_size // world.size, sampler=sampler,
                        drop_last=True, num_workers=data.num_workers,
                        persistent_workers=data.num_workers > 0, pin_memory=device.type == "cuda")
    return sampler, loader


def _training_data(config: Config, device: torch.device, world: World
                   ) -> tuple[EpochSampler, DataLoader, Sequence[CaseArrays]]:
    """The training crops' sampler and loader, and the whole validation images (in memory, or
    read from disk when needed: data.cache)."""
    train_cases, val_cases = split_training_cases(config)
    if any(c.mask is None for c in val_cases):
        raise DataError("validation cases need masks")
    crops = TrainCrops(load_cases(train_cases, cache=config.data.cache),
                       crop_size=config.data.crop_size,
                       samples_per_epoch=config.data.samples_per_epoch,
                       foreground_prob=config.data.foreground_crop_prob, augment=config.augment,
                       seed=config.run.seed,
                       with_placement=config.teacher.runs_on == "whole_images")
    log.info("training on %d images, validating on %d, %d crops of %d px per epoch, %d process(es)",
             len(train_cases), len(val_cases), config.data.samples_per_epoch,
             config.data.crop_size, world.size)
    return (*_train_loader(crops, config.data, device, world),
            load_cases(val_cases, cache=config.data.cache))


def _validation_dice(model: nn.Module, cases: Sequence[CaseArrays], device: torch.device,
                     world: World) -> float:
    """Per-image mean Dice at threshold 0.5. Each process scores every world.size-th image; the
    Dice sums and image counts are all-reduced, so every process gets the mean over all images."""
    if not len(cases):
        return float("nan")
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64)  # sum of Dice, number of images
    for index in range(world.rank, len(cases), world.size):
        case = cases[index]  # read from disk here when the data is not cached
        rows, _ = score_predictions([case], [predict_probabilities(model, case.image, device)],
                                    threshold=0.5)
        totals += torch.tensor([rows[0]["dice"], 1.0], dtype=torch.float64)
    totals = reduce_sum(totals.to(device), world).cpu()
    return float(totals[0] / totals[1])


def _write_log(history: list[dict], path: Path) -> None:
    fields = list(dict.fromkeys(k for row in history for k in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def _open_run_dir(run_dir: Path, config: Config, resume: bool) -> dict | None:
    """Check the run folder and write config.yaml; returns last.pt's contents when resuming.

    Rank 0 alone calls this (run_on_main), so it alone touches the run folder.
    """
    if (run_dir / "last.pt").exists() and not resume:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, or "
                          "choose another --out")
    if resume and not (run_dir / "last.pt").exists():
        raise CheckpointError(f"{run_dir / 'last.pt'}: nothing to resume")
    state = None
    if resume:
        state = load_checkpoint(run_dir / "last.pt")
        stored, current = state["config"], config_to_dict(config)
        if stored != current:
            changed = [f"{s}.{k}" for s in current for k in current[s]
                       if stored.get(s, {}).get(k) != current[s][k]]
            raise CheckpointError(f"{run_dir / 'last.pt'}: config differs from the run being "
                                  f"resumed ({', '.join(changed)})")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    return state


def _restore(state: dict, student: nn.Module, optimizer: torch.optim.Optimizer,
             teacher: Teacher | None,
             scaler: torch.amp.GradScaler | None) -> tuple[int, float, list[dict]]:
    """Load last.pt's contents into the objects; returns (next epoch, best val Dice, history)."""
    student.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if teacher is not None:
        teacher.load_state_dict(state["teacher"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return int(state["epoch"]), float(state["best_val_dice"]), list(state["history"])


def _build_student(config: Config, device: torch.device, world: World
                   ) -> tuple[nn.Module, Teacher | None]:
    """(the student, its teacher or None), on `device` in the configured memory layout."""
    run = config.run
    memory_format = torch.channels_last if run.channels_last else torch.contiguous_format
    student = build_model(config.model).to(device, memory_format=memory_format)
    teacher = None
    if needs_teacher(config.loss):
        teacher = Teacher(student, kind=config.teacher.kind, ema_decay=config.teacher.ema_decay)
        teacher.to(device, memory_format=memory_format)
        if run.compile:
            teacher.compile()
    if run.sync_batchnorm and world.distributed:
        student = nn.SyncBatchNorm.convert_sync_batchnorm(student)
    return student, teacher


def _training_module(student: nn.Module, run: RunConfig, device: torch.device, world: World, *,
                     all_parameters_used: bool) -> nn.Module:
    """The module the steps call: the student, in DDP under torchrun, compiled with run.compile.

    all_parameters_used=False when the objective skips the side heads in this epoch (e.g. DSKD
    before its teacher exists): DDP must then look for unused parameters, a search it is told to
    skip when every parameter gets a gradient.
    """
    model = student
    if world.distributed:
        model = nn.parallel.DistributedDataParallel(
            student, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=not all_parameters_used)
    if run.compile:
        model = torch.compile(model)
    return model


def fit(config: Config, run_dir: str | Path, *, resume: bool = False,
        world: World | None = None) -> Path:
    """Train the configured objective; returns the path of the best checkpoint.

    world: this process's place under torchrun (see dskd.training.distributed.process_group); None for a
    single process.
    """
    world = world or World()
    run_dir = Path(run_dir)
    device = resolve_device(config.run.device, world)
    _check_world(config, device, world)
    state = run_on_main(lambda: _open_run_dir(run_dir, config, resume), world)
    if config.run.threads > 0:
        torch.set_num_threads(config.run.threads)
    amp_dtype = _autocast_dtype(config.run, device)
    torch.manual_seed(config.run.seed)

    sampler, loader, val_arrays = _training_data(config, device, world)
    # Model, optimiser, teacher.
    student, teacher = _build_student(config, device, world)
    model, wrapped_for = student, None  # wrapped_for: whether the wrapper expects side outputs
    optimizer = _build_optimizer(student, config.optim)
    scaler = _grad_scaler() if amp_dtype == torch.float16 else None
    start_epoch, best_dice, history = 0, -math.inf, []
    if state is not None:
        start_epoch, best_dice, history = _restore(state, student, optimizer, teacher, scaler)
        log.info("resuming %s after epoch %d", run_dir, start_epoch)

    epochs = config.optim.epochs
    memory_format = torch.channels_last if config.run.channels_last else torch.contiguous_format
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        lr = config.optim.lr * lr_factor(epoch, config.optim)
        for group in optimizer.param_groups:
            group["lr"] = lr
        alpha_t = alpha_schedule(epoch, epochs, config.loss.alpha_T)
        sampler.set_epoch(epoch)
        reads_sides = student_reads_side_outputs(
            config.loss, teacher_ready=teacher is not None and teacher.ready)
        if reads_sides != wrapped_for:  # at start, and when the teacher first teaches
            model = student  # drops the old DDP wrapper and its gradient hooks first
            model = _training_module(student, config.run, device, world,
                                     all_parameters_used=reads_sides)
            wrapped_for = reads_sides
        teacher_maps = None
        if teacher is not None and teacher.ready and config.teacher.runs_on == "whole_images":
            teacher_maps = TeacherMaps.compute(
                teacher, loader.dataset.cases, size_multiple=student.size_multiple,
                with_side_outputs=teacher_reads_side_outputs(config.loss), device=device,
                memory_format=memory_format, amp_dtype=amp_dtype, show_progress=world.is_main)
        losses = train_one_epoch(model, teacher, loader, optimizer, loss_config=config.loss,
                                 alpha_t=alpha_t, device=device, grad_clip=config.optim.grad_clip,
                                 amp_dtype=amp_dtype, scaler=scaler,
                                 channels_last=config.run.channels_last, world=world,
                                 teacher_maps=teacher_maps,
                                 description=f"epoch {epoch + 1}/{epochs}")
        # Every process takes rank 0's BatchNorm statistics (each updated its own from its share
        # of the batches), so the teacher snapshot, validation and checkpoint agree everywhere.
        broadcast_module(student, world)
        if teacher is not None:
            broadcast_module(teacher.model, world)
            teacher.refresh(student)  # the teacher of epoch t + 1 is the student of epoch t
        val_dice = _validation_dice(student, val_arrays, device, world)
        record = {"epoch": epoch + 1, "lr": lr, "alpha_t": alpha_t, **losses, "val_dice": val_dice,
                  "seconds": round(time.perf_counter() - started, 2)}
        history.append(record)
        log.info("epoch %d/%d  loss %.4f  val Dice %.4f  (%.1fs)", epoch + 1, epochs,
                 losses.get("loss", float("nan")), val_dice, record["seconds"])
        improved = not len(val_arrays) or val_dice > best_dice
        if improved and len(val_arrays):
            best_dice = val_dice
        if world.is_main:
            _save_epoch(run_dir, config, student, optimizer, teacher, scaler, history,
                        best_dice=best_dice, improved=improved)

    if world.is_main:
        if config.run.threshold == "validation" and len(val_arrays):
            _store_validation_threshold(run_dir / "best.pt", config.model, val_arrays, device)
        plot_training_curves(history, run_dir / "training_curves.png")
    barrier(world)  # no process leaves before the run folder is complete
    return run_dir / "best.pt"


def _save_epoch(run_dir: Path, config: Config, student: nn.Module,
                optimizer: torch.optim.Optimizer, teacher: Teacher | None,
                scaler: torch.amp.GradScaler | None, history: list[dict], *, best_dice: float,
                improved: bool) -> None:
    """log.csv, last.pt (everything to resume), and best.pt when validation Dice improved."""
    _write_log(history, run_dir / "log.csv")
    # Stored in the default (row-major) layout whatever the training layout.
    weights = {k: v.detach().clone(memory_format=torch.contiguous_format)
               for k, v in student.state_dict().items()}
    common = {"config": config_to_dict(config), "model": weights, "epoch": history[-1]["epoch"],
              "threshold": config.run.threshold_value, "val_dice": history[-1]["val_dice"]}
    if improved:
        save_checkpoint(common, run_dir / "best.pt")
    save_checkpoint({**common, "optimizer": optimizer.state_dict(), "best_val_dice": best_dice,
                     "teacher": teacher.state_dict() if teacher is not None else None,
                     "scaler": scaler.state_dict() if scaler is not None else None,
                     "history": history}, run_dir / "last.pt")


def _store_validation_threshold(best_path: Path, model_config: ModelConfig,
                                val_cases: Sequence[CaseArrays], device: torch.device) -> None:
    """Choose the threshold on the validation images with the best weights; store it in best.pt.

    Holds every validation probability map in memory (choose_threshold scores them at 19
    thresholds), even when the images themselves are read from disk.
    """
    best = load_checkpoint(best_path)
    model = build_model(model_config).to(device)
    model.load_state_dict(best["model"])
    threshold = choose_threshold(val_cases, predict_cases(model, val_cases, device))
    save_checkpoint({**best, "threshold": threshold}, best_path)
