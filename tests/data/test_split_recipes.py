"""The shipped split files equal their recipes, and hold what docs/datasets.md says they hold."""

from pathlib import Path

import pytest

from dskd.data.split_recipes import SPLIT_RECIPES, split_file_text
from dskd.data.splits import read_split_file

SPLITS = Path(__file__).resolve().parents[2] / "splits"


@pytest.mark.parametrize("name", sorted(SPLIT_RECIPES))
def test_shipped_file_equals_its_recipe(name):
    assert (SPLITS / name).read_text() == split_file_text(SPLIT_RECIPES[name]()), (
        f"splits/{name} differs from its recipe; run python splits/make_splits.py")
    read_split_file(SPLITS / name)  # and is valid


def _sizes(name):
    split = read_split_file(SPLITS / name)
    return {part: len(values) for part, values in split.parts.items()}, split


def test_cimat_split():
    sizes, split = _sizes("cimat.json")
    assert sizes == {"train": 32, "val": 8, "test": 20}
    assert set(split["train"]) | set(split["val"]) == {f"training_{k}" for k in range(1, 41)}
    assert split["test"] == [f"testing_{k}" for k in range(1, 21)]


def test_drive_split():
    sizes, split = _sizes("drive.json")
    assert sizes == {"train": 12, "val": 4, "test": 4}
    assert set(split["train"]) | set(split["val"]) | set(split["test"]) == {str(k) for k in range(21, 41)}


@pytest.mark.parametrize("name, last", [("dca1_frunet.json", 134), ("dca1_original.json", 130)])
def test_dca1_splits(name, last):
    sizes, split = _sizes(name)
    assert sizes == {"train": 90, "val": 10, "test": last - 100, "train_full": 100}
    assert split["train_full"] == [str(k) for k in range(1, 101)]
    assert set(split["train"]) | set(split["val"]) == set(split["train_full"])
    assert split["test"] == [str(k) for k in range(101, last + 1)]


def test_the_two_dca1_splits_share_train_and_val():
    frunet, original = read_split_file(SPLITS / "dca1_frunet.json"), read_split_file(
        SPLITS / "dca1_original.json")
    assert frunet["val"] == original["val"] and frunet["train"] == original["train"]


def test_xcad_split_covers_the_126_labelled_images_once():
    sizes, split = _sizes("xcad.json")
    assert sizes == {"train": 72, "val": 12, "test": 42} and split.n_cases == 126
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(1, 127))
