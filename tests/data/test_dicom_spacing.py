"""Pixel spacing from DICOM headers: calibrated PixelSpacing first, then the imager spacing
corrected for the magnification, else the detector plane, saying which."""

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dskd.data.dicom import dicom_pixel_spacing
from tests.data.dicom_files import write_dicom

FRAME = np.zeros((8, 8), np.uint8)


def test_pixel_spacing_is_preferred_and_its_calibration_named(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", FRAME, PixelSpacing=[0.2, 0.25], ImagerPixelSpacing=[0.3, 0.3],
                       PixelSpacingCalibrationType="GEOMETRY")
    found = dicom_pixel_spacing(path)
    assert found.spacing == (0.2, 0.25) and found.source == "PixelSpacing (GEOMETRY)"


def test_imager_spacing_corrected_by_magnification(tmp_path):
    by_factor = write_dicom(tmp_path / "f.dcm", FRAME, ImagerPixelSpacing=[0.3, 0.3],
                            EstimatedRadiographicMagnificationFactor=1.5)
    assert dicom_pixel_spacing(by_factor).spacing == pytest.approx((0.2, 0.2))
    # XA geometry: source to isocentre 750 mm, source to detector 1000 mm -> x 0.75
    by_geometry = write_dicom(tmp_path / "g.dcm", FRAME, ImagerPixelSpacing=[0.2, 0.2],
                              DistanceSourceToPatient=750, DistanceSourceToDetector=1000)
    found = dicom_pixel_spacing(by_geometry)
    assert found.spacing == pytest.approx((0.15, 0.15)) and "DistanceSourceToDetector" in found.source


def test_uncorrected_imager_spacing_says_so_and_none_without_any(tmp_path):
    found = dicom_pixel_spacing(write_dicom(tmp_path / "i.dcm", FRAME, ImagerPixelSpacing=[0.3, 0.3]))
    assert found.spacing == (0.3, 0.3) and "uncorrected" in found.source
    assert dicom_pixel_spacing(write_dicom(tmp_path / "n.dcm", FRAME)) is None
    assert dicom_pixel_spacing(write_dicom(tmp_path / "z.dcm", FRAME, PixelSpacing=[0, 0])) is None


def test_enhanced_pixel_measures(tmp_path):
    measures, group = Dataset(), Dataset()
    measures.PixelSpacing = [0.18, 0.18]
    group.PixelMeasuresSequence = Sequence([measures])
    path = write_dicom(tmp_path / "e.dcm", FRAME, SharedFunctionalGroupsSequence=Sequence([group]))
    assert dicom_pixel_spacing(path).spacing == (0.18, 0.18)
