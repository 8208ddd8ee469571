"""dskd predict --qca: the frame of best opacification is read, calibrated from the DICOM, and
the outputs say which frame and why. The network is replaced by an oracle (probability = how
dark a pixel is), so these tests see the QCA plumbing, not a model's quality."""

import csv
import json

import numpy as np
import pytest
from pydicom.uid import generate_uid

import dskd.deploy.predict as predict_module
from dskd.cli import main
from dskd.data.synthetic.phantoms import narrowing, render, straight
from tests.data.dicom_files import write_dicom
from tests.model_files import write_random_checkpoint

PEAK = 7  # frame (from 1) of full contrast


def _cine(n: int = 12) -> np.ndarray:
    """(n, 96, 96) uint16: a dark stenosed tube whose contrast rises to frame PEAK and falls again."""
    tube = render((96, 96), [narrowing(straight((48, 4), (52, 92), 4.0), 0.5, 60.0, 24.0)]).probability
    contrast = np.exp(-0.5 * ((np.arange(1, n + 1) - PEAK) / 2.5) ** 2)
    # At low contrast only the tube's core stays above 0.5: the mask's area follows the contrast.
    darkness = [np.clip(tube * (0.55 + 0.6 * c), 0, 1) for c in contrast]
    return np.stack([((1 - d) * 65535).astype(np.uint16) for d in darkness])


@pytest.fixture()
def oracle(monkeypatch):
    monkeypatch.setattr(predict_module, "frame_probabilities",
                        lambda net, image, **_: (1 - image).astype(np.float32))


def test_predict_qca_reads_the_peak_frame_in_mm_from_the_dicom(oracle, tmp_path):
    checkpoint = write_random_checkpoint(tmp_path / "model.pt", depth=2, width=4)
    (tmp_path / "in").mkdir()
    source = write_dicom(tmp_path / "in" / "run.dcm", _cine(), PixelSpacing=[0.25, 0.25])
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(source), "--out", str(out), "--qca",
                 "--threshold", "0.5", "--precision", "float32"]) == 0
    report = json.loads((out / "run_qca.json").read_text())
    assert abs(report["frame"] - PEAK) <= 1 and "best opacification" in report["frame_choice"]
    assert report["calibration"]["unit"] == "mm" and "PixelSpacing" in report["calibration"]["source"]
    with open(out / "qca_lesions.csv", newline="") as handle:
        [lesion] = list(csv.DictReader(handle))
    assert lesion["unit"] == "mm" and abs(float(lesion["percent_diameter_stenosis"]) - 60) < 8
    with open(out / "run_qca_frames.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and [r["read"] for r in rows].count("True") == 1
    # The lesion read, followed over the 5 frames on each side: found on each, near its %DS.
    with open(out / "run_qca_stability.csv", newline="") as handle:
        stability = list(csv.DictReader(handle))
    read = report["frame"]
    assert [int(r["frame"]) for r in stability] == list(range(max(1, read - 5), min(12, read + 5) + 1))
    assert all(r["found"] == "True" for r in stability)
    assert all(abs(float(r["percent_diameter_stenosis"]) - 60) < 15 for r in stability)
    [summary] = report["stability"]
    assert summary["found_in"] == summary["frames"] == len(stability) and summary["unit"] == "mm"
    assert (out / "run_qca_stability.png").is_file()
    assert "Stability over frames" in (out / "run_qca.html").read_text()
    # --qca-frame overrides the choice; a frame that does not exist fails that file only.
    assert main(["predict", "--checkpoint", str(checkpoint), str(source), "--out", str(tmp_path / "f3"),
                 "--qca", "--qca-frame", "3", "--threshold", "0.5"]) == 0
    assert json.loads((tmp_path / "f3" / "run_qca.json").read_text())["frame"] == 3
    with open(tmp_path / "f3" / "run_qca_stability.csv", newline="") as handle:
        assert [int(r["frame"]) for r in csv.DictReader(handle)] == list(range(1, 9))
    assert main(["predict", "--checkpoint", str(checkpoint), str(source), "--out", str(tmp_path / "f99"),
                 "--qca", "--qca-frame", "99", "--threshold", "0.5"]) == 1
    assert "--qca-frame 99, but it has 12 frame(s)" in (tmp_path / "f99" / "failed.txt").read_text()


def test_qca_options_need_qca(tmp_path, capsys):
    checkpoint = write_random_checkpoint(tmp_path / "model.pt", depth=2, width=4)
    assert main(["predict", "--checkpoint", str(checkpoint), str(tmp_path), "--out", str(tmp_path / "o"),
                 "--mm-per-px", "0.2"]) == 2
    assert "go with --qca" in capsys.readouterr().err


def test_dicom_sr_holds_each_lesion_and_its_calibration(oracle, tmp_path):
    import highdicom as hd
    import pydicom

    checkpoint = write_random_checkpoint(tmp_path / "model.pt", depth=2, width=4)
    (tmp_path / "in").mkdir()
    source = write_dicom(tmp_path / "in" / "run.dcm", _cine(), PixelSpacing=[0.25, 0.25],
                         StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(), PatientID="P-1",
                         PatientName="Test^Angio", StudyDate="20261206", Modality="XA")
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(source), "--out", str(out), "--dicom-sr",
                 "--threshold", "0.5"]) == 0
    sr = hd.sr.srread(out / "run_qca_sr.dcm")
    original = pydicom.dcmread(source)
    assert sr.StudyInstanceUID == original.StudyInstanceUID and sr.PatientID == original.PatientID
    [group] = sr.content.get_planar_roi_measurement_groups()
    values = {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}
    percent, unit = values["Percent diameter stenosis"]
    assert unit == "%" and abs(percent - 60) < 8
    assert values["Minimal lumen diameter"][1] == "mm" and values["Calibration Factor"][0] == 0.25
    image = group.roi.ContentSequence[0].ReferencedSOPSequence[0]  # the SCOORD's source image
    assert image.ReferencedSOPInstanceUID == original.SOPInstanceUID
    read_frame = json.loads((out / "run_qca.json").read_text())["frame"]
    assert int(image.ReferencedFrameNumber) == read_frame
    [source_item] = [item for item in sr.ContentSequence
                     if item.ValueType == "TEXT" and item.ConceptNameCodeSequence[0].CodeValue == "CALSRC"]
    assert "PixelSpacing" in source_item.TextValue


