"""dskd predict --dicom-seg: a DICOM Segmentation for a single-frame DICOM, a single-bit Secondary
Capture for a cine; both read back and compared pixel for pixel with the PNG / TIFF masks."""

import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.uid import generate_uid

from dskd.cli import main
from dskd.deploy.dicom_seg import MULTIFRAME_SINGLE_BIT_SC, DicomMaskWriter
from dskd.errors import DataError
from tests.data.dicom_files import write_dicom
from tests.model_files import write_random_checkpoint

hd = pytest.importorskip("highdicom")


def _study():
    return {"StudyInstanceUID": generate_uid(), "SeriesInstanceUID": generate_uid(),
            "PatientID": "P-1", "PatientName": "Test^Angio"}


def _frames(n, h, w, seed=0):
    return (np.random.default_rng(seed).random((n, h, w)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom")
    checkpoint = write_random_checkpoint(root / "model.pt", depth=2, width=4)
    (root / "in").mkdir()
    write_dicom(root / "in" / "single.dcm", _frames(1, 37, 44)[0], **_study(),
                ImagerPixelSpacing=[0.25, 0.25])
    write_dicom(root / "in" / "cine.dcm", _frames(3, 21, 27, seed=1), **_study(), frame_time_ms=66.7)
    Image.fromarray(_frames(1, 24, 24)[0]).save(root / "in" / "plain.png")
    out = root / "out"
    # threshold 0.5 on a random net: masks with both values, so the comparison means something
    assert main(["predict", "--checkpoint", str(checkpoint), str(root / "in"), "--out", str(out),
                 "--dicom-seg", "--threshold", "0.5"]) == 0
    return root / "in", out


def test_single_frame_gets_a_segmentation_that_matches_the_png(predicted):
    inputs, out = predicted
    source = pydicom.dcmread(inputs / "single.dcm")
    seg = hd.seg.segread(out / "single_seg.dcm")
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.SegmentationType == "BINARY"
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == "P-1"
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == source.SOPInstanceUID
    description = seg.get_segment_description(1)
    assert description.segment_label == "coronary artery" and seg.number_of_segments == 1
    assert description.segmented_property_type.value == "41801008"
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=[source.SOPInstanceUID],
                                               segment_numbers=[1])
    png = np.asarray(Image.open(out / "single_mask.png")) > 0
    assert pixels.shape == (1, 37, 44, 1) and 0 < png.sum() < png.size
    assert np.array_equal(pixels[0, :, :, 0].astype(bool), png)


def test_cine_gets_a_single_bit_secondary_capture_that_matches_the_tiff(predicted):
    inputs, out = predicted
    source = pydicom.dcmread(inputs / "cine.dcm")
    sc = pydicom.dcmread(out / "cine_mask.dcm")
    assert sc.SOPClassUID == MULTIFRAME_SINGLE_BIT_SC and sc.BitsAllocated == 1 and sc.NumberOfFrames == 3
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert sc.StudyInstanceUID == source.StudyInstanceUID and float(sc.FrameTime) == pytest.approx(66.7)
    # 21 x 27 = 567 pixels a frame, not a multiple of 8: frames run on across byte boundaries
    tiff = tifffile.imread(out / "cine_mask.tif") > 0
    assert tiff.shape == (3, 21, 27) and 0 < tiff.sum() < tiff.size
    assert np.array_equal(sc.pixel_array.astype(bool), tiff)
    image = hd.imread(out / "cine_mask.dcm")  # highdicom reads it as well
    assert np.array_equal(np.stack([image.get_frame(k) for k in (1, 2, 3)]).astype(bool), tiff)
    assert not (out / "plain_seg.dcm").exists() and not (out / "plain_mask.dcm").exists()


def test_source_without_a_study_is_refused(tmp_path):
    path = write_dicom(tmp_path / "bare.dcm", _frames(1, 8, 8)[0])
    with pytest.raises(DataError, match="bare.dcm: no StudyInstanceUID; a DICOM mask must reference"):
        DicomMaskWriter(path)


def test_frame_count_and_size_are_checked(tmp_path):
    writer = DicomMaskWriter(write_dicom(tmp_path / "c.dcm", _frames(2, 8, 8), **_study()))
    with pytest.raises(DataError, match=r"mask \(4, 4\) does not match the image \(8, 8\)"):
        writer.add(np.zeros((4, 4), bool))
    writer.add(np.zeros((8, 8), bool))
    with pytest.raises(DataError, match="1 mask frames for 2 image frames"):
        writer.write(tmp_path / "c")
