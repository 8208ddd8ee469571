"""One typed configuration: frozen dataclasses per concern, built from defaults <- YAML <- overrides.

    config = load_config("configs/cimat.yaml", ["optim.epochs=40", "loss.objective=dice"])

Unknown sections or keys are rejected with the list of valid ones (and a "did you mean"), values
are checked against the field's type and allowed options, and the resolved config is saved as YAML
next to every run and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from dskd.data.readers import parse_layout
from dskd.data.transforms import AugmentConfig
from dskd.errors import ConfigError, DataError, valid_options

__all__ = [
    "DataConfig",
    "AugmentConfig",
    "ModelConfig",
    "LossConfig",
    "TeacherConfig",
    "OptimConfig",
    "RunConfig",
    "SyntheticConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "save_config",
    "replace",
    "resume_conflicts",
    "Objective",
    "RESUME_MAY_CHANGE",
]

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
    ddl_form: Literal["frequency", "softmax"] = "frequency"
    tau: float = 3.0  # softmax temperature (ddl_form=softmax only)
    ddl_direction: Literal["teacher_student", "student_teacher"] = "teacher_student"
    ddl_target: Literal["teacher", "label"] = "teacher"
    deep_supervision_decay: float = 0.5  # weight of side output i is decay**i (normalised)


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
    amp: bool = False  # CUDA only: autocast to run.amp_dtype
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


def _coerce(section: str, key: str, value: Any, annotation: Any) -> Any:
    """Check `value` against a field annotation; convert int -> float where a float is wanted."""
    where = f"{section}.{key}"
    if typing.get_origin(annotation) is Literal:
        options = list(typing.get_args(annotation))
        if value not in options:
            raise ConfigError(f"{where}={value!r} is not an option; {valid_options(str(value), options)}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={value!r} must be true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}={value!r} must be an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}={value!r} must be a number")
        if not math.isfinite(value):
            raise ConfigError(f"{where}={value!r} must be a finite number")
        return float(value)
    if typing.get_origin(annotation) is dict:  # loss.terms: {name: weight}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}={value!r} must be a mapping, e.g. {{dice: 1, psdl: 1}}")
        return {str(k): _coerce(section, f"{key}.{k}", v, float) for k, v in value.items()}
    if annotation is str:
        if value is None:
            return ""
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}={value!r} must be a string")
        return str(value)
    raise TypeError(f"unsupported annotation {annotation!r} for {where}")  # a bug, not user error


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from nested plain dicts (missing keys take defaults)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping of sections, got {type(raw).__name__}")
    sections = _section_types()
    for name in raw:
        if name not in sections:
            raise ConfigError(f"unknown config section '{name}'; {valid_options(name, list(sections))}")
    built = {}
    for name, cls in sections.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"config section '{name}' must be a mapping, got {values!r}")
        hints = typing.get_type_hints(cls, globalns={**vars(typing), "Objective": Objective})
        keys = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in keys:
                raise ConfigError(f"unknown config key '{name}.{key}'; {valid_options(key, keys)}")
        kwargs = {k: _coerce(name, k, v, hints[k]) for k, v in values.items()}
        built[name] = cls(**kwargs)
    config = Config(**built)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    """Cross-field checks that a single type annotation cannot express."""
    d, m, lo, o = config.data, config.model, config.loss, config.optim
    checks = [
        (m.depth >= 1, f"model.depth={m.depth} must be >= 1"),
        (m.width >= 1, f"model.width={m.width} must be >= 1"),
        (d.crop_size % (2**m.depth) == 0,
         f"data.crop_size={d.crop_size} is not divisible by 2**model.depth={2**m.depth}; "
         f"use {max(2**m.depth, d.crop_size // 2**m.depth * 2**m.depth)}"),
        (d.batch_size >= 1, f"data.batch_size={d.batch_size} must be >= 1"),
        (d.samples_per_epoch >= d.batch_size and d.samples_per_epoch % d.batch_size == 0,
         f"data.samples_per_epoch={d.samples_per_epoch} must be a multiple of data.batch_size="
         f"{d.batch_size} (every crop of an epoch is trained on); use "
         f"{max(1, round(d.samples_per_epoch / d.batch_size)) * d.batch_size}"),
        (0.0 <= d.val_fraction < 1.0, f"data.val_fraction={d.val_fraction} must be in [0, 1)"),
        (d.fold >= -1, f"data.fold={d.fold} must be a fold index (0, 1, ...) or -1 (no folds)"),
        (d.fold == -1 or d.split_file, "data.fold needs data.split_file, a file of fold_k parts "
                                       "(e.g. splits/cimat_cv5.json)"),
        (0.0 <= d.foreground_crop_prob <= 1.0, "data.foreground_crop_prob must be in [0, 1]"),
        (o.epochs >= 1, f"optim.epochs={o.epochs} must be >= 1"),
        (o.lr > 0, f"optim.lr={o.lr} must be > 0"),
        (0.0 <= lo.alpha_T <= 1.0, f"loss.alpha_T={lo.alpha_T} must be in [0, 1]"),
        (int(round(lo.ddl_patches**0.5)) ** 2 == lo.ddl_patches and lo.ddl_patches >= 1,
         f"loss.ddl_patches={lo.ddl_patches} must be a perfect square (4, 16, 64, ...)"),
        (lo.tau > 0, f"loss.tau={lo.tau} must be > 0"),
        (0.0 < config.teacher.ema_decay < 1.0, "teacher.ema_decay must be in (0, 1)"),
        (config.teacher.runs_on == "batch" or config.teacher.kind == "snapshot",
         "teacher.runs_on=whole_images needs teacher.kind=snapshot (an EMA teacher changes at "
         "every step, so maps made once per epoch would be stale)"),
        (0.0 < config.run.threshold_value < 1.0, "run.threshold_value must be in (0, 1)"),
        (d.source == "files" or config.synthetic.size >= d.crop_size,
         f"synthetic.size={config.synthetic.size} is smaller than data.crop_size={d.crop_size}"),
        (d.source == "files" or config.synthetic.val_images >= 1,
         "synthetic.val_images must be >= 1"),
        (d.source == "files" or config.teacher.runs_on == "batch",
         "teacher.runs_on=whole_images needs training images that stay; data.source=synthetic "
         "makes a new image for every crop: use teacher.runs_on=batch"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    _validate_terms(lo)
    try:
        parse_layout(d.layout)
    except DataError as error:
        raise ConfigError(f"data.layout: {error}") from None


def _validate_terms(loss: LossConfig) -> None:
    from dskd.losses.terms import TERMS

    if loss.objective == "custom" and not loss.terms:
        raise ConfigError("loss.objective=custom needs loss.terms, e.g. "
                          "--set 'loss.terms={dice: 1, psdl: 1, ddl: 1}'")
    if loss.terms and loss.objective != "custom":
        raise ConfigError(f"loss.terms is set but loss.objective={loss.objective} is a preset; set "
                          "loss.objective=custom to use the terms")
    for name, weight in loss.terms.items():
        if name not in TERMS:
            raise ConfigError(f"loss.terms: unknown term '{name}'; {valid_options(name, list(TERMS))}")
        if weight < 0:
            raise ConfigError(f"loss.terms.{name}={weight} must be >= 0")
    if loss.terms and not any(w > 0 for w in loss.terms.values()):
        raise ConfigError("loss.terms: at least one term needs a weight > 0")


def config_to_dict(config: Config) -> dict[str, dict[str, Any]]:
    return dataclasses.asdict(config)


def _parse_override(text: str) -> tuple[str, str, Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value")
    path, raw_value = text.split("=", 1)
    if path.count(".") != 1:
        raise ConfigError(f"override '{text}' must name section.key (e.g. optim.lr=3e-4)")
    section, key = path.split(".")
    return section, key, yaml.safe_load(raw_value) if raw_value != "" else ""


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as nested dicts, its `base:` file (if any) merged underneath it, and its
    relative data paths resolved against its own folder."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: config files name each other as base in a loop")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for section, key in (("data", "root"), ("data", "split_file"), ("model", "init")):
        values = raw.get(section)
        value = values.get(key) if isinstance(values, dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute():
            values[key] = str((path.parent / value).resolve())
    base_name = raw.pop("base", None)
    if base_name is None:
        return raw
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: base must be the path of another config file")
    merged = _read_yaml(path.parent / base_name, (*seen, path.resolve()))
    for section, values in raw.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults <- YAML file (<- the file it names as `base:`) <- `section.key=value` overrides,
    validated once.

    A relative `data.root`, `data.split_file` or `model.init` in a YAML file resolves against its folder,
    so a config can sit beside its data and be run from anywhere. `base: other.yaml` (relative to
    the file) makes a file a small set of changes to another: configs/cimat-fast.yaml is
    configs/cimat.yaml with a narrower network.
    """
    raw: dict[str, Any] = _read_yaml(Path(path)) if path is not None else {}
    for text in overrides or []:
        section, key, value = _parse_override(text)
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"config section '{section}' must be a mapping")
        raw.setdefault(section, {})[key] = value
    return config_from_dict(raw)


# Settings that change how fast a run goes, not what it computes: a resumed run may change them
# (more threads, another worker count, reading from disk instead of memory). Every other field
# must match the run being resumed.
RESUME_MAY_CHANGE = frozenset({"run.threads", "data.num_workers", "data.cache", "run.dist_backend",
                               "run.tensorboard"})


def resume_conflicts(stored: dict[str, Any] | None, current: Config) -> list[str]:
    """The fields (section.key) in which a stored config differs from `current`, leaving out
    RESUME_MAY_CHANGE. Fields the stored config lacks take their defaults (older checkpoints)."""
    if not isinstance(stored, dict):
        return ["the checkpoint stores no config"]
    try:
        stored_dict = config_to_dict(config_from_dict(stored))
    except ConfigError as error:
        return [f"its stored config is invalid ({error})"]
    current_dict = config_to_dict(current)
    return [f"{s}.{k}" for s in current_dict for k in current_dict[s]
            if f"{s}.{k}" not in RESUME_MAY_CHANGE and stored_dict[s][k] != current_dict[s][k]]


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def replace(config: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `config` with some fields of some sections changed, re-validated."""
    raw = config_to_dict(config)
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw)

