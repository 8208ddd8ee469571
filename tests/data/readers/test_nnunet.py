import json

import pytest

from dskd.data.cases import load_case
from dskd.data.readers import read_cases
from dskd.errors import DataError
from tests.data.fixture_trees import image, make_nnunet, save


def test_reads_cases_and_maps_label_1_to_foreground(tmp_path):
    make_nnunet(tmp_path, ["angio_002", "angio_010", "angio_001"])
    cases = read_cases("nnunet", tmp_path)
    assert [c.name for c in cases] == ["angio_001", "angio_002", "angio_010"]
    assert cases[0].image.name == "angio_001_0000.png" and cases[0].mask.name == "angio_001.png"
    assert cases[0].foreground_label == 1
    assert load_case(cases[0]).mask.sum() == 8


def test_several_labels_need_a_choice(tmp_path):
    labels = {"background": 0, "catheter": 1, "vessel": 2}
    make_nnunet(tmp_path, ["a"], labels=labels, label_values=(1, 2))  # catheter everywhere, vessel diagonal
    with pytest.raises(DataError, match=r"2 foreground labels \(catheter=1, vessel=2\); choose one "
                                        r"with layout nnunet:foreground_label=K"):
        read_cases("nnunet", tmp_path)
    case, = read_cases("nnunet:foreground_label=2", tmp_path)
    assert load_case(case).mask.sum() == 8
    assert load_case(read_cases("nnunet:foreground_label=1", tmp_path)[0]).mask.sum() == 64 - 8
    with pytest.raises(DataError, match="foreground_label=3 is not a foreground label"):
        read_cases("nnunet:foreground_label=3", tmp_path)


def test_ignore_label_and_v1_label_table(tmp_path):
    make_nnunet(tmp_path / "a", ["a"], labels={"background": 0, "vessel": 1, "ignore": 2})
    assert read_cases("nnunet", tmp_path / "a")[0].foreground_label == 1
    make_nnunet(tmp_path / "b", ["a"], labels={"0": "background", "1": "vessel"})
    assert read_cases("nnunet", tmp_path / "b")[0].foreground_label == 1


def test_binary_0_255_labels_are_rejected(tmp_path):
    make_nnunet(tmp_path, ["a"], label_values=(0, 255))
    case, = read_cases("nnunet", tmp_path)
    with pytest.raises(DataError, match="looks like a 0/255 binary mask"):
        load_case(case)


def test_errors(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match=r"dataset.json: file not found"):
        read_cases("nnunet", tmp_path / "a")
    root = make_nnunet(tmp_path / "b", ["x", "y"])
    (root / "labelsTr" / "y.png").unlink()
    with pytest.raises(DataError, match=r"y_0000.png: no label file y.png"):
        read_cases("nnunet", root)
    root = make_nnunet(tmp_path / "c", ["x"])
    save(root / "imagesTr" / "x_0001.png", image())
    with pytest.raises(DataError, match="several input channels"):
        read_cases("nnunet", root)
    root = make_nnunet(tmp_path / "d", ["x"])
    meta = json.loads((root / "dataset.json").read_text())
    del meta["file_ending"]
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="no 'file_ending'"):
        read_cases("nnunet", root)
    root = make_nnunet(tmp_path / "e", ["x"], labels={"background": 0, "vessel": [1, 2]})
    with pytest.raises(DataError, match="region-based labels are not supported"):
        read_cases("nnunet", root)
    root = make_nnunet(tmp_path / "f", ["x"])
    (root / "imagesTr" / "x_0000.png").unlink()
    with pytest.raises(DataError, match=r"imagesTr: no <case>_0000.png files"):
        read_cases("nnunet", root)
