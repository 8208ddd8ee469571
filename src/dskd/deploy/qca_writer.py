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
was read). For a cine with lesions, each lesion of the frame read is also followed through the
`stability_frames` frames on each side (qca.tracking): `<name>_qca_stability.csv` (its %DS, MLD,
reference and length on every frame), `<name>_qca_stability.png` (%DS and MLD against the frame),
and a per-lesion summary in the JSON and the HTML report, so a reader sees whether the figure read
holds over the neighbouring frames. Those frames stay in memory (a bounded history of them), so
memory still does not grow with the run. With dicom_sr, a DICOM input also gets
`<name>_qca_sr.dcm`, a measurement report in its study.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dskd.deploy.qca import CatheterPoint, write_frame_outputs
from dskd.errors import DataError
from dskd.qca import (
    PIXELS,
    Calibration,
    FrameQCA,
    analyse_frame,
    follow_lesions,
    from_catheter,
    lesion_rows,
    measure_width_at,
    reading_rows,
    stability_summary,
)
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
    stability_frames: int = 5  # frames on each side of the one read where its lesions are followed
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
        # The latest frames, enough to hold the read frame's earlier neighbours when it is chosen
        # (SMOOTHING // 2 frames after it have arrived by then), and its neighbours once known.
        self.history: deque[_Frame] = deque(maxlen=settings.stability_frames + SMOOTHING)
        self.read_index: int | None = None
        self.around: dict[int, _Frame] = {}
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
        self.history.append(frame)
        if self.read_index is not None and 0 < index - self.read_index <= self.settings.stability_frames:
            self.around[index] = frame
        if self.settings.frame is not None:
            if index == self.settings.frame:
                self.chosen = frame
                self._read(frame)
            return
        self.window.append(frame)
        if len(self.window) == SMOOTHING:  # the middle frame's smoothed opacification is known now
            self._consider(self.window[SMOOTHING // 2], float(np.mean(self.scores[-SMOOTHING:])))

    def _consider(self, frame: _Frame, smoothed: float) -> None:
        if self.best is None or smoothed > self.best[0]:
            self.best = (smoothed, frame)
            self._read(frame)

    def _read(self, frame: _Frame) -> None:
        """frame is (for now) the one read: keep its neighbours from the history."""
        self.read_index = frame.index
        reach = self.settings.stability_frames
        self.around = {f.index: f for f in self.history if 0 < abs(f.index - frame.index) <= reach}

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
        stability = self._stability(result, frame) if len(self.scores) > 1 else None
        write_frame_outputs(self.base.parent, name, result, background=frame.image, frame=frame.index,
                            frame_choice=reason, stability=stability)
        report = self.base.parent / f"{name}_qca.json"
        payload = json.loads(report.read_text())
        payload.update(
            {
                "source": str(self.source),
                "frame": frame.index,
                "frames": len(self.scores),
                "frame_choice": reason,
                **({"stability": stability["summary"]} if stability else {}),
            }
        )
        report.write_text(json.dumps(payload, indent=1))
        if self.settings.dicom_sr and self.is_dicom:
            from dskd.deploy.qca_sr import write_qca_sr

            write_qca_sr(self.source, result, frame.index, self.base.parent / f"{name}_qca_sr.dcm")
        if len(self.scores) > 1:
            # centred moving average, one value per frame: mode="same" alone would return
            # SMOOTHING values for a cine shorter than that
            full = np.convolve(self.scores, np.ones(SMOOTHING) / SMOOTHING, mode="full")
            smoothed = full[SMOOTHING // 2 : SMOOTHING // 2 + len(self.scores)]
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

    def _stability(self, result: FrameQCA, frame: _Frame) -> dict | None:
        """Follow the read frame's lesions through its neighbours; write the CSV and the plot."""
        from dskd.deploy.qca_pictures import write_stability_plot

        if self.settings.frame is None and len(self.scores) < SMOOTHING:
            self._read(frame)  # too few frames to smooth: chosen as the argmax, never _consider-ed
        neighbours = {}
        for index, f in sorted(self.around.items()) if result.lesions else ():
            try:
                neighbours[index] = analyse_frame(f.mask, probability=f.probabilities,
                                                  calibration=result.calibration, min_stenosis=0.0)
            except DataError:  # a frame too fragmented to read (qca.graph): no lesion found on it
                neighbours[index] = FrameQCA([], [], [], result.calibration, result.method, 0.0, {})
        if not neighbours:
            return None
        readings = follow_lesions(result, frame.index, neighbours)
        rows = reading_rows(readings, result.calibration)
        write_csv(self.base.parent / f"{self.base.name}_qca_stability.csv", rows, list(rows[0]))
        summary = stability_summary(readings, result.calibration)
        plot = write_stability_plot(self.base.parent / f"{self.base.name}_qca_stability.png", readings,
                                    read_frame=frame.index, calibration=result.calibration)
        frames = sorted([*neighbours, frame.index])
        return {"summary": summary, "plot": plot, "frames": (frames[0], frames[-1])}

    def abort(self) -> None:
        self.window.clear()
        self.history.clear()
        self.around.clear()

