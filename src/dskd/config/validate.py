"""A config from nested plain dicts: types checked field by field, then the cross-field rules."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal

from dskd.config.sections import Config, LossConfig, Objective
from dskd.data.readers import parse_layout
from dskd.errors import ConfigError, DataError, valid_options

__all__ = ["config_from_dict", "config_to_dict"]


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
        (1 <= m.input_scale <= 4, f"model.input_scale={m.input_scale} must be 1, 2, 3 or 4"),
        (m.input_scale == 1 or d.source != "synthetic",
         "model.input_scale > 1 trains on upscaled dataset images; data.source=synthetic draws "
         "its own, so set synthetic.size instead"),
        (d.crop_size % (2**m.depth) == 0,
         f"data.crop_size={d.crop_size} is not divisible by 2**model.depth={2**m.depth}; "
         f"use {max(2**m.depth, d.crop_size // 2**m.depth * 2**m.depth)}"),
        (d.batch_size >= 1, f"data.batch_size={d.batch_size} must be >= 1"),
        (d.samples_per_epoch >= d.batch_size and d.samples_per_epoch % d.batch_size == 0,
         f"data.samples_per_epoch={d.samples_per_epoch} must be a multiple of data.batch_size="
         f"{d.batch_size} (every crop of an epoch is trained on); use "
         f"{max(1, round(d.samples_per_epoch / d.batch_size)) * d.batch_size}"),
        (0.0 <= d.val_fraction < 1.0, f"data.val_fraction={d.val_fraction} must be in [0, 1)"),
        (d.train_images >= 0, f"data.train_images={d.train_images} must be >= 0 (0: all)"),
        (d.fold >= -1, f"data.fold={d.fold} must be a fold index (0, 1, ...) or -1 (no folds)"),
        (d.fold == -1 or d.split_file, "data.fold needs data.split_file, a file of fold_k parts "
                                       "(e.g. splits/cimat_cv5.json)"),
        (0.0 <= d.foreground_crop_prob <= 1.0, "data.foreground_crop_prob must be in [0, 1]"),
        (o.epochs >= 1, f"optim.epochs={o.epochs} must be >= 1"),
        (o.lr > 0, f"optim.lr={o.lr} must be > 0"),
        (0.0 <= lo.alpha_T <= 1.0, f"loss.alpha_T={lo.alpha_T} must be in [0, 1]"),
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
    from dskd.losses.terms import TERMS, TermOptionError, build_term

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
    # Every term's options, whether or not this objective uses the term: the terms say what they
    # accept (dskd.losses.terms), a bad value is reported here by its config key.
    for name, term in TERMS.items():
        try:
            build_term(name, loss)
        except TermOptionError as error:
            key = term.OPTIONS[error.option]
            raise ConfigError(f"loss.{key}={getattr(loss, key)} {error}") from None


def config_to_dict(config: Config) -> dict[str, dict[str, Any]]:
    return dataclasses.asdict(config)
