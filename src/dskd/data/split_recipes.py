"""How the shipped split files (splits/*.json) were made, so anyone can check and remake them.

Every random choice is `hashed_order(items, SEED)`: items sorted by SHA-256 of "<SEED>:<item>",
the first ones taken. It depends on no library version. `python splits/make_splits.py` rewrites the
files; tests/data/test_split_recipes.py checks the shipped files equal these recipes. Nothing here
looks at images or results, so no split was chosen for how well a model does on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from dskd.data.readers.common import natural_key
from dskd.data.splits import hashed_order, parse_split

__all__ = ["SEED", "SPLIT_RECIPES", "split_file_text", "write_split_files"]

SEED = 0


def _sorted(names: list[str]) -> list[str]:
    return sorted(names, key=natural_key)


def _carve(names: list[str], n: int, *, salt: str = "") -> tuple[list[str], list[str]]:
    """(the n names first in hashed order, the rest), each in natural order."""
    chosen = set(hashed_order(names, f"{SEED}{salt}")[:n])
    return _sorted([x for x in names if x in chosen]), _sorted([x for x in names if x not in chosen])


def cimat() -> dict:
    training = [f"training_{k}" for k in range(1, 41)]
    val, train = _carve(training, 8)
    return {
        "description": (
            "CIMAT angiograms (layout cimat). train + val = training 1-40; val = the 8 of them with "
            f"the smallest SHA-256 hex of '{SEED}:<name>' (dskd.data.split_recipes); "
            "test = testing 1-20."),
        "train": train, "val": val, "test": [f"testing_{k}" for k in range(1, 21)],
    }


def drive() -> dict:
    names = [str(k) for k in range(21, 41)]
    test, rest = _carve(names, 4)
    val, train = _carve(rest, 4, salt="/val")
    return {
        "description": (
            "DRIVE training set 21-40 (layout drive; the official test set is not used): test = the "
            f"4 with the smallest SHA-256 hex of '{SEED}:<name>', val = the 4 of the rest with the "
            f"smallest SHA-256 hex of '{SEED}/val:<name>', train = the other 12 "
            "(dskd.data.split_recipes). Metrics count pixels inside the field of view."),
        "train": train, "val": val, "test": test,
    }


def _dca1(last_test: int, protocol: str) -> dict:
    train_full = [str(k) for k in range(1, 101)]
    val, train = _carve(train_full, 10)
    return {
        "description": (
            f"DCA1 (layout dca1), {protocol}: train_full = 1-100, test = 101-{last_test}. For a "
            "threshold or checkpoint chosen on validation, val = the 10 of 1-100 with the smallest "
            f"SHA-256 hex of '{SEED}:<name>' and train = the other 90 (dskd.data.split_recipes); "
            "peers who train on all of 1-100 use train_full."),
        "train": train, "val": val, "test": [str(k) for k in range(101, last_test + 1)],
        "train_full": train_full,
    }


def dca1_frunet() -> dict:
    return _dca1(134, "the FR-UNet split (Liu et al. 2022)")


def dca1_original() -> dict:
    return _dca1(130, "the split of the original paper (Cervantes-Sanchez et al. 2019)")


def xcad() -> dict:
    positions = [str(p) for p in range(1, 127)]
    test, rest = _carve(positions, 42)
    val, train = _carve(rest, 12, salt="/val")
    return {
        "description": (
            "XCAD's 126 labelled angiograms (test/images with test/masks; layout xcad); the 1,621 "
            "train/ images have no masks. Parts list 1-based positions in the natural order of the "
            "file names (dskd data check --layout xcad ROOT --split-file splits/xcad.json "
            f"--resolve shows the names): test = the 42 with the smallest SHA-256 hex of "
            f"'{SEED}:<position>', val = the 12 of the rest with the smallest SHA-256 hex of "
            f"'{SEED}/val:<position>', train = the other 72 (dskd.data.split_recipes)."),
        "n_cases": 126,
        "train": [int(p) for p in train], "val": [int(p) for p in val],
        "test": [int(p) for p in test],
    }


def arcade() -> dict:
    # Case names are <part>_<file stem>; the stems were not checked here, so the parts list
    # positions: in natural order the 300 test_* come first, then the 1000 train_*, then 200 val_*.
    return {
        "description": (
            "ARCADE syntax task (layout arcade), the challenge's own split by folder: train = the "
            "1000 images of syntax/train, val = the 200 of syntax/val, test = the 300 of syntax/test. "
            "Parts list 1-based positions in the natural order of the case names <part>_<stem> "
            "(test_* 1-300, train_* 301-1300, val_* 1301-1500); dskd data check --layout arcade ROOT "
            "--split-file splits/arcade.json --resolve shows the names. Nothing was drawn at random."),
        "n_cases": 1500,
        "train": list(range(301, 1301)), "val": list(range(1301, 1501)), "test": list(range(1, 301)),
    }


def _folds(names: list[str], k: int, *, salt: str) -> dict[str, list[str]]:
    """fold_0 .. fold_{k-1}: name i of the hashed order goes to fold i mod k (sizes differ by at
    most one), each fold in natural order."""
    order = hashed_order(names, f"{SEED}{salt}")
    return {f"fold_{f}": _sorted(order[f::k]) for f in range(k)}


def _cv_description(dataset: str, pool: str, k: int, salt: str, test: str) -> str:
    return (f"{dataset}: {k}-fold cross-validation of {pool}. Sorted by the SHA-256 hex of "
            f"'{SEED}{salt}:<name>', the i-th name goes to fold_(i mod {k}) "
            f"(dskd.data.split_recipes); data.fold=k trains on the other folds and validates on "
            f"fold_k. {test}")


def cimat_cv5() -> dict:
    training = [f"training_{k}" for k in range(1, 41)]
    return {"description": _cv_description(
                "CIMAT angiograms (layout cimat)", "training 1-40", 5, "/cv",
                "test = testing 1-20, scored once for a recipe chosen out of fold."),
            **_folds(training, 5, salt="/cv"), "test": [f"testing_{k}" for k in range(1, 21)]}


def drive_cv4() -> dict:
    names = [str(k) for k in range(21, 41)]
    return {"description": _cv_description(
                "DRIVE (layout drive)", "the 20 official training images 21-40", 4, "/cv",
                "No test part: the official test images have no public labels here; metrics count "
                "pixels inside the field of view."),
            **_folds(names, 4, salt="/cv")}


def dca1_cv5() -> dict:
    names = [str(k) for k in range(1, 101)]
    return {"description": _cv_description(
                "DCA1 (layout dca1)", "images 1-100", 5, "/cv",
                "test = 101-134 (the FR-UNet split), scored once."),
            **_folds(names, 5, salt="/cv"), "test": [str(k) for k in range(101, 135)]}


def xcad_cv5() -> dict:
    xcad_split = xcad()
    pool = [str(p) for p in (*xcad_split["train"], *xcad_split["val"])]
    folds = {name: [int(p) for p in part] for name, part in _folds(pool, 5, salt="/cv").items()}
    return {"description": _cv_description(
                "XCAD's 126 labelled angiograms (layout xcad; parts are 1-based positions as in "
                "xcad.json)", "the 84 train + val positions of xcad.json", 5, "/cv",
                "test = the 42 test positions of xcad.json."),
            "n_cases": 126, **folds, "test": xcad_split["test"]}


SPLIT_RECIPES: dict[str, Callable[[], dict]] = {
    "cimat.json": cimat,
    "drive.json": drive,
    "dca1_frunet.json": dca1_frunet,
    "dca1_original.json": dca1_original,
    "xcad.json": xcad,
    "cimat_cv5.json": cimat_cv5,
    "drive_cv4.json": drive_cv4,
    "dca1_cv5.json": dca1_cv5,
    "xcad_cv5.json": xcad_cv5,
    "arcade.json": arcade,
}


def split_file_text(content: dict) -> str:
    """JSON with one line per part, so a diff shows which cases moved."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in content.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_split_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, recipe in SPLIT_RECIPES.items():
        content = recipe()
        parse_split(content, name)  # a recipe must make a valid file
        (folder / name).write_text(split_file_text(content))
        written.append(folder / name)
    return written
