"""Quantitative coronary analysis (QCA) on vessel masks: pure functions on arrays (docs/qca.md).

graph (centreline segments, skan), profile (sub-pixel diameters normal to the centreline),
lesions (tapering reference, MLD, %DS, %AS, length), calibration (mm per pixel and its source),
analysis (one frame, all of it), tracking (a frame's lesions followed through the frames around it).
"""

from dskd.qca.analysis import FrameQCA, analyse_frame, lesion_rows, measure_width_at, segment_rows
from dskd.qca.calibration import PIXELS, Calibration, from_catheter, from_dicom, from_user
from dskd.qca.tracking import LesionReading, follow_lesions, reading_rows, stability_summary

__all__ = [
    "FrameQCA",
    "analyse_frame",
    "lesion_rows",
    "measure_width_at",
    "segment_rows",
    "PIXELS",
    "Calibration",
    "from_catheter",
    "from_dicom",
    "from_user",
    "LesionReading",
    "follow_lesions",
    "reading_rows",
    "stability_summary",
]
