import pytest

from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import image, make_dca1, save


def test_reads_the_official_layout_from_its_parent_or_itself(tmp_path):
    folder = make_dca1(tmp_path / "Database_134_Angiograms", [1, 2, 10, 134])
    cases = read_cases("dca1", tmp_path)
    assert [c.name for c in cases] == ["1", "2", "10", "134"]
    assert cases[2].image.name == "10.pgm" and cases[2].mask.name == "10_gt.pgm"
    assert read_cases("dca1", folder) == cases
    arrays = load_case(cases[0])
    assert arrays.image.shape == (8, 8) and arrays.mask.sum() == 8


def test_missing_mask_orphan_mask_and_wrong_folder(tmp_path):
    folder = make_dca1(tmp_path / "a" / "Database_134_Angiograms", [1, 2])
    (folder / "2_gt.pgm").unlink()
    with pytest.raises(DataError, match=r"2.pgm: no mask named 2_gt\.\*"):
        read_cases("dca1", tmp_path / "a")
    folder = make_dca1(tmp_path / "b" / "Database_134_Angiograms", [1, 2])
    (folder / "2.pgm").unlink()
    with pytest.raises(DataError, match=r"2_gt.pgm: mask without its image 2\.\*"):
        read_cases("dca1", tmp_path / "b")
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="no Database_134_Angiograms/ folder.*dskd data download dca1"):
        read_cases("dca1", tmp_path / "c")
    (tmp_path / "d" / "Database_134_Angiograms").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_cases("dca1", tmp_path / "d")


def test_unreadable_image_names_the_file(tmp_path):
    folder = make_dca1(tmp_path / "Database_134_Angiograms", [1])
    (folder / "1.pgm").write_bytes(b"P5 garbage")
    case, = read_cases("dca1", tmp_path)
    with pytest.raises(DataError, match=r"1.pgm: unreadable image"):
        load_case(case)
    save(folder / "1.pgm", image(0))
    assert load_case(case).image.shape == (8, 8)
