import json

import numpy as np
import pytest
from PIL import Image

from dskd.data.readers import read_cases
from dskd.data.splits import apply_split, carve_validation, read_split_file
from dskd.errors import DataError


def _write(root, names, *, with_masks=True):
    (root / "images").mkdir(parents=True)
    if with_masks:
        (root / "masks").mkdir()
    for name in names:
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "images" / f"{name}.png")
        if with_masks:
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "masks" / f"{name}.png")


def test_folder_layout_pairs_by_name_in_natural_order(tmp_path):
    _write(tmp_path, ["10", "2", "1"])
    cases = read_cases("folder", tmp_path)
    assert [c.name for c in cases] == ["1", "2", "10"]
    assert all(c.mask.stem == c.image.stem for c in cases)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        read_cases("folder", tmp_path / "nope")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_cases("folder", tmp_path / "empty")
    _write(tmp_path / "d", ["a", "b"])
    (tmp_path / "d" / "masks" / "b.png").unlink()
    with pytest.raises(DataError, match=r"b.png: no mask named b\.\*"):
        read_cases("folder", tmp_path / "d")
    with pytest.raises(DataError, match="unknown dataset layout 'fold'"):
        read_cases("fold", tmp_path / "d")


def test_carved_validation_is_seeded_and_disjoint(tmp_path):
    _write(tmp_path, [str(i) for i in range(10)])
    cases = read_cases("folder", tmp_path)
    train, val = carve_validation(cases, 0.2, seed=1)
    again = carve_validation(cases, 0.2, seed=1)
    assert [c.name for c in val] == [c.name for c in again[1]] and len(val) == 2
    assert not {c.name for c in train} & {c.name for c in val}
    assert len(train) + len(val) == 10


def test_split_file(tmp_path):
    _write(tmp_path / "d", ["a", "b", "c"])
    cases = read_cases("folder", tmp_path / "d")
    split_path = tmp_path / "split.json"
    split_path.write_text(json.dumps({"train": ["a", "c"], "val": ["b"], "test": ["zz"]}))
    split = read_split_file(split_path)
    assert [c.name for c in apply_split(cases, split, "train", source="s")] == ["a", "c"]
    with pytest.raises(DataError, match="names case 'zz' which is not in the dataset"):
        apply_split(cases, split, "test", source="s")
    with pytest.raises(DataError, match="no 'holdout' list"):
        apply_split(cases, split, "holdout", source="s")
