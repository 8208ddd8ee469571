"""One upload through the model, as `dskd predict` runs it: the file is probed, checked against
the frame and side limits, and its frames streamed one at a time through `segment_frames` into
predict's outputs (deploy.outputs), inside the request's folder. The mask file is therefore the
one `dskd predict` writes, byte for byte in its pixels: `<stem>_mask.png`, or a multi-page
`<stem>_mask.tif` for a cine.

With previews (what the page shows; PreviewOutput, one more output) each frame is also written as
a JPEG of the image and a PNG of the mask, in the same folder; memory does not grow with the
number of frames.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from dskd.data.io import GrayRule, write_png
from dskd.data.media import MediaInfo, probe
from dskd.deploy.outputs import Output, SegmentedFrame, Source, choose_outputs, write_input
from dskd.deploy.outputs.qca import QCAOutput
from dskd.deploy.predict import DEFAULT_FPS, segment_frames
from dskd.deploy.qca_writer import QCASettings
from dskd.deploy.serve.errors import RequestError
from dskd.deploy.serve.limits import Deadline
from dskd.deploy.serve.upload import Upload
from dskd.errors import DataError
from dskd.inference.backends import Net

__all__ = ["Segmentation", "probe_upload", "segment_upload"]


@dataclass
class Segmentation:
    """What one request produced. figures: one dict per frame (frame from 1, vessel_fraction,
    ms_per_frame); files: output kind ("mask", "probabilities") -> path; previews: (image JPEG,
    mask PNG) per frame when asked for."""

    upload: Upload
    info: MediaInfo
    threshold: float
    figures: list[dict] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    previews: list[tuple[Path, Path]] = field(default_factory=list)
    qca: dict | None = None  # the QCA JSON of `dskd predict --qca`, when asked for

    @property
    def cine(self) -> bool:
        return self.info.n_frames > 1

    @property
    def fps(self) -> float:
        return self.info.fps or DEFAULT_FPS

    def summary(self) -> dict:
        """The JSON answer: the file, its frames and the figures of each."""
        n = len(self.figures)
        return {"file": self.upload.name, "kind": self.info.kind, "frames": self.info.n_frames,
                "height": self.info.height, "width": self.info.width, "fps": self.fps,
                "fps_stated": self.info.fps is not None, "threshold": self.threshold,
                "vessel_fraction_mean": sum(f["vessel_fraction"] for f in self.figures) / max(n, 1),
                "ms_per_frame_mean": sum(f["ms_per_frame"] for f in self.figures) / max(n, 1),
                "per_frame": self.figures}


def _message(error: DataError, upload: Upload) -> str:
    """The reader's message as one sentence, with the upload's name in place of the path in the
    request's folder; a decoder's detail in parentheses keeps only its first sentence (pydicom
    adds advice such as `force=True` that means nothing to a client)."""
    text = str(error).replace(str(upload.path), upload.name)
    head, parenthesis, detail = text.partition(" (")
    if parenthesis and detail.endswith(")"):
        text = f"{head} ({detail[:-1].split('. ')[0].rstrip('.')})"
    return text.rstrip(".") + "."


def probe_upload(upload: Upload, *, max_frames: int, max_side: int) -> MediaInfo:
    """The file's header, within the limits: 415 for a file that is no image we read, 422 for an
    unreadable header, 413 for too many frames or too long a side."""
    try:
        info = probe(upload.path)
    except DataError as error:
        unknown = "unknown file type" in str(error)
        message = (f"{upload.name} is not an image this server reads; send PNG, JPEG, TIFF, PGM or DICOM"
                   if unknown else _message(error, upload))
        raise RequestError(415 if unknown else 422, message) from None
    if info.n_frames > max_frames:
        raise RequestError(413, f"{upload.name} holds {info.n_frames} frames; this server takes up to "
                                f"{max_frames} per request (--max-frames)")
    if max(info.height, info.width) > max_side:
        raise RequestError(413, f"{upload.name} is {info.width}x{info.height}; this server takes sides up "
                                f"to {max_side} pixels (--max-side)")
    if min(info.height, info.width) < 1:
        raise RequestError(422, f"{upload.name} has an empty image ({info.width}x{info.height})")
    return info


class PreviewOutput(Output):
    """Each frame as an 8-bit JPEG (display only) and its mask as a 0/255 PNG (exact), in
    <folder>/<frame>.jpg and <frame>_mask.png, for the page."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[tuple[Path, Path]] = []

    def add(self, frame: SegmentedFrame) -> None:
        self.written.append(_write_preview(self.folder, frame.index, frame.image, frame.mask))


def segment_upload(net: Net, upload: Upload, info: MediaInfo, folder: Path, *, threshold: float,
                   gray: GrayRule, window: int | None, probabilities: bool, previews: bool,
                   deadline: Deadline, qca: QCASettings | None = None) -> Segmentation:
    """Stream the upload's frames through the net into folder (blocking: run it in a thread).

    Raises RequestError 422 when a frame cannot be decoded (a truncated cine, say) and 504 when
    the deadline passes; nothing written so far is kept as a finished file.
    """
    result = Segmentation(upload, info, threshold)
    base = folder / "out" / upload.stem
    # The outputs of `dskd predict` (the QCA too, so the figures agree), without its pictures.
    outputs = choose_outputs(probabilities=probabilities, overlays=False, qca=qca)
    shown = PreviewOutput(folder / "previews") if previews else None
    if shown is not None:
        outputs.append(shown)

    def done(frame: SegmentedFrame) -> None:
        result.figures.append({"frame": frame.index, "vessel_fraction": float(frame.mask.mean()),
                               "ms_per_frame": round(frame.ms, 3)})
        deadline.check()

    try:
        write_input(segment_frames(net, info, threshold=threshold, gray=gray, window=window), outputs,
                    Source(upload.path, info, base, fps=result.fps), on_frame=done)
    except DataError as error:
        raise RequestError(422, _message(error, upload)) from None
    if shown is not None:
        result.previews = shown.written
    measured = next((o for o in outputs if isinstance(o, QCAOutput)), None)
    if measured is not None and measured.report is not None:
        text = measured.report.read_text()
        # The client's file name wherever the server's copy is named (source, calibration).
        text = text.replace(json.dumps(str(upload.path))[1:-1], upload.name).replace(
            upload.path.name, upload.name)
        result.qca = json.loads(text)
    suffix = ".tif" if result.cine else ".png"
    result.files["mask"] = base.with_name(f"{upload.stem}_mask{suffix}")
    if probabilities:
        result.files["probabilities"] = base.with_name(f"{upload.stem}_prob{suffix}")
    return result


def _write_preview(folder: Path, index: int, image, mask) -> tuple[Path, Path]:
    """The frame as an 8-bit JPEG (display only) and its mask as a 0/255 PNG (exact)."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path, mask_path = folder / f"{index:05d}.jpg", folder / f"{index:05d}_mask.png"
    Image.fromarray((image.clip(0, 1) * 255 + 0.5).astype("uint8")).save(image_path, quality=90)
    write_png(mask_path, mask)
    return image_path, mask_path
