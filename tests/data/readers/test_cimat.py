import pytest

from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import make_cimat


def test_case_names_carry_the_folder_since_numbering_restarts(tmp_path):
    make_cimat(tmp_path, n_training=3, n_testing=2)
    cases = read_cases("cimat", tmp_path)
    assert [c.name for c in cases] == ["training_1", "training_2", "training_3",
                                       "testing_1", "testing_2"]
    assert cases[0].image.parent.name == "training" and cases[3].image.parent.name == "testing"
    assert cases[3].mask.name == "1_gt.png"


def test_either_part_alone_and_errors(tmp_path):
    make_cimat(tmp_path / "a", n_training=0, n_testing=2)
    (tmp_path / "a" / "training").mkdir()
    with pytest.raises(DataError, match=r"training: no images found"):
        read_cases("cimat", tmp_path / "a")
    (tmp_path / "a" / "training").rmdir()
    assert [c.name for c in read_cases("cimat", tmp_path / "a")] == ["testing_1", "testing_2"]
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="no training/ or testing/ folder"):
        read_cases("cimat", tmp_path / "b")
    make_cimat(tmp_path / "c", n_training=2, n_testing=0)
    (tmp_path / "c" / "training" / "2_gt.png").unlink()
    with pytest.raises(DataError, match=r"2.png: no mask named 2_gt"):
        read_cases("cimat", tmp_path / "c")
