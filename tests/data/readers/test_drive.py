import numpy as np
import pytest
from PIL import Image

from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import make_drive


def test_cases_carry_the_field_of_view_and_the_green_channel(tmp_path):
    make_drive(tmp_path, [21, 22])
    make_drive(tmp_path, [1], part="test")
    cases = read_cases("drive", tmp_path)
    assert [c.name for c in cases] == ["01", "21", "22"]
    assert all(c.fov is not None and c.gray == "green" for c in cases)
    arrays = load_case(cases[1])
    rgb = np.asarray(Image.open(cases[1].image))
    assert np.allclose(arrays.image, rgb[..., 1] / 255.0)
    assert arrays.fov.sum() == 36 and arrays.mask.sum() == 8
    luma = load_case(read_cases("drive:gray=luma", tmp_path)[1]).image
    assert np.allclose(luma, (rgb @ [0.299, 0.587, 0.114]) / 255.0, atol=1e-6)


def test_a_single_part_folder_and_an_unlabelled_test_part(tmp_path):
    make_drive(tmp_path, [3], part="test")
    assert [c.name for c in read_cases("drive", tmp_path / "test")] == ["03"]
    (tmp_path / "test" / "1st_manual" / "03_manual1.gif").unlink()
    (tmp_path / "test" / "1st_manual").rmdir()
    assert read_cases("drive", tmp_path)[0].mask is None


def test_errors(tmp_path):
    make_drive(tmp_path / "a", [21, 22])
    (tmp_path / "a" / "training" / "mask" / "22_training_mask.gif").unlink()
    with pytest.raises(DataError, match=r"22_training.tif: no field-of-view mask 22_training_mask"):
        read_cases("drive", tmp_path / "a")
    make_drive(tmp_path / "b", [21])
    (tmp_path / "b" / "training" / "1st_manual" / "21_manual1.gif").unlink()
    with pytest.raises(DataError, match=r"21_training.tif: no vessel mask 21_manual1"):
        read_cases("drive", tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="no training/ or test/ folder"):
        read_cases("drive", tmp_path / "c")
