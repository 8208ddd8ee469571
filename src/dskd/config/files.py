"""Configs in files: YAML (with `base:`) <- `section.key=value` overrides; saving; resuming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dskd.config.sections import Config
from dskd.config.validate import config_from_dict, config_to_dict
from dskd.errors import ConfigError

__all__ = ["RESUME_MAY_CHANGE", "load_config", "replace", "resume_conflicts", "save_config"]


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
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a YAML config is UTF-8 text)") from None
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
    try:
        return config_from_dict(raw)
    except ConfigError as error:
        if path is None:
            raise
        where = f"{path}" + (" (with the --set overrides)" if overrides else "")
        raise ConfigError(f"{where}: {error}") from None


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
