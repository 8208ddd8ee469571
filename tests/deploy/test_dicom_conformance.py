"""Every DICOM object dskd writes passes tools nobody here wrote: dciodvfy (dicom3tools) with no
errors, and DCMTK's dsrdump renders the SR. Skipped where the tools are not installed (CI
installs them: .ci/run)."""

import shutil
import subprocess

import numpy as np
import pytest
from pydicom.uid import generate_uid

import dskd.deploy.predict as predict_module
from dskd.cli import main
from tests.data.dicom_files import write_dicom
from tests.deploy.test_predict_qca import _cine
from tests.model_files import write_random_checkpoint

DCIODVFY, DSRDUMP = shutil.which("dciodvfy"), shutil.which("dsrdump")
INSTALL = "apt-get install dicom3tools dcmtk (Debian), as .ci/run does"


def _study(**more) -> dict:
    return {"StudyInstanceUID": generate_uid(), "SeriesInstanceUID": generate_uid(), "PatientID": "P-1",
            "PatientName": "Test^Angio", "StudyDate": "20261206", "StudyTime": "101010", "StudyID": "1",
            "PatientOrientation": ["L", "F"], **more}


@pytest.fixture()
def written(tmp_path, monkeypatch):
    """A single-frame XA and a cine through predict --dicom-seg --dicom-sr (an oracle network)."""
    monkeypatch.setattr(predict_module, "frame_probabilities",
                        lambda net, image, **_: (1 - image).astype(np.float32))
    (tmp_path / "in").mkdir()
    write_dicom(tmp_path / "in" / "cine.dcm", _cine(), PixelSpacing=[0.25, 0.25], **_study())
    write_dicom(tmp_path / "in" / "frame.dcm", _cine()[6], PixelSpacing=[0.25, 0.25], **_study())
    checkpoint = write_random_checkpoint(tmp_path / "model.pt", depth=2, width=4)
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), str(tmp_path / "in"), "--out", str(out),
                 "--dicom-seg", "--dicom-sr", "--threshold", "0.5"]) == 0
    return out


@pytest.mark.skipif(DCIODVFY is None, reason=f"dciodvfy not found: {INSTALL}")
def test_dciodvfy_finds_no_error_in_any_object(written):
    objects = sorted(written.glob("*.dcm"))
    assert {p.name for p in objects} == {"cine_mask.dcm", "cine_qca_sr.dcm", "frame_seg.dcm",
                                         "frame_qca_sr.dcm"}
    for path in objects:
        report = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True)
        errors = [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], f"{path.name}: {errors}"


@pytest.mark.skipif(DSRDUMP is None, reason=f"dsrdump not found: {INSTALL}")
def test_dsrdump_renders_the_report(written):
    text = subprocess.run([DSRDUMP, str(written / "cine_qca_sr.dcm")], capture_output=True, text=True,
                          check=True).stdout
    assert "Percent diameter stenosis" in text and "Minimal lumen diameter" in text
