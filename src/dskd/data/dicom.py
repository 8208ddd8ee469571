"""DICOM headers, frames and pixel spacing (pydicom), for dskd.data.media.

Frames go through pydicom's `iter_pixels`, which reads one frame at a time from the file; the
modality transform (rescale slope/intercept or modality LUT) and the VOI transform (window or VOI
LUT) are applied, then the VOI output range is mapped to [0, 1] and MONOCHROME1 is inverted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dskd.data.io import GrayRule, color_to_gray, error_reason
from dskd.errors import DataError

__all__ = ["DICOM_SUFFIXES", "DicomSpacing", "check_decoder", "dicom_fps", "dicom_frames",
           "dicom_pixel_spacing", "read_dicom_header"]

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")


# The header elements dskd reads: converted up front so a damaged one is a one-line refusal.
_HEADER_KEYWORDS = ("Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "BitsAllocated",
                    "BitsStored", "PixelRepresentation", "PhotometricInterpretation", "RescaleSlope",
                    "RescaleIntercept",
                    "WindowCenter", "WindowWidth", "VOILUTFunction", "CineRate", "FrameTime",
                    "RecommendedDisplayFrameRate", "PixelSpacing", "ImagerPixelSpacing",
                    "EstimatedRadiographicMagnificationFactor", "DistanceSourceToDetector",
                    "DistanceSourceToPatient", "PerFrameFunctionalGroupsSequence",
                    "SharedFunctionalGroupsSequence", "Modality")


def read_dicom_header(path: Path) -> Any:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # InvalidDicomError, EOFError, struct/ValueError on damaged files
        # pydicom's own advice (force=True) is for its API, not for dskd's users
        reason = error_reason(error).replace(" Use force=True to force reading.", "")
        raise DataError(f"{path}: not a readable DICOM file ({reason})") from None
    if "Rows" not in ds or "Columns" not in ds:
        raise DataError(f"{path}: DICOM file holds no image (no Rows/Columns)")
    try:  # pydicom converts an element when first read: a damaged one fails here, not deep inside
        for keyword in _HEADER_KEYWORDS:
            ds.get(keyword)
        _lift_functional_groups(ds)
    except Exception as error:  # NotImplementedError (unknown VR), ValueError, TypeError, KeyError
        raise DataError(f"{path}: unreadable DICOM header ({error_reason(error)})") from None
    return ds


def _lift_functional_groups(ds: Any) -> None:
    """Enhanced multi-frame objects keep rescale and window inside functional groups; copy the
    shared ones (else those of frame 1) to the top level, where pydicom's transforms look.

    Per-frame differences are not followed: each frame is z-scored before the network anyway, so
    a window only matters through what it clips.
    """
    groups = ds.get("SharedFunctionalGroupsSequence") or ds.get("PerFrameFunctionalGroupsSequence")
    if not groups:
        return
    for sequence, keys in (("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept")),
                           ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction"))):
        items = groups[0].get(sequence)
        if not items:
            continue
        for key in keys:
            if key in items[0] and key not in ds:
                setattr(ds, key, items[0][key].value)


def dicom_fps(ds: Any) -> float | None:
    """Cine Rate, else 1000 / Frame Time (ms), else Recommended Display Frame Rate."""
    for key, convert in (("CineRate", float), ("FrameTime", lambda ms: 1000.0 / float(ms)),
                         ("RecommendedDisplayFrameRate", float)):
        try:
            value = convert(ds[key].value) if key in ds and ds[key].value not in (None, "") else None
        except (TypeError, ValueError, ZeroDivisionError):
            value = None
        if value is not None and math.isfinite(value) and value > 0:
            return value
    return None


def _dicom_output_range(ds: Any) -> tuple[float, float]:
    """The range of values after the modality and VOI transforms, mapped to [0, 1] afterwards.

    A VOI LUT gives 0 .. 2**bits - 1 of its descriptor; windowing maps into the modality output
    range (PS3.3 C.11.2.1.2), which is also the range when there is no VOI transform at all.
    """
    voi = ds.get("VOILUTSequence")
    if voi:
        return 0.0, float(2 ** int(voi[0].LUTDescriptor[2]) - 1)
    modality = ds.get("ModalityLUTSequence")
    if modality:
        return 0.0, float(2 ** int(modality[0].LUTDescriptor[2]) - 1)
    bits = int(ds.BitsStored)
    signed = bool(ds.get("PixelRepresentation", 0))
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    ends = sorted((low * slope + intercept, high * slope + intercept))
    return float(ends[0]), float(ends[1])


def dicom_frames(path: Path, gray: GrayRule) -> Iterator[np.ndarray]:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut, iter_pixels

    ds = read_dicom_header(path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    monochrome = photometric.startswith("MONOCHROME")
    low, high = _dicom_output_range(ds) if monochrome else (0.0, float(2 ** int(ds.BitsStored) - 1))
    span = max(high - low, 1e-12)
    # iter_pixels given a path reads the file frame by frame: memory does not grow with the run.
    for raw in iter_pixels(path):
        if monochrome:
            values = apply_voi_lut(apply_modality_lut(raw, ds), ds, prefer_lut=True)
        else:  # RGB (YBR is converted by iter_pixels): the stored values by the gray rule
            values = color_to_gray(raw, gray)
        unit = (np.asarray(values, dtype=np.float64) - low) / span
        if not np.isfinite(unit).all():  # a slope, intercept or window of NaN or infinity
            raise DataError("pixel values are NaN or infinite after the modality and VOI transforms; "
                            "check Rescale Slope/Intercept and Window Center/Width")
        unit = np.clip(unit, 0.0, 1.0)
        if photometric == "MONOCHROME1":  # 0 is white: invert so every frame shows vessels dark
            unit = 1.0 - unit
        yield unit.astype(np.float32)


def check_decoder(path: Path, ds: Any) -> None:
    """Fail at once, with the fix, for compressed pixel data that no installed plugin decodes
    (cath-lab runs are often JPEG Lossless, which needs python-gdcm or pylibjpeg)."""
    from pydicom.pixels import get_decoder

    uid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if uid is None:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise DataError(f"{path}: pixel data stored as {str(uid.name)!r}, which pydicom cannot "
                        "decode") from None
    except (TypeError, ValueError) as error:  # a damaged Transfer Syntax UID (found by fuzzing)
        raise DataError(f"{path}: invalid Transfer Syntax UID {str(uid)!r:.60} "
                        f"({error_reason(error)})") from None
    if not decoder.is_available:
        raise DataError(f"{path}: pixel data compressed as '{uid.name}' and no decoder is installed; "
                        "pip install 'dskd[dicom]' (python-gdcm)")


@dataclass(frozen=True)
class DicomSpacing:
    """(row, column) pixel spacing in mm and the attributes it came from."""

    row_mm: float
    col_mm: float
    source: str

    @property
    def spacing(self) -> tuple[float, float]:
        return self.row_mm, self.col_mm


def _pair(ds: Any, key: str) -> tuple[float, float] | None:
    value = ds.get(key)
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (row, col) if all(math.isfinite(v) and v > 0 for v in (row, col)) else None


def _positive(ds: Any, key: str) -> float | None:
    try:
        value = float(ds.get(key))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def dicom_pixel_spacing(path: str | Path) -> DicomSpacing | None:
    """The pixel spacing of a DICOM image in the patient (at the isocentre), or None if the file
    states none. In order of preference (PS3.3 10.7.1.3):

    1. PixelSpacing (also from an enhanced object's Pixel Measures): already calibrated in the
       patient, by geometry or a fiducial (PixelSpacingCalibrationType says which);
    2. ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor;
    3. ImagerPixelSpacing x DistanceSourceToPatient / DistanceSourceToDetector (XA: the source to
       isocentre and source to detector distances, i.e. the magnification at the isocentre);
    4. ImagerPixelSpacing alone: the detector plane, larger than the patient by the magnification
       (source says "uncorrected").
    """
    ds = read_dicom_header(Path(path))
    groups = ds.get("SharedFunctionalGroupsSequence") or ds.get("PerFrameFunctionalGroupsSequence")
    measures = groups[0].get("PixelMeasuresSequence") if groups else None
    spacing = _pair(ds, "PixelSpacing") or (_pair(measures[0], "PixelSpacing") if measures else None)
    if spacing is not None:
        calibration = ds.get("PixelSpacingCalibrationType")
        return DicomSpacing(*spacing, "PixelSpacing" + (f" ({calibration})" if calibration else ""))
    imager = _pair(ds, "ImagerPixelSpacing")
    if imager is None:
        return None
    magnification = _positive(ds, "EstimatedRadiographicMagnificationFactor")
    if magnification is not None:
        return DicomSpacing(imager[0] / magnification, imager[1] / magnification,
                            "ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor")
    sod, sid = _positive(ds, "DistanceSourceToPatient"), _positive(ds, "DistanceSourceToDetector")
    if sod is not None and sid is not None:
        return DicomSpacing(imager[0] * sod / sid, imager[1] * sod / sid,
                            "ImagerPixelSpacing x DistanceSourceToPatient / DistanceSourceToDetector")
    return DicomSpacing(*imager, "ImagerPixelSpacing (detector plane, uncorrected for magnification)")