def test_the_api_answers_the_same_qca_as_predict(oracle, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from dskd.deploy.serve.app import create_app
    from dskd.deploy.serve.settings import ServeSettings

    checkpoint = write_random_checkpoint(tmp_path / "model.pt", depth=2, width=4)
    (tmp_path / "in").mkdir()
    source = write_dicom(tmp_path / "in" / "run.dcm", _cine(), PixelSpacing=[0.25, 0.25])
    assert main(["predict", "--checkpoint", str(checkpoint), str(source), "--out", str(tmp_path / "out"),
                 "--qca", "--threshold", "0.5", "--precision", "float32"]) == 0
    expected = json.loads((tmp_path / "out" / "run_qca.json").read_text())
    client = TestClient(create_app(ServeSettings(model=checkpoint, work_dir=tmp_path / "work")),
                        base_url="http://127.0.0.1:8000")
    with open(source, "rb") as handle:
        answer = client.post("/v1/segment?output=qca&threshold=0.5",
                             files={"file": ("run.dcm", handle.read(), "application/dicom")})
    assert answer.status_code == 200, answer.text
    qca = answer.json()["qca"]
    assert qca["frame"] == expected["frame"] and qca["calibration"] == expected["calibration"]
    assert qca["lesions"] == expected["lesions"] and qca["source"] == "run.dcm"


def test_a_neighbour_frame_of_noise_reads_as_lesion_not_found(tmp_path):
    from dskd.deploy.qca_writer import QCASettings, QCAWriter

    phantom = render((160, 160), [narrowing(straight((80, 5), (90, 155), 4.0), 0.5, 60.0, 30.0)])
    noise = np.random.default_rng(0).random((160, 160)) > 0.5  # refused by QCA: too fragmented
    writer = QCAWriter(tmp_path / "cine", tmp_path / "cine.tif",
                       QCASettings(frame=2, stability_frames=1), is_dicom=False)
    for index, mask in ((1, phantom.mask), (2, phantom.mask), (3, noise)):
        writer.add(index, 1.0 - phantom.probability, phantom.probability if index < 3 else noise * 1.0, mask)
    [lesion] = writer.close()
    assert lesion["frame"] == 2 and abs(lesion["percent_diameter_stenosis"] - 60) < 5
    with open(tmp_path / "cine_qca_stability.csv", newline="") as handle:
        found = {int(row["frame"]): row["found"] for row in csv.DictReader(handle)}
    assert found == {1: "True", 2: "True", 3: "False"}
