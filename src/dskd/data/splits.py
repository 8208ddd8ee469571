"""Train / validation / test splits: from a shipped JSON file, or carved reproducibly by seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dskd.data.cases import Case
from dskd.errors import DataError

__all__ = ["carve_validation", "read_split_file", "apply_split"]


def carve_validation(cases: list[Case], fraction: float, seed: int) -> tuple[list[Case], list[Case]]:
    """(train, val): a seeded random `fraction` of the cases (at least one) held out for validation."""
    if fraction <= 0:
        return list(cases), []
    if len(cases) < 2:
        raise DataError(f"need at least 2 cases to carve a validation split, found {len(cases)}")
    order = np.random.default_rng(seed).permutation(len(cases))
    n_val = min(len(cases) - 1, max(1, round(fraction * len(cases))))
    val_idx = set(order[:n_val].tolist())
    train = [c for i, c in enumerate(cases) if i not in val_idx]
    val = [c for i, c in enumerate(cases) if i in val_idx]
    return train, val


def read_split_file(path: str | Path) -> dict[str, list[str]]:
    """A JSON object mapping split names (train, val, test, ...) to lists of case names."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    try:
        split = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(split, dict) or not all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in split.values()
    ):
        raise DataError(f"{path}: expected an object of lists of case names")
    return split


def apply_split(cases: list[Case], split: dict[str, list[str]], part: str, *, source: str) -> list[Case]:
    """The cases named in split[part], in the file's order; error if one is missing."""
    if part not in split:
        raise DataError(f"{source}: split file has no '{part}' list (has: {', '.join(split)})")
    by_name = {c.name: c for c in cases}
    missing = [n for n in split[part] if n not in by_name]
    if missing:
        raise DataError(f"{source}: split '{part}' names case '{missing[0]}' which is not in the dataset")
    return [by_name[n] for n in split[part]]
