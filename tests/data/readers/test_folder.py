import numpy as np
import pytest

from dskd.data.cases import load_case
from dskd.data.readers import read_cases, read_folder
from dskd.errors import DataError
from tests.data.fixture_trees import image, make_folder, save, vessel


def test_folder_layout_pairs_by_name_in_natural_order(tmp_path):
    make_folder(tmp_path, ["10", "2", "1", "a2", "a10"])
    cases = read_cases("folder", tmp_path)
    assert [c.name for c in cases] == ["1", "2", "10", "a2", "a10"]
    assert all(c.mask.stem == c.image.stem for c in cases)
    assert read_folder(tmp_path) == cases  # importable and callable directly


def test_mask_with_another_suffix_and_mask_suffix_option(tmp_path):
    save(tmp_path / "images" / "x.jpg", image())
    save(tmp_path / "masks" / "x_gt.png", vessel())
    case, = read_cases("folder:mask_suffix=_gt", tmp_path)
    assert case.mask.name == "x_gt.png"
    assert load_case(case).mask.sum() == 8  # the diagonal
    with pytest.raises(DataError, match=r"x.jpg: no mask named x\.\*"):
        read_cases("folder", tmp_path)


def test_unlabelled_without_masks_folder(tmp_path):
    make_folder(tmp_path, ["a"], masks=False)
    assert read_cases("folder", tmp_path)[0].mask is None


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        read_cases("folder", tmp_path / "nope")
    (tmp_path / "noimages").mkdir()
    with pytest.raises(DataError, match="no images/ folder"):
        read_cases("folder", tmp_path / "noimages")
    (tmp_path / "empty" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_cases("folder", tmp_path / "empty")
    make_folder(tmp_path / "d", ["a", "b"])
    (tmp_path / "d" / "masks" / "b.png").unlink()
    with pytest.raises(DataError, match=r"b.png: no mask named b\.\*"):
        read_cases("folder", tmp_path / "d")


def test_two_images_with_one_stem_are_ambiguous(tmp_path):
    make_folder(tmp_path, ["a"])
    save(tmp_path / "images" / "a.tif", image())
    with pytest.raises(DataError, match=r"two files named a\.\* \(a.png, a.tif\)"):
        read_cases("folder", tmp_path)


def test_size_mismatch_is_caught_when_loading(tmp_path):
    make_folder(tmp_path, ["a"])
    save(tmp_path / "masks" / "a.png", np.zeros((8, 6), np.uint8))
    case, = read_cases("folder", tmp_path)
    with pytest.raises(DataError, match=r"a.png: size 6x8 does not match its image"):
        load_case(case)
