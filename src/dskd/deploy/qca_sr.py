"""QCA as a DICOM Structured Report: a measurement report (TID 1500, highdicom) in the source's
study, so the figures reach the hospital's archive beside the images they were read on.

One Comprehensive SR per input (`<name>_qca_sr.dcm`). Each lesion is a planar ROI measurement
group (TID 1410) whose region is the MLD point (a POINT on the source image, and its frame for a
cine), with: minimal lumen diameter, interpolated reference diameter, percent diameter stenosis,
percent area stenosis and lesion length, in mm with a calibration or in pixels without one, and
the calibration factor. Concepts with a standard code use it (SNOMED CT: stenosis, coronary
artery, length; UCUM units); the QCA-specific ones use dskd's private coding scheme 99DSKD, and
the calibration's source is a text item, so no millimetre in the report is without its origin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dskd import __version__
from dskd.deploy.dicom_seg import PATIENT_STUDY, read_source_header
from dskd.qca import FrameQCA
from dskd.writing import atomic_path

__all__ = ["write_qca_sr"]

_SCHEME = "99DSKD"


def _concepts():  # noqa: ANN202 (lazy import of highdicom)
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes

    return {
        "mld": CodedConcept("MLD", _SCHEME, "Minimal lumen diameter"),
        "rvd": CodedConcept("RVD", _SCHEME, "Interpolated reference vessel diameter"),
        "ds": CodedConcept("PDS", _SCHEME, "Percent diameter stenosis"),
        "as": CodedConcept("PAS", _SCHEME, "Percent area stenosis"),
        "length": codes.SCT.Length,
        "calibration": codes.DCM.CalibrationFactor,
        "calibration_source": CodedConcept("CALSRC", _SCHEME, "Calibration source"),
        "stenosis": codes.SCT.Stenosis,
        "site": codes.SCT.CoronaryArtery,
        "mm": codes.UCUM.Millimeter,
        "px": CodedConcept("{pixels}", "UCUM", "pixels"),
        "percent": codes.UCUM.Percent,
        "mm_per_px": CodedConcept("mm/{pixel}", "UCUM", "millimetres per pixel"),
    }


def write_qca_sr(source: str | Path, result: FrameQCA, frame: int, out: str | Path) -> Path:
    """The SR of one frame's QCA (module docstring) at `out`; DataError when `source` is not a
    DICOM image with the identifiers an SR must reference."""
    import highdicom as hd
    from highdicom.sr import (
        FindingSite,
        ImageRegion,
        Measurement,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
        PlanarROIMeasurementsAndQualitativeEvaluations,
        SourceImageForRegion,
        TrackingIdentifier,
    )
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    evidence = read_source_header(Path(source), what="a DICOM SR", option="--dicom-sr")
    sop_class, sop_instance = evidence.SOPClassUID, evidence.SOPInstanceUID
    for keyword in PATIENT_STUDY:  # Type 2: present, empty when unknown (highdicom copies them)
        if keyword not in evidence:
            setattr(evidence, keyword, "")
    c = _concepts()
    unit = c["mm"] if result.calibration.mm_per_px is not None else c["px"]
    size = result.calibration.size
    multiframe = int(evidence.get("NumberOfFrames", 1) or 1) > 1
    groups = []
    for k, lesion in enumerate(result.lesions):
        region = ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POINT,
            graphic_data=np.array([[lesion.col + 0.5, lesion.row + 0.5]]),  # pixel centres: (col, row) + 0.5
            source_image=SourceImageForRegion(sop_class, sop_instance,
                                              referenced_frame_numbers=[frame] if multiframe else None),
        )
        measurements = [
            Measurement(name=c["mld"], value=round(size(lesion.mld_px), 4), unit=unit),
            Measurement(name=c["rvd"], value=round(size(lesion.reference_px), 4), unit=unit),
            Measurement(name=c["ds"], value=round(lesion.percent_diameter_stenosis, 2), unit=c["percent"]),
            Measurement(name=c["as"], value=round(lesion.percent_area_stenosis, 2), unit=c["percent"]),
            Measurement(name=c["length"], value=round(size(lesion.length_px), 4), unit=unit),
        ]
        if result.calibration.mm_per_px is not None:
            measurements.append(Measurement(name=c["calibration"], value=result.calibration.mm_per_px,
                                            unit=c["mm_per_px"]))
        groups.append(PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=f"lesion {k}"),
            referenced_region=region, finding_type=c["stenosis"],
            finding_sites=[FindingSite(anatomic_location=c["site"])], measurements=measurements))
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="dskd", manufacturer_name="dskd", model_name=f"dskd {__version__}"))
    report = MeasurementReport(
        observation_context=ObservationContext(observer_person_context=None,
                                               observer_device_context=observer),
        procedure_reported=hd.sr.CodedConcept("QCA", _SCHEME, "Quantitative coronary angiography"),
        imaging_measurements=groups or None,
    )
    report[0].ContentSequence.append(hd.sr.TextContentItem(
        name=c["calibration_source"], value=result.calibration.source[:1024],
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    sr = hd.sr.ComprehensiveSR(
        evidence=[evidence], content=report[0], series_instance_uid=generate_uid(), series_number=991,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="dskd",
        series_description=f"dskd QCA ({result.calibration.unit}; research use only)")
    out = Path(out)
    with atomic_path(out) as tmp:
        sr.save_as(tmp)
    return out
