"""dskd evaluate --spacing: lengths in mm from a number, a row,col pair or a DICOM file."""

import json

import numpy as np
import pytest
from PIL import Image

from dskd.cli import main
from tests.data.dicom_files import write_dicom


@pytest.fixture
def folders(tmp_path):
    labels, preds = tmp_path / "labels", tmp_path / "preds"
    labels.mkdir(), preds.mkdir()
    label = np.zeros((20, 32), np.uint8)
    label[9:12, 4:28] = 255  # 3 pixels wide: width 4 px (metrics.width)
    pred = np.roll(label, 2, axis=0)
    Image.fromarray(label).save(labels / "a.png")
    Image.fromarray(pred).save(preds / "a.png")
    return preds, labels


def _summary(tmp_path, folders, *extra):
    out = tmp_path / "out"
    assert main(["evaluate", "--pred", str(folders[0]), "--labels", str(folders[1]), "--out", str(out),
                 "--no-report", *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def test_pixels_by_default_and_mm_with_spacing(tmp_path, folders, capsys):
    px = _summary(tmp_path, folders)
    assert px["protocol"]["length_units"] == "px" and px["per_image"]["width_median"]["mean"] == 4.0
    assert "in pixels; give --spacing MM for millimetres" in capsys.readouterr().out
    mm = _summary(tmp_path, folders, "--spacing", "0.25")
    assert mm["protocol"]["spacing_mm"] == [0.25, 0.25] and mm["protocol"]["length_units"] == "mm"
    assert mm["per_image"]["width_median"]["mean"] == pytest.approx(1.0)
    assert mm["per_image"]["hd95"]["mean"] == pytest.approx(0.25 * px["per_image"]["hd95"]["mean"])
    assert "are in mm (pixel spacing 0.25 x 0.25 mm)" in capsys.readouterr().out


def test_spacing_from_a_dicom_file_and_bad_values(tmp_path, folders, capsys):
    dicom = write_dicom(tmp_path / "run.dcm", np.zeros((4, 4), np.uint8), PixelSpacing=[0.5, 0.5])
    assert _summary(tmp_path, folders, "--spacing", str(dicom))["protocol"]["spacing_mm"] == [0.5, 0.5]
    bare = write_dicom(tmp_path / "bare.dcm", np.zeros((4, 4), np.uint8))
    for bad, message in [("0", "expected millimetres per pixel"), ("a,b", "expected millimetres"),
                         (str(bare), "states no PixelSpacing or ImagerPixelSpacing")]:
        capsys.readouterr()
        assert main(["evaluate", "--pred", str(folders[0]), "--labels", str(folders[1]), "--out",
                     str(tmp_path / "x"), "--spacing", bad]) == 2
        assert message in capsys.readouterr().err
