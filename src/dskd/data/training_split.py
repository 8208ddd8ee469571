"""The training and validation cases of a run: a split file's parts, one cross-validation fold,
or a seeded carve of the dataset."""

from __future__ import annotations

import random
from typing import Protocol

from dskd.data.cases import Case
from dskd.data.readers import read_cases
from dskd.data.readers.common import natural_key
from dskd.data.splits import apply_split, carve_validation, fold_parts, read_split_file
from dskd.errors import ConfigError

__all__ = ["DataSource", "labelled_subset", "split_training_cases"]


class DataSource(Protocol):
    """What split_training_cases reads: a config's `data` section satisfies it."""

    root: str
    layout: str
    split_file: str
    fold: int
    val_fraction: float
    train_images: int


_SUBSET_SEED = 0  # one shuffle for every run: a learning curve's subsets are nested


def split_training_cases(data: DataSource, *, seed: int) -> tuple[list[Case], list[Case]]:
    """(train, val): with a split file, its train and val parts, or (data.fold >= 0) every fold but
    fold_<fold> and that fold; without one, a carve of data.val_fraction seeded by `seed`.
    data.train_images > 0 then keeps that many training cases (`labelled_subset`)."""
    train, val = _split(data, seed=seed)
    if data.train_images:
        train = labelled_subset(train, data.train_images)
    return train, val


def labelled_subset(cases: list[Case], count: int) -> list[Case]:
    """The first `count` cases of one fixed shuffle of `cases` (by name), in name order.

    The shuffle does not depend on run.seed, so every run with N labels sees the same images and
    the N of a smaller count are among them.
    """
    if count > len(cases):
        raise ConfigError(f"data.train_images={count}, but the training part has only {len(cases)} "
                          "cases")
    ordered = sorted(cases, key=lambda c: natural_key(c.name))
    order = random.Random(_SUBSET_SEED).sample(range(len(ordered)), len(ordered))
    return sorted((ordered[i] for i in order[:count]), key=lambda c: natural_key(c.name))


def _split(data: DataSource, *, seed: int) -> tuple[list[Case], list[Case]]:
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
