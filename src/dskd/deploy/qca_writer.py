"""`dskd predict --qca`: QCA of each input on its frame of best opacification.

Fed one frame at a time like the other outputs. For an image the frame is the image. For a cine,
QCA is read where the vessels are best filled with contrast: the frame with the largest
opacification, smoothed over 5 frames (so a single noisy frame does not win), unless the user
names a frame (`--qca-frame N`). Opacification = the predicted vessel area times the vessels'
contrast (the mean intensity of a 3-px ring around the mask minus that inside it): the area alone
plateaus once the vessels are visible (on synthetic cines it read a frame within 2 of the peak in
70% of runs), while the contrast keeps rising to the peak. Only a window of 5 frames and the
best one so far are kept, so memory does not grow with the run. The outputs are those of
`dskd qca` (deploy.qca.write_frame_outputs) plus, in `<name>_qca.json`, which frame was read and
why, and for a cine `<name>_qca_frames.csv` (each frame's opacification, smoothed, and whether it
was read);
with dicom_sr, a DICOM input also gets `<name>_qca_sr.dcm`, a measurement report in its study.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.deploy.qca import CatheterPoint, write_frame_outputs
from dskd.errors import DataError
from dskd.qca import PIXELS, Calibration, analyse_frame, from_catheter, lesion_rows, measure_width_at
from dskd.tables import write_csv

__all__ = ["QCASettings", "QCAWriter", "SMOOTHING"]

SMOOTHING = 5  # frames in the moving average of the vessel area


@dataclass(frozen=True)
class QCASettings:
    calibration: Calibration = PIXELS
    use_dicom_calibration: bool = True  # a DICOM input's own spacing when no calibration is given
    min_stenosis: float = 50.0
    frame: int | None = None  # read this frame (from 1) instead of choosing one
    catheter: CatheterPoint | None = None  # calibrate on a catheter in the frame read
    dicom_sr: bool = False  # DICOM inputs: also <name>_qca_sr.dcm (deploy.qca_sr)


def _opacification(image: np.ndarray, mask: np.ndarray) -> float:
    """Vessel area fraction x vessel contrast (ring around the mask minus inside; 0 when empty)."""
    from scipy.ndimage import binary_dilation

    if not mask.any():
        return 0.0
    ring = binary_dilation(mask, iterations=3) & ~mask
    contrast = float(image[ring].mean() - image[mask].mean()) if ring.any() else 0.0
    return float(mask.mean()) * max(contrast, 0.0)


@dataclass
class _Frame:
    index: int
    image: np.ndarray
    probabilities: np.ndarray
    mask: np.ndarray


class QCAWriter:
    """Receives the frames of one input (add), writes its QCA at close; abort writes nothing."""

    def __init__(self, base: Path, source: Path, settings: QCASettings, *, is_dicom: bool) -> None:
        self.base, self.source, self.settings, self.is_dicom = base, source, settings, is_dicom
        self.calibration = settings.calibration
        if settings.calibration is PIXELS and settings.use_dicom_calibration and is_dicom:
            self.calibration = self._dicom_calibration(source)
        self.window: deque[_Frame] = deque(maxlen=SMOOTHING)
        self.scores: list[float] = []
        self.best: tuple[float, _Frame] | None = None
        self.chosen: _Frame | None = None

    @staticmethod
    def _dicom_calibration(source: Path) -> Calibration:
        from dskd.qca import from_dicom

        try:
            return from_dicom(source)
        except DataError as error:  # no usable spacing: pixels, and the reason in the source
            return Calibration(None, f"none: figures in pixels ({str(error).split(': ', 1)[-1]})")

    def add(self, index: int, image: np.ndarray, probabilities: np.ndarray, mask: np.ndarray) -> None:
        frame = _Frame(index, image, probabilities, mask)
        self.scores.append(_opacification(image, mask))
        if self.settings.frame is not None:
            if index == self.settings.frame:
                self.chosen = frame
            return
        self.window.append(frame)
        if len(self.window) == SMOOTHING:  # the middle frame's smoothed opacification is known now
            self._consider(self.window[SMOOTHING // 2], float(np.mean(self.scores[-SMOOTHING:])))

    def _consider(self, frame: _Frame, smoothed: float) -> None:
        if self.best is None or smoothed > self.best[0]:
            self.best = (smoothed, frame)

    def _choice(self) -> tuple[_Frame, str]:
        if self.settings.frame is not None:
            if self.chosen is None:
                raise DataError(
                    f"{self.source}: --qca-frame {self.settings.frame}, but it has "
                    f"{len(self.scores)} frame(s)"
                )
            return self.chosen, f"frame {self.settings.frame}, as asked (--qca-frame)"
        if len(self.scores) == 1:
            return self.window[0], "the only frame"
        if self.best is None:  # fewer frames than the smoothing window: the largest opacification
            k = int(np.argmax(self.scores))
            return self.window[k], (
                f"largest opacification of the {len(self.scores)} frames (too few to smooth)"
            )
        return self.best[1], (
            f"largest opacification (predicted vessel area x vessel contrast), averaged "
            f"over {SMOOTHING} frames (best opacification)"
        )

    def close(self) -> list[dict]:
        """Write the outputs; returns the lesion rows (for the batch's summary)."""
        frame, reason = self._choice()
        calibration, catheter = self.calibration, self.settings.catheter
        if catheter is not None:
            point = (catheter.row, catheter.col)
            width = measure_width_at(frame.mask, point, probability=frame.probabilities)
            try:
                calibration = from_catheter(width, catheter.french, (catheter.row, catheter.col))
            except DataError as error:
                raise DataError(f"{self.source}: frame {frame.index}: {error}") from None
        result = analyse_frame(
            frame.mask,
            probability=frame.probabilities,
            calibration=calibration,
            min_stenosis=self.settings.min_stenosis,
        )
        name = self.base.name
        write_frame_outputs(self.base.parent, name, result, background=frame.image, frame=frame.index,
                            frame_choice=reason)
        report = self.base.parent / f"{name}_qca.json"
        payload = json.loads(report.read_text())
        payload.update(
            {
                "source": str(self.source),
                "frame": frame.index,
                "frames": len(self.scores),
                "frame_choice": reason,
            }
        )
        report.write_text(json.dumps(payload, indent=1))
        if self.settings.dicom_sr and self.is_dicom:
            from dskd.deploy.qca_sr import write_qca_sr

            write_qca_sr(self.source, result, frame.index, self.base.parent / f"{name}_qca_sr.dcm")
        if len(self.scores) > 1:
            smoothed = np.convolve(self.scores, np.ones(SMOOTHING) / SMOOTHING, mode="same")
            write_csv(
                self.base.parent / f"{name}_qca_frames.csv",
                [
                    {
                        "frame": k + 1,
                        "opacification": round(a, 6),
                        "smoothed": round(float(s), 6),
                        "read": k + 1 == frame.index,
                    }
                    for k, (a, s) in enumerate(zip(self.scores, smoothed, strict=True))
                ],
                ["frame", "opacification", "smoothed", "read"],
            )
        return [{"file": str(self.source), "frame": frame.index, **row} for row in lesion_rows(result)]

    def abort(self) -> None:
        self.window.clear()
