"""Train / validation / test splits: from a shipped JSON file, or carved reproducibly by seed.

A split file is a JSON object of parts (train, val, test, and any others) listing cases:

    {"description": "how it was made", "train": ["1", "2"], "val": ["3"], "test": ["4"]}

Parts list case names, or (when the file names of a dataset are not known in advance, as for
XCAD) 1-based positions in the reader's natural order of case names; a file of positions states
"n_cases", the number of cases the dataset must have. "train", "val" and "test" must not share a
case; other parts (e.g. "train_full") may overlap them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.data.cases import Case
from dskd.data.io import error_reason
from dskd.errors import DataError

__all__ = [
    "Split",
    "carve_validation",
    "read_split_file",
    "parse_split",
    "apply_split",
    "fold_parts",
    "resolve_split",
    "hashed_order",
    "DISJOINT_PARTS",
]

DISJOINT_PARTS = ("train", "val", "test")
_META_KEYS = ("description", "n_cases")


@dataclass(frozen=True)
class Split:
    """Parts of a split file: lists of case names (str) or of 1-based positions (int)."""

    parts: dict[str, list[str] | list[int]]
    n_cases: int | None = None  # required when parts hold positions
    description: str = ""
    source: str = ""

    def __contains__(self, part: str) -> bool:
        return part in self.parts

    def __getitem__(self, part: str) -> list[str] | list[int]:
        return self.parts[part]


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


def hashed_order(items: list[str], seed: int | str) -> list[str]:
    """`items` ordered by SHA-256 of "<seed>:<item>": a shuffle that any language reproduces and no
    library upgrade changes (the shipped split files were chosen with it)."""
    return sorted(items, key=lambda item: hashlib.sha256(f"{seed}:{item}".encode()).hexdigest())


def _check_part(name: str, values: object, source: str) -> list[str] | list[int]:
    if not isinstance(values, list):
        raise DataError(f"{source}: part '{name}' must be a list of case names or positions")
    if all(isinstance(v, str) for v in values):
        kind = "name"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        kind = "position"
    else:
        raise DataError(f"{source}: part '{name}' mixes case names and positions; use one kind")
    seen = set()
    for value in values:
        if value in seen:
            raise DataError(f"{source}: part '{name}' lists {kind} {value!r} twice")
        seen.add(value)
    return values


def parse_split(raw: object, source: str) -> Split:
    """A Split from the decoded JSON of a split file, validated (see the module docstring)."""
    if not isinstance(raw, dict):
        raise DataError(f"{source}: expected an object of lists of case names")
    parts = {k: _check_part(k, v, source) for k, v in raw.items() if k not in _META_KEYS}
    if not parts:
        raise DataError(f"{source}: no parts (expected e.g. \"train\", \"val\", \"test\" lists)")
    n_cases = raw.get("n_cases")
    positional = [k for k, v in parts.items() if v and isinstance(v[0], int)]
    if positional:
        if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
            raise DataError(f"{source}: part '{positional[0]}' lists positions, so the file must "
                            "state \"n_cases\" (how many cases the dataset has)")
        for part in positional:
            bad = [p for p in parts[part] if not 1 <= p <= n_cases]
            if bad:
                raise DataError(f"{source}: part '{part}' has position {bad[0]} outside 1..{n_cases}")
    present = [p for p in DISJOINT_PARTS if p in parts]
    for i, first in enumerate(present):
        for second in present[i + 1:]:
            shared = set(parts[first]) & set(parts[second])
            if shared:
                raise DataError(f"{source}: case {sorted(shared, key=str)[0]!r} is in both "
                                f"'{first}' and '{second}'; a case belongs to one of them")
    description = raw.get("description", "")
    return Split(parts, n_cases if positional else None, str(description), source)


def read_split_file(path: str | Path) -> Split:
    """A split file (see the module docstring), validated."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    try:
        raw = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error_reason(error)})") from None
    return parse_split(raw, str(path))


def apply_split(cases: list[Case], split: Split | dict, part: str, *, source: str) -> list[Case]:
    """The cases named in split[part], in the file's order; error if one is missing.

    `cases` must be in the reader's order when the part lists positions.
    """
    if not isinstance(split, Split):
        split = parse_split(split, source)
    if part not in split.parts:
        raise DataError(f"{source}: split file has no '{part}' list (has: {', '.join(split.parts)})")
    entries = split.parts[part]
    if entries and isinstance(entries[0], int):
        if len(cases) != split.n_cases:
            raise DataError(f"{source}: split '{part}' numbers cases 1..{split.n_cases} but the "
                            f"dataset has {len(cases)}; it needs the complete dataset as shipped")
        return [cases[p - 1] for p in entries]
    by_name = {c.name: c for c in cases}
    missing = [n for n in entries if n not in by_name]
    if missing:
        raise DataError(f"{source}: split '{part}' names case '{missing[0]}' which is not in the "
                        "dataset (check data.root and data.layout)")
    return [by_name[n] for n in entries]


def resolve_split(cases: list[Case], split: Split) -> dict[str, list[str]]:
    """Every part as case names (positions resolved against `cases`)."""
    return {part: [c.name for c in apply_split(cases, split, part, source=split.source)]
            for part in split.parts}


def fold_parts(split: Split, fold: int) -> tuple[list[str], str]:
    """(the fold_* parts to train on, the part to validate on) for cross-validation fold `fold`."""
    folds = sorted((p for p in split.parts if p.startswith("fold_")), key=lambda p: int(p[5:]))
    if not folds:
        raise DataError(f"{split.source}: data.fold needs parts fold_0, fold_1, ...; this file has "
                        f"{', '.join(split.parts)}")
    held_out = f"fold_{fold}"
    if held_out not in folds:
        raise DataError(f"{split.source}: data.fold={fold} but the file has folds 0-{len(folds) - 1}")
    return [p for p in folds if p != held_out], held_out
