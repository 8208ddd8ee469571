"""The run folder of each cell: its expected config, whether it is done, and how to continue it.

An experiment grows over several machines, so two configs are the same run when they agree after
`normalise_config`: data.root and data.split_file reduced to their file or folder names, and
run.threads left out (it changes speed, not results). A run is finished when its last.pt holds the
final epoch and its config, read back through the current code (new options take their
defaults), equals the grid's config for that cell, and fit wrote its last file
(training_curves.png, after best.pt got its threshold).
"""

from __future__ import annotations

import copy
import filecmp
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dskd.ablate.grid import Cell, Grid, GridError
from dskd.checkpoint import load_checkpoint
from dskd.config import Config, config_from_dict, config_to_dict, load_config
from dskd.errors import DskdError

__all__ = ["RunState", "normalise_config", "config_hash", "resolve_cell", "run_dir", "inspect_run",
           "resume_overrides"]

_MACHINE_PATHS = ("root", "split_file")  # data.* paths that differ between machines
_NOT_RESULTS = (("run", "threads"),)  # settings that change speed only


def normalise_config(config: Config | dict) -> dict[str, dict[str, Any]]:
    """The config as nested dicts without what differs between machines of one experiment."""
    raw = copy.deepcopy(config_to_dict(config) if isinstance(config, Config) else config)
    for key in _MACHINE_PATHS:
        value = raw.get("data", {}).get(key)
        if value:
            raw["data"][key] = Path(value).name
    for section, key in _NOT_RESULTS:
        raw.get(section, {}).pop(key, None)
    return raw


def config_hash(config: Config) -> str:
    """16 hex digits of SHA-256 over the normalised settings that differ from the defaults.

    Only the non-default settings count, so a new option added with a default leaves the hash
    of earlier runs (and of their committed result files) unchanged.
    """
    ours, defaults = normalise_config(config), normalise_config(Config())
    changed = {f"{s}.{k}": v for s, values in ours.items() for k, v in values.items()
               if defaults.get(s, {}).get(k) != v}
    return hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]


def resolve_cell(grid: Grid, cell: Cell, *, threads: int | None = None) -> Config:
    """The cell's config: the grid's base config with the cell's overrides (and run.threads when
    given), as `dskd train` will resolve it; one-line errors naming the variant."""
    extra = [f"run.threads={threads}"] if threads is not None else []
    try:
        return load_config(grid.base, [*cell.overrides, *extra])
    except DskdError as error:
        raise GridError(f"{grid.path}: variant {cell.variant.name}: {error}") from None


def run_dir(out: str | Path, cell: Cell) -> Path:
    """<out>/runs/<variant>/fold<k>-seed<s>"""
    return Path(out) / "runs" / cell.variant.name / cell.key


Status = Literal["new", "interrupted", "finished", "conflict"]


@dataclass(frozen=True)
class RunState:
    status: Status
    epoch: int  # epochs completed (0 for a new run)
    stored: dict | None  # last.pt's config as stored, None for a new run
    detail: str = ""  # why it conflicts


def _differences(a: dict, b: dict) -> list[str]:
    return [f"{s}.{k}" for s in sorted(set(a) | set(b)) for k in sorted(set(a.get(s, {})) | set(b.get(s, {})))
            if a.get(s, {}).get(k) != b.get(s, {}).get(k)]


def inspect_run(folder: Path, expected: Config) -> RunState:
    """What the run folder holds compared with the config it should have been trained with."""
    last = folder / "last.pt"
    if not last.is_file():
        return RunState("new", 0, None)
    try:
        state = load_checkpoint(last)
        stored = state["config"]
        reread = config_from_dict(stored)  # today's defaults for options the run did not know
    except (DskdError, KeyError) as error:
        return RunState("conflict", 0, None, f"{last}: cannot be read as a run of this grid ({error})")
    changed = _differences(normalise_config(reread), normalise_config(expected))
    epoch = int(state.get("epoch", 0))
    if changed:
        shown = ", ".join(changed[:4]) + (", ..." if len(changed) > 4 else "")
        return RunState("conflict", epoch, stored, f"{folder} was trained with another config ({shown}); "
                        "move it away, or change the grid back")
    # training_curves.png is fit's last write, after best.pt got its validation threshold: a run
    # stopped between its final epoch and that point is resumed (no epoch left, the rest done).
    done = epoch >= expected.optim.epochs and (folder / "training_curves.png").is_file()
    return RunState("finished" if done else "interrupted", epoch, stored)


def resume_overrides(stored: dict, expected: Config) -> list[str]:
    """`--set` overrides that make `dskd train --resume` accept a run started on another machine
    or with other threads: the stored data paths (where they exist here with the same content)
    and the stored run.threads."""
    extra = []
    for key in _MACHINE_PATHS:
        was, now = stored.get("data", {}).get(key, ""), getattr(expected.data, key)
        if was == now or not was:
            continue
        same = Path(was).exists() and (Path(was).is_dir() or filecmp.cmp(was, now, shallow=False))
        if not same:
            raise GridError(f"cannot resume: the run read data.{key}={was}, which is not here (or "
                            f"differs from {now}); copy it there, or train the run again")
        extra.append(f"data.{key}={was}")
    threads = stored.get("run", {}).get("threads")
    if threads is not None and threads != expected.run.threads:
        extra.append(f"run.threads={threads}")
    return extra
