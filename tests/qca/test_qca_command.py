"""dskd qca: the outputs a user gets, the calibration in every row, and a bad file skipped."""

import csv
import json

import numpy as np
from PIL import Image

from dskd.cli import main
from dskd.data.synthetic.phantoms import narrowing, render, straight


def test_qca_command_writes_calibrated_outputs_and_skips_a_bad_file(tmp_path, capsys):
    phantom = render((160, 160), [narrowing(straight((80, 5), (90, 155), 4.0), 0.5, 60.0, 30.0)])
    (tmp_path / "masks").mkdir()
    (tmp_path / "probs").mkdir()
    Image.fromarray((phantom.mask * 255).astype(np.uint8)).save(tmp_path / "masks" / "a.png")
    Image.fromarray((phantom.probability * 65535).astype(np.uint16)).save(tmp_path / "probs" / "a.png")
    (tmp_path / "masks" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["qca", str(tmp_path / "masks"), "--probabilities", str(tmp_path / "probs"),
                 "--mm-per-px", "0.25", "--out", str(out)])
    assert code == 1  # one file failed; the other was measured
    assert "broken.png" in (out / "failed.txt").read_text()
    with open(out / "lesions.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["file"] == "a.png" and row["unit"] == "mm" and row["calibration"] == "user: 0.25 mm/px"
    assert abs(float(row["percent_diameter_stenosis"]) - 60) < 3
    assert abs(float(row["mld"]) - 0.8) < 0.08  # 60% of 8 px x 0.25 mm
    report = json.loads((out / "a_qca.json").read_text())
    assert report["calibration"]["source"] == "user: 0.25 mm/px" and report["diameters_from"] == "probability"
    for name in ("a_segments.csv", "a_qca.png", "a_lesion0.png", "a_qca.html"):
        assert (out / name).is_file()
    # Without a calibration the figures are in pixels, and say so.
    assert main(["qca", str(tmp_path / "masks" / "a.png"), "--out", str(tmp_path / "px")]) == 0
    with open(tmp_path / "px" / "a_lesions.csv", newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["unit"] == "px" and row["calibration"].startswith("none: figures in pixels")
    assert main(["qca", str(tmp_path / "masks" / "a.png"), "--out", str(tmp_path / "x"),
                 "--mm-per-px", "0.2", "--catheter", "6", "--catheter-point", "1,1"]) == 2
    assert "give one calibration" in capsys.readouterr().err


def test_a_mask_of_noise_is_refused_in_one_line_and_the_batch_goes_on(tmp_path, capsys):
    phantom = render((96, 96), [straight((48, 5), (48, 90), 5.0)])
    (tmp_path / "masks").mkdir()
    Image.fromarray((phantom.mask * 255).astype(np.uint8)).save(tmp_path / "masks" / "vessel.png")
    noise = np.random.default_rng(0).random((96, 96)) > 0.5  # a thousand-odd skeleton branches
    Image.fromarray((noise * 255).astype(np.uint8)).save(tmp_path / "masks" / "noise.png")
    out = tmp_path / "out"
    assert main(["qca", str(tmp_path / "masks"), "--out", str(out)]) == 1
    [line] = (out / "failed.txt").read_text().splitlines()
    assert "noise.png" in line and "too fragmented to be a vessel tree" in line
    assert (out / "vessel_qca.json").is_file()
    assert "Traceback" not in capsys.readouterr().err
