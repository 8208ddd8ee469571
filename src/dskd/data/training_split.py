"""The training and validation cases of a run: a split file's parts, one cross-validation fold,
or a seeded carve of the dataset."""

from __future__ import annotations

from typing import Protocol

from dskd.data.cases import Case
from dskd.data.readers import read_cases
from dskd.data.readers.common import natural_key
from dskd.data.splits import apply_split, carve_validation, fold_parts, read_split_file
from dskd.errors import ConfigError

__all__ = ["DataSource", "split_training_cases"]


class DataSource(Protocol):
    """What split_training_cases reads: a config's `data` section satisfies it."""

    root: str
    layout: str
    split_file: str
    fold: int
    val_fraction: float


def split_training_cases(data: DataSource, *, seed: int) -> tuple[list[Case], list[Case]]:
    """(train, val): with a split file, its train and val parts, or (data.fold >= 0) every fold but
    fold_<fold> and that fold; without one, a carve of data.val_fraction seeded by `seed`."""
    if not data.root:
        raise ConfigError("data.root is empty; set it in the config or with --set data.root=PATH")
    cases = read_cases(data.layout, data.root)
    if not data.split_file:
        return carve_validation(cases, data.val_fraction, seed)
    split = read_split_file(data.split_file)
    source = data.split_file
    if data.fold >= 0:
        train_parts, val_part = fold_parts(split, data.fold)
        train = [c for part in train_parts for c in apply_split(cases, split, part, source=source)]
        return (sorted(train, key=lambda c: natural_key(c.name)),
                apply_split(cases, split, val_part, source=source))
    return (apply_split(cases, split, "train", source=source),
            apply_split(cases, split, "val", source=source))
