import pytest

from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import make_xcad


def test_only_labelled_images_are_cases(tmp_path):
    make_xcad(tmp_path, ["00012_33", "00002_1", "00002_10"], n_unlabelled=3)
    cases = read_cases("xcad", tmp_path)
    assert [c.name for c in cases] == ["00002_1", "00002_10", "00012_33"]
    assert all(c.mask is not None and c.mask.parent.name == "masks" for c in cases)


def test_errors(tmp_path):
    (tmp_path / "a" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no test/ folder"):
        read_cases("xcad", tmp_path / "a")
    make_xcad(tmp_path / "b", ["x", "y"])
    (tmp_path / "b" / "test" / "masks" / "y.png").unlink()
    with pytest.raises(DataError, match=r"y.png: no mask named y\.\*"):
        read_cases("xcad", tmp_path / "b")
    (tmp_path / "c" / "test" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match=r"masks: folder not found \(XCAD vessel masks\)"):
        read_cases("xcad", tmp_path / "c")
