"""The sections of a config: one frozen dataclass per concern, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dskd.data.transforms import AugmentConfig

__all__ = ["AugmentConfig", "Config", "DataConfig", "LossConfig", "ModelConfig", "Objective",
           "OptimConfig", "RunConfig", "SyntheticConfig", "TeacherConfig"]

Objective = Literal["dice", "deep_supervision", "pskd", "ddl", "dskd", "custom"]


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how training crops are drawn."""

    root: str = ""  # dataset folder; relative paths resolve against the config file's folder
    layout: str = "folder"  # a reader name from dskd.data.readers.READERS
    split_file: str = ""  # JSON with train/val(/test) case names; empty: carve val from train
    val_fraction: float = 0.2  # used only without a split file
    # Cross-validation: with a split file of parts fold_0, fold_1, ... (splits/*_cv*.json), train
    # on every fold but fold_<fold> and validate on it; -1: the file's train and val parts.
    fold: int = -1
    # Learning curves: train on only this many of the training cases (0: all), the first N of
    # one fixed shuffle, so the 4 images of a run are among the 8 of another (labelled_subset).
    train_images: int = 0
    crop_size: int = 128
    batch_size: int = 8
    samples_per_epoch: int = 400  # random crops drawn per epoch
    foreground_crop_prob: float = 0.5  # share of crops centred on a vessel pixel
    num_workers: int = 0
    # false: images stay on disk and data-loader workers read each one when a crop needs it, so
    # memory does not grow with the dataset (docs/training.md); true keeps them all in memory.
    cache: bool = True
    # files: the images of data.root; synthetic: angiograms generated on the fly (the `synthetic`
    # section, `dskd pretrain`, docs/synthetic.md), every crop from a new image.
    source: Literal["files", "synthetic"] = "files"


@dataclass(frozen=True)
class ModelConfig:
    """U-Net with one side output per decoder stage (METHOD.md, Network)."""

    depth: int = 4  # number of poolings = number of decoder stages = number of side outputs
    width: int = 16  # channels of the first encoder stage; doubled at each level
    in_channels: int = 1
    # The network sees images upscaled this many times (1-4): vessels of 1-2 px become 2s-4s px
    # wide. It trains on upscaled crops and predicts on an upscaled frame averaged back, so masks
    # and scores keep the image's size; inference costs s**2 times more (dskd.data.resolution).
    input_scale: int = 1
    # A checkpoint whose weights start the student (e.g. a `dskd pretrain` run's best.pt), read
    # weights-only and refused unless its architecture is this one; empty: random initialisation.
    init: str = ""


@dataclass(frozen=True)
class LossConfig:
    """The objective and the DSKD loss options (METHOD.md, Losses)."""

    objective: Objective = "dskd"  # a preset (dskd.training.objective), or custom: loss.terms
    # objective=custom: {term: weight}, summed in this order, e.g. {deep_supervision: 1, psdl: 1,
    # ddl: 1}; terms: dice, bce, psdl, ddl, deep_supervision, cldice, skeleton_recall.
    terms: dict[str, float] = field(default_factory=dict)
    w_dice: float = 1.0
    w_ddl: float = 1.0
    w_psdl: float = 1.0
    alpha_T: float = 0.5  # final PSDL softening; alpha_t = alpha_T * t / T
    ddl_patches: int = 16  # n, a perfect square: the side output is cut into a sqrt(n) grid
    # frequency: [fg, bg] / s^2; softmax: softmax([fg, bg] / tau) of the soft counts;
    # softmax_fraction: softmax of the fractions / tau (dskd.losses.distribution).
    ddl_form: Literal["frequency", "softmax", "softmax_fraction"] = "frequency"
    tau: float = 3.0  # softmax temperature (the softmax forms only)
    ddl_direction: Literal["teacher_student", "student_teacher"] = "teacher_student"
    ddl_target: Literal["teacher", "label"] = "teacher"
    deep_supervision_decay: float = 0.5  # weight of side output i is decay**i (normalised)
    cldice_iterations: int = 3  # soft-skeleton iterations of the cldice term
    skeleton_tube_radius: int = 1  # skeleton_recall: the label's skeleton widened by this (px)


@dataclass(frozen=True)
class TeacherConfig:
    """The teacher is an earlier state of the student (METHOD.md, Teacher)."""

    kind: Literal["snapshot", "ema"] = "snapshot"
    ema_decay: float = 0.99  # kind=ema only, per optimisation step
    # What the teacher sees. "batch": every augmented training batch, as the student does.
    # "whole_images": each training image once per epoch, un-augmented; each crop's targets are then
    # cut from those maps with the crop's own rotation, zoom, flips and turns (kind=snapshot only;
    # cheaper when an epoch's crops cover more pixels than the training images: docs/training.md).
    runs_on: Literal["batch", "whole_images"] = "batch"


@dataclass(frozen=True)
class OptimConfig:
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 30
    schedule: Literal["step", "cosine", "linear", "constant"] = "step"
    step_size: int = 10  # schedule=step: multiply lr by gamma every step_size epochs
    gamma: float = 0.3
    grad_clip: float = 0.0  # max gradient norm; 0 disables


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    threshold: Literal["fixed", "validation"] = "fixed"
    threshold_value: float = 0.5  # threshold=fixed
    # Mixed precision: true (bf16 autocast on CPU, run.amp_dtype on CUDA), false, or auto (bf16
    # where the hardware has units for it: AVX512-BF16 / AMX CPUs, CUDA >= 8.0). docs/training.md
    amp: Literal[False, True, "auto"] = False
    compile: bool = False  # torch.compile the student and the teacher
    # Speed and scale (docs/training.md).
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"  # run.amp; float16 adds a grad scaler
    channels_last: bool = True  # NHWC activations: faster convolutions on CPUs and tensor cores
    sync_batchnorm: bool = False  # torchrun on GPUs: BatchNorm statistics of the global batch
    dist_backend: Literal["auto", "nccl", "gloo"] = "auto"  # auto: NCCL on GPUs, gloo on CPU
    # RUN/tensorboard/: loss terms, lr, validation Dice and overlays per epoch (log.csv stays).
    tensorboard: bool = False


@dataclass(frozen=True)
class SyntheticConfig:
    """The generated angiograms of data.source=synthetic (dskd.data.synthetic). Validation uses
    `val_images` images of seed run.seed + 1, which the training stream (seed run.seed) never draws."""

    realism: Literal["basic", "standard", "full"] = "standard"
    size: int = 300  # image side, px; the crops (data.crop_size) are cut from it
    val_images: int = 32


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
