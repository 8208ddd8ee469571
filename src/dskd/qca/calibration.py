"""Millimetres per pixel, always with where they came from: DICOM, a catheter, the user, or none.

A figure in mm without its calibration's source misleads (viewers' trackers are full of users who
took Imager Pixel Spacing, the detector's pixel, for the size in the patient): every QCA output
carries `Calibration.source`, and without a calibration the figures stay in pixels and say so.

- DICOM (dskd.data.dicom.dicom_pixel_spacing): Pixel Spacing, else Imager Pixel Spacing divided by
  the magnification (Estimated Radiographic Magnification Factor, or Distance Source to Detector /
  Distance Source to Patient). Imager Pixel Spacing alone is refused: it overstates sizes by the
  magnification (typically 1.2-1.5x). Anisotropic pixels (rows and columns differ by more than
  1%) are refused too: a diameter normal to the centreline runs in every direction.
- Catheter: a guiding catheter of known French size (1 F = 1/3 mm outer diameter) measured on
  the same frame; mm per pixel = its size in mm / its width in px (measure_catheter).
- The user's own number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.errors import DataError

__all__ = ["Calibration", "PIXELS", "from_user", "from_dicom", "from_catheter", "french_to_mm"]


@dataclass(frozen=True)
class Calibration:
    mm_per_px: float | None  # None: figures in pixels
    source: str

    @property
    def unit(self) -> str:
        return "px" if self.mm_per_px is None else "mm"

    def size(self, pixels: float) -> float:
        """A length in px in this calibration's unit."""
        return pixels if self.mm_per_px is None else pixels * self.mm_per_px

    def to_dict(self) -> dict:
        return {"mm_per_px": self.mm_per_px, "unit": self.unit, "source": self.source}


PIXELS = Calibration(None, "none: figures in pixels (give --mm-per-px, --dicom or a catheter to get mm)")


def _check(value: float, what: str) -> float:
    if not np.isfinite(value) or value <= 0 or value > 10:
        raise DataError(f"{what}: {value} mm per pixel is not a plausible calibration (expected 0-10)")
    return float(value)


def from_user(mm_per_px: float) -> Calibration:
    return Calibration(_check(mm_per_px, "--mm-per-px"), f"user: {mm_per_px:g} mm/px")


def from_dicom(path: str | Path) -> Calibration:
    """The calibration a DICOM file states (module docstring); DataError naming the file otherwise."""
    from dskd.data.dicom import dicom_pixel_spacing

    spacing = dicom_pixel_spacing(path)
    if spacing is None:
        raise DataError(
            f"{path}: states no Pixel Spacing or Imager Pixel Spacing; calibrate with a "
            "catheter or --mm-per-px"
        )
    if spacing.source.startswith("ImagerPixelSpacing (detector"):
        raise DataError(
            f"{path}: has Imager Pixel Spacing but no magnification (Estimated Radiographic "
            "Magnification Factor, or Distance Source to Detector / Patient); the detector's "
            "pixel overstates sizes, so calibrate with a catheter or --mm-per-px"
        )
    row, col = spacing.spacing
    if abs(row - col) > 0.01 * max(row, col):
        raise DataError(f"{path}: anisotropic pixels ({row:g} x {col:g} mm); QCA needs square pixels")
    value = _check((row + col) / 2, str(path))
    return Calibration(value, f"DICOM {Path(path).name}: {spacing.source} = {value:.4g} mm/px")


def french_to_mm(french: float) -> float:
    """Outer diameter of a catheter of `french` F: 1 F = 1/3 mm."""
    return french / 3.0


def from_catheter(width_px: float, french: float, where: tuple[float, float]) -> Calibration:
    """mm per pixel from a catheter of `french` F measured `width_px` wide at (row, col) `where`."""
    if not 3 <= french <= 10:
        raise DataError(f"catheter size {french:g} F: guiding catheters are 4-8 F (1 F = 1/3 mm)")
    if not np.isfinite(width_px) or width_px < 2:
        raise DataError(
            f"catheter at ({where[0]:.0f}, {where[1]:.0f}): measured {width_px:.2f} px wide; "
            "give a point on the catheter's shaft, away from vessels"
        )
    size = french_to_mm(french)
    value = _check(size / width_px, "catheter calibration")
    return Calibration(
        value,
        f"catheter {french:g} F ({size:.2f} mm) measured {width_px:.2f} px wide at "
        f"row {where[0]:.0f}, col {where[1]:.0f} = {value:.4g} mm/px",
    )
